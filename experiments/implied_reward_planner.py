"""Does the optimal policy of a prompt's implied reward reach the goal? A planner check for maze datasets.

A zero-shot agent can fail because its z encodes the wrong reward, or because its learned Q and actor do not
optimise the right one. On a maze whose observations start with the agent's x, y, this separates the two
without the learned Q: dataset positions are binned on a grid, the implied reward r(s) = features(s)ᵀz is
averaged per visited cell, value iteration with the agent's discount solves that grid MDP (moves to the eight
neighbouring cells or staying, between visited cells), and the greedy path from the task's start says whether
and when the reward's optimum reaches the goal. Cells are the agent's median step divided by √2, so no path
is shorter in steps than the agent's own could be: the check is conservative.
"""

import dataclasses

import numpy as np

_MOVES = tuple((di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1))


@dataclasses.dataclass(frozen=True)
class Grid:
    """Square cells of side `cell` covering the box whose lower corner is `origin`."""

    origin: np.ndarray
    cell: float
    shape: tuple[int, int]

    def index(self, xy: np.ndarray) -> np.ndarray:
        """The (i, j) cell of each position (…, 2), clipped to the grid."""
        ij = np.floor((np.asarray(xy, np.float64) - self.origin) / self.cell).astype(int)
        return np.clip(ij, 0, np.asarray(self.shape) - 1)

    def centre(self, ij: np.ndarray) -> np.ndarray:
        """The x, y of cell centres (…, 2)."""
        return self.origin + (np.asarray(ij) + 0.5) * self.cell


def median_step_length(positions: np.ndarray, terminals: np.ndarray) -> float:
    """The median distance moved in one step, over transitions within episodes (terminals mark their ends)."""
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=-1)[np.asarray(terminals[:-1]) == 0]
    return float(np.median(steps))


def navigation_grid(positions: np.ndarray, step_length: float) -> Grid:
    """A grid of cells step_length/√2 wide over the positions' bounding box."""
    cell = step_length / np.sqrt(2.0)
    low, high = positions.min(axis=0), positions.max(axis=0)
    shape = tuple(int(n) for n in np.floor((high - low) / cell).astype(int) + 1)
    return Grid(origin=low.astype(np.float64), cell=cell, shape=shape)


def cell_rewards(grid: Grid, positions: np.ndarray, rewards: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean reward of the positions in each cell (−inf where none fall) and the mask of visited cells."""
    ij = grid.index(positions)
    flat = np.ravel_multi_index((ij[:, 0], ij[:, 1]), grid.shape)
    size = grid.shape[0] * grid.shape[1]
    total = np.bincount(flat, np.asarray(rewards, np.float64), size)
    count = np.bincount(flat, None, size)
    visited = (count > 0).reshape(grid.shape)
    mean = np.where(count > 0, total / np.maximum(count, 1), -np.inf).reshape(grid.shape)
    return mean, visited


def _best_neighbour_values(values: np.ndarray) -> np.ndarray:
    """max over the eight neighbours and the cell itself of `values` (−inf outside the grid)."""
    padded = np.pad(values, 1, constant_values=-np.inf)
    rows, cols = values.shape
    return np.max([padded[1 + di : 1 + di + rows, 1 + dj : 1 + dj + cols] for di, dj in _MOVES], axis=0)


def optimal_values(
    rewards: np.ndarray, visited: np.ndarray, discount: float, tolerance: float = 1e-3, max_iterations: int = 20_000
) -> np.ndarray:
    """V(c) = r(c) + γ max_{c' ∈ N(c) ∪ {c}} V(c') on visited cells (−inf elsewhere), by value iteration
    until no value moves by more than `tolerance`."""
    values = np.where(visited, 0.0, -np.inf)
    for _ in range(max_iterations):
        updated = np.where(visited, rewards + discount * _best_neighbour_values(values), -np.inf)
        change = np.max(np.abs(updated[visited] - values[visited]))
        values = updated
        if change < tolerance:
            return values
    raise RuntimeError(f"value iteration did not converge in {max_iterations} iterations (last change {change:.3g})")


def greedy_path(values: np.ndarray, start: np.ndarray, steps: int) -> np.ndarray:
    """The cells (steps + 1, 2) visited by moving each step to the best-valued neighbour (or staying)."""
    rows, cols = values.shape
    path = [tuple(int(i) for i in start)]
    for _ in range(steps):
        i, j = path[-1]
        options = [
            (i + di, j + dj)
            for di, dj in _MOVES
            if 0 <= i + di < rows and 0 <= j + dj < cols and values[i + di, j + dj] > -np.inf
        ]
        path.append(max(options, key=lambda c: values[c]))
    return np.asarray(path)


def _nearest_visited(visited: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """The visited cell nearest `cell` (itself when visited): a start may lie just off the data."""
    cells = np.argwhere(visited)
    return cells[np.argmin(np.sum((cells - cell) ** 2, axis=-1))]


def steps_to_goal(
    positions: np.ndarray,
    rewards: np.ndarray,
    *,
    start_xy: np.ndarray,
    goal_xy: np.ndarray,
    goal_tolerance: float,
    discount: float,
    step_length: float,
    max_steps: int,
) -> float:
    """Steps the implied reward's optimal policy takes from start_xy to within goal_tolerance of goal_xy on the
    grid MDP of these dataset positions; nan when its greedy path does not get there in max_steps."""
    grid = navigation_grid(positions, step_length)
    mean_rewards, visited = cell_rewards(grid, positions, rewards)
    values = optimal_values(mean_rewards, visited, discount)
    path = greedy_path(values, _nearest_visited(visited, grid.index(start_xy)), max_steps)
    reached = np.nonzero(np.linalg.norm(grid.centre(path) - np.asarray(goal_xy), axis=-1) <= goal_tolerance)[0]
    return float(reached[0]) if len(reached) else float("nan")
