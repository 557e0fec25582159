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
        """The runner state saved at `step`, with the structure, shapes and dtypes of `like`, placed as `like`'s
        arrays are (leaves without a placement: on this process's first device, whatever devices saved it)."""
        abstract = jax.tree.map(lambda x: _restore_target(_storable(x)), like)
        restored = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
        return jax.tree.map(
            lambda x, template: _empty_like(template) if _is_empty(template) else x, restored.state, like
        )

    def restore_saved(self, step: int) -> Any:
        """The runner state saved at `step` as saved (nested dicts of arrays), on this process's first device."""
        path = Path(self.manager.directory) / str(step) / "state"
        metadata = ocp.StandardCheckpointer().metadata(path).item_metadata.tree
        return ocp.StandardCheckpointer().restore(path, jax.tree.map(_restore_target, metadata))

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


def _restore_target(x: Any) -> jax.ShapeDtypeStruct:
    """What orbax restores a leaf as: `x`'s shape, dtype and placement, or this process's first device when
    `x` has none (orbax would otherwise ask for the devices that saved it, e.g. another host's)."""
    sharding = getattr(x, "sharding", None)
    if not isinstance(sharding, jax.sharding.Sharding):
        sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)


def _empty_like(template: Any) -> jax.Array:
    return jnp.zeros(template.shape, template.dtype)
