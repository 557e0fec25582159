"""npz files written whole or not at all: a temporary name in the same folder first, then renamed."""

import os
from pathlib import Path

import numpy as np


def write_npz(path: str | Path, arrays: dict[str, np.ndarray], compressed: bool = True) -> None:
    """Writes `arrays` to `path` (compressed by default); a crash leaves no partial file under its name."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            (np.savez_compressed if compressed else np.savez)(file, **arrays)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
