"""Exploration datasets in ExoRL's format: the collector's episode files (layout, action alignment, physics
that replays the episode, rewards relabelled from it equal to dm_control's), the loader's layout and
refusals, RND's reward and moments, the command's refusals, offline training and prompting on a collected
folder, and the coverage measure that compares explorers."""

import json
import re
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import agents
from envs import exorl, exploration, jax_envs
from experiments import configs, coverage, runs
from tdjepa.online_eval import EpisodeSource, episode_state, prompt_latents
from tdjepa.training import compile_chunk, seed_slice
from tests.test_end_to_end import run
from tests.test_jax_tasks import dm_control_index_for_this_mujoco, dm_suite, scored  # noqa: F401 (a fixture)

ENV = "dmc-walker"


@pytest.fixture(scope="module")
def walker():
    return jax_envs.make(ENV)


@pytest.fixture(scope="module")
def random_episodes(tmp_path_factory):
    """Three episodes of uniform random actions, two envs per round (the second round's second one unwritten)."""
    folder = tmp_path_factory.mktemp("random")
    files = exploration.collect_episodes(ENV, "random", folder, 3, num_envs=2, progress=False)
    return folder, files


def sizes(env) -> tuple[int, int, int, int]:
    return env.observation_size, env.action_size, env.mj_model.nq, env.mj_model.nv


def test_episode_files_follow_exorls_layout(walker, random_episodes):
    folder, files = random_episodes
    assert [path.name for path in files] == [exorl.episode_file_name(i, 1000) for i in range(3)]
    assert sorted(path.name for path in folder.iterdir()) == sorted(path.name for path in files)
    episode = exorl.read_episode(files[1], *sizes(walker))
    assert episode["observation"].shape == (1001, 24) and episode["physics"].shape == (1001, 18)
    assert episode["physics"].dtype == np.float64 and np.all(episode["discount"] == 1.0)
    np.testing.assert_array_equal(episode["action"][0], 0.0)  # entry t holds the action that led to it
    assert np.abs(episode["action"][1:]).max() <= 1.0 and episode["action"][1:].std() > 0.3
    # Each episode starts from its own reset (episode 2, the first env's second, too).
    starts = [exorl.read_episode(path, *sizes(walker))["physics"][0] for path in files]
    assert min(np.abs(a - b).max() for i, a in enumerate(starts) for b in starts[i + 1 :]) > 1e-3


def test_stored_actions_replay_the_stored_physics_and_observations(walker, random_episodes):
    """From the episode's first state, stepping the stored actions (entry t + 1 taken after entry t) gives
    every stored state back. The replay starts at the reset: from a mid-episode state in contact the solver's
    warm start, which physics does not store, differs (a replay from step 500 alone was 1.5 off in qvel)."""
    episode = exorl.read_episode(random_episodes[1][0], *sizes(walker))
    nq = walker.mj_model.nq
    physics = jnp.asarray(episode["physics"], jnp.float32)
    state = jax.jit(walker.reset_to)(jax.random.PRNGKey(0), physics[0, :nq], physics[0, nq:])

    def step(state, action):
        state = walker.step(state, action)
        qpos, qvel = walker.physics(state)
        return state, (jnp.concatenate([qpos, qvel]), state.obs)

    # float32 rounding, ordered differently in the collector's vmapped program, grows to ~2e-3 by step 30; an
    # action one entry off moves the body by tenths.
    _, (replayed, observations) = jax.lax.scan(step, state, jnp.asarray(episode["action"][1:31]))
    np.testing.assert_allclose(replayed, episode["physics"][1:31], rtol=1e-3, atol=5e-3)
    np.testing.assert_allclose(observations, episode["observation"][1:31], rtol=1e-3, atol=5e-3)
    _, (shifted, _) = jax.lax.scan(step, state, jnp.asarray(episode["action"][2:32]))
    assert np.abs(shifted - episode["physics"][1:31]).max() > 0.1


@pytest.mark.usefixtures("dm_control_index_for_this_mujoco")
def test_rewards_relabelled_from_stored_physics_equal_dm_controls(walker, random_episodes):
    """Each step's task reward from its stored physics is dm_control's on the same state. (The env's own stored
    reward differs by up to ~0.02: Playground computes it, and the observation, from kinematics one physics
    substep old, while the physics is the step's end.)"""
    episode = exorl.read_episode(random_episodes[1][0], *sizes(walker))
    nq = walker.mj_model.nq
    rows = range(1, 60)
    states = [(episode["physics"][t, :nq], episode["physics"][t, nq:], episode["action"][t]) for t in rows]
    qpos, qvel, action = (np.stack(x).astype(np.float32) for x in zip(*states, strict=True))
    for task in ("stand", "walk", "run"):
        dm_env = dm_suite.load("walker", task)
        expected = scored(dm_env, states, dm_env.task.get_reward)
        ours = np.asarray(walker.task_rewards((f"walker-{task}",))(qpos, qvel, action))[:, 0]
        np.testing.assert_allclose(ours, expected, atol=2e-6)
        assert expected.std() > 0


