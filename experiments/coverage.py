"""How much of a body's state space exploration datasets reach: occupied cells of a grid over two physical
quantities, per ExoRL-format folder, compared in one table.

    python -m experiments.coverage --env=dmc-walker --dataset_dirs=data/walker_rnd,data/walker_random

Walker: torso height (m, qpos rootz offset by the torso's rest height) × horizontal velocity (m/s, rootx's);
point mass: the mass's x × y position in the arena. The cells are fixed per body, so folders (and papers'
datasets in the same format) compare directly; every step counts, the reset's included.
"""

import dataclasses
from pathlib import Path

import numpy as np
from absl import app, flags

from experiments.runs import load_exorl

flags.DEFINE_string("env", "dmc-walker", "JAX env the episodes are of: one of dmc-walker, dmc-point_mass.")
flags.DEFINE_list("dataset_dirs", None, "Folders of ExoRL-format episodes to compare (experiments.collect's).")
FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Grid:
    """Two quantities of a state (from its qpos and qvel) and the cells they are counted in."""

    names: tuple[str, str]
    low: tuple[float, float]
    high: tuple[float, float]
    cells: tuple[int, int]
    quantities: object  # (qpos (N, nq), qvel (N, nv)) -> (N, 2)


WALKER_REST_HEIGHT = 1.3  # the torso's height above rootz = 0 in dm_control's walker.xml
GRIDS = {
    "dmc-walker": Grid(
        ("torso height", "horizontal velocity"),
        (0.0, -8.0),
        (1.6, 8.0),
        (16, 32),
        lambda qpos, qvel: np.stack([qpos[:, 0] + WALKER_REST_HEIGHT, qvel[:, 1]], 1),
    ),
    "dmc-point_mass": Grid(
        ("x", "y"), (-0.3, -0.3), (0.3, 0.3), (30, 30), lambda qpos, qvel: np.stack([qpos[:, 0], qpos[:, 1]], 1)
    ),
}


def occupied_cells(grid: Grid, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    """(cells[0], cells[1]) visit counts of the states; values outside the grid count in its edge cells."""
    values = grid.quantities(qpos, qvel)
    low, high, cells = (np.asarray(v, np.float64) for v in (grid.low, grid.high, grid.cells))
    index = np.clip(np.floor((values - low) / (high - low) * cells), 0, cells - 1).astype(int)
    counts = np.zeros(grid.cells, np.int64)
    np.add.at(counts, (index[:, 0], index[:, 1]), 1)
    return counts


def coverage(env_id: str, folder: str | Path) -> dict:
    """A folder's steps, occupied cells and their fraction of the grid."""
    grid = GRIDS[env_id]
    data = load_exorl(Path(folder), env_id)
    counts = occupied_cells(grid, data["qpos"], data["qvel"])
    occupied = int((counts > 0).sum())
    return {"folder": str(folder), "steps": len(data["qpos"]), "occupied": occupied, "fraction": occupied / counts.size}


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.env not in GRIDS:
        raise app.UsageError(f"--env={FLAGS.env}: accepted values: {', '.join(GRIDS)}")
    if not FLAGS.dataset_dirs:
        raise app.UsageError("--dataset_dirs: give one or more folders of episodes")
    grid = GRIDS[FLAGS.env]
    print(
        f"{FLAGS.env}: {grid.names[0]} [{grid.low[0]}, {grid.high[0]}] × {grid.names[1]} "
        f"[{grid.low[1]}, {grid.high[1]}], {grid.cells[0]} × {grid.cells[1]} cells"
    )
    for folder in FLAGS.dataset_dirs:
        row = coverage(FLAGS.env, folder)
        print(f"{row['folder']:<40} {row['steps']:>9} steps {row['occupied']:>5} cells ({row['fraction']:.1%})")


if __name__ == "__main__":
    app.run(main)
