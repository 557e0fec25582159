"""FB-CPR's pieces against hand computations: the gradient penalty, expert latents, the discriminator's
reward and inputs, the latent mixing and the actor's regularised objective; one jitted update trains every
network; on a point env, the policy of an expert latent goes to the demonstrated states, FB's does not."""

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import fb, fb_cpr
from tdjepa.clips import Clips
from tdjepa.data import Batch
from tdjepa.latent_space import project_to_sphere, sample_sphere
from tdjepa.online import OnlineSource, initial_source_state
from tdjepa.runs import example_batch
from tdjepa.training import compile_chunk, init_runner

OBS, ACT, N, L = 5, 2, 16, 4


def tiny_config(**overrides):
    c = fb_cpr.default_config()
    c.update(fb.RECORD.tiny_config | dict(seq_length=L, discriminator_hidden_dim=16, normalize_obs=False) | overrides)
    return c


def batch(key: jax.Array, discount: float = 1.0) -> Batch:
    k = jax.random.split(key, 6)
    obs = jax.random.normal(k[0], (N, OBS))
    expert = jax.random.normal(k[1], (N + 1, OBS)) + 2.0  # one clip: windows of L consecutive steps
    return Batch(
        observations=obs,
        actions=jnp.tanh(jax.random.normal(k[2], (N, ACT))),
        next_observations=obs + 0.1 * jax.random.normal(k[3], (N, OBS)),
        discount=jnp.full(N, discount),
        extras={
            "z": sample_sphere(k[4], N, tiny_config().z_dim),
            "expert_observations": expert[:-1],
            "expert_next_observations": expert[1:],
        },
    )


def test_gradient_penalty_of_half_the_squared_norm_is_that_of_the_interpolates():
    """D(s, z) = ½‖[s‖z]‖² has gradient x̂ itself: the penalty is mean (‖x̂‖ − 1)²."""
    key = jax.random.PRNGKey(3)
    expert = (jnp.array([[1.0, 0.0], [0.0, 2.0]]), jnp.array([[0.0], [1.0]]))
    rollout = (jnp.array([[0.0, 0.0], [2.0, 2.0]]), jnp.array([[3.0], [-1.0]]))
    disc = lambda s, z: 0.5 * (jnp.sum(s**2, -1) + jnp.sum(z**2, -1))  # noqa: E731
    alpha = np.asarray(jax.random.uniform(key, (2, 1)))
    x = alpha * np.concatenate(expert, 1) + (1 - alpha) * np.concatenate(rollout, 1)
    expected = np.mean((np.linalg.norm(x, axis=1) - 1) ** 2)
    np.testing.assert_allclose(fb_cpr.gradient_penalty(disc, key, expert, rollout), expected, rtol=1e-6)
    # A linear D with a unit gradient has no penalty.
    unit = lambda s, z: 0.6 * s[:, 0] + 0.8 * z[:, 0]  # noqa: E731
    assert float(fb_cpr.gradient_penalty(unit, key, expert, rollout)) < 1e-12


def test_discriminator_loss_is_logistic_on_expert_and_rollout_pairs():
    disc = lambda s, z: s[:, 0] - z[:, 0]  # noqa: E731 (unit gradient norm √2)
    expert, rollout = (jnp.array([[2.0]]), jnp.array([[0.5]])), (jnp.array([[0.0]]), jnp.array([[1.0]]))
    loss, metrics = fb_cpr.discriminator_loss(disc, jax.random.PRNGKey(0), expert, rollout, penalty=10.0)
    logistic = np.log1p(np.exp(-1.5)) + np.log1p(np.exp(-1.0))  # −log σ(1.5) − log(1 − σ(−1))
    np.testing.assert_allclose(metrics["disc_loss"], logistic, rtol=1e-6)
    np.testing.assert_allclose(loss, logistic + 10 * (np.sqrt(2) - 1) ** 2, rtol=1e-6)


def test_expert_latent_of_a_window_is_the_projected_mean_of_b():
    b = jax.random.normal(jax.random.PRNGKey(1), (2 * L, 6))
    z = fb_cpr.expert_latents(b, L)
    for w in range(2):
        expected = project_to_sphere(b[w * L : (w + 1) * L].mean(0))
        np.testing.assert_allclose(z[w * L : (w + 1) * L], np.tile(expected, (L, 1)), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), np.sqrt(6), rtol=1e-5)


