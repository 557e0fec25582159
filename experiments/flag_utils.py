"""absl flags shared by the CLIs: the agent, its preset and `--config.<field>` overrides, parsed once by absl;
the preset's schedule as flag defaults; and the evaluation env processes of `--eval_workers`.

`--config` is ml_collections' config flag over the union of every agent's fields, so absl parses each override
with its field's type, in either spelling (`--config.lr_f=1e-4` or `--config.lr_f 1e-4`). Nothing is decided
before parsing: the run's config is built afterwards from the parsed --agent, --preset and --env, and only
the overridden fields are taken from the flag (a field the chosen agent lacks is refused, naming its fields).
"""

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import ml_collections
from absl import app, flags
from ml_collections import config_flags

import agents
from envs import ogbench as ogb
from envs.env_workers import EnvWorkers
from experiments.configs import agent_config, schedule
from experiments.runs import run_dataset
from tdjepa.runs import restore_runners

AUTO_EVAL_WORKERS = -1
FLAGS = flags.FLAGS


def union_config() -> ml_collections.ConfigDict:
    """Every field of every agent's config, with its type (a field two agents type differently is an error)."""
    union: dict = {}
    for record in agents.RECORDS.values():
        for field, value in record.default_config().items():
            if field in union and type(union[field]) is not type(value):
                raise TypeError(f"config field {field!r} is {type(union[field])} and {type(value)} in two agents")
            union.setdefault(field, value)
    return ml_collections.ConfigDict(union)


def define_agent_flags(default_agent: str = "td_jepa", schedule_flags: bool = True) -> None:
    """--agent, --preset, --config.<field> and, with `schedule_flags`, --num_steps, --eval_every and
    --updates_per_call, whose defaults are the preset's."""
    flags.DEFINE_enum("agent", default_agent, agents.NAMES, "Agent to train.")
    flags.DEFINE_enum("preset", "cpu", agents.preset_names(), "Named agent config (see docs/configuration.md).")
    config_flags.DEFINE_config_dict(
        "config", union_config(), "Overrides of the agent config's fields: --config.FIELD=VALUE (after the preset)."
    )
    if schedule_flags:
        flags.DEFINE_integer("num_steps", None, "Gradient updates per seed (default: the preset's).")
        flags.DEFINE_integer("updates_per_call", None, "Updates per jitted call (lax.scan length; default: preset's).")
        flags.DEFINE_integer(
            "eval_every", None, "Evaluate every this many updates (0: only at the end; default: preset's)."
        )


def config_overrides() -> dict:
    """The `--config.<field>` values given on the command line, by field."""
    return dict(FLAGS["config"].override_values)


def agent_config_from_flags(env: str | None, dataset_dir: str | None = None) -> ml_collections.ConfigDict:
    """The config of --agent under --preset for `env` (a JAX env trained on `dataset_dir`'s episodes when
    given), with the --config overrides; a preset or field the agent does not have, or a bad value of one, is a
    usage error naming the flag."""
    try:
        config = agent_config(FLAGS.agent, FLAGS.preset, env, config_overrides(), dataset_dir)
        agents.make(FLAGS.agent, config)  # the agent's own validation of the values
    except (ValueError, TypeError) as err:
        raise app.UsageError(f"--agent={FLAGS.agent} --preset={FLAGS.preset}: {err}") from None
    return config


def schedule_from_flags(env: str | None = None, dataset_dir: str | None = None) -> dict[str, int]:
    """num_steps, eval_every and updates_per_call: the flags where given, else the preset's (for `env`: counted
    in env steps on a JAX environment trained on online, without `dataset_dir`)."""
    defaults = schedule(FLAGS.agent, FLAGS.preset, env, dataset_dir)
    return {name: default if FLAGS[name].value is None else FLAGS[name].value for name, default in defaults.items()}


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


def define_saved_run_flags() -> None:
    """--workdir, --step, --dataset_dir and --check_dataset: which saved run and checkpoint a command reads,
    and where its dataset is."""
    flags.DEFINE_string("workdir", None, "Run folder written by experiments.train.")
    flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
    flags.DEFINE_string(
        "dataset_dir", None, "Folder holding the run's dataset file (default: the one it trained from)."
    )
    flags.DEFINE_bool("check_dataset", True, "Refuse a dataset file whose checksum differs from the one trained on.")
    flags.mark_flag_as_required("workdir")


def saved_run_from_flags():
    """The agent, runners (every seed), config and step of --workdir at --step, and the run's dataset (None for
    an online run, whose data is its replay buffer); a missing checkpoint, step or dataset is refused with a
    message naming the flag."""
    try:
        agent, runners, config, step = restore_runners(Path(FLAGS.workdir), FLAGS.step)
    except (FileNotFoundError, ValueError) as err:
        flag = "--step" if FLAGS.step is not None and "at step" in str(err) else "--workdir"
        raise app.UsageError(f"{flag}: {err}") from None
    dataset = None if config.get("online") else run_dataset(config, FLAGS.dataset_dir, FLAGS.check_dataset)
    return agent, runners, config, step, dataset
