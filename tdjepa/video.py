"""Videos of episodes: files, mp4 (H.264) or GIF by the suffix, and inline in notebooks.

Written with mediapy; the ffmpeg it calls is the static binary the `imageio-ffmpeg` wheel ships, so no
system ffmpeg is needed on a fresh machine or in Colab.
"""

import os
from pathlib import Path

import imageio_ffmpeg
import mediapy
import numpy as np

SUFFIXES = (".mp4", ".gif")


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float = 30.0) -> Path:
    """Writes (T, H, W, 3) uint8 frames to `path` (.mp4 or .gif) under a temporary name, then renames it, so
    an interrupted write never leaves a truncated video under the final name."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ValueError(f"{path}: a video's suffix must be one of {SUFFIXES}")
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        got = f"{frames.dtype} {frames.shape}"
        raise ValueError(f"{path}: frames must be a non-empty (T, H, W, 3) uint8 array; got {got}")
    if path.suffix == ".mp4" and (frames.shape[1] % 2 or frames.shape[2] % 2):
        raise ValueError(f"{path}: H.264 needs an even height and width; got {frames.shape[1]}x{frames.shape[2]}")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    _use_bundled_ffmpeg()
    if path.suffix == ".gif":
        mediapy.write_video(partial, frames, fps=fps, codec="gif")
    else:
        mediapy.write_video(partial, frames, fps=fps)
    os.replace(partial, path)
    return path


def show_video(frames: np.ndarray, fps: float = 30.0) -> None:
    """Shows (T, H, W, 3) frames as a video in a notebook (Jupyter, Colab)."""
    _use_bundled_ffmpeg()
    mediapy.show_video(frames, fps=fps)


def read_video(path: str | os.PathLike) -> np.ndarray:
    """The (T, H, W, 3) uint8 frames of a video file, with mediapy's `.metadata` (fps, shape)."""
    _use_bundled_ffmpeg()
    return mediapy.read_video(path)


def _use_bundled_ffmpeg() -> None:
    mediapy.set_ffmpeg(imageio_ffmpeg.get_ffmpeg_exe())