def test_mixed_latents_follow_the_ratios_and_relabelling_keeps_the_rest():
    n, d = 20_000, 4
    goals = jnp.zeros((n, d)).at[:, 0].set(10.0)  # projected: (2, 0, 0, 0)
    experts = jnp.zeros((n, d)).at[:, 1].set(-2.0)
    mixed = np.asarray(fb_cpr.mix_latents(jax.random.PRNGKey(1), goals, experts, 0.2, 0.6))
    np.testing.assert_allclose(np.linalg.norm(mixed, axis=1), np.sqrt(d), rtol=1e-5)
    is_goal, is_expert = mixed[:, 0] > 1.999, mixed[:, 1] < -1.999  # prior draws land there with p ~ 1e-4
    assert abs(is_goal.mean() - 0.2) < 0.02 and abs(is_expert.mean() - 0.6) < 0.02
    z = fb_cpr.relabel(jax.random.PRNGKey(2), jnp.zeros((n, d)), jnp.asarray(mixed), 0.8)
    assert abs(np.mean(np.any(np.asarray(z) != 0, 1)) - 0.8) < 0.02


@pytest.fixture(scope="module")
def one_update():
    """One jitted update with every rollout z relabelled (for FB, the critic and the actor)."""
    agent = fb_cpr.FBCPR(tiny_config(relabel_ratio=1.0))
    b = batch(jax.random.PRNGKey(0))
    state = agent.init(jax.random.PRNGKey(1), b)
    new_state, metrics = jax.jit(agent.update)(state, b, jax.random.PRNGKey(2))
    return agent, b, state, new_state, metrics


def test_discriminator_is_scored_on_the_rollouts_own_z_not_the_relabelled_one(one_update):
    agent, b, state, _, metrics = one_update
    # The discriminator's metrics are those of its loss, before its step.
    rollout_logits = agent.discriminate(state.params, b.observations, b.extras["z"])
    np.testing.assert_allclose(metrics["disc_rollout_logit"], rollout_logits.mean(), rtol=1e-5)
    expert_z = fb_cpr.expert_latents(agent.backward_embedding(state.params, b.extras["expert_next_observations"]), L)
    expert_logits = agent.discriminate(state.params, b.extras["expert_observations"], expert_z)
    np.testing.assert_allclose(metrics["disc_expert_logit"], expert_logits.mean(), rtol=1e-5)


def test_critic_target_is_the_logit_of_the_updated_discriminator():
    agent = fb_cpr.FBCPR(tiny_config())
    b = batch(jax.random.PRNGKey(0), discount=0.0)
    state = agent.init(jax.random.PRNGKey(1), b)
    z = b.extras["z"]
    _, _, metrics = agent.critic_step(state, state.params, b, b.next_observations, z, jax.random.PRNGKey(3))
    logits = agent.discriminate(state.params, b.observations, z)
    q = agent.critic_heads(state.params, b.observations, b.actions, z)
    np.testing.assert_allclose(metrics["critic_reward"], logits.mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["critic_loss"], 0.5 * ((q - logits) ** 2).mean(1).sum(), rtol=1e-5)
    np.testing.assert_array_equal(fb_cpr.discriminator_reward(jnp.array([-40.0, 3.0, 40.0]))[1], 3.0)


def test_actor_objective_adds_the_scaled_discriminator_critic():
    agent = fb_cpr.FBCPR(tiny_config(reg_coeff=0.5))
    b = batch(jax.random.PRNGKey(0))
    state = agent.init(jax.random.PRNGKey(1), b)
    z, params = b.extras["z"], state.params
    left = agent.left_encoding(params, b.observations)
    value = agent.regularised_value(params, left, b.observations, z)(b.actions)
    q_fb = agent.forward_value(params, left, z)(b.actions).q
    q_d = jnp.min(agent.critic_heads(params, b.observations, b.actions, z), 0)  # two heads, pessimism ½
    np.testing.assert_allclose(value.q, q_fb + 0.5 * jnp.abs(q_fb).mean() * q_d, rtol=1e-5, atol=1e-6)


