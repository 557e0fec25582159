"""Offline datasets resident on the device, sampled with jax.random inside jit.

Episodes are stored whole (every observation, the last one included, as OGBench does). A transition
index t is valid when t is not the last step of its episode, so (s_t, a_t, s_{t+1}) never crosses an
episode end. Episode ends are not terminations: agents bootstrap through them.

With `horizon` n > 1 a batch also holds s_{t+1} … s_{t+n} for n-step TD targets, cut at the episode's
last step (the count of steps kept is `future_steps`).

Pixel datasets keep single uint8 frames; with `frame_stack` = k the observation at t is frames
t−k+1 … t of its episode (the first frame repeated before the episode starts), stacked on channels.
"""

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np


@flax.struct.dataclass
class Batch:
    """A batch of transitions; `discount` is 1 unless the environment truly terminated.

    Multi-step batches add `future_observations` (B, n, ...): s_{t+1} … s_{t+n}, the last one repeated
    past the episode's end, and `future_steps` (B,): how many of them lie inside the episode (1 … n).
    `extras` carries what a source stores beside the transition (online: the next state's physics, the
    rollout's z, the truncation flag); agents that do not read a field ignore it."""

    observations: jnp.ndarray
    actions: jnp.ndarray
    next_observations: jnp.ndarray
    discount: jnp.ndarray
    future_observations: jnp.ndarray | None = None
    future_steps: jnp.ndarray | None = None
    extras: dict = flax.struct.field(default_factory=dict)


@flax.struct.dataclass
class OfflineData:
    """Episode-layout arrays plus the indices of the transitions that stay inside one episode."""

    observations: jnp.ndarray
    actions: jnp.ndarray
    valid_indices: jnp.ndarray
    episode_starts: jnp.ndarray  # index of the first step of each step's episode
    episode_ends: jnp.ndarray  # index of the last step of each step's episode
    frame_stack: int = flax.struct.field(pytree_node=False, default=1)

    @property
    def num_transitions(self) -> int:
        return int(self.valid_indices.shape[0])


def transition_indices(terminals: np.ndarray) -> np.ndarray:
    """Indices t whose successor t+1 belongs to the same episode (terminals mark episode ends)."""
    terminals = np.asarray(terminals, dtype=bool)
    return np.flatnonzero(~terminals[:-1]).astype(np.int32)


def episode_starts(terminals: np.ndarray) -> np.ndarray:
    """For every step, the index of the first step of its episode."""
    terminals = np.asarray(terminals, dtype=bool)
    first = np.concatenate([[True], terminals[:-1]])
    return np.maximum.accumulate(np.where(first, np.arange(len(terminals)), 0)).astype(np.int32)


def episode_ends(terminals: np.ndarray) -> np.ndarray:
    """For every step, the index of the last step of its episode (the dataset's end closes the last one)."""
    terminals = np.asarray(terminals, dtype=bool).copy()
    terminals[-1] = True
    last = np.where(terminals, np.arange(len(terminals)), len(terminals))
    return np.minimum.accumulate(last[::-1])[::-1].astype(np.int32)


def stacked_observations(observations, starts, indices, frame_stack: int):
    """Observations at `indices` (numpy or jax arrays); with frame_stack k > 1, frames t−k+1 … t of each
    index's episode concatenated on the last (channel) axis, oldest first."""
    if frame_stack == 1:
        return observations[indices]
    return concat_frames(observations[frame_window(starts, indices, frame_stack - 1, 0)])


def frame_window(starts, indices, before: int, after: int):
    """(B, before + 1 + after) frame indices t − before … t + after of each index t, never before its
    episode's start (the first frame repeats); the caller keeps t + after inside the episode."""
    frames = indices[:, None] + np.arange(-before, after + 1)
    return frames + (starts[indices][:, None] - frames).clip(min=0)


def concat_frames(frames):
    """(..., k, H, W, C) frames, oldest first, concatenated on the channel axis: (..., H, W, k·C)."""
    axis = frames.ndim - 4  # the frame axis, moved between W and C
    stacked = frames.transpose(*range(axis), *range(axis + 1, frames.ndim - 1), axis, frames.ndim - 1)
    return stacked.reshape(*stacked.shape[:-2], -1)


def make_offline_data(
    observations: np.ndarray, actions: np.ndarray, terminals: np.ndarray, frame_stack: int = 1
) -> OfflineData:
    """Builds the device-resident dataset from OGBench-style episode arrays (uint8 frames stay uint8)."""
    indices = transition_indices(terminals)
    if indices.size == 0:
        raise ValueError("the dataset holds no transition: every episode has a single step")
    if frame_stack < 1:
        raise ValueError(f"frame_stack must be >= 1, got {frame_stack}")
    return OfflineData(
        observations=jnp.asarray(observations),
        actions=jnp.asarray(actions),
        valid_indices=jnp.asarray(indices),
        episode_starts=jnp.asarray(episode_starts(terminals)),
        episode_ends=jnp.asarray(episode_ends(terminals)),
        frame_stack=frame_stack,
    )


def gather_batch(data: OfflineData, indices: jnp.ndarray, horizon: int = 1) -> Batch:
    """Transitions at the given valid time indices (s_{t+1} is in the same episode as s_t); with
    horizon n > 1 also s_{t+1} … s_{t+n}, cut at the episode's last step."""

    def observations_at(at: jnp.ndarray) -> jnp.ndarray:
        return stacked_observations(data.observations, data.episode_starts, at, data.frame_stack)

    batch = Batch(
        observations=observations_at(indices),
        actions=data.actions[indices],
        next_observations=observations_at(indices + 1),
        discount=jnp.ones(indices.shape, jnp.float32),
    )
    if horizon == 1:
        return batch
    last = data.episode_ends[indices]
    future = jnp.minimum(indices[:, None] + jnp.arange(1, horizon + 1), last[:, None])
    observations = observations_at(future.reshape(-1))
    return batch.replace(
        future_observations=observations.reshape(*future.shape, *observations.shape[1:]),
        future_steps=jnp.minimum(horizon, last - indices),
    )


def sample_batch(data: OfflineData, key: jax.Array, batch_size: int, horizon: int = 1) -> Batch:
    """Uniform transitions drawn with replacement, inside jit (with `horizon` future states each)."""
    choice = jax.random.randint(key, (batch_size,), 0, data.valid_indices.shape[0])
    return gather_batch(data, data.valid_indices[choice], horizon)
