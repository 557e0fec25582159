"""Reading and writing OGBench's npz dataset files, validated so a bad file fails loudly before training."""

import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import ogbench.utils

from envs.ogbench_common import DatasetError, DatasetSpec, dataset_spec, find_spec

PathLike = str | os.PathLike
DEFAULT_DATASET_DIR = Path(os.path.expanduser(ogbench.utils.DEFAULT_DATASET_DIR))
REQUIRED_KEYS = ("observations", "actions", "terminals", "qpos", "qvel")
METADATA_KEY = "metadata"
# Ranks of the keys that are loaded: the required ones plus the optional `button_states` (manipulation).
# Observations are (N, obs_dim) states or, in `visual-` datasets, (N, 64, 64, 3) uint8 frames.
_NDIMS = {"observations": (2, 4), "actions": 2, "terminals": 1, "qpos": 2, "qvel": 2, "button_states": 2}
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


def dataset_path(dataset_name: str, dataset_dir: PathLike | None = None, split: str = "train") -> Path:
    """Where OGBench keeps a split: `<dir>/<name>.npz` for train and `<dir>/<name>-val.npz` for val."""
    dataset_spec(dataset_name)
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    directory = DEFAULT_DATASET_DIR if dataset_dir is None else Path(dataset_dir).expanduser()
    suffix = "" if split == "train" else "-val"
    return directory / f"{dataset_name}{suffix}.npz"


def load_dataset(path: PathLike) -> dict[str, np.ndarray]:
    """Episode-layout arrays of an OGBench npz file, validated before anything is returned."""
    path = Path(path).expanduser()
    arrays = _read_npz(path)
    _check_keys(path, arrays)
    _check_shapes(path, arrays, _spec_of_file(path))
    _check_finite(path, arrays)
    _check_terminals(path, arrays["terminals"])
    return _converted(arrays)


def dataset_metadata(path: PathLike) -> dict | None:
    """What produced a file (generator settings, ogbench version), or None for files without that record."""
    with np.load(Path(path).expanduser(), allow_pickle=False) as archive:
        if METADATA_KEY not in archive.files:
            return None
        return json.loads(str(archive[METADATA_KEY]))


def write_npz_files(files: dict[Path, dict[str, np.ndarray]]) -> None:
    """Writes to temporary names and renames only once all files are complete, so none looks whole early."""
    temporaries = {path: path.with_name(f".{path.name}.{os.getpid()}.tmp") for path in files}
    try:
        for path, arrays in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_npz(temporaries[path], arrays)
        for path, temporary in temporaries.items():
            os.replace(temporary, path)
    finally:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Compressed npz written through a file object (so numpy keeps the name) and flushed to disk."""
    with open(path, "wb") as file:
        np.savez_compressed(file, **arrays)
        file.flush()
        os.fsync(file.fileno())


def _spec_of_file(path: Path) -> DatasetSpec | None:
    """The spec named by a file such as `<name>.npz` or `<name>-val.npz`, None for other names."""
    return find_spec(path.name.removesuffix(".npz").removesuffix("-val"))


def _missing_file_message(path: Path) -> str:
    """Explains a missing file and, for datasets this library generates, the command that creates it."""
    spec = _spec_of_file(path)
    if spec is None:
        return f"{path}: dataset file not found"
    if spec.needs_expert:
        return (
            f"{path}: dataset file not found; put OGBench's official file there, or train the ant expert "
            f"(`python -m experiments.train_expert`) and generate it with "
            f"`python -m experiments.collect --env={spec.name} --out={path.parent}`"
        )
    return (
        f"{path}: dataset file not found; generate it with "
        f"`python -m experiments.collect --env={spec.name} --out={path.parent}`"
    )


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The known arrays of an npz archive, turning unreadable files or members into DatasetError."""
    if not path.is_file():
        raise DatasetError(_missing_file_message(path))
    expected = ", ".join(REQUIRED_KEYS)
    try:
        archive = np.load(path, allow_pickle=False)
    except _READ_ERRORS as error:
        raise DatasetError(
            f"{path}: not a readable npz archive with keys {expected} (truncated or corrupt?): {error!r}"
        ) from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetError(f"{path}: expected an npz archive with keys {expected}, found a single array")
    with archive:
        return {key: _read_member(path, archive, key) for key in archive.files if key in _NDIMS}


