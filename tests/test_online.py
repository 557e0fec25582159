"""The online source: buffer ring and episode boundaries, auto-reset, truncation vs termination, exact resume
(buffer and env states included) and vmapped seeds, on a counting env whose transitions are known exactly,
and on MuJoCo Playground's walker."""

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import fb, fb_cpr
from envs import jax_envs
from envs.body_experts import shipped_clips
from tdjepa.checkpoints import Checkpointer
from tdjepa.clips import Clips, load_clips, tracking_priorities
from tdjepa.loop import Schedule, run_loop
from tdjepa.online import OnlineSource, initial_source_state
from tdjepa.online_eval import set_clip_priorities, track_clips
from tdjepa.runs import example_batch
from tdjepa.training import compile_chunk, init_runner, init_runners, seed_slice
from tests.helpers import tiny_agent

LENGTH = 5  # episode length of the counting env


@flax.struct.dataclass
class CountState:
    obs: jnp.ndarray
    done: jnp.ndarray
    info: dict


@dataclasses.dataclass(frozen=True)
class EpisodeSpec:
    episode_length: int = LENGTH


class CountingEnv:
    """obs = (t, episode id, env id, 0): t counts the steps of the episode; env id 0 terminates after 3 steps,
    the others are cut (truncated) after LENGTH. Actions do not matter; episode ids are drawn at reset."""

    action_size = 2
    observation_size = 4
    spec = EpisodeSpec()
    tasks = ()

    def reset(self, key: jax.Array) -> CountState:
        env_id = jax.random.randint(key, (), 0, 3)
        episode = jax.random.randint(jax.random.fold_in(key, 1), (), 0, 1_000_000)
        obs = jnp.stack([0, episode, env_id, 0]).astype(jnp.float32)
        return CountState(obs, jnp.zeros(()), {"steps": jnp.zeros((), jnp.int32), "truncation": jnp.zeros(())})

    def step(self, state: CountState, action: jnp.ndarray) -> CountState:
        steps = state.info["steps"] + 1
        terminated = (state.obs[2] == 0) & (steps == 3)
        truncated = ~terminated & (steps >= LENGTH)
        obs = state.obs.at[0].add(1)
        done = (terminated | truncated).astype(jnp.float32)
        return CountState(obs, done, {"steps": steps, "truncation": truncated.astype(jnp.float32)})

    def physics(self, state: CountState):
        return state.obs[..., :2], state.obs[..., 2:]

    def truncated(self, state: CountState) -> jnp.ndarray:
        return state.info["truncation"]


def counting_source(num_envs=4, capacity=40, batch_size=8, **kwargs) -> OnlineSource:
    agent = tiny_agent("fb", z_dim=4)
    settings = dict(env_steps_per_round=2 * num_envs, updates_per_round=2, z_every=3, rollout_goal_ratio=0.5)
    return OnlineSource(
        env=CountingEnv(),
        agent=agent,
        num_envs=num_envs,
        batch_size=batch_size,
        capacity=capacity,
        **(settings | kwargs),
    )


def counting_runner(source: OnlineSource, seed: int = 0):
    spec = {"observation_shape": [4], "observation_dtype": "float32", "action_dim": 2}
    return init_runner(source.agent, seed, example_batch(spec), initial_source_state(source, seed))


def stored(source: OnlineSource, runner) -> dict:
    """Every transition the buffer holds, flattened over envs and time."""
    buffer = runner.source_state.buffer
    rows = int(buffer.current_index) if not bool(buffer.is_full) else source.capacity // source.num_envs
    return {k: np.asarray(v[:, :rows]).reshape(-1, *v.shape[2:]) for k, v in buffer.experience.items()}


