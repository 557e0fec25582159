"""Forward–backward representations (Touati & Ollivier 2021), as coded in Meta Motivo / the TD-JEPA
repository: M^{π_z}(s, a, ds') ≈ F(L(s), a, z)ᵀ B(s') ρ(ds'), with a TD3-style actor maximising F ᵀz.
"""

import jax
import jax.numpy as jnp
import ml_collections

from tdjepa.data import Batch
from tdjepa.inference import goal_latent, reward_weighted_latent, softmax_weighted_latent
from tdjepa.latent_actor import (
    LatentActorAgent,
    add_actor_type_defaults,
    add_observation_defaults,
    add_schedule_defaults,
)
from tdjepa.latents import (
    mix_goal_latents,
    off_diagonal_mean_square,
    orthonormality_loss,
    pessimism,
    polyak,
)
from tdjepa.networks import EnsemblePredictor, SphereEncoder
from tdjepa.normalizer import init_normalizer, observe_batch
from tdjepa.state import AgentState, apply_gradients, global_norm, per_network_adam


def default_config() -> ml_collections.ConfigDict:
    """CPU-sized defaults with the same widths, batch and learning rates as TD-JEPA's (τ and the
    orthonormality weight are the ones of the reported FB run); the paper's settings are the presets in
    `experiments.configs`."""
    c = ml_collections.ConfigDict()
    c.batch_size = 256
    c.discount = 0.99
    c.z_dim = 50
    c.left_dim = 50
    c.left_hidden_dim = 128
    c.left_hidden_layers = 2
    c.backward_hidden_dim = 128
    c.backward_hidden_layers = 2
    c.forward_hidden_dim = 128
    c.forward_hidden_layers = 1
    c.forward_embedding_layers = 2
    c.num_heads = 2
    c.actor_hidden_dim = 128
    c.actor_hidden_layers = 1
    c.actor_embedding_layers = 2
    c.actor_use_full_encoder = False
    c.lr_f = 3e-4
    c.lr_b = 3e-4
    c.lr_actor = 3e-4
    c.ortho_coef = 1.0
    c.f_tau = 0.01
    c.b_tau = 0.01
    c.train_goal_ratio = 0.5
    c.actor_std = 0.2
    c.actor_noise_clip = 0.3
    c.fb_pessimism = 0.0
    c.actor_pessimism = 0.5
    c.bc_coeff = 0.05
    add_actor_type_defaults(c)
    add_observation_defaults(c)
    add_schedule_defaults(c)
    c.normalize_obs = True  # running mean/std of states, as the reference's BatchNorm normaliser
    c.reward_inference = "weighted_sum"  # or "softmax_weighted" (Meta Motivo's reward_wr_inference)
    return c


def measure_target(
    next_forward: jnp.ndarray, target_backward: jnp.ndarray, discount: jnp.ndarray, penalty: float
) -> jnp.ndarray:
    """γ_i · PEN_k F̄_k(s'_i, a'_i, z_i)ᵀ B̄(s'_j): the bootstrapped measure between row i and goal s'_j."""
    return discount[:, None] * pessimism(jnp.einsum("kid,jd->kij", next_forward, target_backward), penalty)


def measure_loss(
    forward: jnp.ndarray, backward: jnp.ndarray, target: jnp.ndarray
) -> tuple[jnp.ndarray, dict[str, jnp.ndarray]]:
    """Σ_k [½ mean_{i≠j} (M^k_ij − target_ij)² − mean_i (M^k_ii − target_ii)], M^k = F_k Bᵀ.

    Off-diagonal pairs are Monte-Carlo samples of the TD term over s⁺ ~ ρ; the diagonal gives the
    −2 E[F(s, a, z)ᵀ B(s')] term (the ½ turns its weight into −1).
    """
    diff = jnp.einsum("kid,jd->kij", forward, backward) - target
    off_diag = off_diagonal_mean_square(diff).sum()
    diag = -jnp.diagonal(diff, axis1=1, axis2=2).mean(-1).sum()
    return off_diag + diag, {"fb_offdiag": off_diag, "fb_diag": diag, "fb_loss": off_diag + diag}


REWARD_INFERENCE = {"weighted_sum": reward_weighted_latent, "softmax_weighted": softmax_weighted_latent}


