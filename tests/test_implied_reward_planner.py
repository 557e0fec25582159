"""The implied-reward planner on mazes whose optimal paths are known."""

import numpy as np
import pytest

from envs import ogbench as ogb
from experiments.implied_reward_planner import (
    cell_rewards,
    median_step_length,
    navigation_grid,
    optimal_values,
    steps_to_goal,
)

STEP = 0.2 * np.sqrt(2.0)  # cells of 0.2


def u_corridor(rng: np.random.Generator, n: int = 60_000) -> np.ndarray:
    """Positions filling a U: two 1-wide arms x ∈ [0, 1] and x ∈ [4, 5] for y ∈ [0, 6], joined at y ∈ [5, 6];
    the 3-wide wall between the arms is never visited."""
    xy = rng.uniform([0.0, 0.0], [5.0, 6.0], (4 * n, 2))
    in_u = (xy[:, 0] <= 1.0) | (xy[:, 0] >= 4.0) | (xy[:, 1] >= 5.0)
    return xy[in_u][:n]


def test_the_optimal_path_goes_round_the_wall_not_through_it():
    positions = u_corridor(np.random.default_rng(0))
    goal = np.array([4.5, 0.5])
    rewards = (np.linalg.norm(positions - goal, axis=-1) < 0.5).astype(float)
    plan = dict(goal_xy=goal, goal_tolerance=0.5, discount=0.99, step_length=STEP, max_steps=200)
    steps = steps_to_goal(positions, rewards, start_xy=np.array([0.5, 0.5]), **plan)
    # Up the left arm, across and down the right one: ≈ 5 + 4 + 4.5 units (corners cut diagonally) of 0.2 each;
    # straight through the wall would be 3.5 units, 18 steps.
    assert 55 <= steps <= 70
    assert steps_to_goal(positions, rewards, start_xy=np.array([4.5, 5.5]), **plan) == pytest.approx(23, abs=2)
    assert np.isnan(steps_to_goal(positions, rewards, start_xy=np.array([0.5, 0.5]), **plan | {"max_steps": 40}))


def test_a_nearer_reward_worth_more_than_the_discounted_goal_keeps_the_agent_away():
    """Staying on a bump b forever is worth b/(1 − γ); the goal T steps away is worth γ^T/(1 − γ)."""
    positions = np.random.default_rng(1).uniform([0.0, 0.0], [12.0, 1.0], (40_000, 2))
    goal, bump = np.array([11.5, 0.5]), np.linalg.norm(positions - [1.5, 0.5], axis=-1) < 0.4
    at_goal = (np.linalg.norm(positions - goal, axis=-1) < 0.5).astype(float)
    plan = dict(start_xy=np.array([0.5, 0.5]), goal_xy=goal, goal_tolerance=0.5, step_length=STEP, max_steps=300)
    # From the bump the goal region is 9.5 units, ~48 steps, away: worth γ^48 ≈ 0.38 of staying there for ever.
    gamma = 0.98
    assert np.isnan(steps_to_goal(positions, at_goal + 0.45 * bump, discount=gamma, **plan))
    assert steps_to_goal(positions, at_goal + 0.3 * bump, discount=gamma, **plan) == pytest.approx(53, abs=3)


def test_values_solve_the_bellman_equation_on_visited_cells():
    positions = u_corridor(np.random.default_rng(2), 5_000)
    rewards = np.random.default_rng(3).normal(size=len(positions))
    grid = navigation_grid(positions, STEP)
    mean, visited = cell_rewards(grid, positions, rewards)
    assert visited.sum() < visited.size and np.all(np.isneginf(mean[~visited]))
    values = optimal_values(mean, visited, 0.9, tolerance=1e-9)
    i, j = np.argwhere(visited)[7]
    neighbours = values[max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2]
    assert values[i, j] == pytest.approx(mean[i, j] + 0.9 * neighbours.max(), abs=1e-8)
    assert np.all(np.isneginf(values[~visited]))


def test_median_step_length_skips_the_jump_between_episodes():
    positions = np.array([[0.0, 0.0], [0.1, 0.0], [0.2, 0.0], [9.0, 9.0], [9.3, 9.0], [9.6, 9.0]])
    terminals = np.array([0, 0, 1, 0, 0, 1], bool)
    assert median_step_length(positions, terminals) == pytest.approx(0.2)  # steps 0.1, 0.1, 0.3, 0.3


def test_maze_task_reads_the_env_tasks():
    task = ogb.maze_task("pointmaze-medium-navigate-v0", 2)
    assert np.allclose(task.start_xy, [0.0, 20.0]) and np.allclose(task.goal_xy, [20.0, 0.0])
    assert task.goal_tolerance == 1.0 and task.max_steps == 1000
    assert np.allclose(ogb.goal_observations("pointmaze-medium-navigate-v0")[1], task.goal_xy)
    with pytest.raises(ValueError, match="cube-single-play-v0 is not a maze dataset"):
        ogb.maze_task("cube-single-play-v0", 1)
