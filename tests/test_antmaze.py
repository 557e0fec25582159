"""Antmaze data made locally: the SAC learner of the ant expert, the expert file, and the navigate, stitch
and explore generators, whose states the single-task envs score as OGBench's relabelling does."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import ogbench
import pytest

from envs import ant_expert
from envs.ogbench import (
    NUM_TASKS,
    DatasetError,
    dataset_metadata,
    dataset_spec,
    generate_dataset,
    load_dataset,
    relabel_rewards,
)
from envs.ogbench_antmaze import cells_at_distance
from envs.ogbench_common import pooled_envs, seeded_global_numpy
from tdjepa import sac
from tests.helpers import singletask_env_rewards

EPISODE_LENGTH = 25


@pytest.fixture(scope="module")
def untrained_expert(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """An expert file holding freshly initialised SAC actor weights (generation does not need a good one)."""
    config = sac.default_config()
    state = sac.SAC(config, ant_expert.ACTION_DIM).init(jax.random.PRNGKey(0), ant_expert.OBS_DIM)
    path = tmp_path_factory.mktemp("expert") / "ant.npz"
    sac.save_actor(path, state.params["actor"], {"sac_config": config.to_dict(), "num_steps": 0})
    return path


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, untrained_expert: pathlib.Path):
    """Two short train episodes per antmaze dataset, produced on first use."""
    cache: dict[str, pathlib.Path] = {}

    def get(name: str) -> pathlib.Path:
        if name not in cache:
            directory = tmp_path_factory.mktemp(name)
            cache[name] = generate_dataset(
                name, directory, 2, episode_length=EPISODE_LENGTH, progress=False, expert_path=untrained_expert
            )[0]
        return cache[name]

    return get


def _batch(**arrays: np.ndarray) -> dict[str, jnp.ndarray]:
    return {name: jnp.asarray(value, jnp.float32) for name, value in arrays.items()}


def test_sac_log_prob_is_the_density_of_the_squashed_gaussian():
    agent = sac.SAC(sac.default_config(), 1)
    state = agent.init(jax.random.PRNGKey(0), 3)
    obs = jnp.asarray(np.random.default_rng(0).normal(size=(64, 3)), jnp.float32)
    actions, log_prob = agent._sample(state.params["actor"], obs, jax.random.PRNGKey(1))
    mean, log_std = agent.actor.apply(state.params["actor"], obs)
    std = np.exp(np.asarray(log_std[:, 0], np.float64))
    a = np.asarray(actions[:, 0], np.float64)
    u = np.arctanh(a)
    density = np.exp(-0.5 * ((u - np.asarray(mean[:, 0])) / std) ** 2) / (std * np.sqrt(2 * np.pi)) / (1 - a**2)
    np.testing.assert_allclose(np.asarray(log_prob), np.log(density), rtol=1e-4, atol=1e-4)


def test_sac_learns_the_terminal_reward_and_the_best_action_of_a_bandit():
    """One-step episodes (mask 0) with r = −(a − 0.5)²: Q must fit r and the policy's mean must go to 0.5."""
    config = sac.default_config()
    config.update(hidden_dim=32, lr=3e-3, batch_size=128)
    agent = sac.SAC(config, 1)
    state = agent.init(jax.random.PRNGKey(0), 2)
    rng = np.random.default_rng(0)
    steps, size = 40, config.batch_size
    for chunk in range(25):
        obs = rng.normal(size=(steps, size, 2))
        actions = rng.uniform(-1, 1, (steps, size, 1))
        rewards = -((actions[..., 0] - 0.5) ** 2)
        batches = _batch(
            observations=obs,
            actions=actions,
            rewards=rewards,
            masks=np.zeros((steps, size)),
            next_observations=obs,
        )
        state, metrics = agent.update_many(state, batches, jax.random.PRNGKey(chunk))
    probe = jnp.asarray(rng.normal(size=(16, 2)), jnp.float32)
    q = agent.critic.apply(state.params["critic"], probe, jnp.full((16, 1), -0.5))
    np.testing.assert_allclose(np.asarray(q), -1.0, atol=0.1)  # the reward of a = −0.5, no bootstrap
    np.testing.assert_allclose(np.asarray(agent.act(state.params, probe)), 0.5, atol=0.1)
    assert float(metrics["temperature"]) < 1.0  # entropy above target at first: the temperature fell


