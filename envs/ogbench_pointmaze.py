"""Pointmaze `navigate` episodes collected the way OGBench's own generator collects them.

A noisy oracle walks the maze: each episode starts in a random free cell, heads for a random goal cell
along the BFS shortest path the env itself computes, and gets a fresh goal whenever it reaches one.
"""

import gymnasium
import numpy as np
from tqdm import trange

from envs.ogbench_common import DatasetSpec, PolicyFn, pooled_envs, seeded_global_numpy
from envs.ogbench_data import storage_dtype

Cell = tuple[int, int]


def collect_episodes(
    spec: DatasetSpec, num_episodes: int, episode_length: int, seed: list[int], noise: float, progress: bool, desc: str
) -> dict[str, np.ndarray]:
    """Episode-layout arrays of `num_episodes` noisy-oracle episodes, deterministic in `seed`.

    Sequential: the episodes share one RNG stream, which keeps the default dataset identical to the one
    earlier versions generated (and the results measured on it)."""
    env = pooled_envs(spec.name, 1, terminate_at_goal=False, max_episode_steps=episode_length)[0]
    free, goals = maze_cells(env.unwrapped.maze_map)
    rng = np.random.default_rng(seed)
    with seeded_global_numpy(seed):
        episodes = [
            _collect_episode(env, free, goals, rng, noise)
            for _ in trange(num_episodes, desc=f"{spec.name} {desc}", disable=not progress)
        ]
    return {key: np.concatenate([episode[key] for episode in episodes]) for key in episodes[0]}


def maze_cells(maze_map: np.ndarray) -> tuple[list[Cell], list[Cell]]:
    """Free cells (where episodes start) and those off straight corridors (goals), as OGBench samples them."""
    free = [(int(i), int(j)) for i, j in zip(*np.nonzero(maze_map == 0), strict=True)]
    return free, [cell for cell in free if not _is_corridor(maze_map, cell)]


def _is_corridor(maze_map: np.ndarray, cell: Cell) -> bool:
    """A cell open on exactly two opposite sides, i.e. the middle of a straight hallway."""
    i, j = cell
    up, down, left, right = (maze_map[i + di, j + dj] == 0 for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)))
    return (up and down and not left and not right) or (left and right and not up and not down)


def oracle_direction(maze: gymnasium.Env, xy: np.ndarray, goal_xy: np.ndarray) -> np.ndarray:
    """Unit vector to the env's oracle subgoal (next cell on the BFS path), the point expert's action."""
    subgoal_xy, _ = maze.get_oracle_subgoal(xy, goal_xy)
    direction = subgoal_xy - xy
    return direction / (np.linalg.norm(direction) + 1e-6)


def oracle_policy(dataset_name: str, goal_xy: np.ndarray) -> PolicyFn:
    """Batched noise-free oracle towards a fixed goal, for point mazes whose observation starts with x, y."""
    maze = pooled_envs(dataset_name, 1)[0].unwrapped
    goal_xy = np.asarray(goal_xy, dtype=np.float64)
    return lambda observations: np.stack(
        [oracle_direction(maze, np.asarray(ob[:2], np.float64), goal_xy) for ob in observations]
    )


def _collect_episode(
    env: gymnasium.Env, free: list[Cell], goals: list[Cell], rng: np.random.Generator, noise: float
) -> dict[str, np.ndarray]:
    """One episode up to the time limit, re-targeting a random goal cell each time the goal is reached."""
    maze = env.unwrapped
    task_info = {"init_ij": free[rng.integers(len(free))], "goal_ij": goals[rng.integers(len(goals))]}
    ob, _ = env.reset(seed=int(rng.integers(2**31)), options={"task_info": task_info})
    steps = {key: [] for key in ("observations", "actions", "terminals", "qpos", "qvel")}
    done = False
    while not done:
        direction = oracle_direction(maze, maze.get_xy(), maze.cur_goal_xy)
        action = np.clip(direction + rng.normal(0.0, noise, direction.shape), -1.0, 1.0)
        next_ob, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        if info["success"]:
            maze.set_goal(goal_xy=maze.add_noise(maze.ij_to_xy(goals[rng.integers(len(goals))])))
        for key, value in zip(steps, (ob, action, done, info["prev_qpos"], info["prev_qvel"]), strict=True):
            steps[key].append(value)
        ob = next_ob
    return {key: np.asarray(values, dtype=storage_dtype(key)) for key, values in steps.items()}
