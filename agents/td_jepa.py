"""TD-JEPA (Bagatella et al. 2025): latent-predictive state and task encoders φ, ψ trained by
policy-conditioned TD prediction, with a TD3-style actor maximising T_φ(φ(s), a, z)ᵀz.

Asymmetric by default: T_φ(φ(s), a, z) predicts Σ_t γ^t ψ(s_{t+1}) and the mirror T_ψ(ψ(s), a, z)
predicts Σ_t γ^t φ(s_{t+1}); each encoder appears in the other's target only through its EMA copy.
`symmetric=True` uses one encoder (ψ ≡ φ) and one predictor.
"""

import jax
import jax.numpy as jnp
import ml_collections

from tdjepa.data import Batch
from tdjepa.inference import goal_latent, least_squares_latent
from tdjepa.latent_actor import (
    LatentActorAgent,
    add_actor_type_defaults,
    add_observation_defaults,
    add_schedule_defaults,
)
from tdjepa.latents import (
    mix_goal_latents,
    orthonormality_loss,
    pessimism,
    polyak,
    project_to_ball,
    whitening_matrix,
)
from tdjepa.networks import EnsemblePredictor, SphereEncoder
from tdjepa.normalizer import init_normalizer, observe_batch
from tdjepa.state import AgentState, apply_gradients, global_norm, per_network_adam


def default_config() -> ml_collections.ConfigDict:
    """CPU-sized defaults, tuned for pointmaze on two cores (see README: deviations); the paper's settings
    are the presets in `experiments.configs`."""
    c = ml_collections.ConfigDict()
    c.symmetric = False
    c.batch_size = 256
    c.discount = 0.99
    c.phi_dim = 50
    c.phi_hidden_dim = 128
    c.phi_hidden_layers = 2
    c.psi_dim = 50
    c.psi_hidden_dim = 128
    c.psi_hidden_layers = 2
    c.predictor_hidden_dim = 128
    # Two hidden layers after the embeddings, the depth of the reference's OGBench predictors (its DMC ones
    # have one): on the open-field control probe they raised goal success from 0.44-0.57 to 0.71-0.76.
    c.predictor_hidden_layers = 2
    c.predictor_embedding_layers = 2
    c.num_heads = 2
    c.actor_hidden_dim = 128
    c.actor_hidden_layers = 1
    c.actor_embedding_layers = 2
    c.actor_use_full_encoder = False
    c.lr_phi = 3e-4
    c.lr_psi = 3e-4
    c.lr_predictor = 3e-4
    c.lr_actor = 3e-4
    # λ = 10 (the reference's manipulation value) keeps ψ near-orthonormal against the large TD losses; at
    # λ = 1 ψ collapses to ~10 effective dimensions on pointmaze and goal latents stop being specific.
    c.phi_ortho_coef = 10.0
    c.psi_ortho_coef = 10.0
    # Faster targets than the reference's 0.005 so value spreads along the maze within a CPU budget.
    c.encoder_tau = 0.02
    c.predictor_tau = 0.02
    c.train_goal_ratio = 0.5
    # Whitening goal latents by Σ⁻¹ (the reference's OGBench setting) spoils goal prompting on pointmaze's
    # 2-D states: ψ(s)ᵀΣ⁻¹ψ(g) is no longer maximal at s = g. Unwhitened, ψ(s)ᵀψ(g) peaks at the goal.
    c.scale_train_goals = False
    c.z_moment_decay = 0.995
    c.actor_std = 0.2
    c.actor_noise_clip = 0.3
    c.predictor_pessimism = 0.0
    # Project TD targets onto the ball ‖y‖ ≤ √d/(1−γ), which holds every true successor feature of
    # √d-sphere features, so the fixed point is unchanged. Not in the reference: without it the
    # goal-prompted Q-values on pointmaze grew to 3–4× that bound (see README).
    c.bound_successor_targets = True
    c.actor_pessimism = 0.0
    # A small behaviour-cloning term keeps the TD3 actor out of tanh saturation early in training.
    c.bc_coeff = 0.05
    # n-step targets: y = Σ_{k<n} γ^k ē(s_{t+k+1}) + γ^n T̄(s_{t+n}, a', z), the dataset's own next n − 1
    # actions standing in for π's (not in the reference, whose n is 1). Fewer bootstraps per unit of
    # horizon, at the price of the behaviour's bias over those steps (Park et al. 2025, "Horizon
    # reduction makes RL scalable"). Batches then carry the n next states (device or host sampled).
    c.n_step = 1
    add_actor_type_defaults(c)
    add_observation_defaults(c)
    add_schedule_defaults(c)
    c.normalize_obs = True  # running mean/std of states, as the reference's BatchNorm normaliser
    return c


