"""Environments and offline datasets: `envs.ogbench` holds the OGBench loaders, generator and tasks;
`envs.jax_envs` the JAX environments of online training, whose tasks `envs.task_reward` scores."""

import os
import sys

import tdjepa  # noqa: F401  (its XLA CPU setting, before any env compiles)

# Visual datasets render offscreen; EGL (Mesa on CPU-only machines) needs no display. Set before mujoco
# is first imported; a user's own MUJOCO_GL wins.
if sys.platform.startswith("linux") and "DISPLAY" not in os.environ:
    os.environ.setdefault("MUJOCO_GL", "egl")


def task_reward(env_id: str, task: str, qpos, qvel, action=None):
    """The reward of `task` at physics states of `env_id`'s body, batched (see `envs.jax_envs.task_reward`)."""
    from envs import jax_envs  # imported on use: it loads MuJoCo Playground and brax

    return jax_envs.task_reward(env_id, task, qpos, qvel, action)
