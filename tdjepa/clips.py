"""Demonstration clips: observation sequences of a body (with its physics), the unlabelled motions FB-CPR's
discriminator pulls policies towards and tracking prompts follow.

A clip file is an npz with
- `observations` (N, T, obs_dim) float32: N clips of up to T steps, as the body's env observes them;
- `qpos` (N, T, nq) and `qvel` (N, T, nv) float32: the physics of each step (rewards and renders need them);
- `lengths` (N,) int: the steps of each clip that are real (the rest pad its rows; optional, default T);
- `env` (a string): the env id the clips were recorded on, e.g. "dmc-walker";
- `names` (N,) strings: what each clip shows, e.g. "walker-walk/0" (optional, default its index).
Users can fill one from their own motions; `load_clips` refuses a file that lacks a key, has the wrong size
for the body, holds NaN or infinity, or has clips too short for a window, naming the file and the key.
"""

from pathlib import Path

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from tdjepa.npz_files import write_npz

KEYS = ("observations", "qpos", "qvel", "env")


class ClipError(ValueError):
    """A clip file that cannot be used, with the file and key at fault."""


@flax.struct.dataclass
class Clips:
    """Clips on the device: (N, T, ·) arrays and each clip's length."""

    observations: jnp.ndarray
    qpos: jnp.ndarray
    qvel: jnp.ndarray
    lengths: jnp.ndarray
    names: tuple[str, ...] = flax.struct.field(pytree_node=False, default=())


def save_clips(path: str | Path, env: str, observations, qpos, qvel, lengths=None, names=None) -> None:
    """Writes clips to `path` in the format above (a temporary name first, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    observations = np.asarray(observations, np.float32)
    lengths = np.full(len(observations), observations.shape[1]) if lengths is None else lengths
    arrays = {
        "observations": observations,
        "qpos": np.asarray(qpos, np.float32),
        "qvel": np.asarray(qvel, np.float32),
        "lengths": np.asarray(lengths, np.int32),
        "env": np.array(env),
        "names": np.array([str(i) for i in range(len(observations))] if names is None else list(names)),
    }
    write_npz(path, arrays)


def load_clips(path: str | Path, env: str, obs_dim: int, nq: int, nv: int, min_length: int = 2) -> Clips:
    """The clips of `path` for env `env` (observation size obs_dim, nq positions, nv velocities), each at least
    `min_length` steps long; a bad file raises ClipError naming it and the key."""
    path = Path(path)
    if not path.is_file():
        raise ClipError(f"{path}: no such clip file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        raise ClipError(f"{path}: not an npz clip file ({error})") from error
    missing = [key for key in KEYS if key not in arrays]
    if missing:
        raise ClipError(f"{path}: missing key(s) {', '.join(missing)}; a clip file holds {', '.join(KEYS)}")
    if str(arrays["env"]) != env:
        raise ClipError(f"{path}: key 'env' is {str(arrays['env'])!r}, but the run's env is {env!r}")
    observations = arrays["observations"]
    if observations.ndim != 3:
        raise ClipError(
            f"{path}: key 'observations' has shape {observations.shape}, expected (clips, steps, {obs_dim})"
        )
    n, steps = observations.shape[:2]
    for key, size in (("observations", obs_dim), ("qpos", nq), ("qvel", nv)):
        if arrays[key].shape != (n, steps, size):
            raise ClipError(f"{path}: key {key!r} has shape {arrays[key].shape}, expected {(n, steps, size)} for {env}")
    lengths = arrays.get("lengths", np.full(n, steps))
    if lengths.shape != (n,) or np.any(lengths > steps) or np.any(lengths < min_length):
        raise ClipError(
            f"{path}: key 'lengths' must give each of the {n} clips {min_length} to {steps} steps, got {lengths}"
        )
    if "names" in arrays and arrays["names"].shape != (n,):
        raise ClipError(f"{path}: key 'names' has shape {arrays['names'].shape}, expected ({n},): one per clip")
    for key in ("observations", "qpos", "qvel"):
        valid = np.arange(steps)[None, :] < lengths[:, None]
        if not np.all(np.isfinite(arrays[key][valid])):
            raise ClipError(f"{path}: key {key!r} holds NaN or infinite values")
    return Clips(
        observations=jnp.asarray(observations, jnp.float32),
        qpos=jnp.asarray(arrays["qpos"], jnp.float32),
        qvel=jnp.asarray(arrays["qvel"], jnp.float32),
        lengths=jnp.asarray(lengths, jnp.int32),
        names=tuple(str(name) for name in arrays.get("names", np.arange(n))),
    )


def tracking_priorities(errors: jnp.ndarray) -> jnp.ndarray:
    """Clip sampling weights from each clip's tracking error, Meta Motivo's rule (reference notes §2.3): the
    error clamped to [0.5, 5] and doubled, clips binned by its floor, each clip weighted 1/|its bin|, so every
    level of error is drawn equally often and the few clips still tracked badly are drawn more per clip."""
    levels = jnp.floor(2.0 * jnp.clip(errors, 0.5, 5.0))
    return 1.0 / (levels[:, None] == levels[None, :]).sum(1)


def sample_windows(
    clips: Clips, key: jax.Array, num_windows: int, length: int, weights: jnp.ndarray | None = None
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(observations, next observations) of `num_windows` windows of `length` consecutive steps, rows grouped
    by window, shape (num_windows·length, obs_dim): clip i drawn with probability ∝ weights[i] (uniform by
    default), start uniform among those whose window and successor fit in the clip."""
    k_clip, k_start = jax.random.split(key)
    n = clips.lengths.shape[0]
    p = None if weights is None else weights / weights.sum()
    clip = jax.random.choice(k_clip, n, (num_windows,), p=p)
    starts = jax.random.randint(k_start, (num_windows,), 0, clips.lengths[clip] - length)
    steps = starts[:, None] + jnp.arange(length + 1)[None, :]  # the window and one step past it
    frames = clips.observations[clip[:, None], steps]  # (windows, length + 1, obs_dim)
    obs_dim = frames.shape[-1]
    return frames[:, :-1].reshape(-1, obs_dim), frames[:, 1:].reshape(-1, obs_dim)
