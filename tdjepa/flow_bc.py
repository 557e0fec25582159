"""Flow-matching behaviour cloning distilled into a one-step policy (FQL-style), the actor TD-JEPA's
reference uses on OGBench: a velocity field v(s, x, t) learns the data's actions by flow matching,
and the one-step policy π(s, z, ξ) maximises Q while staying close to the flow's action from the same ξ."""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from tdjepa.latents import pessimism

VelocityFn = Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray]  # (x_t, t) -> v, states bound


def flow_matching_loss(velocity: VelocityFn, data_actions: jnp.ndarray, key: jax.Array) -> jnp.ndarray:
    """MSE of v(s, x_t, t) against a − x_0, with x_0 ~ N(0, I), t ~ U[0, 1], x_t = (1 − t)x_0 + t·a.

    Mean over batch and action dimensions (torch's mse_loss), as the distillation term below."""
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


def flow_bc_actor_loss(
    policy_actions: jnp.ndarray,
    successor_fn: Callable[[jnp.ndarray], jnp.ndarray],
    z: jnp.ndarray,
    distillation_target: jnp.ndarray,
    flow_loss: jnp.ndarray,
    *,
    pessimism_penalty: float,
    bc_coeff: float,
) -> tuple[jnp.ndarray, dict[str, jnp.ndarray]]:
    """−mean Q / sg(mean |Q_k|) + β·MSE(π(s, z, ξ), a_flow(ξ)) + L_flow, a_flow without gradient.

    successor_fn maps actions to (K, B, d) predictions; Q_k = T_k(s, â, z)ᵀz."""
    q_heads = jnp.einsum("kbd,bd->kb", successor_fn(policy_actions), z)
    q = pessimism(q_heads, pessimism_penalty)
    scale = jax.lax.stop_gradient(jnp.abs(q_heads).mean())
    distillation = jnp.mean((policy_actions - jax.lax.stop_gradient(distillation_target)) ** 2)
    metrics = {"q": q.mean(), "bc_error": distillation, "flow_loss": flow_loss}
    return -q.mean() / scale + bc_coeff * distillation + flow_loss, metrics
