"""Jitted training chunks: K updates per compiled call with lax.scan, vmappable over seeds and
shardable over a device mesh.

A chunk draws its batches from a data source inside the compiled call. Offline sources ignore the
agent state and carry nothing; an online source (vmapped environments feeding an on-device replay
buffer) carries its environment and buffer state in `source_state` and may act with the agent. Host
sources (`tdjepa.host_data`) hand each chunk its batches, drawn outside jit, as the source itself.
"""

from collections.abc import Callable
from typing import Any, Protocol

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from tdjepa.data import Batch, OfflineData, sample_batch
from tdjepa.state import AgentState


@flax.struct.dataclass
class RunnerState:
    """Everything a run carries between chunks: the agent, the data source's state and the RNG key."""

    agent: AgentState
    source_state: Any
    key: jax.Array


class DataSource(Protocol):
    """Produces one batch per update inside jit; `index` is the update's position in its chunk.

    A source with `updates_per_round` > 0 also collects data: a chunk then runs rounds of one `collect` (which
    may act with the agent and returns metrics) followed by `updates_per_round` updates."""

    updates_per_round: int

    def collect(self, source_state: Any, agent: AgentState, key: jax.Array) -> tuple[Any, dict]: ...

    def sample(self, source_state: Any, agent: AgentState, key: jax.Array, index: jnp.ndarray) -> tuple[Any, Batch]: ...

    def for_chunk(self, step: int, num_updates: int) -> "DataSource":
        """The source the chunk of updates step … step + num_updates − 1 runs with (device sources: itself)."""
        ...


@flax.struct.dataclass
class OfflineSource:
    """Uniform batches from a device-resident offline dataset; carries no state. `horizon` n > 1 adds the
    next n states of each transition, for n-step targets."""

    data: OfflineData
    batch_size: int = flax.struct.field(pytree_node=False)
    horizon: int = flax.struct.field(pytree_node=False, default=1)

    updates_per_round = 0  # collects nothing

    def collect(self, source_state: Any, agent: AgentState, key: jax.Array) -> tuple[Any, dict]:
        return source_state, {}

    def sample(self, source_state: Any, agent: AgentState, key: jax.Array, index: jnp.ndarray) -> tuple[Any, Batch]:
        return source_state, sample_batch(self.data, key, self.batch_size, self.horizon)

    def for_chunk(self, step: int, num_updates: int) -> "OfflineSource":
        return self


UpdateFn = Callable[[AgentState, Batch, jax.Array], tuple[AgentState, dict]]


def make_chunk(
    update: UpdateFn, num_updates: int, batch_sharding: NamedSharding | None = None, unroll: bool = False
) -> Callable[[RunnerState, DataSource], tuple[RunnerState, dict]]:
    """chunk(runner, source) runs `num_updates` updates and returns the metrics averaged over them.

    `unroll` compiles the updates one after another instead of as a loop: XLA:CPU runs convolution
    gradients inside a loop body ~30x slower (jax-ml/jax#12868; measured on the DrQ trunk). The updates
    are traced in a Python loop rather than by lax.scan(unroll=True), which keeps a one-update chunk a
    loop (unroll=True means unroll=length, and 1 is scan's default: 27 s per paper pixel update on CPU
    against 2.4 s unrolled)."""

    def step(runner: RunnerState, source: DataSource, index: jnp.ndarray) -> tuple[RunnerState, dict]:
        key, k_batch, k_update = jax.random.split(runner.key, 3)
        source_state, batch = source.sample(runner.source_state, runner.agent, k_batch, index)
        if batch_sharding is not None:
            batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
        agent, metrics = update(runner.agent, batch, k_update)
        return RunnerState(agent=agent, source_state=source_state, key=key), metrics

    def updates(runner: RunnerState, source: DataSource, count: int) -> tuple[RunnerState, dict]:
        return jax.lax.scan(lambda r, i: step(r, source, i), runner, jnp.arange(count))

    def collect_then_update(runner: RunnerState, source: DataSource, _) -> tuple[RunnerState, dict]:
        key, k_collect = jax.random.split(runner.key)
        source_state, collect_metrics = source.collect(runner.source_state, runner.agent, k_collect)
        runner = RunnerState(agent=runner.agent, source_state=source_state, key=key)
        runner, metrics = updates(runner, source, source.updates_per_round)
        return runner, metrics | jax.tree.map(
            lambda x: jnp.broadcast_to(x, (source.updates_per_round,)), collect_metrics
        )

    def chunk(runner: RunnerState, source: DataSource) -> tuple[RunnerState, dict]:
        if source.updates_per_round:
            if unroll or num_updates % source.updates_per_round:
                raise ValueError(
                    f"a collecting source runs rounds of {source.updates_per_round} updates in a loop; "
                    f"a chunk of {num_updates} updates{' unrolled' if unroll else ''} cannot hold them"
                )
            rounds = num_updates // source.updates_per_round
            runner, metrics = jax.lax.scan(lambda r, i: collect_then_update(r, source, i), runner, jnp.arange(rounds))
            metrics = jax.tree.map(lambda x: x.reshape(-1), metrics)
        elif unroll:
            per_update = []
            for index in range(num_updates):
                runner, metrics = step(runner, source, jnp.asarray(index, jnp.int32))
                per_update.append(metrics)
            metrics = jax.tree.map(lambda *values: jnp.stack(values), *per_update)
        else:
            runner, metrics = updates(runner, source, num_updates)
        return runner, jax.tree.map(jnp.mean, metrics)

    return chunk


def compile_chunk(
    update: UpdateFn,
    num_updates: int,
    num_seeds: int | None = None,
    mesh: Mesh | None = None,
    unroll: bool = False,
) -> Callable[[RunnerState, DataSource], tuple[RunnerState, dict]]:
    """The jitted chunk; vmapped over a leading seed axis of the runner when num_seeds is given.

    With a mesh, each batch is split over its 'data' axis and parameters stay replicated.
    """
    batch_sharding = NamedSharding(mesh, PartitionSpec("data")) if mesh is not None else None
    chunk = make_chunk(update, num_updates, batch_sharding, unroll)
    if num_seeds is not None:
        chunk = jax.vmap(chunk, in_axes=(0, None))
    return jax.jit(chunk, donate_argnums=0)


def init_runner(agent, seed: int, example_batch: Batch, source_state: Any = ()) -> RunnerState:
    """The runner of one seed: the agent initialised from `seed`, and the key its updates draw from."""
    k_init, k_run = jax.random.split(jax.random.PRNGKey(seed))
    return RunnerState(agent=agent.init(k_init, example_batch), source_state=source_state, key=k_run)


def init_runners(
    agent, seeds: list[int], example_batch: Batch, source_state: Callable[[int], Any] | None = None
) -> RunnerState:
    """Runners of several seeds stacked on a leading axis, for the vmapped chunk; `source_state(seed)` gives
    each seed's data-source state (online: its environments and replay buffer)."""
    runners = [init_runner(agent, s, example_batch, source_state(s) if source_state else ()) for s in seeds]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *runners)


def seed_slice(tree: Any, index: int) -> Any:
    """The tree of one seed from a seed-stacked tree."""
    return jax.tree.map(lambda x: x[index], tree)


def data_mesh(num_devices: int | None = None) -> Mesh:
    """A one-axis ('data') mesh over the first num_devices devices (all by default)."""
    devices = jax.devices()[: num_devices or len(jax.devices())]
    return Mesh(np.array(devices), ("data",))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Places every leaf fully replicated on the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))
