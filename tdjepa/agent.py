"""The interface every agent offers and the record through which the rest of the library finds it.

An agent module defines its class, its default config and a `RECORD` (an `AgentRecord`); `agents/__init__`
lists the records, and the CLIs, presets, benchmark and tests read everything else from them.
"""

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import ml_collections

from tdjepa.data import Batch
from tdjepa.state import AgentState


class ZeroShotAgent(Protocol):
    """Pure, jittable functions of an `AgentState`; `config` and `z_dim` are fixed at construction."""

    config: ml_collections.ConfigDict
    z_dim: int
    samples_at_evaluation: bool  # whether evaluation acts with a fresh key each step
    horizon: int  # how many next states each training batch carries (1: s' only)

    def init(self, key: jax.Array, example_batch: Batch) -> AgentState: ...

    def update(self, state: AgentState, batch: Batch, key: jax.Array) -> tuple[AgentState, dict]: ...

    def act(self, state: AgentState, obs: jnp.ndarray, z: jnp.ndarray, key: jax.Array | None = None): ...

    def sample_z(self, key: jax.Array, n: int) -> jnp.ndarray: ...

    def reward_features(self, state: AgentState, obs: jnp.ndarray) -> jnp.ndarray: ...

    def infer_z_from_features(self, features: jnp.ndarray, rewards: jnp.ndarray) -> jnp.ndarray: ...

    def infer_z_reward(self, state: AgentState, next_obs: jnp.ndarray, rewards: jnp.ndarray) -> jnp.ndarray: ...

    def infer_z_goal(self, state: AgentState, goal_obs: jnp.ndarray) -> jnp.ndarray: ...

    def q_value(self, state: AgentState, obs: jnp.ndarray, action: jnp.ndarray, z: jnp.ndarray) -> jnp.ndarray: ...


# (domain, variant) -> overrides of the default config. `domain` names the benchmark domain of the run's
# environment ("maze" or "manipulation" on OGBench; "online-<body>" or "exorl-<body>" for a JAX body trained
# online or on its exploration episodes, e.g. "exorl-walker"; None when unknown); `variant` holds the record's
# variant fields as the run sets them.
PresetFn = Callable[[str | None, Mapping[str, Any]], dict]


def dmc_domain(domain: str | None) -> str | None:
    """The DeepMind Control domain a DMC preset specialises on, in the reference's names: "walker" for
    "online-walker" or "exorl-walker", "pointmass" for "exorl-point_mass" (or "pointmass"); None for OGBench's."""
    if domain is None or domain in ("maze", "manipulation"):
        return None
    return domain.removeprefix("online-").removeprefix("exorl-").replace("point_mass", "pointmass")


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named configuration of an agent and the training schedule that goes with it: in updates on a dataset,
    and in env steps on a JAX environment (online; 0 where the preset does not train online, or offline)."""

    overrides: PresetFn
    num_steps: int
    eval_every: int
    updates_per_call: int
    description: str
    env_steps: int = 0
    eval_every_env_steps: int = 0
    env_steps_per_call: int = 0


@dataclasses.dataclass(frozen=True)
class AgentRecord:
    """Everything the library knows of one agent.

    - `default_config`: the config of the default command's agent (the `cpu` preset applies nothing on it).
    - `presets`: named configurations; each is a function of the env's domain and of the `variant_fields`
      (e.g. TD-JEPA's `symmetric`), which select the reference launcher a paper preset follows.
    - `tiny_config`: overrides that make the agent fast enough for unit tests.
    - `benchmark_sizes`: size name -> (preset, overrides) that `experiments.benchmark` measures.
    """

    name: str
    agent_class: Callable[[ml_collections.ConfigDict], ZeroShotAgent]
    default_config: Callable[[], ml_collections.ConfigDict]
    presets: Mapping[str, Preset]
    tiny_config: Mapping[str, Any]
    benchmark_sizes: Mapping[str, tuple[str, Mapping[str, Any]]]
    variant_fields: tuple[str, ...] = ()
    online_only: bool = False  # trains on its own rollouts only (no offline datasets)
    description: str = ""

    def config(
        self, preset: str = "cpu", domain: str | None = None, overrides: Mapping[str, Any] | None = None
    ) -> ml_collections.ConfigDict:
        """The default config, then the preset for `domain` and the variant that `overrides` select, then
        `overrides` (which always win). Unknown presets and fields are refused, naming the accepted ones."""
        if preset not in self.presets:
            accepted = ", ".join(self.presets)
            raise ValueError(f"unknown preset {preset!r} for agent {self.name!r}; accepted values: {accepted}")
        config = self.default_config()
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(config))
        if unknown:
            raise ValueError(
                f"{', '.join('config.' + k for k in unknown)}: not a field of {self.name}'s config; its fields: "
                f"{', '.join(config)}"
            )
        variant = {field: overrides.get(field, config[field]) for field in self.variant_fields}
        config.update(self.presets[preset].overrides(domain, variant))
        config.update(overrides)
        return config

    def make(self, config: ml_collections.ConfigDict | None = None) -> ZeroShotAgent:
        """The agent of `config` (the default config when None)."""
        return self.agent_class(self.default_config() if config is None else config)