def test_transitions_never_cross_episodes_and_truncation_differs_from_termination():
    source = counting_source()
    runner = counting_runner(source)
    source = counting_source(env_steps_per_round=4)
    runner = counting_runner(source)
    state = jax.jit(lambda s, k: source.prefill(s, k, 4 * 7))(runner.source_state, jax.random.PRNGKey(1))
    runner = runner.replace(source_state=state)
    data = stored(source, runner)
    obs, next_obs = data["observations"], data["next_observations"]
    # Each stored pair is one step of one episode of one env: t advances by 1, the episode and env stay.
    np.testing.assert_array_equal(next_obs[:, 0], obs[:, 0] + 1)
    np.testing.assert_array_equal(next_obs[:, 1:3], obs[:, 1:3])
    terminated = (obs[:, 2] == 0) & (next_obs[:, 0] == 3)
    truncated = (obs[:, 2] != 0) & (next_obs[:, 0] == LENGTH)
    np.testing.assert_array_equal(data["discount"], np.where(terminated, 0.0, 1.0))
    np.testing.assert_array_equal(data["truncated"], truncated.astype(np.float32))
    assert terminated.any() and truncated.any()
    # After an end, the env restarts from its first state: the next transition starts at t = 0.
    env_rows = runner.source_state.buffer.experience["observations"][:, :7, 0]
    ends = runner.source_state.buffer.experience["next_observations"][:, :7, 0]
    stops = np.asarray(runner.source_state.buffer.experience["discount"][:, :7] == 0) | np.asarray(
        runner.source_state.buffer.experience["truncated"][:, :7] == 1
    )
    np.testing.assert_array_equal(np.asarray(env_rows[:, 1:])[stops[:, :-1]], 0)
    assert int(state.episodes) == int(stops.sum())
    assert np.all(np.asarray(ends) >= 1)


def test_buffer_wraps_around_and_keeps_the_newest_transitions():
    source = counting_source(num_envs=2, capacity=10, env_steps_per_round=2)  # 5 steps per env
    runner = counting_runner(source)
    fill = jax.jit(lambda s, k: source.prefill(s, k, 2 * 13))
    state = fill(runner.source_state, jax.random.PRNGKey(2))
    buffer = state.buffer
    assert bool(buffer.is_full) and int(buffer.current_index) == 13 % 5
    assert int(source.size(state)) == 10
    # The ring holds steps 8 … 12 of each env (the oldest overwritten): their episode-step counters are the
    # counting env's at those global steps.
    experience = np.asarray(buffer.experience["observations"][:, :, 0])
    order = np.roll(np.arange(5), -int(buffer.current_index))
    in_time = experience[:, order]
    assert np.all((np.diff(in_time, axis=1) == 1) | (in_time[:, 1:] == 0))
    # Uniform samples come from the held transitions only, and never cross an episode's end.
    samples = source.transitions(state, jax.random.PRNGKey(3), 500)
    held = {tuple(row) for row in np.asarray(buffer.experience["observations"]).reshape(-1, 4)}
    assert {tuple(row) for row in np.asarray(samples["observations"])} <= held
    np.testing.assert_array_equal(samples["next_observations"][:, 0], samples["observations"][:, 0] + 1)


def test_rollout_latents_are_resampled_every_z_every_steps_of_an_episode():
    source = counting_source(num_envs=3, capacity=60, z_every=2, rollout_goal_ratio=0.0)  # prior draws never repeat
    runner = counting_runner(source)
    prefill = jax.jit(lambda s, k: source.prefill(s, k, 6))
    runner = runner.replace(source_state=prefill(runner.source_state, runner.key))
    collect = jax.jit(lambda r, k: source.collect(r.source_state, r.agent, k)[0])
    state = runner.source_state
    for i in range(4):
        state = collect(runner.replace(source_state=state), jax.random.PRNGKey(i))
    experience = state.buffer.experience
    t = np.asarray(experience["observations"][:, 2:10, 0])
    z = np.asarray(experience["z"][:, 2:10])
    same_as_before = np.all(z[:, 1:] == z[:, :-1], axis=-1)
    # A new z at t % 2 == 0 (episode starts included), the same z otherwise.
    np.testing.assert_array_equal(same_as_before, t[:, 1:] % 2 != 0)
    norms = np.linalg.norm(z, axis=-1)
    np.testing.assert_allclose(norms, np.sqrt(4), rtol=1e-5)


def test_vmapped_seeds_train_what_separate_runs_train():
    source = counting_source()
    chunk = compile_chunk(source.agent.update, 4)
    separate = [chunk(counting_runner(source, seed), source)[0] for seed in (3, 4)]
    spec = {"observation_shape": [4], "observation_dtype": "float32", "action_dim": 2}
    stacked = init_runners(source.agent, [3, 4], example_batch(spec), lambda seed: initial_source_state(source, seed))
    together, _ = compile_chunk(source.agent.update, 4, num_seeds=2)(stacked, source)
    for i, alone in enumerate(separate):
        for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(seed_slice(together, i)), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=2e-6)


