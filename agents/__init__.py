"""Agents behind one interface: `agents.make(name, config)`.

Every agent exposes init(key, example_batch), update(state, batch, key), act(state, obs, z, key=None),
sample_z(key, n), infer_z_reward(state, next_obs, rewards), infer_z_goal(state, goal_obs),
reward_features(state, obs) (the features a task's reward is read from) and q_value(state, obs, action, z),
all pure and jittable.
"""

from collections.abc import Callable

import ml_collections

from agents import fb, td_jepa

_REGISTRY: dict[str, tuple[Callable, Callable]] = {
    "td_jepa": (td_jepa.TDJEPA, td_jepa.default_config),
    "fb": (fb.FB, fb.default_config),
}
NAMES = tuple(_REGISTRY)


def _entry(name: str) -> tuple[Callable, Callable]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown agent {name!r}; accepted values: {', '.join(NAMES)}")
    return _REGISTRY[name]


def default_config(name: str) -> ml_collections.ConfigDict:
    """The agent's default (CPU-sized) configuration."""
    return _entry(name)[1]()


def make(name: str, config: ml_collections.ConfigDict | None = None):
    """Builds agent `name` from `config` (its default config when None)."""
    agent_cls, defaults = _entry(name)
    return agent_cls(defaults() if config is None else config)
