"""Orbax checkpoints of the complete runner state (agent, data source, RNG key) plus the config."""

import json
from pathlib import Path
from typing import Any

import jax
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
        args = ocp.args.Composite(state=ocp.args.StandardSave(runner), config=ocp.args.JsonSave(config))
        self.manager.save(step, args=args, force=True)
        self.manager.wait_until_finished()

    def restore(self, step: int, like: Any) -> Any:
        """The runner state saved at `step`, with the structure, shapes and dtypes of `like`."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        restored = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
        return restored.state

    def config(self, step: int) -> dict:
        """The resolved config stored with the checkpoint at `step`."""
        path = Path(self.manager.directory) / str(step) / "config"
        return json.loads(next(p for p in path.iterdir() if p.is_file()).read_text())

    def close(self) -> None:
        self.manager.close()
