"""OGBench npz datasets: validation on load, local generation, atomic writes and determinism."""

import pathlib
import zipfile

import numpy as np
import ogbench
import pytest

from envs import ogbench_data, ogbench_pointmaze
from envs.ogbench import (
    SUPPORTED_DATASETS,
    DatasetError,
    dataset_metadata,
    dataset_path,
    dataset_spec,
    generate_dataset,
    load_dataset,
)
from envs.ogbench_common import pooled_envs, release_pooled_envs

MEDIUM = "pointmaze-medium-navigate-v0"
EPISODES = 3


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, pathlib.Path]:
    """A tiny medium dataset written once for the whole module."""
    return generate_dataset(MEDIUM, tmp_path_factory.mktemp("data"), num_episodes=EPISODES, progress=False)


def _raw(path: pathlib.Path) -> dict[str, np.ndarray]:
    """All arrays of an npz file, unvalidated."""
    with np.load(path) as archive:
        return {key: archive[key] for key in archive.files}


def _variant(source: pathlib.Path, directory: pathlib.Path, **changes: np.ndarray | None) -> pathlib.Path:
    """A copy of `source` with keys replaced (or dropped when None), named like the real dataset."""
    arrays = {**_raw(source), **changes}
    path = directory / source.name
    np.savez_compressed(path, **{key: value for key, value in arrays.items() if value is not None})
    return path


def _refusal(path: pathlib.Path) -> str:
    """The DatasetError message of loading `path`."""
    with pytest.raises(DatasetError) as error:
        load_dataset(path)
    return str(error.value)


def test_generated_files_load_with_our_loader_and_ogbench(generated):
    train_path, val_path = generated
    ours = load_dataset(train_path)
    theirs = ogbench.load_dataset(str(train_path), compact_dataset=True, add_info=True)
    for key in ("observations", "actions", "qpos", "qvel"):
        np.testing.assert_array_equal(ours[key], theirs[key])
    regular = ogbench.load_dataset(str(train_path), add_info=True)
    assert regular["observations"].shape == (EPISODES * 1000, 2)
    np.testing.assert_array_equal(regular["next_observations"][:999], ours["observations"][1:1000])
    assert len(load_dataset(val_path)["observations"]) == dataset_spec(MEDIUM).episode_length


def test_generated_layout_matches_ogbench_conventions(generated):
    data = load_dataset(generated[0])
    length = dataset_spec(MEDIUM).episode_length
    assert {key: value.dtype for key, value in data.items()} == {
        "observations": np.float32,
        "actions": np.float32,
        "terminals": np.bool_,
        "qpos": np.float32,
        "qvel": np.float32,
    }
    assert data["observations"].shape == data["actions"].shape == (EPISODES * length, 2)
    np.testing.assert_array_equal(np.flatnonzero(data["terminals"]), np.arange(1, EPISODES + 1) * length - 1)
    np.testing.assert_array_equal(data["observations"], data["qpos"])
    assert np.abs(data["actions"]).max() <= 1.0


def test_metadata_records_the_generator_settings(generated):
    metadata = dataset_metadata(generated[1])
    assert metadata["split"] == "val" and metadata["seed"] == 0 and metadata["noise"] == 0.5
    assert metadata["num_episodes"] == 1 and metadata["dataset"] == MEDIUM


def test_generation_is_deterministic_in_the_seed(tmp_path):
    first = [_raw(path) for path in generate_dataset(MEDIUM, tmp_path / "a", num_episodes=2, progress=False)]
    again = [_raw(path) for path in generate_dataset(MEDIUM, tmp_path / "b", num_episodes=2, progress=False)]
    other = _raw(generate_dataset(MEDIUM, tmp_path / "c", num_episodes=2, seed=1, progress=False)[0])
    for arrays, same in zip(first, again, strict=True):
        assert arrays.keys() == same.keys()
        for key in arrays:
            np.testing.assert_array_equal(arrays[key], same[key])
    train, val = first
    assert not np.array_equal(train["observations"][: len(val["observations"])], val["observations"])
    assert not np.array_equal(first[0]["observations"], other["observations"])