def test_expert_file_round_trips_and_bad_files_are_refused(untrained_expert, tmp_path):
    policy, record = ant_expert.load_expert(untrained_expert)
    observations = np.random.default_rng(0).normal(size=(4, ant_expert.OBS_DIM))
    actions = policy(observations)
    assert actions.shape == (4, ant_expert.ACTION_DIM) and np.abs(actions).max() <= 1.0
    np.testing.assert_array_equal(actions, policy(observations))
    assert record["num_steps"] == 0
    with pytest.raises(DatasetError, match="experiments.train_expert"):
        ant_expert.load_expert(tmp_path / "missing.npz")
    (tmp_path / "broken.npz").write_bytes(b"not an npz")
    with pytest.raises(DatasetError, match="broken.npz"):
        ant_expert.load_expert(tmp_path / "broken.npz")
    whole = untrained_expert.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetError, match="truncated.npz"):
        ant_expert.load_expert(tmp_path / "truncated.npz")


def walked_distance(expert_file: pathlib.Path, steps: int) -> float:
    """Metres the expert's deterministic policy walks the ant along its commanded directions (the
    directional env's reward summed), directions redrawn every 100 steps from a seeded RNG."""
    policy, _ = ant_expert.load_expert(expert_file)
    env = ant_expert.make_directional_ant()
    with seeded_global_numpy(0):
        observation, _ = env.reset(seed=0)
        total = 0.0
        for _ in range(steps):
            observation, reward, terminated, truncated, _ = env.step(policy(observation[None])[0])
            total += reward
            if terminated or truncated:
                break
    return total


def test_the_shipped_expert_walks_the_ant_where_it_is_told(untrained_expert):
    """The expert shipped for antmaze generation is the 400k-step one and walks along the commanded
    direction (measured: 55 m in these 300 steps); an untrained actor does not (−0.2 m)."""
    assert ant_expert.load_expert(ant_expert.SHIPPED_EXPERT_PATH)[1]["num_steps"] == 400_000
    assert walked_distance(ant_expert.SHIPPED_EXPERT_PATH, 300) > 30.0
    assert abs(walked_distance(untrained_expert, 300)) < 10.0


def test_generation_without_an_expert_fails_before_writing(tmp_path):
    with pytest.raises(DatasetError, match="train_expert"):
        generate_dataset("antmaze-medium-navigate-v0", tmp_path, 1, expert_path=tmp_path / "none.npz")
    assert not list(tmp_path.iterdir())
    with pytest.raises(DatasetError, match="official file") as error:
        load_dataset(tmp_path / "antmaze-medium-navigate-v0.npz")
    assert "experiments.collect --env=antmaze-medium-navigate-v0" in str(error.value)


def test_cells_at_distance_follow_the_maze_corridors():
    maze = np.ones((5, 7), int)
    maze[1, 1:6] = 0  # a corridor along row 1 ...
    maze[1:4, 5] = 0  # ... turning down column 5
    assert cells_at_distance(maze, (1, 1), 4) == [(1, 5)]
    assert cells_at_distance(maze, (1, 1), 6) == [(3, 5)]
    assert cells_at_distance(maze, (1, 3), 2) == [(1, 1), (1, 5)]
    assert cells_at_distance(maze, (1, 1), 9) == []


