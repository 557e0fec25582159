"""TD-JEPA (Bagatella et al. 2025): latent-predictive state and task encoders φ, ψ trained by
policy-conditioned TD prediction, with a z-conditioned actor maximising T_φ(φ(s), a, z)ᵀz.

Asymmetric by default: T_φ(φ(s), a, z) predicts Σ_t γ^t ψ(s_{t+1}) and the mirror T_ψ(ψ(s), a, z)
predicts Σ_t γ^t φ(s_{t+1}); each encoder appears in the other's target only through its EMA copy.
`symmetric=True` uses one encoder (ψ ≡ φ) and one predictor.
"""

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from tdjepa.actor_objectives import latent_value
from tdjepa.agent import AgentRecord, Preset, dmc_domain
from tdjepa.data import Batch
from tdjepa.ensembles import pessimism
from tdjepa.inference import goal_latent, least_squares_latent
from tdjepa.latent_agent import LatentAgent
from tdjepa.latent_policy import LatentPolicy, add_actor_type_defaults, add_schedule_defaults
from tdjepa.latent_space import mix_goal_latents, project_to_ball, whitening_matrix
from tdjepa.networks import EnsemblePredictor, SphereEncoder
from tdjepa.observations import ObservationPipeline, add_observation_defaults
from tdjepa.online import add_online_defaults
from tdjepa.optim import apply_gradients, global_norm, per_network_adam, polyak
from tdjepa.orthonormality import orthonormality_loss
from tdjepa.state import AgentState


def default_config() -> ml_collections.ConfigDict:
    """The default command's agent: CPU-sized, tuned for pointmaze on two cores (each field that differs
    from the reference says why); the paper's settings are the `paper_*` presets below."""
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
    # goal-prompted Q-values on pointmaze grew to 3–4× that bound (docs/results).
    c.bound_successor_targets = True
    c.actor_pessimism = 0.0
    # A small behaviour-cloning term keeps the TD3 actor out of tanh saturation early in training.
    c.bc_coeff = 0.05
    # n-step targets: y = Σ_{k<n} γ^k ē(s_{t+k+1}) + γ^n T̄(s_{t+n}, a', z), the dataset's own next n − 1
    # actions standing in for π's (the reference's n is 1). Fewer bootstraps per unit of horizon, at the
    # price of the behaviour's bias over those steps (Park et al. 2025, "Horizon reduction makes RL
    # scalable"). On pointmaze every such run (seeds 0-4) reached goal success >= 0.40 at 60k updates,
    # where one-step targets averaged 0.23 at 80k (docs/results). Batches then carry the n next states.
    c.n_step = 5
    add_actor_type_defaults(c)
    add_observation_defaults(c)
    add_schedule_defaults(c)
    add_online_defaults(c)
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


