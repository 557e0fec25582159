"""Running observation normalisation, kept outside the gradients as part of the agent's statistics.

Like the reference's BatchNorm1d(affine=False, momentum=0.01), applied with the running statistics (eval
mode) everywhere; it makes one momentum update per batch from the observations and next observations
together, where the reference's two train-mode passes make two (the same statistics, reached a little slower).
Only used with `normalize_obs` (this library's CPU defaults; the reference's TD-JEPA launchers do not normalise).
"""

import jax.numpy as jnp

from tdjepa.data import Batch

MOMENTUM = 0.01
EPS = 1e-5


def init_normalizer(obs_dim: int) -> dict[str, jnp.ndarray]:
    return {"obs_mean": jnp.zeros(obs_dim), "obs_var": jnp.ones(obs_dim)}


def update_normalizer(stats: dict[str, jnp.ndarray], obs: jnp.ndarray) -> dict[str, jnp.ndarray]:
    """mean ← 0.99·mean + 0.01·batch mean; var ← 0.99·var + 0.01·unbiased batch variance."""
    mean = (1 - MOMENTUM) * stats["obs_mean"] + MOMENTUM * obs.mean(0)
    var = (1 - MOMENTUM) * stats["obs_var"] + MOMENTUM * obs.var(0, ddof=1)
    return stats | {"obs_mean": mean, "obs_var": var}


def normalize(stats: dict[str, jnp.ndarray], obs: jnp.ndarray) -> jnp.ndarray:
    return (obs - stats["obs_mean"]) / jnp.sqrt(stats["obs_var"] + EPS)


def observe_batch(stats: dict[str, jnp.ndarray], batch: Batch) -> tuple[dict[str, jnp.ndarray], Batch]:
    """Updates the statistics with the batch's states and returns the batch normalised with them (the
    future states of n-step batches too, which do not enter the statistics)."""
    stats = update_normalizer(stats, jnp.concatenate([batch.observations, batch.next_observations]))
    future = batch.future_observations
    return stats, batch.replace(
        observations=normalize(stats, batch.observations),
        next_observations=normalize(stats, batch.next_observations),
        future_observations=None if future is None else normalize(stats, future),
    )