def test_loaded_episodes_take_each_action_at_the_observation_it_was_taken_at(walker, random_episodes):
    folder, files = random_episodes
    data = exorl.load_episodes(folder, *sizes(walker))
    assert data["observations"].shape == (3003, 24) and data["qpos"].shape == (3003, 9)
    np.testing.assert_array_equal(np.flatnonzero(data["terminals"]), [1000, 2001, 3002])
    second = exorl.read_episode(files[1], *sizes(walker))
    np.testing.assert_array_equal(data["actions"][1001:2001], second["action"][1:])
    np.testing.assert_array_equal(data["actions"][2001], 0.0)
    np.testing.assert_array_equal(data["qvel"][1001:2002], second["physics"][:, 9:].astype(np.float32))
    assert len(exorl.load_episodes(folder, *sizes(walker), num_episodes=2)["terminals"]) == 2002


def test_bad_episode_files_are_refused_naming_the_file_and_key(walker, random_episodes, tmp_path):
    episode = exorl.read_episode(random_episodes[1][0], *sizes(walker))
    cases = {
        "missing.npz": ({k: v for k, v in episode.items() if k != "physics"}, "missing key(s) physics"),
        "wide.npz": (episode | {"observation": np.zeros((1001, 25))}, "key 'observation' has shape (1001, 25)"),
        "short_physics.npz": (episode | {"physics": np.zeros((1001, 10))}, "key 'physics' has shape (1001, 10)"),
        "nan.npz": (episode | {"action": np.full((1001, 6), np.nan)}, "key 'action' holds NaN"),
    }
    for name, (arrays, message) in cases.items():
        folder = tmp_path / name.removesuffix(".npz")
        folder.mkdir()
        np.savez(folder / name, **arrays)
        with pytest.raises(exorl.ExorlError, match=re.escape(f"{folder / name}: {message}")):
            exorl.load_episodes(folder, *sizes(walker))
    (tmp_path / "empty").mkdir()
    with pytest.raises(exorl.ExorlError, match="holds no .npz episode file"):
        exorl.load_episodes(tmp_path / "empty", *sizes(walker))
    with pytest.raises(exorl.ExorlError, match="no such folder"):
        exorl.load_episodes(tmp_path / "absent", *sizes(walker))


def test_rnd_reward_falls_on_observations_it_keeps_seeing_and_its_moments_merge_exactly():
    explorer = exploration.RNDExplorer(ENV, num_envs=4, capacity=4000, seed_steps=0, updates_per_step=0.25)
    rnd = jax.jit(explorer.init)(jax.random.PRNGKey(0)).rnd
    seen = jax.random.normal(jax.random.PRNGKey(1), (256, 24))
    step = jax.jit(explorer.intrinsic_reward)
    rewards = []
    for _ in range(300):
        rnd, reward = step(rnd, seen)
        rewards.append(float(reward.mean()))
    assert rewards[-1] < 0.5 * rewards[0]
    values = np.random.default_rng(0).normal(size=(3, 50))
    moments = jnp.array([values[0].mean(), values[0].var(), 50.0])
    for batch in values[1:]:
        moments = exploration._merge_moments(moments, jnp.asarray(batch))
    np.testing.assert_allclose(moments, [values.mean(), values.var(), 150.0], rtol=1e-5)


def test_rnd_collects_while_it_learns_and_the_command_refuses_flags_of_the_other_kind(walker, tmp_path):
    files = exploration.collect_episodes(
        ENV, "rnd", tmp_path / "rnd", 4, num_envs=4, seed_steps=2000, updates_per_step=0.25, progress=False
    )
    data = exorl.load_episodes(tmp_path / "rnd", *sizes(walker))
    assert len(files) == 4 and data["observations"].shape == (4004, 24) and np.all(np.isfinite(data["qpos"]))
    refused = run("collect", f"--env={ENV}", "--episode_length=5", "--num_episodes=2", check=False)
    assert refused.returncode != 0 and "--episode_length is for OGBench datasets" in refused.stderr
    refused = run("collect", "--env=pointmaze-medium-navigate-v0", "--explorer=random", check=False)
    assert refused.returncode != 0 and "--explorer is for a JAX env's exploration" in refused.stderr


