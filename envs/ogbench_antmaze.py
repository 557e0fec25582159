"""Antmaze `navigate`, `stitch` and `explore` episodes collected the way OGBench's own generator collects
them: the directional ant expert (`envs.ant_expert`) walks along a commanded unit direction, with Gaussian
action noise, in the maze env.

- navigate: from a random free cell towards a random goal cell along the env's BFS oracle subgoals, with a
  new goal each time one is reached (1000 episodes × 1001 steps, noise 0.2);
- stitch: towards a cell exactly 4 BFS steps from the start, and stay there (5000 × 201, noise 0.2);
- explore: a fresh random direction every 10 steps (10000 × 501, noise 1.0).

Each episode is seeded on its own, so episodes can be collected in parallel processes.
"""

import functools

import numpy as np

from envs.ant_expert import ExpertFn, load_expert
from envs.ogbench_common import DatasetSpec, collect_seeded_episodes, pooled_envs, seeded_global_numpy
from envs.ogbench_data import PathLike, storage_dtype
from envs.ogbench_pointmaze import Cell, maze_cells, oracle_direction

STITCH_DISTANCE = 4  # BFS steps between the start and goal cells of a stitch episode.
EXPLORE_INTERVAL = 10  # Steps between random directions in explore episodes.
_KEYS = ("observations", "actions", "terminals", "qpos", "qvel")


def dataset_kind(spec: DatasetSpec) -> str:
    """`navigate`, `stitch` or `explore`: the word before the version in the dataset's name."""
    kind = spec.domain.split("-")[-2]
    if spec.family != "antmaze" or kind not in ("navigate", "stitch", "explore"):
        raise ValueError(f"{spec.name} is not an antmaze navigate/stitch/explore dataset")
    return kind


def collect_ant_episodes(
    spec: DatasetSpec,
    num_episodes: int,
    episode_length: int,
    seed: list[int],
    noise: float,
    progress: bool,
    desc: str,
    workers: int,
    expert_path: PathLike,
) -> dict[str, np.ndarray]:
    """Episode-layout arrays of `num_episodes` expert episodes; episode i is seeded by seed + [i].
    `generate_dataset` checks the expert file before calling this."""
    collect = functools.partial(_ant_episode, spec, noise, episode_length, str(expert_path))
    return collect_seeded_episodes(collect, num_episodes, seed, workers, f"{spec.name} {desc}" if progress else None)


def cells_at_distance(maze_map: np.ndarray, start: Cell, distance: int) -> list[Cell]:
    """Free cells exactly `distance` BFS steps (4-neighbourhood) from `start`, in BFS order."""
    steps = {start: 0}
    queue = [start]
    for i, j in queue:
        for di, dj in ((-1, 0), (0, -1), (1, 0), (0, 1)):
            cell = (i + di, j + dj)
            inside = 0 <= cell[0] < maze_map.shape[0] and 0 <= cell[1] < maze_map.shape[1]
            if inside and maze_map[cell] == 0 and cell not in steps:
                steps[cell] = steps[(i, j)] + 1
                queue.append(cell)
    return [cell for cell in queue if steps[cell] == distance]


@functools.lru_cache(maxsize=2)
def _expert(path: str) -> ExpertFn:
    return load_expert(path)[0]


def _ant_episode(
    spec: DatasetSpec, noise: float, episode_length: int, expert_path: str, episode_seed: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """One episode to the time limit (maze ants do not terminate), as described in the module docstring."""
    kind = dataset_kind(spec)
    env = pooled_envs(spec.name, 1, terminate_at_goal=False, max_episode_steps=episode_length)[0]
    maze, expert = env.unwrapped, _expert(expert_path)
    rng = np.random.default_rng(episode_seed)
    free, goals = maze_cells(maze.maze_map)
    init = free[rng.integers(len(free))]
    if kind == "stitch":
        nearby = cells_at_distance(maze.maze_map, init, STITCH_DISTANCE)
        goal = nearby[rng.integers(len(nearby))] if nearby else init
    else:
        goal = goals[rng.integers(len(goals))]
    steps = {key: [] for key in _KEYS}
    # The maze draws its position noise from numpy's global RNG.
    with seeded_global_numpy(list(episode_seed)):
        ob, _ = env.reset(seed=int(rng.integers(2**31)), options={"task_info": {"init_ij": init, "goal_ij": goal}})
        done, step, direction = False, 0, None
        while not done:
            if kind != "explore":
                direction = oracle_direction(maze, maze.get_xy(), maze.cur_goal_xy)
            elif step % EXPLORE_INTERVAL == 0:
                direction = rng.standard_normal(2)
                direction = direction / (np.linalg.norm(direction) + 1e-6)
            agent_ob = np.concatenate([maze.get_ob(ob_type="states")[2:], direction])
            action = np.clip(expert(agent_ob[None])[0] + rng.normal(0.0, noise, 8), -1.0, 1.0)
            next_ob, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            if info["success"] and kind == "navigate":
                maze.set_goal(goal_xy=maze.add_noise(maze.ij_to_xy(goals[rng.integers(len(goals))])))
            for key, value in zip(_KEYS, (ob, action, done, info["prev_qpos"], info["prev_qvel"]), strict=True):
                steps[key].append(value)
            ob, step = next_ob, step + 1
    return {key: np.asarray(values, dtype=storage_dtype(key, spec.visual)) for key, values in steps.items()}
