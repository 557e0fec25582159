"""Four host CPU devices for the sharding tests; must be set before jax is imported."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("MUJOCO_GL", "egl")