def test_a_collected_folder_trains_offline_and_prompts_every_task_from_its_stored_transitions(
    walker, random_episodes, tmp_path
):
    folder = tmp_path / "episodes"
    shutil.copytree(random_episodes[0], folder)
    data = runs.load_exorl(folder, ENV)
    overrides = dict(agents.record("fb").tiny_config)
    agent_config = configs.agent_config("fb", "cpu", ENV, overrides, dataset_dir=str(folder))
    assert (agent_config.discount, agent_config.bc_coeff) == (0.98, 0.0)  # the DMC values, as online
    config = runs.resolved_config("fb", ENV, "cpu", 0, 2, agent_config) | runs.exorl_record(folder, data)
    assert config["dataset"]["episodes"] == 3 and config["data_spec"]["observation_shape"] == [24]
    agent, source, runners = runs.build_run(config, data)
    trained, metrics = compile_chunk(agent.update, 5, num_seeds=2)(runners, source)
    assert all(np.all(np.isfinite(value)) for value in jax.tree.leaves(metrics))
    # Prompts are transitions within an episode, each with its successor's stored observation and physics.
    state = episode_state(data)
    samples = jax.tree.map(np.asarray, EpisodeSource(walker).transitions(state, jax.random.PRNGKey(0), 600))
    row = {observation.tobytes(): i for i, observation in enumerate(data["observations"])}
    index = np.array([row[observation.tobytes()] for observation in samples["observations"]])
    assert np.all(data["terminals"][index] == 0) and len(set(index // 1001)) == 3
    np.testing.assert_array_equal(samples["next_observations"], data["observations"][index + 1])
    np.testing.assert_array_equal(samples["next_qpos"], data["qpos"][index + 1])
    np.testing.assert_array_equal(samples["actions"], data["actions"][index])
    latents = prompt_latents(agent, seed_slice(trained.agent, 0), walker, samples)
    assert latents["reward"].shape == (len(walker.tasks), agent.z_dim) and np.all(np.isfinite(latents["reward"]))
    assert {"walker-stand", "walker-walk", "walker-run", "walker-flip"} <= set(walker.tasks)
    # An evaluation reloads the recorded folder and refuses it once an episode changed.
    np.testing.assert_array_equal(runs.run_dataset(config, None)["qvel"], data["qvel"])
    first = exorl.episode_files(folder)[0]
    exorl.write_episode(first, exorl.read_episode(first, *sizes(walker)) | {"reward": np.zeros((1001, 1))})
    with pytest.raises(SystemExit, match="has changed since the run was trained on it"):
        runs.run_dataset(config, None)


def test_the_train_command_takes_a_folder_of_a_jax_bodys_episodes_as_an_offline_run(random_episodes):
    folder = random_episodes[0]
    out = run("train", "--agent=fb", f"--env={ENV}", f"--dataset_dir={folder}", "--print_config")
    printed = json.loads(out.stdout)
    schedule = configs.schedule("fb", "cpu")  # in updates, as on a dataset (online: in env steps)
    assert printed["schedule"] == schedule and schedule != configs.schedule("fb", "cpu", ENV)
    assert printed["agent_config"]["discount"] == 0.98 and "online" not in printed
    refused = run("train", "--agent=fb", f"--env={ENV}", f"--dataset_dir={folder}", "--num_envs=4", check=False)
    assert refused.returncode != 0 and "--num_envs is for online runs" in refused.stderr
    assert f"--env={ENV} trains on --dataset_dir's episodes" in refused.stderr


def test_coverage_counts_each_state_in_the_cell_of_its_height_and_velocity(random_episodes):
    grid = coverage.GRIDS[ENV]  # torso height 0.1 m × horizontal velocity 0.5 m/s cells
    qpos, qvel = np.zeros((4, 9)), np.zeros((4, 9))
    qpos[:, 0] = np.array([0.05, 0.05, -0.4, 9.0]) - coverage.WALKER_REST_HEIGHT  # the last one above the grid
    qvel[:, 1] = [0.1, 0.3, -7.9, 0.0]
    counts = coverage.occupied_cells(grid, qpos, qvel)
    assert counts.sum() == 4 and counts[0, 16] == 2 and counts[0, 0] == 1 and counts[15, 16] == 1
    row = coverage.coverage(ENV, random_episodes[0])
    assert row["steps"] == 3003 and 0 < row["occupied"] < counts.size