class TDJEPA(LatentAgent):
    """TD-JEPA agent: pure functions over an `AgentState`."""

    def __init__(self, config: ml_collections.ConfigDict):
        c = self.config = config
        if c.n_step < 1:
            raise ValueError(f"config.n_step must be >= 1, got {c.n_step}")
        self.z_dim = c.phi_dim if c.symmetric else c.psi_dim
        self.encoders = {"phi": SphereEncoder(c.phi_dim, c.phi_hidden_dim, c.phi_hidden_layers)}
        # (predictor, its input encoder, the encoder whose EMA features it predicts)
        self.pairs = [("T_phi", "phi", "phi" if c.symmetric else "psi")]
        if not c.symmetric:
            self.encoders["psi"] = SphereEncoder(c.psi_dim, c.psi_hidden_dim, c.psi_hidden_layers)
            self.pairs.append(("T_psi", "psi", "phi"))
        self.task_encoder = "phi" if c.symmetric else "psi"
        # Each encoder reads its own view (pixels: its own DrQ trunk e_φ, e_ψ); the actor reads φ's.
        self.observations = ObservationPipeline(c, tuple(self.encoders))
        self.policy = LatentPolicy(c, self.z_dim)
        self.policy_view = "phi"
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
    def horizon(self) -> int:
        """How many next states each training batch carries (n-step targets)."""
        return self.config.n_step

    @property
    def representation_names(self) -> list[str]:
        return self.observations.trunk_names + list(self.encoders) + list(self.predictors)

    def policy_encoder(self, params: dict, view: jnp.ndarray) -> jnp.ndarray:
        return self.encode(params, "phi", view)

    def init(self, key: jax.Array, example_batch: Batch) -> AgentState:
        """Fresh parameters (orthogonal init), targets copied after init, optimiser states."""
        obs, action = example_batch.observations[:1], example_batch.actions[:1]
        action_dim = action.shape[-1]
        names = self.representation_names + ["actor"]
        keys = dict(zip(names, jax.random.split(key, len(names)), strict=True))
        params = self.observations.init_trunks(keys, obs)
        views = self.observations.views(params, obs)
        params |= {name: enc.init(keys[name], views[name])["params"] for name, enc in self.encoders.items()}
        z = jnp.zeros((1, self.z_dim))
        for name, encoder, _ in self.pairs:
            features = self.encoders[encoder].apply({"params": params[encoder]}, views[encoder])
            params[name] = self.predictors[name].init(keys[name], features, action, z)["params"]
        params |= self.policy.init(keys["actor"], self.policy_inputs(params, views["phi"]), action_dim)
        # The trunks have no EMA copy (the reference's): targets of the MLP encoders and predictors only.
        targeted = [name for name in self.representation_names if name not in self.observations.trunk_names]
        return AgentState(
            params=params,
            target_params=jax.tree.map(jnp.copy, {name: params[name] for name in targeted}),
            opt_states={
                "representation": self.representation_optimizer.init({k: params[k] for k in self.representation_names}),
                "actor": self.policy.optimizer.init({name: params[name] for name in self.policy.names}),
            },
            stats=self.observations.init_stats(obs) | {"z_second_moment": jnp.eye(self.z_dim)},
            step=jnp.zeros((), jnp.int32),
            action_dim=action_dim,
            averaged_params=self.policy.init_averages(params),
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
        key, stats, batch = self.observations.prepare(key, state.stats, batch)
        k_z, k_next, k_actor = jax.random.split(key, 3)
        params, targets = state.params, state.target_params
        next_views = jax.lax.stop_gradient(self.observations.views(params, batch.next_observations))
        task_next = jax.lax.stop_gradient(self.encode(params, self.task_encoder, next_views[self.task_encoder]))
        z = mix_goal_latents(k_z, task_next, c.train_goal_ratio, self._whitening(state))

        # TD targets: y = ē(s') + γ PEN_k T̄_k(ē_in(s'), a', z), with a' the policy's target action
        # (n-step: the features of the next n states summed, and the bootstrap from s_{t+n}).
        if c.n_step == 1:
            boot_views = next_views
            boot_features = {name: self.encode(targets, name, next_views[name]) for name in self.encoders}
            feature_sums, discount = boot_features, c.discount * batch.discount
        else:
            boot_views, boot_features, feature_sums, discount = self._multistep(params, targets, batch, next_views)
        next_actions = self.policy.target_actions(
            params["actor"], self.policy_inputs(targets, boot_views["phi"]), z, state.action_dim, k_next
        )
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
            views = self.observations.views(rep_params, batch.observations)
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

        # Actor: maximise Q = PEN_k T_φ^k(φ(s), â, z)ᵀz with the just-updated φ and T_φ, as the reference does
        # (the trunk features, for pixels, are the ones computed before the update, also as there).
        actor_views = jax.lax.stop_gradient(actor_views)
        phi_obs = jax.lax.stop_gradient(self.encode(params, "phi", actor_views))
        actor_params, actor_opt, actor_metrics = self.policy.update(
            params,
            state.opt_states["actor"],
            jax.lax.stop_gradient(self.policy_inputs(params, actor_views)),
            lambda a: latent_value(self.predict(params, "T_phi", phi_obs, a, z), z, c.actor_pessimism),
            z,
            batch.actions,
            state.action_dim,
            k_actor,
        )
        params = params | actor_params

        taus = {name: c.encoder_tau for name in self.encoders} | {name: c.predictor_tau for name in self.predictors}
        targets = {name: polyak(params[name], targets[name], taus[name]) for name in targets}
        metrics |= actor_metrics | {"representation_loss": loss, "representation_grad_norm": global_norm(grads)}
        new_state = state.replace(
            params=params,
            target_params=targets,
            opt_states={"representation": rep_opt, "actor": actor_opt},
            stats=stats | {"z_second_moment": second_moment},
            step=state.step + 1,
            averaged_params=self.policy.update_averages(params, state.averaged_params),
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
        later = self.observations.views(params, future[:, 1:].reshape(size * (n - 1), *future.shape[2:]))
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

    def _view(self, state: AgentState, obs: jnp.ndarray, encoder: str) -> jnp.ndarray:
        return self.observations.inputs(state.params, state.stats, obs, encoder)

    def reward_features(self, state: AgentState, obs: jnp.ndarray) -> jnp.ndarray:
        """ψ(s): the features a task's reward is linear in, r(s) = ψ(s)ᵀz."""
        return self.encode(state.params, self.task_encoder, self._view(state, obs, self.task_encoder))

    def infer_z_from_features(self, features: jnp.ndarray, rewards: jnp.ndarray) -> jnp.ndarray:
        """z = proj(lstsq(ψ(s'), r)): the task vector whose ψ-linear reward best fits r."""
        return least_squares_latent(features, rewards)

    def infer_z_goal(self, state: AgentState, goal_obs: jnp.ndarray) -> jnp.ndarray:
        """z = proj(ψ(g) Σ⁻¹) (whitened as during training when scale_train_goals)."""
        return goal_latent(self.reward_features(state, goal_obs), self._whitening(state))

    def q_value(self, state: AgentState, obs: jnp.ndarray, action: jnp.ndarray, z: jnp.ndarray):
        """Q_z(s, a) = PEN_k T_φ^k(φ(s), a, z)ᵀz, with the actor's pessimism."""
        phi = self.encode(state.params, "phi", self._view(state, obs, "phi"))
        return latent_value(self.predict(state.params, "T_phi", phi, action, z), z, self.config.actor_pessimism).q


# The paper presets: the reference's launchers (shared/reference/td_jepa_reference.md §2.4, and
# scripts/train/{proprio,pixel}/launch_td_jepa[_sym]_{dmc,ogbench}.py of marbaga/td_jepa_public at 9152a32).
# Where a launcher sweeps a value, the preset takes the sweep's point nearest the launcher's own base value
# (its BASE_CFG, else the code default), so one rule explains every choice: lr_ψ (lr_φ symmetric) 1e-4 of
# {1e-4, 1e-5}; λ_ψ (λ_φ symmetric) 0.1 of {0.01, 0.1, 1} on DMC, 1 of {0.1, 1} (antmaze) and of {1, 10}
# (manipulation) on OGBench. The paper's chosen points are not in the code or the notes we have.
#
# What every paper preset resets from the CPU defaults: the reference's optimisation and the library-only
# options off (one-step targets, unbounded targets, no normalisation, no BC on DMC).
_REFERENCE = dict(
    n_step=1,
    lr_phi=1e-4,
    lr_psi=1e-4,
    lr_predictor=1e-4,
    lr_actor=1e-4,
    bc_coeff=0.0,
    normalize_obs=False,
    bound_successor_targets=False,
    actor_pessimism=0.0,
    predictor_pessimism=0.0,
    num_heads=2,
    predictor_embedding_layers=2,
    actor_embedding_layers=2,
    train_goal_ratio=0.5,
    actor_std=0.2,
    actor_noise_clip=0.3,
    z_moment_decay=0.995,
)
_DMC = dict(
    batch_size=1024,
    discount=0.98,
    predictor_hidden_dim=1024,
    predictor_hidden_layers=1,
    actor_type="td3",
    actor_hidden_dim=1024,
    actor_hidden_layers=1,
    actor_use_full_encoder=True,
    encoder_tau=0.001,
    predictor_tau=0.001,
    phi_ortho_coef=0.1,
    psi_ortho_coef=0.1,
    scale_train_goals=False,
)
_OGBENCH = dict(
    batch_size=256,
    discount=0.99,
    predictor_hidden_dim=512,
    predictor_hidden_layers=2,
    actor_type="flow_bc",
    actor_hidden_dim=512,
    actor_hidden_layers=2,
    lr_actor_flow=3e-4,
    flow_steps=10,
    flow_hidden_layers=4,
    actor_use_full_encoder=False,
    encoder_tau=0.005,
    predictor_tau=0.005,
    phi_ortho_coef=1.0,
    psi_ortho_coef=1.0,
    scale_train_goals=True,
)
# The encoder heads, by benchmark: the asymmetric launchers make φ a single linear layer to 256 on DMC and
# on OGBench pixels (a 512×4 MLP to 50 on OGBench states), ψ an MLP to 50; the symmetric ones an MLP to 50.
_MLP_WIDTH = {"dmc": 256, "ogbench": 512}
_MLP_DEPTH = {"dmc": 2, "ogbench": 4}
# The reference's pixel pipeline: a DrQ trunk per view on 3 stacked 64×64 frames, random shifts of up to 2
# pixels, frames scaled to ±0.5 in the trunk (no running normalisation).
PIXELS = dict(obs_type="pixels", frame_stack=3, augment_pad=2, trunk_dim=256, normalize_obs=False)
# Per-domain values: DMC's point-mass maze uses γ 0.99 (and, from states, lr_actor 1e-6); OGBench's flow-BC
# weight β is 0.3 in mazes and 3 in manipulation (also when the domain is unknown).
_DMC_DOMAIN = {"pointmass": dict(discount=0.99)}
_DMC_STATES_DOMAIN = {"pointmass": dict(lr_actor=1e-6)}
_OGBENCH_BC = {"maze": 0.3, "manipulation": 3.0}


def _paper_preset(benchmark: str, pixels: bool):
    def overrides(domain: str | None, variant: Mapping[str, Any]) -> dict:
        mlp = dict(hidden_dim=_MLP_WIDTH[benchmark], hidden_layers=_MLP_DEPTH[benchmark], dim=50)
        linear = dict(hidden_dim=_MLP_WIDTH[benchmark], hidden_layers=0, dim=256)
        phi = mlp if variant["symmetric"] or (benchmark == "ogbench" and not pixels) else linear
        config = _REFERENCE | (_DMC if benchmark == "dmc" else _OGBENCH)
        config |= {f"phi_{k}": v for k, v in phi.items()} | {f"psi_{k}": v for k, v in mlp.items()}
        if pixels:
            config |= PIXELS | (dict(batch_size=512) if benchmark == "dmc" else {})
        if benchmark == "dmc":
            domain = dmc_domain(domain)
            config |= _DMC_DOMAIN.get(domain, {}) | ({} if pixels else _DMC_STATES_DOMAIN.get(domain, {}))
        else:
            config |= dict(bc_coeff=_OGBENCH_BC["maze" if domain == "maze" else "manipulation"])
        return config

    return overrides


# On a JAX body's exploration episodes (ExoRL's offline setting) on two CPU cores: the default networks with
# the reference's DMC discount (0.98); online runs keep the default config (docs/results/online-walker.md).
_CPU_EXORL = dict(discount=0.98)

_EVAL_EVERY = 250_000  # the reference evaluates every 250k updates
PRESETS = {
    "cpu": Preset(
        lambda domain, variant: _CPU_EXORL if (domain or "").startswith("exorl-") else {},
        60_000,
        20_000,
        1_000,
        "the default config, sized for two CPU cores",
    ),
    # Pixels on two CPU cores: the reference's pipeline, the CPU heads, a batch of 32 (a DrQ update at batch 256
    # costs ~100 GFLOP) and one-step targets (each extra future state is another pass through both trunks). On
    # CPU each update of a call is compiled on its own (tdjepa.training.make_chunk), hence 10 per call.
    "cpu_pixels": Preset(
        lambda domain, variant: PIXELS | dict(batch_size=32, n_step=1), 5_000, 0, 10, "pixels on two CPU cores"
    ),
    "paper_dmc": Preset(_paper_preset("dmc", False), 3_000_000, _EVAL_EVERY, 1_000, "the reference's DMC states"),
    "paper_dmc_pixels": Preset(_paper_preset("dmc", True), 2_000_000, _EVAL_EVERY, 10, "the reference's DMC pixels"),
    "paper_ogbench": Preset(_paper_preset("ogbench", False), 1_000_000, _EVAL_EVERY, 1_000, "OGBench states"),
    "paper_ogbench_pixels": Preset(_paper_preset("ogbench", True), 1_000_000, _EVAL_EVERY, 10, "OGBench pixels"),
}

RECORD = AgentRecord(
    name="td_jepa",
    agent_class=TDJEPA,
    default_config=default_config,
    presets=PRESETS,
    tiny_config=dict(
        batch_size=32,
        phi_dim=8,
        phi_hidden_dim=32,
        psi_dim=6,
        psi_hidden_dim=32,
        predictor_hidden_dim=32,
        actor_hidden_dim=32,
    ),
    benchmark_sizes={
        "paper": ("paper_dmc", {}),
        "small": (
            "paper_dmc",
            dict(batch_size=256, predictor_hidden_dim=256, actor_hidden_dim=256, psi_hidden_dim=256),
        ),
        "pixels": ("paper_ogbench_pixels", {}),
    },
    variant_fields=("symmetric",),
    description="TD-JEPA, asymmetric (--config.symmetric=true: symmetric)",
)
