"""Session-wide test settings, set before jax is imported: four host CPU devices for the sharding tests,
and a persistent XLA compilation cache shared by the commands the tests run as subprocesses (it lives for one
session, so every session compiles afresh once); pooled envs are released after each test module so that
their memory does not pile up over the suite."""

import os
import shutil
import tempfile

import pytest

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("MUJOCO_GL", "egl")
# Most of a small train or evaluate command's time is compiling programs that earlier commands compiled too. The
# pytest-xdist workers inherit the main process's cache (its environment), which alone removes it at the end.
_OWN_CACHE = "TDJEPA_TEST_XLA_CACHE" not in os.environ
if _OWN_CACHE:
    os.environ["TDJEPA_TEST_XLA_CACHE"] = tempfile.mkdtemp(prefix="tdjepa-test-xla-cache-")
os.environ["JAX_COMPILATION_CACHE_DIR"] = os.environ["TDJEPA_TEST_XLA_CACHE"]
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"


def pytest_configure(config):
    """The test processes themselves write no cache entries: their programs are rarely shared between files,
    and a CI run aborted inside jaxlib 0.10.2's executable serialisation (`put_executable_and_time`)."""
    import jax

    jax.config.update("jax_enable_compilation_cache", False)


def pytest_unconfigure(config):
    if _OWN_CACHE:
        shutil.rmtree(os.environ.pop("TDJEPA_TEST_XLA_CACHE"), ignore_errors=True)


@pytest.fixture(autouse=True, scope="module")
def _release_envs_after_module():
    yield
    from envs.ogbench_common import release_pooled_envs

    release_pooled_envs()
