"""The training state every agent shares: a pytree that jit, vmap, sharding and orbax all accept."""

from typing import Any

import flax.struct
import jax.numpy as jnp
import optax

Params = Any


@flax.struct.dataclass
class AgentState:
    """Parameters, EMA targets, optimiser states, running statistics and the step count.

    `params` and `target_params` are dicts keyed by network name; `opt_states` by optimiser group.
    `target_params` also holds the averaged actor weights that act when config.actor_average_tau > 0.
    `action_dim` is static metadata, fixed at init from the example batch.
    """

    params: dict[str, Params]
    target_params: dict[str, Params]
    opt_states: dict[str, optax.OptState]
    stats: dict[str, jnp.ndarray]
    step: jnp.ndarray
    action_dim: int = flax.struct.field(pytree_node=False)


def per_network_adam(learning_rates: dict[str, float], cosine_steps: int = 0) -> optax.GradientTransformation:
    """Adam over a dict of networks, with one learning rate per network (torch defaults otherwise); with
    `cosine_steps` > 0 each rate decays along a cosine to 0 over that many updates (then stays at 0)."""

    def rate(lr: float) -> float | optax.Schedule:
        return optax.cosine_decay_schedule(lr, cosine_steps) if cosine_steps > 0 else lr

    return optax.multi_transform(
        {name: optax.adam(rate(lr)) for name, lr in learning_rates.items()},
        {name: name for name in learning_rates},
    )


def apply_gradients(
    optimizer: optax.GradientTransformation, params: Params, grads: Params, opt_state: optax.OptState
) -> tuple[Params, optax.OptState]:
    """One optimiser step: the updated parameters and optimiser state."""
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def global_norm(tree: Params) -> jnp.ndarray:
    """L2 norm over every leaf, logged for gradients."""
    return optax.tree.norm(tree)
