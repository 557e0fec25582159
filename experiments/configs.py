"""A run's agent config from its agent, preset, environment and field overrides, all read from the agents'
records (`agents.RECORDS`); and the benchmark domain of an environment, which the paper presets follow."""

from collections.abc import Mapping
from typing import Any

import ml_collections

import agents
from envs import ogbench


def env_domain(env: str | None) -> str | None:
    """The domain a paper preset is specialised for: "maze" (point and ant mazes) or "manipulation" on
    OGBench; None for an unknown or absent env."""
    spec = ogbench.find_spec(env) if env is not None else None
    if spec is None:
        return None
    return "manipulation" if spec.family == "manipspace" else "maze"


def agent_config(
    agent: str, preset: str = "cpu", env: str | None = None, overrides: Mapping[str, Any] | None = None
) -> ml_collections.ConfigDict:
    """The config of `agent` under `preset` for `env`'s domain, with `overrides` on top; unknown agents,
    presets and fields raise ValueError naming the accepted values."""
    return agents.record(agent).config(preset, env_domain(env), overrides)


def schedule(agent: str, preset: str) -> dict[str, int]:
    """The preset's training schedule: num_steps, eval_every, updates_per_call."""
    spec = agents.record(agent).presets[preset]
    return {"num_steps": spec.num_steps, "eval_every": spec.eval_every, "updates_per_call": spec.updates_per_call}