def successor_target(
    next_features: jnp.ndarray, next_predictions: jnp.ndarray, discount: jnp.ndarray, penalty: float
) -> jnp.ndarray:
    """y_i = ē(s'_i) + γ_i PEN_k T̄_k(s'_i, a'_i, z_i): the TD target of Σ_t γ^t e(s_{t+1}).

    For n-step targets `next_features` is the discounted sum Σ_{k<m} γ^k ē(s_{t+k+1}) and `discount` γ^m."""
    return next_features + discount[:, None] * pessimism(next_predictions, penalty)


def discounted_feature_sum(features: jnp.ndarray, steps: jnp.ndarray, gamma: float) -> jnp.ndarray:
    """Σ_{k<m_i} γ^k e_{i,k} of (B, n, d) features e_{i,k} = ē(s_{t+k+1}), m_i = `steps`[i] ≤ n."""
    k = jnp.arange(features.shape[1])
    weights = jnp.where(k < steps[:, None], gamma**k, 0.0)
    return jnp.einsum("bn,bnd->bd", weights, features)


def prediction_loss(prediction: jnp.ndarray, target: jnp.ndarray) -> jnp.ndarray:
    """mean over heads and rows of ‖T_k(s_i, a_i, z_i) − y_i‖²."""
    return jnp.mean(jnp.sum((prediction - target) ** 2, -1))


