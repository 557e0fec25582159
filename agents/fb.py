"""Forward–backward representations (Touati & Ollivier 2021), as coded in Meta Motivo / the TD-JEPA
repository: M^{π_z}(s, a, ds') ≈ F(L(s), a, z)ᵀ B(s') ρ(ds'), with a z-conditioned actor maximising Fᵀz.

The update is split so that an extension (FB-CPR) reuses its parts: `training_latents` (z mixing),
`measure_step` (the FB loss with B's orthonormality), `forward_value` (Q = Fᵀz as the actor's value).
"""

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from tdjepa.actor_objectives import ValueFn, latent_value
from tdjepa.agent import AgentRecord, Preset, dmc_domain
from tdjepa.data import Batch
from tdjepa.ensembles import pessimism
from tdjepa.inference import goal_latent, reward_weighted_latent, softmax_weighted_latent
from tdjepa.latent_agent import LatentAgent
from tdjepa.latent_policy import LatentPolicy, add_actor_type_defaults, add_schedule_defaults
from tdjepa.latent_space import mix_goal_latents
from tdjepa.networks import EnsemblePredictor, SphereEncoder
from tdjepa.observations import ObservationPipeline, add_observation_defaults
from tdjepa.online import add_online_defaults
from tdjepa.optim import apply_gradients, global_norm, per_network_adam, polyak
from tdjepa.orthonormality import off_diagonal_mean_square, orthonormality_loss
from tdjepa.state import AgentState


def default_config() -> ml_collections.ConfigDict:
    """The default command's FB: CPU-sized, with the same widths, batch and learning rates as TD-JEPA's
    default (τ and the orthonormality weight are the reference's code defaults); the paper's settings are
    the `paper_*` presets below."""
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
    # The actor maximises the minimum of the two F heads (Meta Motivo's FB default); the TD-JEPA
    # repository's FB, which the paper presets follow, uses their mean (0).
    c.actor_pessimism = 0.5
    # A small behaviour-cloning term keeps the TD3 actor out of tanh saturation early in training.
    c.bc_coeff = 0.05
    add_actor_type_defaults(c)
    add_observation_defaults(c)
    add_schedule_defaults(c)
    add_online_defaults(c)
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


