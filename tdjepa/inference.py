"""Zero-shot prompting: latents from rewards on dataset states, or from a goal's encoding."""

import jax
import jax.numpy as jnp

from tdjepa.latent_space import project_to_sphere


def least_squares_latent(features: jnp.ndarray, rewards: jnp.ndarray) -> jnp.ndarray:
    """z = proj(argmin_z ‖Φz − r‖²), TD-JEPA's reward regression on ψ(s')."""
    solution, *_ = jnp.linalg.lstsq(features, rewards)
    return project_to_sphere(solution)


def reward_weighted_latent(features: jnp.ndarray, rewards: jnp.ndarray) -> jnp.ndarray:
    """z = proj(Σ_i r_i B(s'_i)), FB's plug-in estimate of E_ρ[r B]."""
    return project_to_sphere(rewards @ features)


def softmax_weighted_latent(features: jnp.ndarray, rewards: jnp.ndarray, temperature: float = 10.0):
    """z = proj(Σ_i w_i r_i B(s'_i)) with w = softmax(temperature · r), Meta Motivo's `reward_wr`."""
    weights = jax.nn.softmax(temperature * rewards)
    return project_to_sphere((weights * rewards) @ features)


def goal_latent(goal_features: jnp.ndarray, whitening: jnp.ndarray | None = None) -> jnp.ndarray:
    """z = proj(e(g) W): the goal's encoding, optionally whitened as during training."""
    if whitening is not None:
        goal_features = goal_features @ whitening
    return project_to_sphere(goal_features)
