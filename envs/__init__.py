"""Environments and offline datasets; `envs.ogbench` holds the OGBench loaders, generator and tasks."""

import os
import sys

# Visual datasets render offscreen; EGL (Mesa on CPU-only machines) needs no display. Set before mujoco
# is first imported; a user's own MUJOCO_GL wins.
if sys.platform.startswith("linux") and "DISPLAY" not in os.environ:
    os.environ.setdefault("MUJOCO_GL", "egl")