class FB(LatentAgent):
    """FB agent: pure functions over an `AgentState`."""

    horizon = 1  # batches carry s' only

    def __init__(self, config: ml_collections.ConfigDict):
        c = self.config = config
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
        self.observations = ObservationPipeline(c, ("forward", "backward"))
        self.policy = LatentPolicy(c, self.z_dim)
        self.policy_view = "forward"
        # F, its left encoder L and the forward trunk share one learning rate, as in the reference.
        rates = {"L": c.lr_f, "F": c.lr_f, "B": c.lr_b}
        self.fb_names = self.observations.trunk_names + list(rates)
        rates |= {"forward_trunk": c.lr_f, "backward_trunk": c.lr_b}
        self.fb_optimizer = per_network_adam({name: rates[name] for name in self.fb_names}, c.lr_cosine_steps)

    def init(self, key: jax.Array, example_batch: Batch) -> AgentState:
        """Fresh parameters (orthogonal init), targets copied after init, optimiser states."""
        obs, action = example_batch.observations[:1], example_batch.actions[:1]
        action_dim = action.shape[-1]
        params = {}
        if self.pixels:
            key, k_trunks = jax.random.split(key)
            trunk_names = self.observations.trunk_names
            params = self.observations.init_trunks(dict(zip(trunk_names, jax.random.split(k_trunks), strict=True)), obs)
        views = self.observations.views(params, obs)
        k_l, k_b, k_f, k_a = jax.random.split(key, 4)
        z = jnp.zeros((1, self.z_dim))
        params |= {"L": self.left.init(k_l, views["forward"])["params"]}
        params |= {"B": self.backward.init(k_b, views["backward"])["params"]}
        left = self.left.apply({"params": params["L"]}, views["forward"])
        params["F"] = self.forward.init(k_f, left, action, z)["params"]
        params |= self.policy.init(k_a, self.policy_inputs(params, views["forward"]), action_dim)
        return AgentState(
            params=params,
            # The trunks have no EMA copy (the reference's): targets of L, F and B only.
            target_params=jax.tree.map(jnp.copy, {k: params[k] for k in ("L", "F", "B")}),
            opt_states={
                "fb": self.fb_optimizer.init({k: params[k] for k in self.fb_names}),
                "actor": self.policy.optimizer.init({name: params[name] for name in self.policy.names}),
            },
            stats=self.observations.init_stats(obs),
            step=jnp.zeros((), jnp.int32),
            action_dim=action_dim,
            averaged_params=self.policy.init_averages(params),
        )

    def target_taus(self) -> dict[str, float]:
        """The networks with an EMA target copy, and the Polyak rate of each."""
        c = self.config
        return {"L": c.f_tau, "F": c.f_tau, "B": c.b_tau}

    def left_encoding(self, params: dict, view: jnp.ndarray) -> jnp.ndarray:
        """L(s) from the forward view of s."""
        return self.left.apply({"params": params["L"]}, view)

    def backward_embedding(self, params: dict, view: jnp.ndarray) -> jnp.ndarray:
        """B(s) from the backward view of s."""
        return self.backward.apply({"params": params["B"]}, view)

    def forward_embedding(self, params: dict, left: jnp.ndarray, actions, z) -> jnp.ndarray:
        """F_k(L(s), a, z), (K, B, d)."""
        return self.forward.apply({"params": params["F"]}, left, actions, z)

    def policy_encoder(self, params: dict, view: jnp.ndarray) -> jnp.ndarray:
        return self.left_encoding(params, view)

    def forward_value(self, params: dict, left: jnp.ndarray, z: jnp.ndarray) -> ValueFn:
        """Q_z(s, ·) = PEN_k F_k(L(s), ·, z)ᵀz, with the actor's pessimism: the actor's value function."""
        return lambda actions: latent_value(
            self.forward_embedding(params, left, actions, z), z, self.config.actor_pessimism
        )

    def training_latents(self, key: jax.Array, params: dict, next_views: dict) -> jnp.ndarray:
        """The z of each row: proj(B(s'_perm)) with probability train_goal_ratio, else a prior draw."""
        backward_next = jax.lax.stop_gradient(self.backward_embedding(params, next_views["backward"]))
        return mix_goal_latents(key, backward_next, self.config.train_goal_ratio)

    def measure_step(
        self, state: AgentState, batch: Batch, next_views: dict, z: jnp.ndarray, key: jax.Array
    ) -> tuple[dict, object, dict, jnp.ndarray]:
        """One Adam step of L, F, B (and their trunks) on the FB measure loss plus B's orthonormality; returns
        their params, optimiser state, metrics, and the forward view of s (computed before the step)."""
        c = self.config
        params, targets = state.params, state.target_params
        # Target successor measure between rows i and goals s'_j: PEN_k F̄_k(L̄(s'_i), a'_i, z_i)ᵀ B̄(s'_j).
        next_actions = self.policy.target_actions(
            params["actor"], self.policy_inputs(targets, next_views["forward"]), z, state.action_dim, key
        )
        next_forward = self.forward_embedding(
            targets, self.left_encoding(targets, next_views["forward"]), next_actions, z
        )
        target_backward = self.backward_embedding(targets, next_views["backward"])
        target_m = jax.lax.stop_gradient(
            measure_target(next_forward, target_backward, c.discount * batch.discount, c.fb_pessimism)
        )

        def fb_loss(fb_params):
            forward_view = self.observations.view(fb_params, "forward", batch.observations)
            left = self.left_encoding(fb_params, forward_view)
            forward = self.forward_embedding(fb_params, left, batch.actions, z)
            # B reads the goals s' through its trunk with gradient, as in the reference.
            backward_view = self.observations.view(fb_params, "backward", batch.next_observations)
            backward = self.backward_embedding(fb_params, backward_view)
            fb, metrics = measure_loss(forward, backward, target_m)
            ortho = orthonormality_loss(backward)
            return fb + c.ortho_coef * ortho, (metrics | {"ortho_loss": ortho}, forward_view)

        fb_params = {k: params[k] for k in self.fb_names}
        (loss, (metrics, forward_view)), grads = jax.value_and_grad(fb_loss, has_aux=True)(fb_params)
        fb_params, fb_opt = apply_gradients(self.fb_optimizer, fb_params, grads, state.opt_states["fb"])
        metrics |= {"total_loss": loss, "fb_grad_norm": global_norm(grads)}
        return fb_params, fb_opt, metrics, jax.lax.stop_gradient(forward_view)

    def update(self, state: AgentState, batch: Batch, key: jax.Array) -> tuple[AgentState, dict]:
        """One gradient step on the FB measure loss with B's orthonormality, then the actor, then EMA."""
        key, stats, batch = self.observations.prepare(key, state.stats, batch)
        k_z, k_next, k_actor = jax.random.split(key, 3)
        next_views = jax.lax.stop_gradient(self.observations.views(state.params, batch.next_observations))
        z = self.training_latents(k_z, state.params, next_views)
        fb_params, fb_opt, metrics, forward_view = self.measure_step(state, batch, next_views, z, k_next)
        params = state.params | fb_params
        # The actor reads the forward view from before this update and L, F from after it, as the reference.
        left = jax.lax.stop_gradient(self.left_encoding(params, forward_view))
        value_fn = self.forward_value(params, left, z)
        new_state, actor_metrics = self.actor_step_and_targets(
            state.replace(params=params, stats=stats), {"fb": fb_opt}, forward_view, value_fn, z, batch.actions, k_actor
        )
        return new_state, metrics | actor_metrics

    def actor_step_and_targets(
        self,
        state: AgentState,
        opt_states: dict,
        forward_view: jnp.ndarray,
        value_fn: ValueFn,
        z: jnp.ndarray,
        data_actions: jnp.ndarray,
        key: jax.Array,
    ) -> tuple[AgentState, dict]:
        """The end of an update: one actor step on `value_fn`, then Polyak steps of every target network.

        `state` holds the critics' new params; `opt_states` their new optimiser states (the actor's is added)."""
        actor_params, actor_opt, actor_metrics = self.policy.update(
            state.params,
            state.opt_states["actor"],
            jax.lax.stop_gradient(self.policy_inputs(state.params, forward_view)),
            value_fn,
            z,
            data_actions,
            state.action_dim,
            key,
        )
        params = state.params | actor_params
        taus = self.target_taus()
        targets = {name: polyak(params[name], state.target_params[name], taus[name]) for name in state.target_params}
        new_state = state.replace(
            params=params,
            target_params=targets,
            opt_states=opt_states | {"actor": actor_opt},
            step=state.step + 1,
            averaged_params=self.policy.update_averages(params, state.averaged_params),
        )
        return new_state, actor_metrics

    def _view(self, state: AgentState, obs: jnp.ndarray, view: str) -> jnp.ndarray:
        return self.observations.inputs(state.params, state.stats, obs, view)

    def reward_features(self, state: AgentState, obs: jnp.ndarray) -> jnp.ndarray:
        """B(s): the features rewards are projected on; z = E[r B] encodes r(s) = B(s)ᵀ Cov(B)⁻¹ z."""
        return self.backward_embedding(state.params, self._view(state, obs, "backward"))

    def infer_z_from_features(self, features: jnp.ndarray, rewards: jnp.ndarray) -> jnp.ndarray:
        """z = proj(Σ_i w_i r_i B(s'_i)), w = 1 or softmax(10 r) per config.reward_inference."""
        return REWARD_INFERENCE[self.config.reward_inference](features, rewards)

    def infer_z_goal(self, state: AgentState, goal_obs: jnp.ndarray) -> jnp.ndarray:
        """z = proj(B(g))."""
        return goal_latent(self.reward_features(state, goal_obs))

    def q_value(self, state: AgentState, obs: jnp.ndarray, action: jnp.ndarray, z: jnp.ndarray):
        """Q_z(s, a) = PEN_k F_k(L(s), a, z)ᵀz, with the actor's pessimism."""
        left = self.left_encoding(state.params, self._view(state, obs, "forward"))
        return self.forward_value(state.params, left, z)(action).q


