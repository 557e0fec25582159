"""absl helpers shared by the CLIs: `--config.<field>` overrides (they need the agent's config before flags are
parsed), finding the checkpoint that `--workdir` and `--step` name, and the evaluation env processes of
`--eval_workers`."""

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from absl import app, flags
from ml_collections import config_flags

from envs import ogbench as ogb
from envs.env_workers import EnvWorkers
from experiments.configs import SCHEDULES, agent_config
from tdjepa.checkpoints import Checkpointer

AUTO_EVAL_WORKERS = -1


def peek_flag(name: str, default: str, argv: list[str] | None = None) -> str:
    """The value of --name=value in argv before absl parses it (the last occurrence wins)."""
    value = default
    for arg in argv if argv is not None else sys.argv[1:]:
        if arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
    return value


def define_agent_config_flag(default_agent: str, default_env: str) -> None:
    """Defines --config as the chosen agent's config with its preset (for --env's domain) applied,
    overridable per field."""
    agent = peek_flag("agent", default_agent)
    preset = peek_flag("preset", "cpu")
    env = peek_flag("env", default_env)
    try:
        config = agent_config(agent, preset, env)
    except ValueError as err:  # unknown agent, preset or dataset name
        raise SystemExit(f"error: {err}") from None
    config_flags.DEFINE_config_dict("config", config, f"Agent config ({agent}, preset {preset}, env {env}).")


def preset_schedule(default_preset: str = "cpu") -> dict[str, int]:
    """The training schedule (num_steps, eval_every, updates_per_call) of the --preset in argv; an unknown
    preset is refused by define_agent_config_flag."""
    return SCHEDULES.get(peek_flag("preset", default_preset), SCHEDULES[default_preset])


def checkpoint_to_restore(workdir: Path, step: int | None) -> tuple[Checkpointer, int, dict]:
    """A run folder's checkpointer, the step to restore (the latest when None) and that step's saved config;
    a missing checkpoint or step is a usage error naming --workdir or --step."""
    checkpointer = Checkpointer(workdir)
    steps = checkpointer.all_steps()
    if not steps:
        raise app.UsageError(f"--workdir={workdir}: no checkpoint found under {workdir / 'checkpoints'}")
    step = steps[-1] if step is None else step
    if step not in steps:
        raise app.UsageError(f"--step={step}: no checkpoint at that step in {workdir}; available: {steps}")
    return checkpointer, step, checkpointer.config(step)


def define_eval_workers_flag() -> None:
    """Defines --eval_workers: processes that step the evaluation envs in parallel."""
    flags.DEFINE_integer(
        "eval_workers",
        AUTO_EVAL_WORKERS,
        "Processes stepping the evaluation envs in parallel, one env each (0: every env in this process, one "
        "after the other). Default: for visual datasets, whose rendering dominates evaluation, one per episode "
        "up to the CPU count; 0 for state datasets, whose steps cost less than sending them to a process.",
    )
    flags.register_validator(
        "eval_workers", lambda count: count >= AUTO_EVAL_WORKERS, "--eval_workers must be 0 or more (-1: the default)"
    )


@contextlib.contextmanager
def evaluation_workers(dataset_name: str, num_episodes: int, requested: int) -> Iterator[EnvWorkers | None]:
    """The --eval_workers worker processes for a dataset (None when evaluation steps envs in this process),
    ended on exit."""
    count = requested
    if requested == AUTO_EVAL_WORKERS:
        count = min(num_episodes, os.cpu_count() or 1) if ogb.dataset_spec(dataset_name).visual else 0
    if count == 0:
        yield None
        return
    with ogb.evaluation_workers(count) as workers:
        yield workers
