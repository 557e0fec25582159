"""The host loop: runs jitted chunks and, between them, logs, evaluates and checkpoints."""

import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import numpy as np
from tqdm import tqdm

from tdjepa.distributed import host_copy
from tdjepa.training import DataSource, RunnerState


@dataclass(frozen=True)
class Schedule:
    """When to stop, evaluate and checkpoint; 0 disables a periodic event. Steps count updates, or env steps
    for online runs (`unit`), which make `updates_per_unit` updates per env step; `updates_per_call` is then
    the env steps of one jitted call."""

    num_steps: int
    updates_per_call: int
    eval_every: int = 0
    checkpoint_every: int = 0
    unit: str = "updates"
    updates_per_unit: float = 1.0

    def next_boundary(self, step: int) -> int:
        """The next step at which the host must regain control."""
        candidates = [self.num_steps, (step // self.updates_per_call + 1) * self.updates_per_call]
        for period in (self.eval_every, self.checkpoint_every):
            if period > 0:
                candidates.append((step // period + 1) * period)
        return min(candidates)

    def is_due(self, step: int, period: int) -> bool:
        return step == self.num_steps or (period > 0 and step % period == 0)


def run_loop(
    runner: RunnerState,
    source: DataSource,
    chunk_for: Callable[[int], Callable],
    schedule: Schedule,
    start_step: int,
    *,
    log: Callable[[int, dict], None],
    evaluate: Callable[[int, RunnerState], None],
    checkpoint: Callable[[int, RunnerState], None],
    progress: bool = True,
    refresh: Callable[[int, RunnerState], RunnerState] | None = None,
) -> RunnerState:
    """Trains from start_step to schedule.num_steps; chunk_for(n) returns the compiled n-update chunk. At each
    evaluation step, `refresh` (if given) updates the state first (e.g. clip priorities), so the checkpoint
    saved there holds what the run continues with."""
    step = start_step
    online = schedule.unit != "updates"
    bar = tqdm(
        total=schedule.num_steps,
        initial=step,
        unit="env step" if online else "upd",
        unit_scale=online,
        disable=not progress,
        dynamic_ncols=True,
    )
    while step < schedule.num_steps:
        boundary = schedule.next_boundary(step)
        start = time.perf_counter()
        runner, metrics = chunk_for(boundary - step)(runner, source.for_chunk(step, boundary - step))
        metrics = jax.device_get(host_copy(metrics))
        elapsed = time.perf_counter() - start
        metrics = {k: float(np.mean(v)) for k, v in metrics.items()}
        metrics["updates_per_second"] = (boundary - step) * schedule.updates_per_unit / elapsed
        if online:
            metrics["env_steps_per_second"] = (boundary - step) / elapsed
            bar.set_postfix_str(f"{metrics['updates_per_second']:.0f} upd/s", refresh=False)
        bar.update(boundary - step)
        step = boundary
        log(step, metrics)
        if refresh is not None and schedule.is_due(step, schedule.eval_every):
            runner = refresh(step, runner)
        if schedule.is_due(step, schedule.checkpoint_every):
            checkpoint(step, runner)
        if schedule.is_due(step, schedule.eval_every):
            evaluate(step, runner)
    bar.close()
    return runner
