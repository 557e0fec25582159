"""absl helpers: `--config.<field>` overrides need the agent's config before flags are parsed."""

import sys

from absl import flags
from ml_collections import config_flags

from experiments.configs import SCHEDULES, agent_config


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


FLAGS = flags.FLAGS
