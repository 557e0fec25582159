"""Orbax checkpoints of the complete runner state (agent, data source, RNG key) plus the config."""

import json
import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp


class Checkpointer:
    """Saves and restores runner states under `<workdir>/checkpoints/<step>`; keeps the newest few.

    Orbax writes each step into a temporary folder and renames it when complete, so a process killed
    mid-save leaves no checkpoint that looks finished.
    """

    def __init__(self, workdir: str | Path, max_to_keep: int = 3):
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False)
        self.manager = ocp.CheckpointManager(Path(workdir).absolute() / "checkpoints", options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(self, step: int, runner: Any, config: dict) -> None:
        """Writes the runner state and the resolved config at `step` (blocking)."""
        runner = jax.tree.map(_storable, runner)
        args = ocp.args.Composite(state=ocp.args.StandardSave(runner), config=ocp.args.JsonSave(config))
        self.manager.save(step, args=args, force=True)
        self.manager.wait_until_finished()

    def restore(self, step: int, like: Any) -> Any:
        """The runner state saved at `step`, with the structure, shapes and dtypes of `like`."""
        abstract = jax.tree.map(lambda x: ocp.utils.to_shape_dtype_struct(_storable(x)), like)
        restored = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
        return jax.tree.map(
            lambda x, template: _empty_like(template) if _is_empty(template) else x, restored.state, like
        )

    def config(self, step: int) -> dict:
        """The resolved config stored with the checkpoint at `step`."""
        path = Path(self.manager.directory) / str(step) / "config"
        return json.loads(next(p for p in path.iterdir() if p.is_file()).read_text())

    def close(self) -> None:
        self.manager.close()


# Orbax refuses arrays with no elements (MJX states hold some, e.g. the activations of bodies without
# actuator activations): they are stored as one zero and given back empty, shaped as the template says.
def _is_empty(x: Any) -> bool:
    return hasattr(x, "shape") and math.prod(x.shape) == 0


def _storable(x: Any) -> Any:
    return np.zeros(1, x.dtype) if _is_empty(x) else x


def _empty_like(template: Any) -> jax.Array:
    return jnp.zeros(template.shape, template.dtype)