# The paper presets: the TD-JEPA repository's FB launchers (shared/reference/td_jepa_reference.md §3.1, and
# scripts/train/{proprio,pixel}/launch_fb_{dmc,ogbench}.py of marbaga/td_jepa_public at 9152a32), which the
# paper's FB baseline ran. Where a launcher sweeps a value, the preset takes the sweep's point nearest the
# launcher's own base value: lr_b 1e-4 of {1e-4, 1e-5}; ortho_coef 1 of {0.1, 1, 10} on DMC, and 100 of
# {100, 1000} on OGBench (whose base value, 1, is in neither).
_REFERENCE = dict(
    lr_f=1e-4,
    lr_b=1e-4,
    lr_actor=1e-4,
    bc_coeff=0.0,
    normalize_obs=False,
    fb_pessimism=0.0,
    actor_pessimism=0.0,
    num_heads=2,
    forward_embedding_layers=2,
    actor_embedding_layers=2,
    train_goal_ratio=0.5,
    actor_std=0.2,
    actor_noise_clip=0.3,
    reward_inference="weighted_sum",
    z_dim=50,
)
_DMC = dict(
    batch_size=1024,
    discount=0.98,
    left_dim=256,
    left_hidden_dim=256,
    left_hidden_layers=0,
    backward_hidden_dim=256,
    backward_hidden_layers=2,
    forward_hidden_dim=1024,
    forward_hidden_layers=1,
    actor_type="td3",
    actor_hidden_dim=1024,
    actor_hidden_layers=1,
    actor_use_full_encoder=True,
    f_tau=0.001,
    b_tau=0.001,
    ortho_coef=1.0,
)
_OGBENCH = dict(
    batch_size=256,
    discount=0.99,
    backward_hidden_dim=512,
    backward_hidden_layers=4,
    forward_hidden_dim=512,
    forward_hidden_layers=2,
    actor_type="flow_bc",
    actor_hidden_dim=512,
    actor_hidden_layers=2,
    lr_actor_flow=3e-4,
    flow_steps=10,
    flow_hidden_layers=4,
    actor_use_full_encoder=False,
    f_tau=0.005,
    b_tau=0.005,
    ortho_coef=100.0,
)
# The left encoder L on OGBench: a 512×4 MLP to 50 from states, one linear layer to 256 on pixel features.
_OGBENCH_LEFT = {
    False: dict(left_dim=50, left_hidden_dim=512, left_hidden_layers=4),
    True: dict(left_dim=256, left_hidden_dim=512, left_hidden_layers=0),
}
PIXELS = dict(obs_type="pixels", frame_stack=3, augment_pad=2, trunk_dim=256, normalize_obs=False)
# DMC's point-mass maze: γ 0.99 (and, from states, lr_actor 1e-6); OGBench's β: 0.3 mazes, 3 manipulation.
_DMC_DOMAIN = {"pointmass": dict(discount=0.99)}
_DMC_STATES_DOMAIN = {"pointmass": dict(lr_actor=1e-6)}
_OGBENCH_BC = {"maze": 0.3, "manipulation": 3.0}


