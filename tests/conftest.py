"""Session-wide test settings, set before jax is imported: four host CPU devices for the sharding tests; pooled
envs are released after each test module so that their memory does not pile up over the suite.

No persistent XLA compilation cache: a CI run aborted inside jaxlib 0.10.2's executable serialisation
(`put_executable_and_time`), and under `--dist loadfile` pytest-xdist 3.8 then hung forever replacing the
crashed worker (pytest-dev/pytest-xdist#1323; hence `--max-worker-restart=0` in pyproject.toml)."""

import os

import pytest

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)


@pytest.fixture(autouse=True, scope="module")
def _release_envs_after_module():
    yield
    from envs.ogbench_common import release_pooled_envs

    release_pooled_envs()