def test_batches_carry_demonstration_windows_that_fb_cpr_trains_on():
    """With clips, each batch holds batch_size / seq_length windows of consecutive clip steps (the counting
    clip's first coordinate is its step), and FB-CPR's update runs on such batches inside the chunk."""
    clip = np.zeros((1, 20, 4), np.float32)
    clip[0, :, 0] = np.arange(20)
    clips = Clips(jnp.asarray(clip), jnp.zeros((1, 20, 2)), jnp.zeros((1, 20, 2)), jnp.array([20]))
    config = fb_cpr.default_config()
    config.update(dict(fb.RECORD.tiny_config) | dict(z_dim=4, seq_length=4, discriminator_hidden_dim=16))
    source = dataclasses.replace(counting_source(), agent=fb_cpr.FBCPR(config), clips=clips, seq_length=4)
    runner = counting_runner(source)
    _, batch = source.sample(runner.source_state, runner.agent, jax.random.PRNGKey(0), 0)
    windows = np.asarray(batch.extras["expert_observations"])[:, 0].reshape(2, 4)
    np.testing.assert_array_equal(np.diff(windows, axis=1), 1)
    np.testing.assert_array_equal(np.asarray(batch.extras["expert_next_observations"])[:, 0].reshape(2, 4), windows + 1)
    runner, metrics = compile_chunk(source.agent.update, 4)(runner, source)
    assert np.isfinite(float(metrics["disc_loss"])) and np.isfinite(float(metrics["critic_loss"]))
    with pytest.raises(ValueError, match="batch_size=8 is not a multiple of config.seq_length=3"):
        dataclasses.replace(source, seq_length=3)
    # Rollouts prompted by demonstrations: every z is the latent of one window of the clip.
    demos = dataclasses.replace(source, rollout_goal_ratio=0.0, rollout_expert_ratio=1.0)
    z = demos._rollout_latents(runner.source_state, runner.agent, jax.random.PRNGKey(1))
    starts = np.arange(20 - 4)
    windows = jnp.asarray(clip[0, 1:][starts[:, None] + np.arange(4)].reshape(-1, 4))
    every_window = np.asarray(source.agent.infer_z_windows(runner.agent, windows))[::4]
    distances = np.linalg.norm(np.asarray(z)[:, None] - every_window[None], axis=-1).min(1)
    assert z.shape == (4, 4) and distances.max() < 1e-4
    with pytest.raises(ValueError, match="rollout_expert_ratio=0.5 needs demonstration clips"):
        counting_source(rollout_expert_ratio=0.5)


def test_bad_sizes_are_refused_naming_the_field():
    with pytest.raises(ValueError, match="buffer_capacity=4 is smaller than a batch"):
        counting_source(capacity=4, batch_size=8)
    with pytest.raises(ValueError, match="env_steps_per_round=6 is not a positive multiple of config.num_envs=4"):
        counting_source(env_steps_per_round=6)


@pytest.fixture(scope="module")
def walker_source():
    env = jax_envs.make("dmc-walker")
    agent = tiny_agent("fb", z_dim=4)
    return OnlineSource(
        env=env,
        agent=agent,
        num_envs=4,
        env_steps_per_round=8,
        updates_per_round=2,
        batch_size=16,
        capacity=400,
        z_every=150,
        rollout_goal_ratio=0.5,
    )


def walker_runner(source: OnlineSource, seed: int = 0):
    spec = {"observation_shape": [source.env.observation_size], "observation_dtype": "float32", "action_dim": 6}
    runner = init_runner(source.agent, seed, example_batch(spec), initial_source_state(source, seed))
    return runner.replace(source_state=jax.jit(lambda s, k: source.prefill(s, k, 16))(runner.source_state, runner.key))