@pytest.mark.parametrize(
    "name", ["antmaze-medium-navigate-v0", "antmaze-medium-stitch-v0", "antmaze-medium-explore-v0"]
)
def test_generated_antmaze_files_load_with_ogbench_and_record_the_expert(name, generated, untrained_expert):
    path = generated(name)
    data = load_dataset(path)
    spec = dataset_spec(name)
    assert data["observations"].shape == (2 * EPISODE_LENGTH, spec.obs_dim)
    assert data["actions"].shape == (2 * EPISODE_LENGTH, spec.action_dim) and np.abs(data["actions"]).max() <= 1
    assert data["terminals"].sum() == 2
    theirs = ogbench.load_dataset(str(path), compact_dataset=True, add_info=True)
    np.testing.assert_array_equal(theirs["observations"], data["observations"])
    metadata = dataset_metadata(path)
    assert metadata["noise"] == spec.noise and metadata["expert"]["path"] == str(untrained_expert)
    assert name.split("-")[2] in metadata["oracle"]
    # Stored observations are the maze's (x, y first) and qpos is the simulator state behind them.
    np.testing.assert_allclose(data["observations"][:, :2], data["qpos"][:, :2], atol=1e-6)


def test_antmaze_generation_is_deterministic_in_the_seed(tmp_path, untrained_expert):
    def run(directory: str, seed: int) -> np.ndarray:
        return load_dataset(
            generate_dataset(
                "antmaze-medium-stitch-v0",
                tmp_path / directory,
                1,
                seed=seed,
                episode_length=10,
                progress=False,
                expert_path=untrained_expert,
            )[0]
        )["qpos"]

    np.testing.assert_array_equal(run("a", 0), run("b", 0))
    assert not np.array_equal(run("a", 0), run("c", 1))


@pytest.mark.parametrize("maze", ["medium", "large"])
def test_relabelled_rewards_equal_the_singletask_env_reward_on_generated_antmaze_states(maze, generated):
    name = f"antmaze-{maze}-navigate-v0"
    data = load_dataset(generated(name))
    tasks = pooled_envs(name, 1)[0].unwrapped.task_infos
    for task_id in range(1, NUM_TASKS + 1):
        # Generated states, and the same states moved onto this task's goal so that both rewards occur.
        at_goal = {key: data[key][:8].copy() for key in ("qpos", "qvel")}
        at_goal["qpos"][:, :2] = tasks[task_id - 1]["goal_xy"]
        states = {key: np.concatenate([data[key][:8], at_goal[key]]) for key in ("qpos", "qvel")}
        relabelled = relabel_rewards(name, task_id, states)
        np.testing.assert_array_equal(relabelled, singletask_env_rewards(name, task_id, states))
        assert set(relabelled[8:].tolist()) == {0.0} and set(relabelled[:8].tolist()) == {-1.0}


def test_visual_antmaze_stores_rendered_frames_of_the_same_walk(tmp_path, untrained_expert):
    kwargs = dict(episode_length=4, progress=False, expert_path=untrained_expert)
    frames = load_dataset(generate_dataset("visual-antmaze-medium-stitch-v0", tmp_path / "v", 1, **kwargs)[0])
    states = load_dataset(generate_dataset("antmaze-medium-stitch-v0", tmp_path / "s", 1, **kwargs)[0])
    assert frames["observations"].shape == (4, 64, 64, 3) and frames["observations"].dtype == np.uint8
    assert frames["observations"].std() > 0
    np.testing.assert_array_equal(frames["qpos"], states["qpos"])  # the expert reads states in both


def test_train_expert_writes_a_loadable_expert_and_repeats_with_the_seed(tmp_path):
    def train(name: str) -> tuple[np.ndarray, dict]:
        record = ant_expert.train_expert(
            tmp_path / name, num_steps=1100, seed_steps=1000, eval_episodes=1, progress=False
        )
        policy, saved = ant_expert.load_expert(tmp_path / name)
        return policy(np.ones((2, ant_expert.OBS_DIM))), record | {"saved": saved}

    actions, record = train("a.npz")
    assert record["num_steps"] == 1100 and record["saved"]["eval_length"] == record["eval_length"] > 0
    assert record["saved"]["sac_config"]["lr"] == 1e-4
    np.testing.assert_array_equal(actions, train("b.npz")[0])
    with pytest.raises(ValueError, match="num_steps > seed_steps"):
        ant_expert.train_expert(tmp_path / "c.npz", num_steps=10, seed_steps=10)
