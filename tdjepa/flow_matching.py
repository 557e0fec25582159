"""Flow-matching behaviour cloning: a velocity field v(s, x, t) learns the data's actions, and its Euler
integration from noise gives the BC flow's actions (the target the flow-BC actor is distilled towards)."""

from collections.abc import Callable

import jax
import jax.numpy as jnp

VelocityFn = Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray]  # (x_t, t) -> v, states bound


def flow_matching_loss(velocity: VelocityFn, data_actions: jnp.ndarray, key: jax.Array) -> jnp.ndarray:
    """MSE of v(s, x_t, t) against a − x_0, with x_0 ~ N(0, I), t ~ U[0, 1], x_t = (1 − t)x_0 + t·a.

    Mean over batch and action dimensions (torch's mse_loss), as the distillation term of the actor."""
    k_noise, k_time = jax.random.split(key)
    x0 = jax.random.normal(k_noise, data_actions.shape)
    t = jax.random.uniform(k_time, (data_actions.shape[0], 1))
    x_t = (1.0 - t) * x0 + t * data_actions
    return jnp.mean((velocity(x_t, t) - (data_actions - x0)) ** 2)


def flow_actions(velocity: VelocityFn, noise: jnp.ndarray, steps: int) -> jnp.ndarray:
    """Actions of the BC flow from noise ξ: `steps` Euler steps of dx/dt = v(s, x, t), clipped to [−1, 1]."""

    def euler(x, i):
        t = jnp.full((x.shape[0], 1), i / steps)
        return x + velocity(x, t) / steps, None

    x, _ = jax.lax.scan(euler, noise, jnp.arange(steps))
    return jnp.clip(x, -1.0, 1.0)
