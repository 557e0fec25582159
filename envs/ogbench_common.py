"""Registry of the supported OGBench datasets and helpers shared by loading, generation and evaluation."""

import concurrent.futures
import contextlib
import dataclasses
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator

import gymnasium
import numpy as np
import ogbench
from tqdm import tqdm

PolicyFn = Callable[[np.ndarray], np.ndarray]
NUM_TASKS = 5


class DatasetError(ValueError):
    """A dataset file or name that cannot be used; the message says which file, key and expectation."""


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """Shapes and collection settings of one OGBench dataset, checked on load and used to generate it."""

    name: str
    family: str  # "pointmaze", "antmaze" or "manipspace": which generator and evaluation options apply.
    obs_dim: int
    action_dim: int
    num_episodes: int
    episode_length: int  # Observations per episode with the final one: 1001 for 1000 actions.
    noise: float = 0.0  # OGBench's action-noise setting for generating it (`--noise` of its scripts).

    @property
    def visual(self) -> bool:
        """`visual-` datasets store 64×64 RGB uint8 frames instead of state vectors."""
        return self.name.startswith("visual-")

    @property
    def domain(self) -> str:
        """The dataset name without `visual-`: what decides the env's scene, oracles and tasks."""
        return self.name.removeprefix("visual-")

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """The shape of one stored observation."""
        return VISUAL_FRAME_SHAPE if self.visual else (self.obs_dim,)

    @property
    def needs_expert(self) -> bool:
        """Antmaze data is collected by a directional ant expert (`experiments.train_expert` trains one)."""
        return self.family == "antmaze"


VISUAL_FRAME_SHAPE = (64, 64, 3)
# Local default size of visual datasets: CPU rendering with shadows takes ~0.14 s a frame (measured with
# Mesa EGL on one core), so OGBench's 1000 × 1001 would take ~40 h; --num_episodes/--episode_length of
# experiments.collect give any size.
VISUAL_LOCAL_EPISODES, VISUAL_LOCAL_EPISODE_LENGTH = 20, 201


def _visual(spec: "DatasetSpec") -> "DatasetSpec":
    """The `visual-` variant of a state dataset: same env and actions, frames instead of states."""
    local = dict(num_episodes=VISUAL_LOCAL_EPISODES, episode_length=VISUAL_LOCAL_EPISODE_LENGTH)
    return dataclasses.replace(spec, name=f"visual-{spec.name}", **local)


# Sizes as OGBench's data_gen_scripts/commands.sh produces them (visual: see above); observation and
# action sizes of the envs.
_STATE_SPECS = {
    spec.name: spec
    for spec in (
        *(
            DatasetSpec(f"pointmaze-{size}-navigate-v0", "pointmaze", 2, 2, 1000, 1001, 0.5)
            for size in ("medium", "large")
        ),
        *(
            DatasetSpec(f"antmaze-{size}-navigate-v0", "antmaze", 29, 8, 1000, 1001, 0.2)
            for size in ("medium", "large")
        ),
        *(DatasetSpec(f"antmaze-{size}-stitch-v0", "antmaze", 29, 8, 5000, 201, 0.2) for size in ("medium", "large")),
        DatasetSpec("antmaze-medium-explore-v0", "antmaze", 29, 8, 10000, 501, 1.0),
        DatasetSpec("cube-single-play-v0", "manipspace", 28, 5, 1000, 1001, 0.1),
        DatasetSpec("cube-double-play-v0", "manipspace", 37, 5, 1000, 1001, 0.1),
        DatasetSpec("scene-play-v0", "manipspace", 40, 5, 1000, 1001, 0.1),
        DatasetSpec("puzzle-3x3-play-v0", "manipspace", 55, 5, 1000, 1001, 0.1),
    )
}
# Every dataset of the TD-JEPA paper has a visual variant (there is no visual pointmaze).
_SPECS = _STATE_SPECS | {
    f"visual-{name}": _visual(spec) for name, spec in _STATE_SPECS.items() if spec.family != "pointmaze"
}
SUPPORTED_DATASETS: tuple[str, ...] = tuple(_SPECS)
_ENV_POOL: dict[tuple, list[gymnasium.Env]] = {}


