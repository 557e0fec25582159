"""The walls of an OGBench maze in the x, y plane, for maps of values over the maze (rewards, values, visits)."""

import dataclasses

import numpy as np

from envs.ogbench_common import dataset_spec, pooled_envs


@dataclasses.dataclass(frozen=True)
class MazeLayout:
    """Maze cell (i, j) is the square of side `unit` centred at x = j·unit − offset_x, y = i·unit − offset_y
    (OGBench's `ij_to_xy`); `walls[i, j]` is true where it is a wall."""

    walls: np.ndarray
    unit: float
    offset_x: float
    offset_y: float

    def extent(self) -> tuple[float, float, float, float]:
        """(left, right, bottom, top) of the whole map in x, y: matplotlib's `imshow(..., extent=...)`."""
        rows, cols = self.walls.shape
        left, bottom = -self.offset_x - self.unit / 2, -self.offset_y - self.unit / 2
        return left, left + cols * self.unit, bottom, bottom + rows * self.unit

    def grid(self, per_cell: int) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 2) x, y points at the centres of a per_cell × per_cell grid in every cell (rows go up in y),
        and the (H, W) mask of those in free cells."""
        left, right, bottom, top = self.extent()
        step = self.unit / per_cell
        xs = np.arange(left + step / 2, right, step)
        ys = np.arange(bottom + step / 2, top, step)
        points = np.stack(np.meshgrid(xs, ys), axis=-1)
        free = ~self.walls.repeat(per_cell, axis=0).repeat(per_cell, axis=1)
        return points.astype(np.float32), free


def maze_layout(dataset_name: str) -> MazeLayout:
    """The layout of a point or ant maze dataset's env (an error names the dataset if it is not a maze)."""
    if dataset_spec(dataset_name).family not in ("pointmaze", "antmaze"):
        raise ValueError(f"{dataset_name} is not a point or ant maze; maze_layout has no walls to give")
    maze = pooled_envs(dataset_name, 1)[0].unwrapped
    return MazeLayout(maze.maze_map == 1, float(maze._maze_unit), float(maze._offset_x), float(maze._offset_y))