def test_one_update_trains_every_network_and_moves_the_critic_target_at_its_rate(one_update):
    agent, _, state, new, metrics = one_update
    for name in ("L", "F", "B", "actor", "D", "critic"):
        moved = jax.tree.map(lambda x, y: bool(jnp.any(x != y)), state.params[name], new.params[name])
        assert any(jax.tree.leaves(moved)), name
    tau = agent.config.critic_tau
    expected = jax.tree.map(lambda t, p: (1 - tau) * t + tau * p, state.target_params["critic"], new.params["critic"])
    for x, y in zip(jax.tree.leaves(expected), jax.tree.leaves(new.target_params["critic"]), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
    assert all(np.isfinite(float(v)) for v in metrics.values())


def test_bad_configs_are_refused_naming_the_fields():
    with pytest.raises(ValueError, match="train_goal_ratio=0.5 \\+ config.expert_asm_ratio=0.6"):
        fb_cpr.FBCPR(tiny_config(train_goal_ratio=0.5))
    with pytest.raises(ValueError, match="obs_type='states'"):
        fb_cpr.FBCPR(tiny_config(obs_type="pixels"))


@flax.struct.dataclass
class PointState:
    obs: jnp.ndarray
    done: jnp.ndarray
    info: dict


@dataclasses.dataclass(frozen=True)
class PointSpec:
    episode_length: int = 20


class PointEnv:
    """A point in [−1, 1]² moved by 0.1·action, starting uniform in [−0.5, 0.5]², episodes of 20 steps."""

    action_size = 2
    observation_size = 2
    spec = PointSpec()
    tasks = ()

    def reset(self, key: jax.Array) -> PointState:
        obs = jax.random.uniform(key, (2,), minval=-0.5, maxval=0.5)
        return PointState(obs, jnp.zeros(()), {"steps": jnp.zeros((), jnp.int32), "truncation": jnp.zeros(())})

    def step(self, state: PointState, action: jnp.ndarray) -> PointState:
        steps = state.info["steps"] + 1
        done = (steps >= self.spec.episode_length).astype(jnp.float32)
        obs = jnp.clip(state.obs + 0.1 * action, -1.0, 1.0)
        return PointState(obs, done, {"steps": steps, "truncation": done})

    def physics(self, state: PointState):
        return state.obs, jnp.zeros_like(state.obs)

    def truncated(self, state: PointState) -> jnp.ndarray:
        return state.info["truncation"]


def distance_reached_with_expert_latents(name: str, clips: Clips, target: np.ndarray) -> float:
    """Mean distance to `target` after 20 steps of the policy prompted by each clip's expert latent, from 32
    uniform starts, once the agent trained online on PointEnv for 2000 updates (fast rates for the size)."""
    rates = dict(lr_f=1e-3, lr_b=1e-3, lr_actor=1e-3, discount=0.9, ortho_coef=1.0, bc_coeff=0.0)
    if name == "fb":
        config = fb.default_config()
        config.update(dict(fb.RECORD.tiny_config) | dict(z_dim=4) | rates)
        agent, demonstrations = fb.FB(config), {}
    else:  # the discriminator's critic dominates the actor's objective (α = 1, unscaled)
        agent = fb_cpr.FBCPR(
            tiny_config(z_dim=4, lr_discriminator=1e-3, lr_critic=1e-3, reg_coeff=1.0, scale_reg=False, **rates)
        )
        demonstrations = dict(clips=clips, seq_length=L, rollout_expert_ratio=0.3)
    source = OnlineSource(
        env=PointEnv(),
        agent=agent,
        num_envs=16,
        env_steps_per_round=16,
        updates_per_round=4,
        batch_size=32,
        capacity=20_000,
        z_every=20,
        rollout_goal_ratio=0.5,
        **demonstrations,
    )
    spec = {"observation_shape": [2], "observation_dtype": "float32", "action_dim": 2}
    runner = init_runner(agent, 0, example_batch(spec), initial_source_state(source, 0))
    filled = jax.jit(lambda s, k: source.prefill(s, k, 640))(runner.source_state, runner.key)
    runner, _ = compile_chunk(agent.update, 2000)(runner.replace(source_state=filled), source)
    windows = clips.observations[:, 1 : 1 + L].reshape(-1, 2)
    # Both prompted the same way: the projected mean of B over each window (FB-CPR's infer_z_windows).
    z = fb_cpr.expert_latents(agent.reward_features(runner.agent, windows), L)[::L]
    x = jax.random.uniform(jax.random.PRNGKey(5), (32, 2), minval=-1.0, maxval=1.0)
    z = jnp.repeat(z, 32 // len(z), axis=0)
    for _ in range(20):
        x = jnp.clip(x + 0.1 * agent.act(runner.agent, x, z, None), -1.0, 1.0)
    return float(np.linalg.norm(np.asarray(x) - target, axis=-1).mean())


def test_fb_cpr_policy_of_an_expert_latent_goes_to_the_demonstrated_states_where_fb_does_not():
    """Demonstrations idle around (0.4, 0.4): prompted with their expert latents, FB-CPR's policy ends near them
    (its discriminator's critic rewards exactly those states for that z), while FB's, prompted the same way,
    stays as far as it started on average (its z only asks for high F·z, which the box's corner maximises)."""
    target = np.array([0.4, 0.4], np.float32)
    demo = target + 0.03 * np.random.default_rng(0).standard_normal((4, 16, 2)).astype(np.float32)
    clips = Clips(jnp.asarray(demo), jnp.asarray(demo), jnp.zeros((4, 16, 2)), jnp.full(4, 16))
    with_demonstrations = distance_reached_with_expert_latents("fb_cpr", clips, target)
    without = distance_reached_with_expert_latents("fb", clips, target)
    assert with_demonstrations < 0.3 and without > 0.5, (with_demonstrations, without)
