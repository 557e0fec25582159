"""Runs over several processes (hosts): every process runs the same program on a mesh over every process's
devices (JAX's multi-controller model); arrays split over the mesh live partly on each host.

Each process builds the same initial state from the same seeds and places it on the global mesh, so nothing
but the collectives inside the jitted chunks crosses hosts. On CPU the collectives are gloo's (JAX's default).
"""

from typing import Any

import jax
from jax.experimental import multihost_utils


def initialize(coordinator_address: str | None, num_processes: int | None, process_id: int | None) -> None:
    """Joins the run's processes: from the arguments given, the rest from the cluster's environment (SLURM,
    Open MPI, Kubernetes, Cloud TPU), as `jax.distributed.initialize` finds them."""
    jax.distributed.initialize(
        coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id
    )


def is_primary() -> bool:
    """Whether this process writes the run's files (logs, results) and prints."""
    return jax.process_index() == 0


def host_copy(tree: Any) -> Any:
    """The whole value of every array in `tree` on this host (with several processes, split arrays are
    gathered from every host; with one, the tree itself)."""
    if jax.process_count() == 1:
        return tree
    return multihost_utils.process_allgather(tree, tiled=True)


def barrier(name: str) -> None:
    """Waits until every process reaches the barrier called `name` (no-op with one process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)