def dataset_spec(dataset_name: str) -> DatasetSpec:
    """The spec of a supported dataset; fails early with the accepted names so typos are obvious."""
    if dataset_name not in _SPECS:
        raise DatasetError(f"unknown dataset {dataset_name!r}; supported: {', '.join(SUPPORTED_DATASETS)}")
    return _SPECS[dataset_name]


def find_spec(dataset_name: str) -> DatasetSpec | None:
    """The spec of a dataset name, or None when the library does not know it (no shape checks then)."""
    return _SPECS.get(dataset_name)


def check_task_id(task_id: int) -> None:
    """Rejects task ids outside OGBench's 1..5 evaluation tasks."""
    if not 1 <= task_id <= NUM_TASKS:
        raise ValueError(f"task_id must be in 1..{NUM_TASKS}, got {task_id}")


def singletask_name(dataset_name: str, task_id: int) -> str:
    """The name `ogbench.make_env_and_datasets` maps to the `-singletask-task{N}` env of a dataset."""
    dataset_spec(dataset_name)
    check_task_id(task_id)
    prefix, version = dataset_name.rsplit("-", 1)
    return f"{prefix}-singletask-task{task_id}-{version}"


def pooled_envs(name: str, count: int, **env_kwargs: object) -> list[gymnasium.Env]:
    """`count` envs from OGBench's own factory, reused across calls (a manipulation env takes seconds to build)."""
    pool = _ENV_POOL.setdefault((name, tuple(sorted(env_kwargs.items()))), [])
    while len(pool) < count:
        pool.append(make_env(name, **env_kwargs))
    return pool[:count]


def make_env(name: str, **env_kwargs: object) -> gymnasium.Env:
    """One env from OGBench's own factory (not pooled: the caller closes it)."""
    with _temp_files_removed():
        return ogbench.make_env_and_datasets(name, env_only=True, **env_kwargs)


@contextlib.contextmanager
def _temp_files_removed() -> Iterator[None]:
    """Closes and deletes the files `tempfile.mkstemp` makes inside the block. OGBench's maze envs write their
    XML with it and keep neither the descriptor nor the file, which MuJoCo no longer needs once the env is
    built: without this every maze env left an open descriptor and a file in the temp directory."""
    made = []
    mkstemp = tempfile.mkstemp

    def tracked_mkstemp(*args, **kwargs) -> tuple[int, str]:
        made.append(mkstemp(*args, **kwargs))
        return made[-1]

    tempfile.mkstemp = tracked_mkstemp
    try:
        yield
    finally:
        tempfile.mkstemp = mkstemp
        for descriptor, path in made:
            os.close(descriptor)
            os.remove(path)


def release_pooled_envs(name: str | None = None) -> None:
    """Closes and forgets the pooled envs of env `name`, or every pooled env (manipulation envs hold
    ~160 MB each, visual ones ~600 MB)."""
    for key in [key for key in _ENV_POOL if name is None or key[0] == name]:
        for env in _ENV_POOL.pop(key):
            env.close()


def collect_seeded_episodes(
    collect: Callable[[tuple[int, ...]], dict[str, np.ndarray]],
    num_episodes: int,
    seed: list[int],
    workers: int,
    progress_desc: str | None,
) -> dict[str, np.ndarray]:
    """Episode-layout arrays of `collect(seed + [i])` for episodes i = 0..n−1, concatenated in order; in
    `workers` spawned processes when more than one (no fork under JAX), with the same result."""
    episode_seeds = [(*seed, index) for index in range(num_episodes)]
    if workers <= 1:
        episodes = map(collect, episode_seeds)
        pool = contextlib.nullcontext()
    else:
        pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        episodes = pool.map(collect, episode_seeds)  # one episode (seconds of work) per task: the bar moves
    with pool:
        episodes = list(tqdm(episodes, total=num_episodes, desc=progress_desc, disable=progress_desc is None))
    return {key: np.concatenate([episode[key] for episode in episodes]) for key in episodes[0]}


@contextlib.contextmanager
def seeded_global_numpy(seed: int | list[int]) -> Iterator[None]:
    """Seeds numpy's global RNG, which OGBench mazes use for position noise, and restores it afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)