def _paper_preset(benchmark: str, pixels: bool):
    def overrides(domain: str | None, variant: Mapping[str, Any]) -> dict:
        if benchmark == "dmc":
            config = _REFERENCE | _DMC | (PIXELS | dict(batch_size=512) if pixels else {})
            domain = dmc_domain(domain)
            return config | _DMC_DOMAIN.get(domain, {}) | ({} if pixels else _DMC_STATES_DOMAIN.get(domain, {}))
        config = _REFERENCE | _OGBENCH | _OGBENCH_LEFT[pixels] | (PIXELS if pixels else {})
        return config | dict(bc_coeff=_OGBENCH_BC["maze" if domain == "maze" else "manipulation"])

    return overrides


# The reference's online loop (shared/reference/fb_bfm_zero_slim_reference.md §2.3); the buffer's capacity is
# ours (BFM-Zero's is 5.12M transitions).
_ONLINE = dict(
    num_envs=50,
    env_steps_per_round=500,
    updates_per_round=50,
    seed_steps=50_000,
    buffer_capacity=5_000_000,
    z_every=150,
    rollout_goal_ratio=0.5,
)
# A JAX body on two CPU cores (online, or offline on its exploration episodes): the default networks, without
# the behaviour-cloning term (the actions are the agent's own and random ones, or an explorer's) and with the
# reference's DMC discount (0.98). Measured online on walker: docs/results/online-walker.md.
_CPU_DMC = dict(bc_coeff=0.0, discount=0.98)

