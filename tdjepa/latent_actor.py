"""What TD-JEPA and FB share around their policy π(s, z): acting, the z prior, observation
normalisation and the TD3-style actor step. Subclasses supply the encoder the actor may read."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections

from tdjepa.actor_update import td3_actor_loss
from tdjepa.latents import sample_sphere
from tdjepa.networks import Actor
from tdjepa.normalizer import normalize
from tdjepa.policies import noisy_action
from tdjepa.state import AgentState, apply_gradients, global_norm, per_network_adam


class LatentActorAgent:
    """Base of agents with a deterministic actor π(s, z) trained to maximise T(s, a, z)ᵀz."""

    config: ml_collections.ConfigDict
    z_dim: int

    def __init__(self, config: ml_collections.ConfigDict):
        self.config = config
        self.actor_optimizer = per_network_adam({"actor": config.lr_actor})

    def actor_encoder(self, params: dict, obs: jnp.ndarray) -> jnp.ndarray:
        """The state encoding the actor reads when config.actor_use_full_encoder."""
        raise NotImplementedError

    def _actor(self, action_dim: int) -> Actor:
        c = self.config
        return Actor(action_dim, c.actor_hidden_dim, c.actor_hidden_layers, c.actor_embedding_layers)

    def _actor_input(self, params: dict, obs: jnp.ndarray) -> jnp.ndarray:
        return self.actor_encoder(params, obs) if self.config.actor_use_full_encoder else obs

    def _init_actor(self, key: jax.Array, params: dict, obs: jnp.ndarray, action_dim: int):
        return self._actor(action_dim).init(key, self._actor_input(params, obs), jnp.zeros((1, self.z_dim)))["params"]

    def _policy_mean(self, state: AgentState, params: dict, obs: jnp.ndarray, z: jnp.ndarray) -> jnp.ndarray:
        """tanh μ(s, z), the actor reading obs or its encoding under `params` (online or target)."""
        inputs = self._actor_input(params, obs)
        return self._actor(state.action_dim).apply({"params": state.params["actor"]}, inputs, z)

    def _inputs(self, state: AgentState, obs: jnp.ndarray) -> jnp.ndarray:
        """Observations as the networks see them (normalised with the running statistics if enabled)."""
        return normalize(state.stats, obs) if self.config.normalize_obs else obs

    def _actor_step(
        self,
        state: AgentState,
        params: dict,
        obs: jnp.ndarray,
        successor_fn: Callable[[jnp.ndarray], jnp.ndarray],
        z: jnp.ndarray,
        data_actions: jnp.ndarray,
        key: jax.Array,
    ) -> tuple[dict, object, dict]:
        """One Adam step of the actor on the TD3 objective; returns its params, optimiser state, metrics."""
        c = self.config
        inputs = jax.lax.stop_gradient(self._actor_input(params, obs))

        def loss(actor_params):
            mean = self._actor(state.action_dim).apply({"params": actor_params["actor"]}, inputs, z)
            return td3_actor_loss(
                mean,
                successor_fn,
                z,
                data_actions,
                key,
                std=c.actor_std,
                clip=c.actor_noise_clip,
                pessimism_penalty=c.actor_pessimism,
                bc_coeff=c.bc_coeff,
            )

        actor_params = {"actor": params["actor"]}
        (value, metrics), grads = jax.value_and_grad(loss, has_aux=True)(actor_params)
        actor_params, opt_state = apply_gradients(self.actor_optimizer, actor_params, grads, state.opt_states["actor"])
        metrics = {f"actor_{k}": v for k, v in metrics.items()}
        return actor_params, opt_state, metrics | {"actor_loss": value, "actor_grad_norm": global_norm(grads)}

    def act(self, state: AgentState, obs: jnp.ndarray, z: jnp.ndarray, key: jax.Array | None = None):
        """The policy's action: its mean tanh μ(s, z), or a noisy TD3 sample when a key is given."""
        mean = self._policy_mean(state, state.params, self._inputs(state, obs), z)
        if key is None:
            return mean
        return noisy_action(key, mean, self.config.actor_std, self.config.actor_noise_clip)

    def sample_z(self, key: jax.Array, n: int) -> jnp.ndarray:
        """n latents from the prior, uniform on the √d sphere."""
        return sample_sphere(key, n, self.z_dim)
