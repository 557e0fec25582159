"""Zero-shot OGBench tasks: goal observations, relabelled rewards and batched evaluation."""

import os
import tempfile

import numpy as np
import pytest

from envs import ogbench_tasks
from envs.env_workers import WorkerError
from envs.maze_layout import maze_layout
from envs.ogbench import (
    NUM_TASKS,
    SUPPORTED_DATASETS,
    evaluate,
    evaluation_workers,
    goal_observations,
    oracle_policy,
    random_policy,
    relabel_rewards,
)
from envs.ogbench_common import pooled_envs, release_pooled_envs
from envs.ogbench_pointmaze import oracle_direction

MEDIUM = "pointmaze-medium-navigate-v0"


@pytest.mark.parametrize("dataset_name", [name for name in SUPPORTED_DATASETS if name.startswith("pointmaze")])
def test_goal_observations_are_the_task_goal_cells(dataset_name):
    goals = goal_observations(dataset_name)
    maze = pooled_envs(dataset_name, 1)[0].unwrapped
    assert goals.shape == (NUM_TASKS, 2) and goals.dtype == np.float32
    for goal, task in zip(goals, maze.task_infos, strict=True):
        assert maze.maze_map[maze.xy_to_ij(goal)] == 0
        np.testing.assert_array_equal(goal, task["goal_xy"])


@pytest.mark.parametrize("dataset_name", ["cube-single-play-v0", "antmaze-medium-navigate-v0"])
def test_goal_observations_repeat(dataset_name):
    """OGBench takes random actions at the goal before recording a cube or ant goal observation; they are
    seeded, so z from a goal is the same in every process (unseeded, the arm and legs changed each time)."""
    ogbench_tasks._goal_observations.cache_clear()
    first = goal_observations(dataset_name)
    ogbench_tasks._goal_observations.cache_clear()
    np.testing.assert_array_equal(goal_observations(dataset_name), first)
    if dataset_name.startswith("cube"):
        # The seeding swaps the manipulation env class's action_space only during the reset: afterwards the
        # class builds a fresh Box at each access again.
        env = ogbench_tasks.pooled_envs(dataset_name, 1)[0]
        assert env.unwrapped.action_space is not env.unwrapped.action_space


@pytest.mark.parametrize("task_id", range(1, NUM_TASKS + 1))
def test_relabelled_rewards_equal_the_singletask_env_rewards(task_id):
    env = pooled_envs(f"pointmaze-medium-navigate-singletask-task{task_id}-v0", 1, terminate_at_goal=False)[0]
    maze = env.unwrapped
    rng = np.random.default_rng(task_id)
    env.reset(seed=task_id)
    states, next_states, rewards = [], [], []
    for _ in range(400):
        states.append(maze.data.qpos.copy())
        action = oracle_direction(maze, maze.get_xy(), maze.cur_goal_xy) + rng.normal(0.0, 0.3, 2)
        _, reward, _, _, _ = env.step(np.clip(action, -1.0, 1.0))
        next_states.append(maze.data.qpos.copy())
        rewards.append(reward)
    relabelled = relabel_rewards(MEDIUM, task_id, {"qpos": np.asarray(states, np.float32)})
    assert relabelled.dtype == np.float32
    assert set(np.unique(rewards)) == {-1.0, 0.0}
    np.testing.assert_array_equal(relabelled, rewards)
    # The env scores the state before the action (success_timing='pre'): the next state would not match.
    assert not np.array_equal(relabel_rewards(MEDIUM, task_id, {"qpos": np.asarray(next_states)}), rewards)


def test_relabel_needs_qpos():
    with pytest.raises(KeyError, match="qpos"):
        relabel_rewards(MEDIUM, 1, {"observations": np.zeros((3, 2), np.float32)})


@pytest.mark.parametrize("mode", ["goal", "reward"])
def test_random_policy_evaluation_is_well_formed_and_deterministic(mode):
    first, again = (evaluate(MEDIUM, random_policy(2, 7), mode, 3, num_episodes=3, seed=5) for _ in "ab")
    assert set(first) == {"success", "return", "episode_lengths"}
    assert 0.0 <= first["success"] <= 1.0
    assert first["episode_lengths"].shape == (3,) and (first["episode_lengths"] <= 1000).all()
    assert first["success"] == again["success"] and first["return"] == again["return"]
    np.testing.assert_array_equal(first["episode_lengths"], again["episode_lengths"])


@pytest.mark.parametrize("task_id", range(1, NUM_TASKS + 1))
def test_oracle_reaches_every_goal_in_goal_mode(task_id):
    policy = oracle_policy(MEDIUM, goal_observations(MEDIUM)[task_id - 1])
    result = evaluate(MEDIUM, policy, "goal", task_id, num_episodes=2)
    assert result["success"] == 1.0 and result["return"] == 1.0
    assert (result["episode_lengths"] < 1000).all()


def test_oracle_return_in_reward_mode_counts_steps_before_the_goal():
    policy = oracle_policy(MEDIUM, goal_observations(MEDIUM)[2])
    result = evaluate(MEDIUM, policy, "reward", task_id=3, num_episodes=2)
    assert result["success"] == 1.0
    assert result["return"] == -(result["episode_lengths"].mean() - 1)


