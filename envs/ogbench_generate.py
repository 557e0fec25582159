"""Local generation of OGBench datasets in OGBench's own file format, with a record of what produced them."""

import importlib.metadata
import json
import os
import pathlib

import numpy as np

from envs.ant_expert import default_expert_path, load_expert
from envs.ogbench_antmaze import collect_ant_episodes, dataset_kind
from envs.ogbench_common import DatasetSpec, dataset_spec
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
    expert_path: PathLike | None = None,
) -> tuple[pathlib.Path, pathlib.Path]:
    """Writes a train split and a val split of a tenth as many episodes (min. one); returns both paths.

    `num_episodes`, `episode_length` (observations per episode) and `noise` default to the dataset's spec.
    `workers` > 1 collects manipulation and antmaze episodes in that many processes (same result);
    pointmaze episodes share one RNG stream and are collected in order. Antmaze episodes are walked by the
    ant expert at `expert_path` (`experiments.train_expert`; default: the user's own, else the shipped one),
    checked before any episode is collected.
    """
    spec = dataset_spec(dataset_name)
    expert_path = default_expert_path() if expert_path is None else expert_path
    expert_record = load_expert(expert_path)[1] if spec.needs_expert else None
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
        elif spec.needs_expert:
            arrays = collect_ant_episodes(
                spec, count, episode_length, split_seed, noise, progress, split, workers, expert_path
            )
        else:
            arrays = collect_episodes(spec, count, episode_length, split_seed, noise, progress, split)
        files[dataset_path(dataset_name, dataset_dir, split)] = arrays | {
            METADATA_KEY: _metadata(spec, split, count, episode_length, seed, noise, expert_path, expert_record)
        }
    write_npz_files(files)
    train_path, val_path = files
    return train_path, val_path


def _metadata(
    spec: DatasetSpec,
    split: str,
    num_episodes: int,
    episode_length: int,
    seed: int,
    noise: float,
    expert_path: PathLike,
    expert_record: dict | None,
) -> np.ndarray:
    """A 0-d JSON string recording what produced the file; `ogbench.load_dataset` ignores extra keys."""
    if spec.family == "manipspace":
        oracle = {"oracle": "ogbench plan oracles (play)", "noise_smoothing": NOISE_SMOOTHING}
    elif spec.needs_expert:
        expert_keys = ("num_steps", "seed", "eval_return", "producer")
        oracle = {
            "oracle": f"ant expert (SAC, online-ant-xy-v0) on {dataset_kind(spec)} directions + Gaussian noise",
            "expert": {"path": str(expert_path), **{key: expert_record.get(key) for key in expert_keys}},
        }
    else:
        oracle = {"oracle": "maze BFS subgoal direction + Gaussian noise"}
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
