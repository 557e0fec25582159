"""The orthonormality regulariser of embeddings and its Monte-Carlo off-diagonal term, which FB's measure
loss shares."""

import jax.numpy as jnp


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
