"""Ensemble pessimism, shared by every TD target and actor objective over K heads."""

import jax.numpy as jnp


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
