"""TD3-style action noise: the smoothed, clipped Gaussian around a deterministic actor's mean."""

import jax
import jax.numpy as jnp

ACTION_BOUND = 1.0 - 1e-6


def noisy_action(key: jax.Array, mean: jnp.ndarray, std: float, clip: float) -> jnp.ndarray:
    """a = clamp(μ + clip(ε, ±clip), ±(1−1e-6)), ε ~ N(0, std²); the clamp is straight-through.

    The gradient reaches μ unchanged, as the reference TruncatedNormal's sample does.
    """
    noise = jnp.clip(std * jax.random.normal(key, mean.shape), -clip, clip)
    action = mean + noise
    return action + jax.lax.stop_gradient(jnp.clip(action, -ACTION_BOUND, ACTION_BOUND) - action)