_EVAL_EVERY = 250_000  # the reference evaluates every 250k updates
PRESETS = {
    "cpu": Preset(
        lambda domain, variant: _CPU_DMC if (domain or "").startswith(("online-", "exorl-")) else {},
        60_000,
        20_000,
        1_000,
        "the default config, sized for two CPU cores",
        env_steps=256_000,
        eval_every_env_steps=128_000,
        env_steps_per_call=25_600,
    ),
    "cpu_pixels": Preset(lambda domain, variant: PIXELS | dict(batch_size=32), 5_000, 0, 10, "pixels on two CPU cores"),
    "paper_dmc": Preset(_paper_preset("dmc", False), 3_000_000, _EVAL_EVERY, 1_000, "the reference's DMC states"),
    "paper_dmc_pixels": Preset(_paper_preset("dmc", True), 2_000_000, _EVAL_EVERY, 10, "the reference's DMC pixels"),
    "paper_ogbench": Preset(_paper_preset("ogbench", False), 1_000_000, _EVAL_EVERY, 1_000, "OGBench states"),
    "paper_ogbench_pixels": Preset(_paper_preset("ogbench", True), 1_000_000, _EVAL_EVERY, 10, "OGBench pixels"),
    # Online on a JAX body: the DMC networks and Meta Motivo's loop (50 envs; 50 updates after every 500 env
    # steps; z resampled every 150 steps, half of them goal latents; 50k random steps first).
    "paper_online": Preset(
        lambda domain, variant: _paper_preset("dmc", False)(domain, variant) | _ONLINE,
        0,
        0,
        0,
        "online FB with the reference's networks and loop",
        env_steps=30_000_000,
        eval_every_env_steps=1_000_000,
        env_steps_per_call=50_000,
    ),
}

RECORD = AgentRecord(
    name="fb",
    agent_class=FB,
    default_config=default_config,
    presets=PRESETS,
    tiny_config=dict(
        batch_size=32,
        z_dim=6,
        left_dim=8,
        left_hidden_dim=32,
        backward_hidden_dim=32,
        forward_hidden_dim=32,
        actor_hidden_dim=32,
    ),
    benchmark_sizes={
        "paper": ("paper_dmc", {}),
        "small": (
            "paper_dmc",
            dict(batch_size=256, forward_hidden_dim=256, actor_hidden_dim=256, backward_hidden_dim=256),
        ),
        "pixels": ("paper_ogbench_pixels", {}),
    },
    description="forward-backward representations",
)
