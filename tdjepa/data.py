"""Offline datasets resident on the device, sampled with jax.random inside jit.

Episodes are stored whole (every observation, the last one included, as OGBench does). A transition
index t is valid when t is not the last step of its episode, so (s_t, a_t, s_{t+1}) never crosses an
episode end. Episode ends are not terminations: agents bootstrap through them.
"""

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np


@flax.struct.dataclass
class Batch:
    """A batch of transitions; `discount` is 1 unless the environment truly terminated."""

    observations: jnp.ndarray
    actions: jnp.ndarray
    next_observations: jnp.ndarray
    discount: jnp.ndarray


@flax.struct.dataclass
class OfflineData:
    """Episode-layout arrays plus the indices of the transitions that stay inside one episode."""

    observations: jnp.ndarray
    actions: jnp.ndarray
    valid_indices: jnp.ndarray

    @property
    def num_transitions(self) -> int:
        return int(self.valid_indices.shape[0])


def transition_indices(terminals: np.ndarray) -> np.ndarray:
    """Indices t whose successor t+1 belongs to the same episode (terminals mark episode ends)."""
    terminals = np.asarray(terminals, dtype=bool)
    return np.flatnonzero(~terminals[:-1]).astype(np.int32)


def make_offline_data(observations: np.ndarray, actions: np.ndarray, terminals: np.ndarray) -> OfflineData:
    """Builds the device-resident dataset from OGBench-style episode arrays."""
    indices = transition_indices(terminals)
    if indices.size == 0:
        raise ValueError("the dataset holds no transition: every episode has a single step")
    return OfflineData(
        observations=jnp.asarray(observations),
        actions=jnp.asarray(actions),
        valid_indices=jnp.asarray(indices),
    )


def gather_batch(data: OfflineData, indices: jnp.ndarray) -> Batch:
    """Transitions at the given valid time indices."""
    return Batch(
        observations=data.observations[indices],
        actions=data.actions[indices],
        next_observations=data.observations[indices + 1],
        discount=jnp.ones(indices.shape, jnp.float32),
    )


def sample_batch(data: OfflineData, key: jax.Array, batch_size: int) -> Batch:
    """Uniform transitions drawn with replacement, inside jit."""
    choice = jax.random.randint(key, (batch_size,), 0, data.valid_indices.shape[0])
    return gather_batch(data, data.valid_indices[choice])