def _read_member(path: Path, archive: np.lib.npyio.NpzFile, key: str) -> np.ndarray:
    """One array of the archive; a corrupt member is reported by its key."""
    try:
        return archive[key]
    except _READ_ERRORS as error:
        raise DatasetError(f"{path}: key '{key}' cannot be read (corrupt member): {error!r}") from error


def _check_keys(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Every required key must be present."""
    for key in REQUIRED_KEYS:
        if key not in arrays:
            raise DatasetError(
                f"{path}: missing required key '{key}'; expected keys {', '.join(REQUIRED_KEYS)}, "
                f"found {', '.join(sorted(arrays)) or 'none'}"
            )


def _check_shapes(path: Path, arrays: dict[str, np.ndarray], spec: DatasetSpec | None) -> None:
    """Ranks, a common first dimension and, for known datasets, the observation and action sizes."""
    for key, array in arrays.items():
        ranks = _NDIMS[key] if isinstance(_NDIMS[key], tuple) else (_NDIMS[key],)
        if array.ndim not in ranks:
            expected = " or ".join(map(str, ranks))
            raise DatasetError(f"{path}: key '{key}' has shape {array.shape}; expected {expected} dims")
    length = arrays["observations"].shape[0]
    for key, array in arrays.items():
        if array.shape[0] != length:
            raise DatasetError(
                f"{path}: key '{key}' has {array.shape[0]} rows but 'observations' has {length}; "
                "expected the same first dimension"
            )
    if length == 0:
        raise DatasetError(f"{path}: key 'observations' is empty; expected at least one episode")
    if spec is not None:
        _check_trailing_shape(path, arrays, "observations", spec.obs_shape)
        _check_trailing_shape(path, arrays, "actions", (spec.action_dim,))
        if spec.visual and arrays["observations"].dtype != np.uint8:
            raise DatasetError(
                f"{path}: key 'observations' has dtype {arrays['observations'].dtype}; expected uint8 frames"
            )


def _check_trailing_shape(path: Path, arrays: dict[str, np.ndarray], key: str, expected: tuple[int, ...]) -> None:
    """The per-step shape of a key must match its environment."""
    if arrays[key].shape[1:] != expected:
        raise DatasetError(
            f"{path}: key '{key}' has shape {arrays[key].shape}; expected (N, {', '.join(map(str, expected))}) "
            "for this dataset"
        )


def _check_finite(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Float arrays must not hold NaN or inf, which would silently poison training."""
    for key, array in arrays.items():
        if np.issubdtype(array.dtype, np.floating):
            bad_rows = np.flatnonzero(~np.isfinite(array).reshape(len(array), -1).all(axis=1))
            if bad_rows.size:
                raise DatasetError(
                    f"{path}: key '{key}' has NaN or inf in {bad_rows.size} rows "
                    f"(first at row {bad_rows[0]}); expected finite values"
                )


def _check_terminals(path: Path, terminals: np.ndarray) -> None:
    """Terminals must be 0/1 flags and close the last episode."""
    if not np.isin(terminals, (0, 1)).all():
        raise DatasetError(f"{path}: key 'terminals' holds values other than 0/1; expected booleans")
    if not terminals[-1]:
        raise DatasetError(f"{path}: key 'terminals' does not end with True; expected a closed last episode")


def _converted(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays in OGBench's dtypes (uint8 frames stay uint8: a quarter of float32's memory)."""
    visual = arrays["observations"].dtype == np.uint8
    return {key: array.astype(storage_dtype(key, visual), copy=False) for key, array in arrays.items()}


def storage_dtype(key: str, visual: bool = False) -> type:
    """OGBench's dtype of a key: bool for terminals, int64 for button states, uint8 for the frames of
    visual datasets, float32 for everything else."""
    if key == "observations" and visual:
        return np.uint8
    return {"terminals": bool, "button_states": np.int64}.get(key, np.float32)
