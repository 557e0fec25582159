"""A run's agent config from its agent, preset, environment and field overrides, all read from the agents'
records (`agents.RECORDS`); and the benchmark domain of an environment, which the paper presets follow."""

from collections.abc import Mapping
from typing import Any

import ml_collections

import agents
from envs import jax_envs, ogbench


def is_online(env: str | None, dataset_dir: str | None = None) -> bool:
    """Whether a run on `env` trains online: a JAX environment without a dataset folder (with one, it trains
    offline on the ExoRL-format episodes there; any other env is an OGBench dataset's name)."""
    return env in jax_envs.ENV_SPECS and dataset_dir is None


def is_exorl(env: str | None, dataset_dir: str | None) -> bool:
    """Whether a run on `env` trains offline on a folder of ExoRL-format episodes of a JAX environment."""
    return env in jax_envs.ENV_SPECS and dataset_dir is not None


def env_domain(env: str | None, dataset_dir: str | None = None) -> str | None:
    """The domain a paper preset is specialised for: "maze" (point and ant mazes) or "manipulation" on
    OGBench; for a JAX environment "online-<body>" (e.g. "online-walker"), or "exorl-<body>" when it trains
    on a folder of episodes; None for an unknown or absent env."""
    if env in jax_envs.ENV_SPECS:
        return f"{'online' if dataset_dir is None else 'exorl'}-{jax_envs.ENV_SPECS[env].body}"
    spec = ogbench.find_spec(env) if env is not None else None
    if spec is None:
        return None
    return "manipulation" if spec.family == "manipspace" else "maze"


def agent_config(
    agent: str,
    preset: str = "cpu",
    env: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    dataset_dir: str | None = None,
) -> ml_collections.ConfigDict:
    """The config of `agent` under `preset` for the domain of `env` (trained on `dataset_dir`'s episodes when
    given), with `overrides` on top; unknown agents, presets and fields raise ValueError naming the accepted
    values."""
    return agents.record(agent).config(preset, env_domain(env, dataset_dir), overrides)


def schedule(agent: str, preset: str, env: str | None = None, dataset_dir: str | None = None) -> dict[str, int]:
    """The preset's training schedule: num_steps, eval_every, updates_per_call, counted in updates offline and
    in env steps online on a JAX environment (where updates_per_call is env steps per call). A preset that does
    not train on that kind of env gives zeros."""
    spec = agents.record(agent).presets[preset]
    if is_online(env, dataset_dir):
        return {
            "num_steps": spec.env_steps,
            "eval_every": spec.eval_every_env_steps,
            "updates_per_call": spec.env_steps_per_call,
        }
    return {"num_steps": spec.num_steps, "eval_every": spec.eval_every, "updates_per_call": spec.updates_per_call}
