"""Offline datasets kept in host memory, for those too large for the device (pixel datasets).

Batches are drawn with numpy on the host, one chunk at a time, and handed to the jitted chunk as its
input; a background thread draws and transfers the next chunk's batches while the current chunk runs.
The batch of update u depends only on (seed, u), so a resumed run draws exactly what an uninterrupted one
would, however the updates are split into chunks.
"""

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Sharding

from tdjepa.data import Batch, episode_starts, stacked_observations, transition_indices
from tdjepa.state import AgentState


@flax.struct.dataclass
class ChunkBatches:
    """The batches of one chunk on the device, stacked on a leading update axis: a DataSource whose
    update `index` reads batch `index`."""

    batches: Batch

    def sample(self, source_state: Any, agent: AgentState, key: jax.Array, index: jnp.ndarray) -> tuple[Any, Batch]:
        return source_state, jax.tree.map(lambda x: x[index], self.batches)


class HostSampler:
    """Uniform in-episode transitions from host arrays, frame-stacked like the device-resident data."""

    def __init__(
        self,
        observations: np.ndarray,
        actions: np.ndarray,
        terminals: np.ndarray,
        batch_size: int,
        seed: int,
        frame_stack: int = 1,
        sharding: Sharding | None = None,
    ):
        self.valid = transition_indices(terminals)
        if self.valid.size == 0:
            raise ValueError("the dataset holds no transition: every episode has a single step")
        self.observations, self.actions = observations, actions
        self.starts = episode_starts(terminals)
        self.batch_size, self.seed, self.frame_stack, self.sharding = batch_size, seed, frame_stack, sharding
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="host-sampler")
        self._pending: dict[tuple[int, int], Future] = {}

    def indices(self, step: int, num_updates: int) -> np.ndarray:
        """(num_updates, batch_size) transition indices of updates step … step + num_updates − 1."""
        draws = [
            np.random.default_rng([self.seed, u]).integers(0, self.valid.size, self.batch_size)
            for u in range(step, step + num_updates)
        ]
        return self.valid[np.stack(draws)]

    def draw(self, step: int, num_updates: int) -> ChunkBatches:
        """The batches of updates step … step + num_updates − 1, placed on the device."""
        index = self.indices(step, num_updates).reshape(-1)

        def observations_at(at: np.ndarray) -> np.ndarray:
            stacked = stacked_observations(self.observations, self.starts, at, self.frame_stack)
            return stacked.reshape(num_updates, self.batch_size, *stacked.shape[1:])

        batches = Batch(
            observations=observations_at(index),
            actions=self.actions[index].reshape(num_updates, self.batch_size, -1),
            next_observations=observations_at(index + 1),
            discount=np.ones((num_updates, self.batch_size), np.float32),
        )
        return ChunkBatches(jax.device_put(batches, self.sharding))

    def for_chunk(self, step: int, num_updates: int) -> ChunkBatches:
        """This chunk's batches (drawn ahead when it was predicted), then starts drawing the next chunk's
        on the assumption that it has the same length."""
        pending = self._pending.pop((step, num_updates), None)
        batches = pending.result() if pending is not None else self.draw(step, num_updates)
        ahead = (step + num_updates, num_updates)
        self._pending = {ahead: self._pool.submit(self.draw, *ahead)}
        return batches

    def example_batch(self, size: int = 2) -> Batch:
        """A few transitions, to initialise networks with."""
        return jax.tree.map(lambda x: x[0, :size], self.draw(0, 1).batches)