class TDJEPA(LatentActorAgent):
    """TD-JEPA agent: pure functions over an `AgentState`."""

    def __init__(self, config: ml_collections.ConfigDict):
        super().__init__(config)
        c = config
        if c.n_step < 1:
            raise ValueError(f"config.n_step must be >= 1, got {c.n_step}")
        self.z_dim = c.phi_dim if c.symmetric else c.psi_dim
        self.phi = SphereEncoder(c.phi_dim, c.phi_hidden_dim, c.phi_hidden_layers)
        self.encoders = {"phi": self.phi}
        # (predictor, its input encoder, the encoder whose EMA features it predicts)
        self.pairs = [("T_phi", "phi", "phi" if c.symmetric else "psi")]
        if not c.symmetric:
            self.encoders["psi"] = SphereEncoder(c.psi_dim, c.psi_hidden_dim, c.psi_hidden_layers)
            self.pairs.append(("T_psi", "psi", "phi"))
        self.task_encoder = "phi" if c.symmetric else "psi"
        # Each encoder reads its own view (pixels: its own DrQ trunk e_φ, e_ψ); the actor reads φ's.
        self.view_names, self.actor_view = tuple(self.encoders), "phi"
        dims = {"phi": c.phi_dim, "psi": c.psi_dim}
        self.predictors = {
            name: EnsemblePredictor(
                dims[target],
                c.num_heads,
                c.predictor_hidden_dim,
                c.predictor_hidden_layers,
                c.predictor_embedding_layers,
            )
            for name, _, target in self.pairs
        }
        lrs = {"phi": c.lr_phi, "psi": c.lr_psi} | {name: c.lr_predictor for name in self.predictors}
        lrs |= {f"{name}_trunk": lrs[name] for name in self.encoders}
        self.representation_optimizer = per_network_adam(
            {k: lrs[k] for k in self.representation_names}, c.lr_cosine_steps
        )

    @property
    def representation_names(self) -> list[str]:
        return self.trunk_names + list(self.encoders) + list(self.predictors)

    def actor_encoder(self, params: dict, obs: jnp.ndarray) -> jnp.ndarray:
        return self.encode(params, "phi", obs)

    def init(self, key: jax.Array, example_batch: Batch) -> AgentState:
        """Fresh parameters (orthogonal init), targets copied after init, optimiser states."""
        obs, action = example_batch.observations[:1], example_batch.actions[:1]
        action_dim = action.shape[-1]
        names = self.representation_names + ["actor"]
        keys = dict(zip(names, jax.random.split(key, len(names)), strict=True))
        params = self._init_trunks(keys, obs)
        views = self.views(params, obs)
        params |= {name: enc.init(keys[name], views[name])["params"] for name, enc in self.encoders.items()}
        z = jnp.zeros((1, self.z_dim))
        for name, encoder, _ in self.pairs:
            features = self.encoders[encoder].apply({"params": params[encoder]}, views[encoder])
            params[name] = self.predictors[name].init(keys[name], features, action, z)["params"]
        params |= self._init_actor(keys["actor"], params, views["phi"], action_dim)
        representation = {k: params[k] for k in self.representation_names}
        return AgentState(
            params=params,
            # The trunks have no EMA copy (the reference's): targets of the MLP encoders and predictors only.
            target_params=jax.tree.map(jnp.copy, {k: v for k, v in representation.items() if k not in self.trunk_names})
            | self._averaged_actor(params),
            opt_states={
                "representation": self.representation_optimizer.init(representation),
                "actor": self.actor_optimizer.init({name: params[name] for name in self.actor_names}),
            },
            stats=init_normalizer(obs.shape[-1]) | {"z_second_moment": jnp.eye(self.z_dim)},
            step=jnp.zeros((), jnp.int32),
            action_dim=action_dim,
        )

    def encode(self, params: dict, name: str, view: jnp.ndarray) -> jnp.ndarray:
        """φ(s) or ψ(s) from the encoder's view of s, with the given parameter dict (online or target)."""
        return self.encoders[name].apply({"params": params[name]}, view)

    def predict(self, params: dict, name: str, features, actions, z) -> jnp.ndarray:
        """Ensemble predictions (K, B, d) of a predictor."""
        return self.predictors[name].apply({"params": params[name]}, features, actions, z)

    def _whitening(self, state: AgentState) -> jnp.ndarray | None:
        return whitening_matrix(state.stats["z_second_moment"]) if self.config.scale_train_goals else None

    def update(self, state: AgentState, batch: Batch, key: jax.Array) -> tuple[AgentState, dict]:
        """One gradient step on the TD-JEPA losses, then the actor, then the EMA targets."""
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
        task_next = jax.lax.stop_gradient(self.encode(params, self.task_encoder, next_views[self.task_encoder]))
        z = mix_goal_latents(k_z, task_next, c.train_goal_ratio, self._whitening(state))

        # TD targets: y = ē(s') + γ PEN_k T̄_k(ē_in(s'), a', z), with a' the smoothed policy action
        # (n-step: the features of the next n states summed, and the bootstrap from s_{t+n}).
        if c.n_step == 1:
            boot_views = next_views
            boot_features = {name: self.encode(targets, name, next_views[name]) for name in self.encoders}
            feature_sums, discount = boot_features, c.discount * batch.discount
        else:
            boot_views, boot_features, feature_sums, discount = self._multistep(params, targets, batch, next_views)
        next_actions = self._next_actions(state, targets, boot_views["phi"], z, k_next)
        td_targets = jax.lax.stop_gradient(
            {
                name: successor_target(
                    feature_sums[target],
                    self.predict(targets, name, boot_features[source], next_actions, z),
                    discount,
                    c.predictor_pessimism,
                )
                for name, source, target in self.pairs
            }
        )
        if c.bound_successor_targets:
            td_targets = {
                name: project_to_ball(y, (y.shape[-1] ** 0.5) / (1.0 - c.discount)) for name, y in td_targets.items()
            }
        ortho_coefs = {"phi": c.phi_ortho_coef, "psi": c.psi_ortho_coef}

        def representation_loss(rep_params):
            views = self.views(rep_params, batch.observations)
            features = {name: self.encode(rep_params, name, views[name]) for name in self.encoders}
            metrics, total = {}, 0.0
            for name, source, _ in self.pairs:
                prediction = self.predict(rep_params, name, features[source], batch.actions, z)
                loss = prediction_loss(prediction, td_targets[name])
                metrics[f"{name}_loss"] = loss
                total += loss
            for name, feat in features.items():
                ortho = orthonormality_loss(feat)
                metrics[f"{name}_ortho_loss"] = ortho
                total += ortho_coefs[name] * ortho
            return total, (metrics, features[self.task_encoder], views["phi"])

        rep_params = {k: params[k] for k in self.representation_names}
        (loss, (metrics, task_features, actor_views)), grads = jax.value_and_grad(representation_loss, has_aux=True)(
            rep_params
        )
        rep_params, rep_opt = apply_gradients(
            self.representation_optimizer, rep_params, grads, state.opt_states["representation"]
        )
        params = params | rep_params
        decay = c.z_moment_decay
        batch_moment = jax.lax.stop_gradient(task_features.T @ task_features) / task_features.shape[0]
        second_moment = decay * state.stats["z_second_moment"] + (1 - decay) * batch_moment

        # Actor: maximise T_φ(φ(s), â, z)ᵀz with the just-updated φ and T_φ, as the reference does (the
        # trunk features, for pixels, are the ones computed before the update, also as there).
        actor_views = jax.lax.stop_gradient(actor_views)
        phi_obs = jax.lax.stop_gradient(self.encode(params, "phi", actor_views))
        actor_params, actor_opt, actor_metrics = self._actor_step(
            state,
            params,
            actor_views,
            lambda a: self.predict(params, "T_phi", phi_obs, a, z),
            z,
            batch.actions,
            k_actor,
        )
        params = params | actor_params

        taus = {name: c.encoder_tau for name in self.encoders} | {name: c.predictor_tau for name in self.predictors}
        taus["actor"] = c.actor_average_tau
        targets = {name: polyak(params[name], targets[name], taus[name]) for name in targets}
        metrics |= actor_metrics | {"representation_loss": loss, "representation_grad_norm": global_norm(grads)}
        new_state = state.replace(
            params=params,
            target_params=targets,
            opt_states={"representation": rep_opt, "actor": actor_opt},
            stats=stats | {"z_second_moment": second_moment},
            step=state.step + 1,
        )
        return new_state, metrics

    def _multistep(self, params: dict, targets: dict, batch: Batch, next_views: dict):
        """What the n-step targets need: the views and target features of s_{t+m} (m ≤ n, the steps left
        in the episode), Σ_{k<m} γ^k ē(s_{t+k+1}) per encoder, and the bootstrap's discount γ^m.
        `next_views` are the views of s_{t+1}, already computed; only s_{t+2} … s_{t+n} are viewed here."""
        n = self.config.n_step
        future = batch.future_observations
        if future is None or future.shape[1] != n:
            got = "none" if future is None else future.shape[1]
            raise ValueError(f"config.n_step={n} needs batches with {n} future states each (got {got})")
        size, steps = future.shape[0], batch.future_steps
        later = self.views(params, future[:, 1:].reshape(size * (n - 1), *future.shape[2:]))
        views = {
            name: jnp.concatenate([next_views[name][:, None], v.reshape(size, n - 1, *v.shape[1:])], 1)
            for name, v in jax.lax.stop_gradient(later).items()
        }
        flat = {name: v.reshape(size * n, *v.shape[2:]) for name, v in views.items()}
        features = {name: self.encode(targets, name, flat[name]).reshape(size, n, -1) for name in self.encoders}
        rows, last = jnp.arange(size), steps - 1
        boot_views = {name: v[rows, last] for name, v in views.items()}
        boot_features = {name: f[rows, last] for name, f in features.items()}
        sums = {name: discounted_feature_sum(f, steps, self.config.discount) for name, f in features.items()}
        return boot_views, boot_features, sums, self.config.discount**steps * batch.discount

    def reward_features(self, state: AgentState, obs: jnp.ndarray) -> jnp.ndarray:
        """ψ(s): the features a task's reward is linear in, r(s) = ψ(s)ᵀz."""
        return self.encode(state.params, self.task_encoder, self._inputs(state, obs, self.task_encoder))

    def infer_z_reward(self, state: AgentState, next_obs: jnp.ndarray, rewards: jnp.ndarray) -> jnp.ndarray:
        """z = proj(lstsq(ψ(s'), r)): the task vector whose ψ-linear reward best fits r."""
        return self.infer_z_from_features(self.reward_features(state, next_obs), rewards)

    def infer_z_from_features(self, features: jnp.ndarray, rewards: jnp.ndarray) -> jnp.ndarray:
        """`infer_z_reward` on features ψ(s') already computed (shared by every task of an evaluation)."""
        return least_squares_latent(features, rewards)

    def infer_z_goal(self, state: AgentState, goal_obs: jnp.ndarray) -> jnp.ndarray:
        """z = proj(ψ(g) Σ⁻¹) (whitened as during training when scale_train_goals)."""
        return goal_latent(self.reward_features(state, goal_obs), self._whitening(state))

    def q_value(self, state: AgentState, obs: jnp.ndarray, action: jnp.ndarray, z: jnp.ndarray):
        """Q_z(s, a) = PEN_k T_φ^k(φ(s), a, z)ᵀz, with the actor's pessimism."""
        phi = self.encode(state.params, "phi", self._inputs(state, obs, "phi"))
        q_heads = jnp.einsum("kbd,bd->kb", self.predict(state.params, "T_phi", phi, action, z), z)
        return pessimism(q_heads, self.config.actor_pessimism)