class FB(LatentActorAgent):
    """FB agent: pure functions over an `AgentState`."""

    def __init__(self, config: ml_collections.ConfigDict):
        super().__init__(config)
        c = config
        if c.reward_inference not in REWARD_INFERENCE:
            raise ValueError(
                f"config.reward_inference={c.reward_inference!r}; accepted values: {', '.join(REWARD_INFERENCE)}"
            )
        self.z_dim = c.z_dim
        self.left = SphereEncoder(c.left_dim, c.left_hidden_dim, c.left_hidden_layers)
        self.backward = SphereEncoder(c.z_dim, c.backward_hidden_dim, c.backward_hidden_layers)
        self.forward = EnsemblePredictor(
            c.z_dim, c.num_heads, c.forward_hidden_dim, c.forward_hidden_layers, c.forward_embedding_layers
        )
        # Pixels: one DrQ trunk for L, F and the actor, another for B (the reference's fw/bw encoders).
        self.view_names, self.actor_view = ("forward", "backward"), "forward"
        # F, its left encoder L and the forward trunk share one learning rate, as in the reference.
        rates = {"L": c.lr_f, "F": c.lr_f, "B": c.lr_b}
        self.fb_names = self.trunk_names + list(rates)
        rates |= {"forward_trunk": c.lr_f, "backward_trunk": c.lr_b}
        self.fb_optimizer = per_network_adam({name: rates[name] for name in self.fb_names}, c.lr_cosine_steps)

    def init(self, key: jax.Array, example_batch: Batch) -> AgentState:
        """Fresh parameters (orthogonal init), targets copied after init, optimiser states."""
        obs, action = example_batch.observations[:1], example_batch.actions[:1]
        action_dim = action.shape[-1]
        params = {}
        if self.pixels:
            key, k_trunks = jax.random.split(key)
            params = self._init_trunks(dict(zip(self.trunk_names, jax.random.split(k_trunks), strict=True)), obs)
        views = self.views(params, obs)
        k_l, k_b, k_f, k_a = jax.random.split(key, 4)
        z = jnp.zeros((1, self.z_dim))
        params |= {"L": self.left.init(k_l, views["forward"])["params"]}
        params |= {"B": self.backward.init(k_b, views["backward"])["params"]}
        left = self.left.apply({"params": params["L"]}, views["forward"])
        params["F"] = self.forward.init(k_f, left, action, z)["params"]
        params |= self._init_actor(k_a, params, views["forward"], action_dim)
        fb_params = {k: params[k] for k in self.fb_names}
        return AgentState(
            params=params,
            # The trunks have no EMA copy (the reference's): targets of L, F and B only (and π's average).
            target_params=jax.tree.map(jnp.copy, {k: params[k] for k in ("L", "F", "B")})
            | self._averaged_actor(params),
            opt_states={
                "fb": self.fb_optimizer.init(fb_params),
                "actor": self.actor_optimizer.init({name: params[name] for name in self.actor_names}),
            },
            stats=init_normalizer(obs.shape[-1]),
            step=jnp.zeros((), jnp.int32),
            action_dim=action_dim,
        )

    def _left(self, params: dict, obs: jnp.ndarray) -> jnp.ndarray:
        return self.left.apply({"params": params["L"]}, obs)

    def _backward(self, params: dict, obs: jnp.ndarray) -> jnp.ndarray:
        return self.backward.apply({"params": params["B"]}, obs)

    def _forward(self, params: dict, left, actions, z) -> jnp.ndarray:
        return self.forward.apply({"params": params["F"]}, left, actions, z)

    def actor_encoder(self, params: dict, obs: jnp.ndarray) -> jnp.ndarray:
        return self._left(params, obs)

    def update(self, state: AgentState, batch: Batch, key: jax.Array) -> tuple[AgentState, dict]:
        """One gradient step on the FB measure loss with B's orthonormality, then the actor, then EMA."""
        c = self.config
        if self.pixels:
            key, k_augment = jax.random.split(key)
            batch = self._augmented(k_augment, batch)
        k_z, k_next, k_actor = jax.random.split(key, 3)
        stats = state.stats
        if c.normalize_obs:
            stats, batch = observe_batch(stats, batch)
        params, targets = state.params, state.target_params
        next_views = jax.lax.stop_gradient(self.views(params, batch.next_observations))
        backward_next = jax.lax.stop_gradient(self._backward(params, next_views["backward"]))
        z = mix_goal_latents(k_z, backward_next, c.train_goal_ratio)

        # Target successor measure between rows i and goals s'_j: PEN_k F̄_k(L̄(s'_i), a'_i, z_i)ᵀ B̄(s'_j).
        next_actions = self._next_actions(state, targets, next_views["forward"], z, k_next)
        next_forward = self._forward(targets, self._left(targets, next_views["forward"]), next_actions, z)
        target_backward = self._backward(targets, next_views["backward"])
        target_m = jax.lax.stop_gradient(
            measure_target(next_forward, target_backward, c.discount * batch.discount, c.fb_pessimism)
        )

        def fb_loss(fb_params):
            forward_view = self.view(fb_params, "forward", batch.observations)
            forward = self._forward(fb_params, self._left(fb_params, forward_view), batch.actions, z)
            # B reads the goals s' through its trunk with gradient, as in the reference.
            backward = self._backward(fb_params, self.view(fb_params, "backward", batch.next_observations))
            fb, metrics = measure_loss(forward, backward, target_m)
            ortho = orthonormality_loss(backward)
            return fb + c.ortho_coef * ortho, (metrics | {"ortho_loss": ortho}, forward_view)

        fb_params = {k: params[k] for k in self.fb_names}
        (loss, (metrics, actor_views)), grads = jax.value_and_grad(fb_loss, has_aux=True)(fb_params)
        fb_params, fb_opt = apply_gradients(self.fb_optimizer, fb_params, grads, state.opt_states["fb"])
        params = params | fb_params

        # The actor reads the forward view from before this update and L, F from after it, as the reference.
        actor_views = jax.lax.stop_gradient(actor_views)
        left_obs = jax.lax.stop_gradient(self._left(params, actor_views))
        actor_params, actor_opt, actor_metrics = self._actor_step(
            state,
            params,
            actor_views,
            lambda a: self._forward(params, left_obs, a, z),
            z,
            batch.actions,
            k_actor,
        )
        params = params | actor_params
        taus = {"L": c.f_tau, "F": c.f_tau, "B": c.b_tau, "actor": c.actor_average_tau}
        targets = {name: polyak(params[name], targets[name], taus[name]) for name in targets}
        metrics |= actor_metrics | {"total_loss": loss, "fb_grad_norm": global_norm(grads)}
        new_state = state.replace(
            params=params,
            target_params=targets,
            opt_states={"fb": fb_opt, "actor": actor_opt},
            stats=stats,
            step=state.step + 1,
        )
        return new_state, metrics

    def reward_features(self, state: AgentState, obs: jnp.ndarray) -> jnp.ndarray:
        """B(s): the features rewards are projected on; z = E[r B] encodes r(s) = B(s)ᵀ Cov(B)⁻¹ z."""
        return self._backward(state.params, self._inputs(state, obs, "backward"))

    def infer_z_reward(self, state: AgentState, next_obs: jnp.ndarray, rewards: jnp.ndarray) -> jnp.ndarray:
        """z = proj(Σ_i w_i r_i B(s'_i)), w = 1 or softmax(10 r) per config.reward_inference."""
        return self.infer_z_from_features(self.reward_features(state, next_obs), rewards)

    def infer_z_from_features(self, features: jnp.ndarray, rewards: jnp.ndarray) -> jnp.ndarray:
        """`infer_z_reward` on features B(s') already computed (shared by every task of an evaluation)."""
        return REWARD_INFERENCE[self.config.reward_inference](features, rewards)

    def infer_z_goal(self, state: AgentState, goal_obs: jnp.ndarray) -> jnp.ndarray:
        """z = proj(B(g))."""
        return goal_latent(self.reward_features(state, goal_obs))

    def q_value(self, state: AgentState, obs: jnp.ndarray, action: jnp.ndarray, z: jnp.ndarray):
        """Q_z(s, a) = PEN_k F_k(L(s), a, z)ᵀz, with the actor's pessimism."""
        left = self._left(state.params, self._inputs(state, obs, "forward"))
        forward = self._forward(state.params, left, action, z)
        return pessimism(jnp.einsum("kbd,bd->kb", forward, z), self.config.actor_pessimism)
