"""What zero-shot agents with a z-conditioned policy share around their own objective: an observation
pipeline (`tdjepa.observations`), a policy (`tdjepa.latent_policy`), the z prior, acting and reward
prompting. A subclass sets `observations`, `policy`, `z_dim` and `policy_view`, says in `policy_encoder`
which encoding of that view the policy reads when config.actor_use_full_encoder, and writes `init`,
`update`, `reward_features`, `infer_z_from_features`, `infer_z_goal` and `q_value`.
"""

import jax
import jax.numpy as jnp
import ml_collections

from tdjepa.latent_policy import LatentPolicy
from tdjepa.latent_space import sample_sphere
from tdjepa.observations import ObservationPipeline
from tdjepa.state import AgentState


class LatentAgent:
    """Base of the latent agents: pure functions over an `AgentState`."""

    config: ml_collections.ConfigDict
    z_dim: int
    observations: ObservationPipeline
    policy: LatentPolicy
    policy_view: str  # the view the policy (and its encoder) reads

    @property
    def pixels(self) -> bool:
        return self.observations.pixels

    @property
    def samples_at_evaluation(self) -> bool:
        """Whether zero-shot evaluation acts with a key (flow-BC actors), or by the actor's mean (TD3)."""
        return self.policy.samples_at_evaluation

    def policy_encoder(self, params: dict, view: jnp.ndarray) -> jnp.ndarray:
        """The encoding of the policy's view that it reads when config.actor_use_full_encoder."""
        raise NotImplementedError

    def policy_inputs(self, params: dict, view: jnp.ndarray) -> jnp.ndarray:
        """What π reads of a state's view, under `params` (online, or target for TD targets): the view itself
        (raw states or trunk features), or its encoding when config.actor_use_full_encoder."""
        return self.policy_encoder(params, view) if self.config.actor_use_full_encoder else view

    def act(self, state: AgentState, obs: jnp.ndarray, z: jnp.ndarray, key: jax.Array | None = None):
        """The policy's action at raw observations (see `LatentPolicy.act`); π's averaged weights act when
        config.actor_average_tau > 0."""
        view = self.observations.inputs(state.params, state.stats, obs, self.policy_view)
        weights = state.averaged_params.get("actor", state.params["actor"])
        return self.policy.act(weights, self.policy_inputs(state.params, view), z, state.action_dim, key)

    def act_behavior(self, state: AgentState, obs: jnp.ndarray, key: jax.Array) -> jnp.ndarray:
        """The BC flow's action a_flow(s, ξ), ξ ~ N(0, I): the z-free behaviour policy the flow-BC actor is
        distilled from; evaluated beside π(s, z, ξ), it shows what steering by z adds to cloning."""
        view = self.observations.inputs(state.params, state.stats, obs, self.policy_view)
        return self.policy.behavior_action(state.params, self.policy_inputs(state.params, view), state.action_dim, key)

    def sample_z(self, key: jax.Array, n: int) -> jnp.ndarray:
        """n latents from the prior, uniform on the √d sphere."""
        return sample_sphere(key, n, self.z_dim)

    def reward_features(self, state: AgentState, obs: jnp.ndarray) -> jnp.ndarray:
        """The features of raw observations a task's reward is read from (TD-JEPA's ψ, FB's B)."""
        raise NotImplementedError

    def infer_z_from_features(self, features: jnp.ndarray, rewards: jnp.ndarray) -> jnp.ndarray:
        """The latent of rewards at states whose `reward_features` are given."""
        raise NotImplementedError

    def infer_z_reward(self, state: AgentState, next_obs: jnp.ndarray, rewards: jnp.ndarray) -> jnp.ndarray:
        """The latent of a task from its rewards at observations (the reference's reward inference)."""
        return self.infer_z_from_features(self.reward_features(state, next_obs), rewards)
