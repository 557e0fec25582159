"""Clip files: written and read back, windows of consecutive steps inside each clip's length, and malformed
files refused naming the file and the key."""

import jax
import numpy as np
import pytest

from tdjepa.clips import ClipError, load_clips, sample_windows, save_clips

OBS, NQ, NV = 3, 2, 2


def clip_arrays(n: int = 2, steps: int = 12):
    """Observation j of clip i is (i, j, 0): windows show where they came from."""
    obs = np.zeros((n, steps, OBS), np.float32)
    obs[..., 0] = np.arange(n)[:, None]
    obs[..., 1] = np.arange(steps)[None, :]
    return obs, np.ones((n, steps, NQ)), np.ones((n, steps, NV))


def test_windows_are_consecutive_steps_inside_each_clip_and_its_length(tmp_path):
    obs, qpos, qvel = clip_arrays()
    obs[1, 6:] = np.nan  # padding past clip 1's length
    save_clips(tmp_path / "c.npz", "dmc-walker", obs, qpos, qvel, lengths=[12, 6])
    clips = load_clips(tmp_path / "c.npz", "dmc-walker", OBS, NQ, NV, min_length=5)
    window, next_window = sample_windows(clips, jax.random.PRNGKey(0), 500, 4)
    window, next_window = np.asarray(window).reshape(500, 4, OBS), np.asarray(next_window).reshape(500, 4, OBS)
    assert np.all(np.isfinite(next_window))
    assert np.all(window[:, :, 0] == window[:, :1, 0])  # one clip per window
    np.testing.assert_array_equal(np.diff(window[:, :, 1], axis=1), 1)
    np.testing.assert_array_equal(next_window[:, :, 1], window[:, :, 1] + 1)
    assert set(np.unique(window[:, 0, 0])) == {0.0, 1.0}
    # Weights choose the clips.
    only_first, _ = sample_windows(clips, jax.random.PRNGKey(1), 100, 4, weights=np.array([1.0, 0.0]))
    assert np.all(np.asarray(only_first)[:, 0] == 0)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("qvel"), "missing key(s) qvel"),
        (lambda a: a.update(observations=a["observations"][..., :2]), "key 'observations' has shape (2, 12, 2)"),
        (lambda a: a.update(qpos=np.ones((2, 12, 5))), "key 'qpos' has shape (2, 12, 5), expected (2, 12, 2)"),
        (lambda a: a["qvel"].__setitem__((0, 3, 1), np.nan), "key 'qvel' holds NaN"),
        (lambda a: a.update(env=np.array("dmc-cheetah")), "key 'env' is 'dmc-cheetah'"),
        (lambda a: a.update(lengths=np.array([12, 3])), "key 'lengths'"),
    ],
)
def test_malformed_clip_files_are_refused_naming_the_file_and_key(tmp_path, change, message):
    obs, qpos, qvel = clip_arrays()
    arrays = {"observations": obs, "qpos": qpos, "qvel": qvel, "env": np.array("dmc-walker")}
    change(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ClipError) as error:
        load_clips(path, "dmc-walker", OBS, NQ, NV, min_length=5)
    assert str(path) in str(error.value) and message in str(error.value)
