"""Four host CPU devices for the sharding tests (set before jax is imported), and pooled envs released
after each test module so that their memory does not pile up over the suite."""

import os

import pytest

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture(autouse=True, scope="module")
def _release_envs_after_module():
    yield
    from envs.ogbench_common import release_pooled_envs

    release_pooled_envs()
