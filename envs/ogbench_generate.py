"""Local generation of OGBench datasets in OGBench's own file format, with a record of what produced them."""

import importlib.metadata
import json
import os
import pathlib

import numpy as np

from envs.ogbench_common import DatasetError, DatasetSpec, dataset_spec
from envs.ogbench_data import METADATA_KEY, PathLike, dataset_path, write_npz_files
from envs.ogbench_manipspace import NOISE_SMOOTHING, collect_play_episodes
from envs.ogbench_pointmaze import collect_episodes

_SPLIT_SEED_KEYS = {"train": 0, "val": 1}


def generate_dataset(
    dataset_name: str,
    dataset_dir: PathLike | None = None,
    num_episodes: int | None = None,
    seed: int = 0,
    episode_length: int | None = None,
    noise: float | None = None,
    progress: bool = True,
    workers: int = 1,
) -> tuple[pathlib.Path, pathlib.Path]:
    """Writes a train split and a val split of a tenth as many episodes (min. one); returns both paths.

    `num_episodes`, `episode_length` (observations per episode) and `noise` default to the dataset's spec.
    `workers` > 1 collects manipulation episodes in that many processes (same result); pointmaze episodes
    share one RNG stream and are collected in order.
    """
    spec = dataset_spec(dataset_name)
    if not spec.generated_locally:
        raise DatasetError(
            f"{dataset_name} is collected by a trained ant expert, which this library does not train; "
            f"put OGBench's official files in the dataset directory instead"
        )
    num_episodes = spec.num_episodes if num_episodes is None else num_episodes
    episode_length = spec.episode_length if episode_length is None else episode_length
    noise = spec.noise if noise is None else noise
    if num_episodes < 1 or episode_length < 2 or seed < 0 or noise < 0 or workers < 1:
        raise ValueError(
            "need num_episodes>=1, episode_length>=2, seed>=0, noise>=0, workers>=1; got "
            f"{num_episodes}, {episode_length}, {seed}, {noise}, {workers}"
        )
    episodes = {"train": num_episodes, "val": max(1, num_episodes // 10)}
    files = {}
    for split, count in episodes.items():
        split_seed = [seed, _SPLIT_SEED_KEYS[split]]
        if spec.family == "manipspace":
            arrays = collect_play_episodes(spec, count, episode_length, split_seed, noise, progress, split, workers)
        else:
            arrays = collect_episodes(spec, count, episode_length, split_seed, noise, progress, split)
        files[dataset_path(dataset_name, dataset_dir, split)] = arrays | {
            METADATA_KEY: _metadata(spec, split, count, episode_length, seed, noise)
        }
    write_npz_files(files)
    train_path, val_path = files
    return train_path, val_path


def _metadata(
    spec: DatasetSpec, split: str, num_episodes: int, episode_length: int, seed: int, noise: float
) -> np.ndarray:
    """A 0-d JSON string recording what produced the file; `ogbench.load_dataset` ignores extra keys."""
    oracle = (
        {"oracle": "ogbench plan oracles (play)", "noise_smoothing": NOISE_SMOOTHING}
        if spec.family == "manipspace"
        else {"oracle": "maze BFS subgoal direction + Gaussian noise"}
    )
    record = {
        "producer": "envs.ogbench_generate.generate_dataset",
        "ogbench_version": importlib.metadata.version("ogbench"),
        "dataset": spec.name,
        "split": split,
        "num_episodes": num_episodes,
        "episode_length": episode_length,
        "seed": seed,
        "noise": noise,
        **oracle,
    }
    if spec.visual:
        record["frames"] = {
            "shape": list(spec.obs_shape),
            "renderer": f"mujoco {importlib.metadata.version('mujoco')} offscreen",
            "MUJOCO_GL": os.environ.get("MUJOCO_GL"),
        }
    return np.array(json.dumps(record, sort_keys=True))
