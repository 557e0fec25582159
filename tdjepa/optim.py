"""Optimisation steps every agent shares: one Adam per network, gradient application, Polyak averages."""

import jax.numpy as jnp
import optax

from tdjepa.state import Params


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


def polyak(online: Params, average: Params, tau: float) -> Params:
    """average ← (1 − τ)·average + τ·online, leaf by leaf: EMA target networks and averaged weights."""
    return optax.incremental_update(online, average, tau)
