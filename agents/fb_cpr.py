"""FB-CPR (Meta Motivo; Tirinzoni et al., ICLR 2025): online forward–backward whose policies are pulled towards
the states of unlabelled demonstrations by a latent-conditioned discriminator.

One update, in the reference's order (shared/reference/fb_bfm_zero_slim_reference.md §2.2):
1. expert latents z_E: per window of `seq_length` consecutive demonstration steps, proj(mean_t B(s'_t));
2. a discriminator step: D(s, z) tells (expert state, z_E) from (rollout state, the rollout's own z), logistic
   loss plus a gradient penalty on interpolated (s, z);
3. the training latents: per row a goal latent, an expert latent or a prior draw; with `relabel_ratio` they
   replace the rollout's z;
4. FB's own measure step (the FB agent's, not a copy) with those latents;
5. a critic Q_D on D's logit as reward, with its own target;
6. the actor on Q_FB + α·mean|Q_FB|·Q_D (α = `reg_coeff`, the scale with `scale_reg`), then Polyak steps.

A batch carries the rollout's z in `extras["z"]` (the online source stores it) and the demonstration windows in
`extras["expert_observations"]` / `extras["expert_next_observations"]`, rows grouped by window.
"""

import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from agents import fb
from tdjepa.actor_objectives import ActionValue, ValueFn, ensemble_value
from tdjepa.agent import AgentRecord, Preset
from tdjepa.data import Batch
from tdjepa.ensembles import pessimism
from tdjepa.latent_space import project_to_sphere, sample_sphere
from tdjepa.networks import EnsemblePredictor, dense
from tdjepa.optim import apply_gradients, global_norm
from tdjepa.state import AgentState

Discriminate = Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray]  # D(obs, z) -> logits
Pair = tuple[jnp.ndarray, jnp.ndarray]  # (states, latents)

# The reference's reward log σ(D) − log(1 − σ(D)) clamps σ to [1e-7, 1 − 1e-7]: the logit, clipped here.
_REWARD_BOUND = math.log((1 - 1e-7) / 1e-7)


def add_fb_cpr_defaults(c: ml_collections.ConfigDict) -> None:
    """FB-CPR's own fields, at the reference's values (§2.4, humenv "S") except the network widths, which the
    CPU default keeps at FB's."""
    c.seq_length = 8  # steps per demonstration window (z_E averages B over one window)
    c.train_goal_ratio = 0.2
    c.expert_asm_ratio = 0.6  # training latents drawn from the batch's expert latents
    c.relabel_ratio = 0.8  # rows whose rollout z is replaced by the mixed latent
    c.reg_coeff = 0.01  # α of the discriminator critic in the actor's objective
    c.scale_reg = True  # scale α by mean |Q_FB| (without gradient)
    c.grad_penalty = 10.0
    c.lr_critic = 1e-4
    c.lr_discriminator = 1e-5
    c.weight_decay_discriminator = 0.0
    c.critic_tau = 0.005
    c.critic_pessimism = 0.5  # of the critic's target; the actor uses actor_pessimism
    c.discriminator_hidden_dim = 128
    c.discriminator_hidden_layers = 3
    c.ortho_coef = 100.0
    c.discount = 0.98
    c.bc_coeff = 0.0  # online, the replay's actions are the agent's own (FB's online CPU preset does the same)
    c.expert_clips = ""  # the demonstrations' clip file (tdjepa.clips); "": the clips shipped for the run's env
    # The reference's --prioritization (off by default there too): at each evaluation the training clips are
    # tracked, and clips are drawn by weights from their errors (tdjepa.clips.tracking_priorities).
    c.prioritize_clips = False
    # Rollouts draw z as training does (the reference's rollouts read its buffer of training latents).
    c.rollout_goal_ratio = c.train_goal_ratio
    c.rollout_expert_ratio = c.expert_asm_ratio


