"""OGBench datasets and zero-shot evaluation tasks: the single import point for the rest of the library."""

from envs.ogbench_common import (
    NUM_TASKS,
    SUPPORTED_DATASETS,
    DatasetError,
    DatasetSpec,
    PolicyFn,
    dataset_spec,
    find_spec,
)
from envs.ogbench_data import DEFAULT_DATASET_DIR, dataset_metadata, dataset_path, load_dataset
from envs.ogbench_generate import generate_dataset
from envs.ogbench_pointmaze import oracle_policy
from envs.ogbench_tasks import (
    REWARD_SHIFT,
    MazeTask,
    OGBenchTasks,
    evaluate,
    evaluation_workers,
    goal_observations,
    maze_task,
    random_policy,
    record_episode,
    relabel_rewards,
    tasks,
)

__all__ = [
    "DEFAULT_DATASET_DIR",
    "NUM_TASKS",
    "SUPPORTED_DATASETS",
    "DatasetError",
    "DatasetSpec",
    "REWARD_SHIFT",
    "MazeTask",
    "OGBenchTasks",
    "PolicyFn",
    "dataset_metadata",
    "dataset_path",
    "dataset_spec",
    "evaluate",
    "evaluation_workers",
    "find_spec",
    "generate_dataset",
    "goal_observations",
    "load_dataset",
    "maze_task",
    "oracle_policy",
    "random_policy",
    "record_episode",
    "relabel_rewards",
    "tasks",
]
