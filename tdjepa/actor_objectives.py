"""The objectives a deterministic or noise-conditioned actor is trained on, given any value function of
its actions: TD3's (optionally behaviour-regularised) and flow-BC's (FQL-style distillation).

A value function maps a batch of actions to an `ActionValue`. Latent agents build theirs from an ensemble of
Q heads, Q_k = T_k(s, a, z)ᵀz (`latent_value`); an agent with several critics, or one that adds a critic to
another's (FB-CPR's discriminator critic), composes its own and trains the same actor with it.
"""

from collections.abc import Callable

import flax.struct
import jax
import jax.numpy as jnp

from tdjepa.ensembles import pessimism

ACTION_BOUND = 1.0 - 1e-6


@flax.struct.dataclass
class ActionValue:
    """What the actor maximises at a batch of actions: `q` (B,), and `scale`, the magnitude behaviour-
    regularised objectives divide q by (the reference's mean |Q_k| over heads and rows; used without gradient)."""

    q: jnp.ndarray
    scale: jnp.ndarray


ValueFn = Callable[[jnp.ndarray], ActionValue]  # actions (B, A) -> value at the batch's states and latents


def ensemble_value(q_heads: jnp.ndarray, penalty: float) -> ActionValue:
    """The value of K heads (K, B): their pessimistic combination, scaled by their mean magnitude."""
    return ActionValue(q=pessimism(q_heads, penalty), scale=jnp.abs(q_heads).mean())


def latent_value(predictions: jnp.ndarray, z: jnp.ndarray, penalty: float) -> ActionValue:
    """Q_k = T_k(s, a, z)ᵀz of (K, B, d) predictions (successor features, or F), pessimistic over k."""
    return ensemble_value(jnp.einsum("kbd,bd->kb", predictions, z), penalty)


def noisy_action(key: jax.Array, mean: jnp.ndarray, std: float, clip: float) -> jnp.ndarray:
    """a = clamp(μ + clip(ε, ±clip), ±(1−1e-6)), ε ~ N(0, std²); the clamp is straight-through.

    TD3's smoothed target action and its exploration noise; the gradient reaches μ unchanged, as the
    reference TruncatedNormal's sample does.
    """
    noise = jnp.clip(std * jax.random.normal(key, mean.shape), -clip, clip)
    action = mean + noise
    return action + jax.lax.stop_gradient(jnp.clip(action, -ACTION_BOUND, ACTION_BOUND) - action)


def td3_actor_loss(
    policy_mean: jnp.ndarray,
    value_fn: ValueFn,
    data_actions: jnp.ndarray,
    key: jax.Array,
    *,
    std: float,
    clip: float,
    bc_coeff: float,
) -> tuple[jnp.ndarray, dict[str, jnp.ndarray]]:
    """−mean_i Q(s_i, â_i), with â the noisy policy action (gradient through μ).

    With bc_coeff > 0 the Q term is divided by sg(scale) and β·MSE(â, a_data) is added, as in the
    reference's behaviour-regularised variant.
    """
    actions = noisy_action(key, policy_mean, std, clip)
    value = value_fn(actions)
    metrics = {"q": value.q.mean()}
    if bc_coeff > 0:
        bc_error = jnp.mean((actions - data_actions) ** 2)
        metrics["bc_error"] = bc_error
        return -value.q.mean() / jax.lax.stop_gradient(value.scale) + bc_coeff * bc_error, metrics
    return -value.q.mean(), metrics


def flow_bc_actor_loss(
    policy_actions: jnp.ndarray,
    value_fn: ValueFn,
    distillation_target: jnp.ndarray,
    flow_loss: jnp.ndarray,
    *,
    bc_coeff: float,
) -> tuple[jnp.ndarray, dict[str, jnp.ndarray]]:
    """−mean Q / sg(scale) + β·MSE(π(s, z, ξ), a_flow(ξ)) + L_flow, a_flow without gradient: the one-step
    policy maximises Q while staying close to the BC flow's action from the same noise ξ."""
    value = value_fn(policy_actions)
    distillation = jnp.mean((policy_actions - jax.lax.stop_gradient(distillation_target)) ** 2)
    metrics = {"q": value.q.mean(), "bc_error": distillation, "flow_loss": flow_loss}
    return -value.q.mean() / jax.lax.stop_gradient(value.scale) + bc_coeff * distillation + flow_loss, metrics
