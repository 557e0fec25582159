"""The latent task space: the √d sphere that every z lives on, the z prior, and the mixing of goal
encodings into the latents a training batch is conditioned on."""

import jax
import jax.numpy as jnp

EPS = 1e-8


def project_to_sphere(x: jnp.ndarray) -> jnp.ndarray:
    """Projects each row onto the sphere of radius sqrt(d), so that ‖x‖² = d."""
    d = x.shape[-1]
    return jnp.sqrt(d) * x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), EPS)


def project_to_ball(x: jnp.ndarray, radius: float) -> jnp.ndarray:
    """Rows of x longer than radius scaled down onto the sphere of that radius; shorter rows unchanged."""
    norm = jnp.linalg.norm(x, axis=-1, keepdims=True)
    return x * jnp.minimum(1.0, radius / jnp.maximum(norm, EPS))


def sample_sphere(key: jax.Array, n: int, dim: int) -> jnp.ndarray:
    """Draws n latents uniformly on the √d sphere (the z prior)."""
    return project_to_sphere(jax.random.normal(key, (n, dim)))


def whitening_matrix(second_moment: jnp.ndarray, ridge: float = 1e-6) -> jnp.ndarray:
    """(Σ + ridge·I)^{-1}: maps goal encodings into the task space TD-JEPA regresses rewards in."""
    return jnp.linalg.inv(second_moment + ridge * jnp.eye(second_moment.shape[0]))


def mix_goal_latents(
    key: jax.Array, goal_embeddings: jnp.ndarray, goal_ratio: float, whitening: jnp.ndarray | None = None
) -> jnp.ndarray:
    """Per row, z = proj(e_{perm(i)} W) with probability goal_ratio, else a prior draw.

    goal_embeddings are the (no-gradient) encodings of the batch's next states; W is an optional
    whitening matrix (TD-JEPA's scale_train_goals). Every draw comes from `key`.
    """
    n, dim = goal_embeddings.shape
    k_perm, k_prior, k_mask = jax.random.split(key, 3)
    goals = goal_embeddings[jax.random.permutation(k_perm, n)]
    if whitening is not None:
        goals = goals @ whitening
    goals = project_to_sphere(jax.lax.stop_gradient(goals))
    use_goal = jax.random.uniform(k_mask, (n, 1)) < goal_ratio
    return jnp.where(use_goal, goals, sample_sphere(k_prior, n, dim))
