"""The training state every agent shares: a pytree that jit, vmap, sharding and orbax all accept."""

from typing import Any

import flax.struct
import jax.numpy as jnp
import optax

Params = Any


@flax.struct.dataclass
class AgentState:
    """Parameters, EMA target networks, averaged weights, optimiser states, running statistics and the step.

    `params` and `target_params` are dicts keyed by network name (targets serve the TD targets only);
    `averaged_params` holds Polyak averages of online networks that act in place of them (the averaged
    actor of config.actor_average_tau; empty otherwise); `opt_states` is keyed by optimiser group.
    `action_dim` is static metadata, fixed at init from the example batch.
    """

    params: dict[str, Params]
    target_params: dict[str, Params]
    opt_states: dict[str, optax.OptState]
    stats: dict[str, jnp.ndarray]
    step: jnp.ndarray
    action_dim: int = flax.struct.field(pytree_node=False)
    averaged_params: dict[str, Params] = flax.struct.field(default_factory=dict)
