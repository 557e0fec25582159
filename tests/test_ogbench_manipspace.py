"""Datasets beyond pointmaze: manipulation play data generated locally, rewards relabelled on it."""

import numpy as np
import ogbench
import pytest

from envs.ogbench import (
    NUM_TASKS,
    SUPPORTED_DATASETS,
    dataset_metadata,
    dataset_spec,
    generate_dataset,
    goal_observations,
    load_dataset,
    relabel_rewards,
)
from envs.ogbench_manipspace import scene_episode_is_healthy
from tests.helpers import singletask_env_rewards

# State datasets (their visual variants run the same oracles; tests/test_pixels.py covers the frames).
MANIPULATION = [
    name for name in SUPPORTED_DATASETS if dataset_spec(name).family == "manipspace" and not dataset_spec(name).visual
]


@pytest.fixture(scope="module")
def one_episode(tmp_path_factory: pytest.TempPathFactory):
    """One generated train episode per dataset, produced on first use."""
    cache: dict[str, dict[str, np.ndarray]] = {}

    def get(name: str) -> dict[str, np.ndarray]:
        if name not in cache:
            train_path, _ = generate_dataset(name, tmp_path_factory.mktemp(name), num_episodes=1, progress=False)
            cache[name] = load_dataset(train_path)
        return cache[name]

    return get


# Pointmaze has its own check on oracle rollouts that reach each goal (test_ogbench_tasks.py): one generated
# episode rarely passes the five evaluation goals.
@pytest.mark.parametrize("dataset_name", MANIPULATION)
def test_relabelled_rewards_equal_the_singletask_env_reward_on_generated_states(dataset_name, one_episode):
    data = one_episode(dataset_name)
    rng = np.random.default_rng(0)
    seen = set()
    for task_id in range(1, NUM_TASKS + 1):
        relabelled_all = relabel_rewards(dataset_name, task_id, data)
        # Random states plus the ones closest to this task's goal, so satisfied sub-goals are checked too.
        rows = np.union1d(rng.choice(len(relabelled_all), 12, replace=False), np.argsort(relabelled_all)[-4:])
        states = {key: data[key][rows] for key in ("qpos", "qvel", "button_states") if key in data}
        np.testing.assert_array_equal(
            relabel_rewards(dataset_name, task_id, states), singletask_env_rewards(dataset_name, task_id, states)
        )
        seen.update(relabelled_all[rows].tolist())
    assert len(seen) > 1, f"{dataset_name}: every checked state has the same reward, the check would be vacuous"


@pytest.mark.parametrize("dataset_name", MANIPULATION)
def test_generated_manipulation_files_load_with_ogbench_and_record_their_producer(dataset_name, one_episode):
    data = one_episode(dataset_name)
    spec = dataset_spec(dataset_name)
    assert data["observations"].shape == (spec.episode_length, spec.obs_dim)
    assert data["actions"].shape == (spec.episode_length, spec.action_dim)
    assert np.abs(data["actions"]).max() <= 1.0 and data["terminals"].sum() == 1
    # The oracle moves the arm: the effector position (observation entries 14:17) changes over the episode.
    assert np.ptp(data["observations"][:, 14:17], axis=0).max() > 0.5


def test_manipulation_generation_is_the_same_in_parallel_and_recorded(tmp_path):
    name = "cube-single-play-v0"
    serial, _ = generate_dataset(name, tmp_path / "serial", num_episodes=2, progress=False)
    parallel, _ = generate_dataset(name, tmp_path / "parallel", num_episodes=2, progress=False, workers=2)
    first, second = load_dataset(serial), load_dataset(parallel)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    theirs = ogbench.load_dataset(str(serial), compact_dataset=True, add_info=True)
    np.testing.assert_array_equal(theirs["observations"], first["observations"])
    metadata = dataset_metadata(serial)
    assert metadata["dataset"] == name and metadata["noise"] == 0.1 and "plan" in metadata["oracle"]


@pytest.mark.parametrize("dataset_name", MANIPULATION)
def test_goal_observations_of_manipulation_tasks(dataset_name):
    goals = goal_observations(dataset_name)
    assert goals.shape == (NUM_TASKS, dataset_spec(dataset_name).obs_dim)
    assert len(np.unique(goals, axis=0)) == NUM_TASKS


def test_scene_health_check_rejects_a_cube_off_the_table():
    qpos = np.zeros((5, 25))
    qpos[:, 14:17] = [0.4, 0.0, 0.02]
    assert scene_episode_is_healthy(qpos)
    qpos[3, 15] = 0.3  # too far right
    assert not scene_episode_is_healthy(qpos)
    qpos[3, 15:17] = [-0.35, 0.07]  # inside the drawer
    assert scene_episode_is_healthy(qpos)