def default_config() -> ml_collections.ConfigDict:
    c = fb.default_config()
    add_fb_cpr_defaults(c)
    return c


class Discriminator(nn.Module):
    """D(s, z), a logit: Linear([z‖s]) → LayerNorm → Tanh, (layers − 1) × [Linear → ReLU], Linear(h, 1)."""

    hidden_dim: int
    hidden_layers: int = 3

    @nn.compact
    def __call__(self, obs: jnp.ndarray, z: jnp.ndarray) -> jnp.ndarray:
        x = jnp.tanh(nn.LayerNorm()(dense(self.hidden_dim)(jnp.concatenate([z, obs], -1))))
        for _ in range(self.hidden_layers - 1):
            x = nn.relu(dense(self.hidden_dim)(x))
        return dense(1)(x)[..., 0]


def expert_latents(backward_next: jnp.ndarray, seq_length: int) -> jnp.ndarray:
    """z_E per row: proj(mean of B(s'_t) over the row's window), rows grouped in windows of seq_length."""
    n, dim = backward_next.shape
    windows = project_to_sphere(backward_next.reshape(n // seq_length, seq_length, dim).mean(1))
    return jnp.repeat(windows, seq_length, axis=0)


def discriminator_reward(logits: jnp.ndarray) -> jnp.ndarray:
    """The critic's reward log σ(D) − log(1 − σ(D)) = D's logit (clipped where σ is clamped)."""
    return jnp.clip(logits, -_REWARD_BOUND, _REWARD_BOUND)


def gradient_penalty(discriminator: Discriminate, key: jax.Array, expert: Pair, rollout: Pair) -> jnp.ndarray:
    """mean (‖∇_x̂ D(x̂)‖ − 1)², x̂ = α·(s_E, z_E) + (1 − α)·(s, z), α ~ U(0, 1) per row; the norm is over the
    concatenated gradient with respect to the state and the latent."""
    (obs_e, z_e), (obs_t, z_t) = expert, rollout
    alpha = jax.random.uniform(key, (obs_e.shape[0], 1))
    obs, z = alpha * obs_e + (1 - alpha) * obs_t, alpha * z_e + (1 - alpha) * z_t
    # Rows do not interact in D, so the gradient of the sum is each row's own gradient.
    g_obs, g_z = jax.grad(lambda o, w: discriminator(o, w).sum(), argnums=(0, 1))(obs, z)
    norm = jnp.sqrt(jnp.sum(g_obs**2, -1) + jnp.sum(g_z**2, -1))
    return jnp.mean((norm - 1.0) ** 2)


def discriminator_loss(
    discriminator: Discriminate, key: jax.Array, expert: Pair, rollout: Pair, penalty: float
) -> tuple[jnp.ndarray, dict]:
    """−mean log σ(D(s_E, z_E)) − mean log(1 − σ(D(s, z))) + λ·GP."""
    expert_logits, rollout_logits = discriminator(*expert), discriminator(*rollout)
    logistic = jax.nn.softplus(-expert_logits).mean() + jax.nn.softplus(rollout_logits).mean()
    gp = gradient_penalty(discriminator, key, expert, rollout)
    metrics = {
        "disc_loss": logistic,
        "disc_gradient_penalty": gp,
        "disc_expert_logit": expert_logits.mean(),
        "disc_rollout_logit": rollout_logits.mean(),
    }
    return logistic + penalty * gp, metrics


def mix_latents(
    key: jax.Array, goal_embeddings: jnp.ndarray, expert_z: jnp.ndarray, goal_ratio: float, expert_ratio: float
) -> jnp.ndarray:
    """Per row, a categorical choice: proj(B(s'_perm)) with goal_ratio, z_E[perm] with expert_ratio, else the
    prior (the reference's sample_mixed_z)."""
    n, dim = goal_embeddings.shape
    k_goal, k_expert, k_prior, k_choice = jax.random.split(key, 4)
    goals = project_to_sphere(goal_embeddings[jax.random.permutation(k_goal, n)])
    experts = expert_z[jax.random.permutation(k_expert, n)]
    u = jax.random.uniform(k_choice, (n, 1))
    mixed = jnp.where(u < goal_ratio + expert_ratio, experts, sample_sphere(k_prior, n, dim))
    return jax.lax.stop_gradient(jnp.where(u < goal_ratio, goals, mixed))


def relabel(key: jax.Array, rollout_z: jnp.ndarray, mixed_z: jnp.ndarray, ratio: float) -> jnp.ndarray:
    """The rollout's z, replaced by the mixed latent in a `ratio` of the rows."""
    return jnp.where(jax.random.uniform(key, (rollout_z.shape[0], 1)) < ratio, mixed_z, rollout_z)


class FBCPR(fb.FB):
    """FB with a discriminator towards demonstrations and its critic; prompting is FB's (plus tracking)."""

    def __init__(self, config: ml_collections.ConfigDict):
        super().__init__(config)
        c = config
        if self.pixels:
            raise ValueError("fb_cpr reads states (its discriminator compares states); config.obs_type='states'")
        if c.train_goal_ratio + c.expert_asm_ratio > 1:
            raise ValueError(
                f"config.train_goal_ratio={c.train_goal_ratio} + config.expert_asm_ratio={c.expert_asm_ratio} > 1"
            )
        self.discriminator = Discriminator(c.discriminator_hidden_dim, c.discriminator_hidden_layers)
        self.critic = EnsemblePredictor(
            1, c.num_heads, c.forward_hidden_dim, c.forward_hidden_layers, c.forward_embedding_layers
        )
        # torch's Adam weight decay is an L2 term added to the gradient (not AdamW's decoupled decay).
        self.discriminator_optimizer = optax.chain(
            optax.add_decayed_weights(c.weight_decay_discriminator), optax.adam(c.lr_discriminator)
        )
        self.critic_optimizer = optax.adam(c.lr_critic)

    def target_taus(self) -> dict[str, float]:
        return super().target_taus() | {"critic": self.config.critic_tau}

    def init(self, key: jax.Array, example_batch: Batch) -> AgentState:
        """FB's parameters plus D and the critic (with its target copy) and their optimisers."""
        k_fb, k_d, k_q = jax.random.split(key, 3)
        obs, action = example_batch.observations[:1], example_batch.actions[:1]
        z = jnp.zeros((1, self.z_dim))
        extra = {
            "D": self.discriminator.init(k_d, obs, z)["params"],
            "critic": self.critic.init(k_q, obs, action, z)["params"],
        }
        state = super().init(k_fb, example_batch)
        return state.replace(
            params=state.params | extra,
            target_params=state.target_params | {"critic": jax.tree.map(jnp.copy, extra["critic"])},
            opt_states=state.opt_states
            | {
                "discriminator": self.discriminator_optimizer.init(extra["D"]),
                "critic": self.critic_optimizer.init(extra["critic"]),
            },
        )

    def infer_z_windows(self, state: AgentState, next_obs: jnp.ndarray) -> jnp.ndarray:
        """z of each window of seq_length rows (rows grouped by window): proj(mean of B(s'_t)), repeated per row,
        as for the expert latents (rollouts prompted by demonstrations, and tracking)."""
        return expert_latents(self.reward_features(state, next_obs), self.config.seq_length)

    def discriminate(self, params: dict, obs: jnp.ndarray, z: jnp.ndarray) -> jnp.ndarray:
        """D(s, z), the logit that (s, z) comes from a demonstration encoded as z."""
        return self.discriminator.apply({"params": params["D"]}, obs, z)

    def critic_heads(self, params: dict, obs: jnp.ndarray, actions: jnp.ndarray, z: jnp.ndarray) -> jnp.ndarray:
        """Q_D,k(s, a, z), (K, B)."""
        return self.critic.apply({"params": params["critic"]}, obs, actions, z)[..., 0]

    def discriminator_step(
        self, state: AgentState, key: jax.Array, expert: Pair, rollout: Pair
    ) -> tuple[dict, object, dict]:
        """One Adam step of D on its loss; returns its params, optimiser state and metrics."""
        c = self.config

        def loss(d_params):
            disc = lambda obs, z: self.discriminator.apply({"params": d_params}, obs, z)  # noqa: E731
            return discriminator_loss(disc, key, expert, rollout, c.grad_penalty)

        (_, metrics), grads = jax.value_and_grad(loss, has_aux=True)(state.params["D"])
        d_params, d_opt = apply_gradients(
            self.discriminator_optimizer, state.params["D"], grads, state.opt_states["discriminator"]
        )
        return d_params, d_opt, metrics | {"disc_grad_norm": global_norm(grads)}

    def critic_step(
        self, state: AgentState, params: dict, batch: Batch, next_view: jnp.ndarray, z: jnp.ndarray, key: jax.Array
    ) -> tuple[dict, object, dict]:
        """One Adam step of Q_D towards r + γ·PEN_k Q̄_D,k(s', a', z), r = D(s, z)'s logit with the new D."""
        c = self.config
        reward = discriminator_reward(self.discriminate(params, batch.observations, z))
        next_actions = self.policy.target_actions(
            params["actor"], self.policy_inputs(params, next_view), z, state.action_dim, key
        )
        next_q = self.critic.apply({"params": state.target_params["critic"]}, batch.next_observations, next_actions, z)
        target = reward + c.discount * batch.discount * pessimism(next_q[..., 0], c.critic_pessimism)
        target = jax.lax.stop_gradient(target)

        def loss(critic_params):
            q = self.critic.apply({"params": critic_params}, batch.observations, batch.actions, z)[..., 0]
            return 0.5 * jnp.mean((q - target) ** 2, axis=1).sum()

        value, grads = jax.value_and_grad(loss)(params["critic"])
        critic_params, critic_opt = apply_gradients(
            self.critic_optimizer, params["critic"], grads, state.opt_states["critic"]
        )
        metrics = {"critic_loss": value, "critic_reward": reward.mean(), "critic_grad_norm": global_norm(grads)}
        return critic_params, critic_opt, metrics

    def regularised_value(self, params: dict, left: jnp.ndarray, obs: jnp.ndarray, z: jnp.ndarray) -> ValueFn:
        """The actor's objective Q_FB + α·w·Q_D, w = mean |Q_FB| without gradient (1 without scale_reg)."""
        c = self.config
        fb_value = self.forward_value(params, left, z)

        def value(actions: jnp.ndarray) -> ActionValue:
            q_fb = fb_value(actions)
            q_d = ensemble_value(self.critic_heads(params, obs, actions, z), c.actor_pessimism)
            weight = jax.lax.stop_gradient(jnp.abs(q_fb.q).mean()) if c.scale_reg else 1.0
            return ActionValue(q=q_fb.q + c.reg_coeff * weight * q_d.q, scale=q_fb.scale)

        return value

    def update(self, state: AgentState, batch: Batch, key: jax.Array) -> tuple[AgentState, dict]:
        """Discriminator, FB, critic, actor, targets: one FB-CPR update (module docstring)."""
        c = self.config
        expert_obs, expert_next = batch.extras["expert_observations"], batch.extras["expert_next_observations"]
        key, stats, batch = self.observations.prepare(key, state.stats, batch)
        # Demonstrations are normalised with the statistics of the rollouts (they do not update them).
        expert_obs, expert_next = (
            self.observations.inputs(state.params, stats, x, "forward") for x in (expert_obs, expert_next)
        )
        k_disc, k_mix, k_relabel, k_fb, k_critic, k_actor = jax.random.split(key, 6)
        params = state.params
        expert_z = expert_latents(jax.lax.stop_gradient(self.backward_embedding(params, expert_next)), c.seq_length)
        rollout_z = batch.extras["z"]
        # D sees the rollouts' own z, before any relabelling.
        d_params, d_opt, metrics = self.discriminator_step(
            state, k_disc, (expert_obs, expert_z), (batch.observations, rollout_z)
        )
        goals = jax.lax.stop_gradient(self.backward_embedding(params, batch.next_observations))
        mixed = mix_latents(k_mix, goals, expert_z, c.train_goal_ratio, c.expert_asm_ratio)
        z = relabel(k_relabel, rollout_z, mixed, c.relabel_ratio)

        next_views = jax.lax.stop_gradient(self.observations.views(params, batch.next_observations))
        fb_params, fb_opt, fb_metrics, forward_view = self.measure_step(state, batch, next_views, z, k_fb)
        params = params | fb_params | {"D": d_params}
        critic_params, critic_opt, critic_metrics = self.critic_step(
            state, params, batch, next_views["forward"], z, k_critic
        )
        params = params | {"critic": critic_params}
        left = jax.lax.stop_gradient(self.left_encoding(params, forward_view))
        value_fn = self.regularised_value(params, left, forward_view, z)
        opt_states = {"fb": fb_opt, "discriminator": d_opt, "critic": critic_opt}
        new_state, actor_metrics = self.actor_step_and_targets(
            state.replace(params=params, stats=stats), opt_states, forward_view, value_fn, z, batch.actions, k_actor
        )
        return new_state, metrics | fb_metrics | critic_metrics | actor_metrics


# The reference's FB-CPR ("S", humenv; shared/reference/fb_bfm_zero_slim_reference.md §2.4) on FB's online
# preset (the DMC networks and Meta Motivo's loop): wider F / actor, a one-layer B, a 1024-wide discriminator.
# Not taken: its implicit-reward Q loss (q_loss_coef 0.1), which this library's FB does not have.
_PAPER = dict(
    z_dim=256,
    forward_hidden_dim=1024,
    forward_hidden_layers=2,
    actor_hidden_dim=1024,
    actor_hidden_layers=2,
    backward_hidden_dim=256,
    backward_hidden_layers=1,
    discriminator_hidden_dim=1024,
    discriminator_hidden_layers=3,
    lr_f=1e-4,
    lr_b=1e-5,
    lr_actor=1e-4,
    ortho_coef=100.0,
    batch_size=1024,
    f_tau=0.01,
    b_tau=0.01,
    actor_pessimism=0.5,
    normalize_obs=True,
    bc_coeff=0.0,
    discount=0.98,
    train_goal_ratio=0.2,
    rollout_goal_ratio=0.2,
)
_FB_ONLINE = fb.PRESETS["paper_online"]
PRESETS = {
    "cpu": Preset(
        lambda domain, variant: {},
        0,
        0,
        0,
        "the default config, sized for two CPU cores (online only)",
        env_steps=256_000,
        eval_every_env_steps=128_000,
        env_steps_per_call=25_600,
    ),
    "paper_online": Preset(
        lambda domain, variant: _FB_ONLINE.overrides(domain, variant) | _PAPER,
        0,
        0,
        0,
        "FB-CPR with the reference's networks and loop",
        env_steps=_FB_ONLINE.env_steps,
        eval_every_env_steps=_FB_ONLINE.eval_every_env_steps,
        env_steps_per_call=_FB_ONLINE.env_steps_per_call,
    ),
}

RECORD = AgentRecord(
    name="fb_cpr",
    agent_class=FBCPR,
    default_config=default_config,
    presets=PRESETS,
    tiny_config=fb.RECORD.tiny_config | dict(seq_length=4, discriminator_hidden_dim=16),
    benchmark_sizes={},  # its updates need rollouts and demonstrations: measured online (--online_loop)
    online_only=True,
    description="FB regularised towards demonstrations (Meta Motivo)",
)