def test_policy_is_called_once_per_step_on_the_running_episodes():
    batch_sizes = []
    oracle = oracle_policy(MEDIUM, goal_observations(MEDIUM)[0])
    wandering = random_policy(2, seed=0)

    def policy(observations: np.ndarray) -> np.ndarray:
        """Sends only the first episode to the far goal; the others wander until the time limit."""
        batch_sizes.append(len(observations))
        actions = wandering(observations)
        if len(observations) == 3:
            actions[:1] = oracle(observations[:1])
        return actions

    result = evaluate(MEDIUM, policy, "goal", task_id=1, num_episodes=3)
    assert len(batch_sizes) == result["episode_lengths"].max() == 1000
    assert batch_sizes[0] == 3 and batch_sizes[-1] < 3 and batch_sizes == sorted(batch_sizes, reverse=True)


def test_worker_processes_run_the_same_episodes_in_parallel():
    """Three episodes on two workers (two waves, envs switched between tasks and modes) give exactly what
    in-process evaluation gives; the oracle still reaches its goal there."""
    oracle = oracle_policy(MEDIUM, goal_observations(MEDIUM)[2])
    runs = [
        ("goal", 3, lambda: random_policy(2, 7)),
        ("reward", 2, lambda: random_policy(2, 7)),
        ("goal", 3, lambda: oracle),
    ]
    with evaluation_workers(2) as workers:
        for mode, task_id, policy in runs:
            local = evaluate(MEDIUM, policy(), mode, task_id, num_episodes=3, seed=5)
            parallel = evaluate(MEDIUM, policy(), mode, task_id, num_episodes=3, seed=5, workers=workers)
            assert parallel["success"] == local["success"] and parallel["return"] == local["return"]
            np.testing.assert_array_equal(parallel["episode_lengths"], local["episode_lengths"])
        assert local["success"] == 1.0
        with pytest.raises(WorkerError, match="NameNotFound.*pointmaze-tiny"):
            workers.use("pointmaze-tiny-navigate-v0", {})


def test_evaluate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        evaluate(MEDIUM, random_policy(2, 0), "reach", task_id=1, num_episodes=1)
    with pytest.raises(ValueError, match="task_id"):
        evaluate(MEDIUM, random_policy(2, 0), "goal", task_id=6, num_episodes=1)
    with pytest.raises(ValueError, match="shape"):
        evaluate(MEDIUM, random_policy(3, 0), "goal", task_id=1, num_episodes=1)


def test_episodes_run_in_waves_give_the_same_results_as_all_at_once(monkeypatch):
    policy = oracle_policy(MEDIUM, goal_observations(MEDIUM)[1])
    together = evaluate(MEDIUM, policy, "reward", task_id=2, num_episodes=3, seed=4)
    batch_sizes = []

    def recording(observations: np.ndarray) -> np.ndarray:
        batch_sizes.append(len(observations))
        return policy(observations)

    monkeypatch.setattr(ogbench_tasks, "max_parallel_envs", lambda name: 2)
    in_waves = evaluate(MEDIUM, recording, "reward", task_id=2, num_episodes=3, seed=4)
    assert max(batch_sizes) == 2
    np.testing.assert_array_equal(together["episode_lengths"], in_waves["episode_lengths"])
    assert together["return"] == in_waves["return"] and together["success"] == in_waves["success"]


def test_building_maze_envs_leaves_no_descriptor_or_temp_file(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where mkstemp writes OGBench's maze XML
    release_pooled_envs(MEDIUM)
    descriptors = len(os.listdir("/proc/self/fd"))
    env = pooled_envs(MEDIUM, 2)[1]
    env.reset(seed=0)
    env.step(np.zeros(2, np.float32))  # the env works without its XML file
    release_pooled_envs(MEDIUM)
    assert len(os.listdir("/proc/self/fd")) == descriptors
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dataset_name", [MEDIUM, "antmaze-large-navigate-v0"])
def test_maze_layout_puts_walls_where_the_env_has_them_and_goals_in_free_cells(dataset_name):
    layout = maze_layout(dataset_name)
    points, free = layout.grid(per_cell=3)
    maze = pooled_envs(dataset_name, 1)[0].unwrapped
    cells = [maze.xy_to_ij(xy) for xy in points.reshape(-1, 2)]  # OGBench's own cell of each point
    assert [maze.maze_map[i, j] == 0 for i, j in cells] == free.reshape(-1).tolist()
    for goal in goal_observations(dataset_name):
        nearest = np.linalg.norm(points - goal[:2], axis=-1).argmin()
        assert free.reshape(-1)[nearest]
    left, right, bottom, top = layout.extent()
    assert (right - left, top - bottom) == (layout.unit * maze.maze_map.shape[1], layout.unit * maze.maze_map.shape[0])


def test_maze_layout_refuses_a_dataset_without_a_maze():
    with pytest.raises(ValueError, match="cube-single-play-v0 is not a point or ant maze"):
        maze_layout("cube-single-play-v0")
