"""Offline datasets kept in host memory, for those too large for the device (pixel datasets).

Batches are drawn with numpy on the host, one chunk at a time, and handed to the jitted chunk as its
input; a background thread draws and transfers the next chunk's batches while the current chunk runs.
With frame stacking, each transition travels as its k + 1 frames t − k + 1 … t + 1, once, and s and s' are
stacked from them on the device: 4 frames instead of 6 for k = 3, and the strided stacking copy (the
host's slowest step) runs on the device. On an H200 two host-stacked frame stacks fed 12.6 pixel
updates/s, these windows 162.8. With `horizon` n > 1 (n-step targets) the window runs on to t + n, cut at the
episode's last frame, and the device stacks s_{t+1} … s_{t+n} from it as well.
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

from tdjepa.data import Batch, concat_frames, episode_ends, episode_starts, frame_window, transition_indices
from tdjepa.state import AgentState


@flax.struct.dataclass
class ChunkBatches:
    """The batches of one chunk on the device, on a leading update axis: a DataSource whose update
    `index` reads batch `index`. `windows` holds each transition's observations t − k + 1 … t + n
    (k = frame_stack, n = horizon; for states and n = 1: s and s'), the frames past the episode's last
    one repeating it; `future_steps` (horizon > 1 only) how many of s_{t+1} … s_{t+n} lie inside it."""

    windows: jnp.ndarray  # (updates, batch, k + n, *observation shape)
    actions: jnp.ndarray  # (updates, batch, action_dim)
    future_steps: jnp.ndarray | None  # (updates, batch), or None when horizon = 1
    frame_stack: int = flax.struct.field(pytree_node=False)
    horizon: int = flax.struct.field(pytree_node=False, default=1)

    def batch(self, windows: jnp.ndarray, actions: jnp.ndarray, future_steps: jnp.ndarray | None = None) -> Batch:
        """The transitions of (batch, k + n, ...) windows, s, s' and s_{t+1} … s_{t+n} frame-stacked as the
        device data does."""
        k, n = self.frame_stack, self.horizon
        stack = concat_frames if k > 1 else lambda frames: frames[:, 0]
        batch = Batch(
            observations=stack(windows[:, :k]),
            actions=actions,
            next_observations=stack(windows[:, 1 : k + 1]),
            discount=jnp.ones(len(actions), jnp.float32),
        )
        if n == 1:
            return batch
        # s_{t+j} for j ≤ m (= future_steps), and s_{t+m} again past the episode's end, as the device data.
        offsets = jnp.minimum(jnp.arange(1, n + 1), future_steps[:, None])[..., None] + jnp.arange(k)
        frames = jax.vmap(lambda window, at: window[at])(windows, offsets)  # (batch, n, k, ...)
        future = stack(frames.reshape(-1, *frames.shape[2:]))
        return batch.replace(
            future_observations=future.reshape(len(actions), n, *future.shape[1:]), future_steps=future_steps
        )

    @property
    def batches(self) -> Batch:
        """Every update's batch, on the leading axis (for inspection; training reads them one by one)."""
        return jax.vmap(self.batch)(self.windows, self.actions, self.future_steps)

    updates_per_round = 0  # collects nothing

    def collect(self, source_state: Any, agent: AgentState, key: jax.Array) -> tuple[Any, dict]:
        return source_state, {}

    def sample(self, source_state: Any, agent: AgentState, key: jax.Array, index: jnp.ndarray) -> tuple[Any, Batch]:
        steps = None if self.future_steps is None else self.future_steps[index]
        return source_state, self.batch(self.windows[index], self.actions[index], steps)


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
        horizon: int = 1,
    ):
        self.valid = transition_indices(terminals)
        if self.valid.size == 0:
            raise ValueError("the dataset holds no transition: every episode has a single step")
        self.observations, self.actions = observations, actions
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self.starts, self.ends = episode_starts(terminals), episode_ends(terminals)
        self.batch_size, self.seed, self.frame_stack, self.sharding = batch_size, seed, frame_stack, sharding
        self.horizon = horizon
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
        last = self.ends[index]
        frames = np.minimum(frame_window(self.starts, index, self.frame_stack - 1, self.horizon), last[:, None])
        windows = self.observations[frames]
        shape = (num_updates, self.batch_size)
        steps = np.minimum(self.horizon, last - index).reshape(shape) if self.horizon > 1 else None
        arrays = (windows.reshape(*shape, *windows.shape[1:]), self.actions[index].reshape(*shape, -1), steps)
        placed = jax.device_put(arrays, self.sharding)
        return ChunkBatches(*placed, frame_stack=self.frame_stack, horizon=self.horizon)

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
        chunk = self.draw(0, 1)
        steps = None if chunk.future_steps is None else chunk.future_steps[0, :size]
        return chunk.batch(chunk.windows[0, :size], chunk.actions[0, :size], steps)
