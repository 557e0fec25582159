"""Latent-space tools shared by TD-JEPA and FB: the √d sphere, the z prior, goal mixing, ensemble
pessimism, the orthonormality regulariser and Polyak targets."""

import jax
import jax.numpy as jnp
import optax

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


def pessimism(values: jnp.ndarray, penalty: float) -> jnp.ndarray:
    """mean_k x_k − penalty · mean_{k≠k'} |x_k − x_k'| over the leading ensemble axis.

    penalty 0 is the ensemble mean; with two heads, penalty 0.5 is the minimum (clipped double-Q).
    """
    k = values.shape[0]
    mean = values.mean(0)
    if k == 1 or penalty == 0.0:
        return mean
    spread = jnp.abs(values[:, None] - values[None, :]).sum((0, 1)) / (k * k - k)
    return mean - penalty * spread


def off_diagonal_mean_square(gram: jnp.ndarray) -> jnp.ndarray:
    """½ · mean over i≠j of G_ij², the Monte-Carlo term shared by the FB and orthonormality losses."""
    n = gram.shape[-1]
    off = gram * (1.0 - jnp.eye(n, dtype=gram.dtype))
    return 0.5 * jnp.sum(off**2, axis=(-2, -1)) / (n * (n - 1))


def orthonormality_loss(x: jnp.ndarray) -> jnp.ndarray:
    """R(X) = −mean_i x_iᵀx_i + ½ mean_{i≠j} (x_iᵀx_j)²: pushes E[x xᵀ] towards the identity.

    On sphere-projected embeddings the first term is constant, so only the second has a gradient.
    """
    gram = x @ x.T
    return -jnp.mean(jnp.diagonal(gram)) + off_diagonal_mean_square(gram)


def polyak(online, target, tau: float):
    """target ← (1 − τ)·target + τ·online, leaf by leaf."""
    return optax.incremental_update(online, target, tau)