def test_interrupted_collection_leaves_no_file(tmp_path, monkeypatch):
    calls = []

    def failing_direction(*args: object) -> np.ndarray:
        calls.append(None)
        if len(calls) > 1500:
            raise KeyboardInterrupt
        return np.zeros(2)

    monkeypatch.setattr(ogbench_pointmaze, "oracle_direction", failing_direction)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(MEDIUM, tmp_path, num_episodes=2, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_no_partial_or_new_file(tmp_path, monkeypatch):
    written = []

    def failing_write(path: pathlib.Path, arrays: dict[str, np.ndarray]) -> None:
        path.write_bytes(b"PK partial")
        written.append(path)
        if len(written) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(ogbench_data, "_write_npz", failing_write)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(MEDIUM, tmp_path, num_episodes=1, progress=False)
    assert len(written) == 2
    assert list(tmp_path.iterdir()) == []


def test_dataset_path_follows_ogbench_names(tmp_path):
    assert dataset_path(MEDIUM, tmp_path) == tmp_path / f"{MEDIUM}.npz"
    assert dataset_path(MEDIUM, tmp_path, split="val") == tmp_path / f"{MEDIUM}-val.npz"
    assert dataset_path(MEDIUM).parent == ogbench_data.DEFAULT_DATASET_DIR


def test_unknown_dataset_name_lists_the_supported_ones():
    with pytest.raises(ValueError) as error:
        dataset_path("pointmaze-medum-navigate-v0")
    assert all(name in str(error.value) for name in SUPPORTED_DATASETS)


def test_missing_file_says_how_to_generate_it(tmp_path):
    path = tmp_path / f"{MEDIUM}.npz"
    message = _refusal(path)
    assert str(path) in message and f"python -m experiments.collect --env={MEDIUM}" in message


@pytest.mark.parametrize("key", ["observations", "actions", "terminals", "qpos", "qvel"])
def test_missing_key_is_refused(generated, tmp_path, key):
    path = _variant(generated[0], tmp_path, **{key: None})
    message = _refusal(path)
    assert str(path) in message and f"missing required key '{key}'" in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("actions", np.zeros((EPISODES * 1001, 3), np.float32), "expected (N, 2)"),
        ("observations", np.zeros((EPISODES * 1001, 5), np.float32), "expected (N, 2)"),
        ("qpos", np.zeros(EPISODES * 1001, np.float32), "expected 2 dims"),
        ("qvel", np.zeros((10, 2), np.float32), "expected the same first dimension"),
    ],
)
def test_wrong_shape_is_refused(generated, tmp_path, key, value, expected):
    path = _variant(generated[0], tmp_path, **{key: value})
    message = _refusal(path)
    assert str(path) in message and f"key '{key}'" in message and expected in message


@pytest.mark.parametrize("key", ["observations", "actions", "qpos", "qvel"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_are_refused(generated, tmp_path, key, bad):
    values = _raw(generated[0])[key].copy()
    values[1234, 1] = bad
    message = _refusal(_variant(generated[0], tmp_path, **{key: values}))
    assert str(tmp_path / generated[0].name) in message and f"key '{key}'" in message
    assert "row 1234" in message


def test_unclosed_last_episode_is_refused(generated, tmp_path):
    terminals = _raw(generated[0])["terminals"].copy()
    terminals[-1] = False
    message = _refusal(_variant(generated[0], tmp_path, terminals=terminals))
    assert "key 'terminals'" in message and "does not end with True" in message


def test_truncated_file_is_refused(generated, tmp_path):
    path = tmp_path / generated[0].name
    data = generated[0].read_bytes()
    path.write_bytes(data[: len(data) // 2])
    message = _refusal(path)
    assert str(path) in message and "truncated or corrupt" in message and "observations" in message


def test_corrupt_member_is_refused_by_key(generated, tmp_path):
    path = tmp_path / generated[0].name
    data = bytearray(generated[0].read_bytes())
    with zipfile.ZipFile(generated[0]) as archive:
        member = archive.getinfo("qpos.npy")
    start = member.header_offset + 30 + len(member.filename) + len(member.extra) + member.compress_size // 2
    data[start : start + 64] = bytes(64)
    path.write_bytes(bytes(data))
    message = _refusal(path)
    assert str(path) in message and "key 'qpos'" in message


def test_supported_dataset_specs_match_their_envs():
    for name in SUPPORTED_DATASETS:
        spec = dataset_spec(name)
        env = pooled_envs(name, 1)[0]
        assert env.observation_space.shape == spec.obs_shape
        assert (env.observation_space.dtype == np.uint8) == spec.visual
        assert env.action_space.shape == (spec.action_dim,)
        release_pooled_envs(name)
