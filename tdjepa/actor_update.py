"""The TD3-style actor objective shared by TD-JEPA and FB: maximise Q_z(s, π(s, z)) = T(s, a, z)ᵀz."""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from tdjepa.latents import pessimism
from tdjepa.policies import noisy_action


def td3_actor_loss(
    policy_mean: jnp.ndarray,
    successor_fn: Callable[[jnp.ndarray], jnp.ndarray],
    z: jnp.ndarray,
    data_actions: jnp.ndarray,
    key: jax.Array,
    *,
    std: float,
    clip: float,
    pessimism_penalty: float,
    bc_coeff: float,
) -> tuple[jnp.ndarray, dict[str, jnp.ndarray]]:
    """−mean_i PEN_k[T_k(s_i, â_i, z_i)ᵀ z_i], with â the noisy policy action (gradient through μ).

    With bc_coeff > 0 the Q term is divided by sg(mean |Q_k|) and β·MSE(â, a_data) is added, as in
    the reference's behaviour-regularised variant. successor_fn maps actions to (K, B, d) predictions.
    """
    actions = noisy_action(key, policy_mean, std, clip)
    q_heads = jnp.einsum("kbd,bd->kb", successor_fn(actions), z)
    q = pessimism(q_heads, pessimism_penalty)
    metrics = {"q": q.mean()}
    if bc_coeff > 0:
        scale = jax.lax.stop_gradient(jnp.abs(q_heads).mean())
        bc_error = jnp.mean((actions - data_actions) ** 2)
        metrics["bc_error"] = bc_error
        return -q.mean() / scale + bc_coeff * bc_error, metrics
    return -q.mean(), metrics
