"""ExoRL's dataset format: one npz per episode in a folder, as ExoRL's `<domain>/<explorer>/buffer/` holds them.

An episode file of T steps holds T + 1 entries per key (url_benchmark's replay layout):
- `observation` (T + 1, obs_dim) float32: the reset's observation, then one per step;
- `action` (T + 1, action_dim) float32: entry t is the action that led to observation t, so entry 0 is zeros;
- `physics` (T + 1, nq + nv [+ na]) float64: MuJoCo's state (qpos, qvel, act) after each entry's step;
- `reward` (T + 1, 1) and `discount` (T + 1, 1) float32: the explorer's, entry 0 being 0 and 1;
- optionally `pixels` (T + 1, 3, 64, 64) uint8, rendered frames (channels first, as ExoRL's `--save_rgb`).
Files are named `<timestamp>_<index>_<T>.npz`. `load_episodes` reads a folder of them (real ExoRL files or the
collector's) into the library's episode layout, where actions[t] is the action taken at observations[t]
(ExoRL's `action[t + 1]`, the reference's alignment) and each step keeps its physics for relabelling.
"""

from pathlib import Path

import numpy as np

from tdjepa.npz_files import write_npz

EPISODE_KEYS = ("observation", "action", "physics", "reward", "discount")


class ExorlError(ValueError):
    """An episode file or folder that cannot be used, naming the file and key."""


def episode_file_name(index: int, steps: int, timestamp: str = "20260101T000000") -> str:
    """ExoRL's name for the `index`-th episode of `steps` steps."""
    return f"{timestamp}_{index}_{steps}.npz"


def write_episode(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Writes one episode (the keys above) to `path`, compressed, under a temporary name first."""
    path = Path(path)
    missing = [key for key in EPISODE_KEYS if key not in arrays]
    if missing:
        raise ExorlError(f"{path}: episode lacks key(s) {', '.join(missing)}")
    write_npz(path, arrays)


def episode_files(folder: str | Path, num_episodes: int | None = None) -> list[Path]:
    """The folder's episode files in name order (the reference globs them unsorted, so its subset depends on
    the filesystem; sorted, the first `num_episodes` are the same everywhere)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ExorlError(f"{folder}: no such folder of ExoRL episode files")
    files = sorted(folder.glob("*.npz"), key=_episode_order)
    if not files:
        raise ExorlError(f"{folder}: holds no .npz episode file")
    return files if num_episodes is None else files[:num_episodes]


def _episode_order(path: Path) -> tuple:
    """Files by the episode index of their name (`<timestamp>_<index>_<T>`), others by name."""
    parts = path.stem.split("_")
    if len(parts) >= 3 and parts[-2].isdigit():
        return (parts[0], int(parts[-2]), path.name)
    return (path.stem, 0, path.name)


def read_episode(path: Path, obs_dim: int, action_dim: int, nq: int, nv: int, pixels: bool = False) -> dict:
    """One episode file's arrays, checked: every key present, T + 1 entries each, the body's sizes, finite."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        raise ExorlError(f"{path}: not an npz episode file ({error})") from error
    keys = EPISODE_KEYS + (("pixels",) if pixels else ())
    missing = [key for key in keys if key not in arrays]
    if missing:
        raise ExorlError(f"{path}: missing key(s) {', '.join(missing)}; an ExoRL episode holds {', '.join(keys)}")
    entries = len(arrays["observation"])
    if entries < 2:
        raise ExorlError(f"{path}: key 'observation' has {entries} entries; an episode needs at least 2")
    expected = {"observation": (obs_dim,), "action": (action_dim,), "reward": (1,), "discount": (1,)}
    for key, shape in expected.items():
        if arrays[key].shape != (entries, *shape):
            raise ExorlError(f"{path}: key {key!r} has shape {arrays[key].shape}, expected {(entries, *shape)}")
    physics = arrays["physics"]
    if physics.ndim != 2 or len(physics) != entries or physics.shape[1] < nq + nv:
        raise ExorlError(
            f"{path}: key 'physics' has shape {physics.shape}, expected ({entries}, >= {nq + nv}): qpos ({nq}), "
            f"qvel ({nv}) and the actuators' state"
        )
    if pixels and (arrays["pixels"].shape[0] != entries or arrays["pixels"].ndim != 4):
        raise ExorlError(f"{path}: key 'pixels' has shape {arrays['pixels'].shape}, expected ({entries}, 3, H, W)")
    for key in ("observation", "action", "physics"):
        if not np.all(np.isfinite(arrays[key])):
            raise ExorlError(f"{path}: key {key!r} holds NaN or infinite values")
    return arrays


def load_episodes(
    folder: str | Path,
    obs_dim: int,
    action_dim: int,
    nq: int,
    nv: int,
    num_episodes: int | None = None,
    pixels: bool = False,
) -> dict[str, np.ndarray]:
    """The first `num_episodes` episodes of an ExoRL folder in the library's episode layout: `observations`,
    `actions` (the one taken at each observation; zeros at an episode's last step), `terminals` (1 at each
    episode's last step), `qpos`, `qvel` (each step's physics) and, with `pixels`, `pixels` (HWC uint8)."""
    episodes = [read_episode(path, obs_dim, action_dim, nq, nv, pixels) for path in episode_files(folder, num_episodes)]
    columns: dict[str, list[np.ndarray]] = {"observations": [], "actions": [], "terminals": [], "qpos": [], "qvel": []}
    if pixels:
        columns["pixels"] = []
    for episode in episodes:
        entries = len(episode["observation"])
        columns["observations"].append(episode["observation"].astype(np.float32))
        actions = np.zeros_like(episode["action"], dtype=np.float32)
        actions[:-1] = episode["action"][1:]  # ExoRL: action[t] led to observation[t]
        columns["actions"].append(actions)
        terminals = np.zeros(entries, np.float32)
        terminals[-1] = 1.0
        columns["terminals"].append(terminals)
        columns["qpos"].append(episode["physics"][:, :nq].astype(np.float32))
        columns["qvel"].append(episode["physics"][:, nq : nq + nv].astype(np.float32))
        if pixels:
            columns["pixels"].append(np.transpose(episode["pixels"], (0, 2, 3, 1)))
    return {key: np.concatenate(value) for key, value in columns.items()}