def test_killed_and_resumed_online_run_continues_bit_for_bit(walker_source, tmp_path):
    source = walker_source
    chunk = compile_chunk(source.agent.update, 4)  # two rounds: 16 env steps, 4 updates
    straight = walker_runner(source)
    for _ in range(2):
        straight, _ = chunk(straight, source)
    first = walker_runner(source)
    first, _ = chunk(first, source)
    checkpointer = Checkpointer(tmp_path)
    checkpointer.save(1, first, {"run": "test"})
    resumed = checkpointer.restore(1, jax.eval_shape(lambda: walker_runner(source)))
    checkpointer.close()
    resumed, _ = chunk(resumed, source)
    for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_relabelled_rewards_of_stored_physics_equal_those_of_the_env_states(walker_source):
    """The buffer's next-state physics, relabelled, give the rewards of the states the envs are in."""
    source = walker_source
    env = source.env
    state = walker_runner(source).source_state
    experience = state.buffer.experience  # 4 steps of each of the 4 envs; no episode ended
    np.testing.assert_array_equal(experience["next_observations"][:, 3], state.env_state.obs)
    score = env.task_rewards(env.tasks)
    relabelled = score(experience["next_qpos"][:, 3], experience["next_qvel"][:, 3], experience["actions"][:, 3])
    qpos, qvel = env.physics(state.env_state)
    np.testing.assert_array_equal(relabelled, score(qpos, qvel, experience["actions"][:, 3]))
    assert relabelled.shape == (4, len(env.tasks)) and np.all(np.asarray(relabelled) >= 0)


def test_tracking_priorities_weigh_each_clip_by_one_over_the_clips_at_its_error_level():
    # Clamped to [0.5, 5] and doubled: levels 1, 1, 2, 2, 8, 10.
    errors = jnp.array([0.1, 0.4, 1.2, 1.3, 4.0, 9.0])
    np.testing.assert_allclose(tracking_priorities(errors), [0.5, 0.5, 0.5, 0.5, 1.0, 1.0])


def test_prioritized_clips_are_drawn_by_weights_their_tracking_errors_set_before_each_checkpoint(walker_source):
    """With prioritize_clips, each evaluation step of the loop sets the clip weights from the tracking errors
    of the training clips (what `track_clips` measures), before that step's checkpoint; batches then draw
    windows of the clips by those weights."""
    held_out = load_clips(shipped_clips("dmc-walker", held_out=True), "dmc-walker", 24, 9, 9)
    clips = Clips(held_out.observations[:3, :20], held_out.qpos[:3, :20], held_out.qvel[:3, :20], jnp.full(3, 20))
    config = fb_cpr.default_config()
    config.update(dict(fb.RECORD.tiny_config) | dict(z_dim=4, seq_length=4, discriminator_hidden_dim=16))
    source = dataclasses.replace(
        walker_source, agent=fb_cpr.FBCPR(config), clips=clips, seq_length=4, prioritize_clips=True
    )
    runners = jax.tree.map(lambda x: x[None], walker_runner(source))
    np.testing.assert_array_equal(runners.source_state.clip_weights, [[1.0, 1.0, 1.0]])
    # Weights no rule gives, so the checkpoint shows whether the refresh came first.
    runners = runners.replace(source_state=runners.source_state.replace(clip_weights=jnp.full((1, 3), 7.0)))
    saved, evaluated = {}, []
    run_loop(
        runners,
        source,
        lambda n: lambda r, s: (r.replace(key=jax.random.split(r.key[0])[None, 0]), {}),  # a new key per chunk
        Schedule(16, 8, eval_every=8, checkpoint_every=8, unit="env steps", updates_per_unit=0.25),
        0,
        log=lambda step, metrics: None,
        evaluate=lambda step, r: evaluated.append(step),
        checkpoint=lambda step, r: saved.update({step: jax.device_get(r)}),
        progress=False,
        refresh=lambda step, r: set_clip_priorities(source.agent, source, r),
    )
    assert evaluated == [8, 16] and sorted(saved) == [8, 16]
    state = seed_slice(saved[16].agent, 0)
    key = jax.random.fold_in(saved[16].key[0], 11)
    errors = jax.jit(lambda s, k: track_clips(source.agent, s, source.env, clips, None, k, 4)[0])(state, key)
    np.testing.assert_allclose(saved[16].source_state.clip_weights[0], tracking_priorities(errors))
    assert np.all(np.asarray(saved[8].source_state.clip_weights) <= 1.0)
    # Only the last clip weighted: every window comes from it.
    only_last = saved[16].source_state.replace(clip_weights=jnp.array([[0.0, 0.0, 1.0]]))
    _, batch = source.sample(seed_slice(only_last, 0), state, jax.random.PRNGKey(3), 0)
    rows = np.asarray(batch.extras["expert_observations"])
    frames = np.asarray(clips.observations).reshape(-1, 24)
    nearest = np.linalg.norm(rows[:, None] - frames[None], axis=-1).argmin(1)
    assert np.all(nearest // 20 == 2)
