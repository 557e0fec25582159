"""Exploration datasets in ExoRL's format: the collector's episode files (layout, action alignment), the
loader's layout and refusals, RND's reward and moments, and the command's refusals."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs import exorl, exploration, jax_envs
from tests.test_end_to_end import run

ENV = "dmc-walker"


@pytest.fixture(scope="module")
def walker():
    return jax_envs.make(ENV)


@pytest.fixture(scope="module")
def random_episodes(tmp_path_factory):
    """Three episodes of uniform random actions, two envs per round (the second round's second one unwritten)."""
    folder = tmp_path_factory.mktemp("random")
    files = exploration.collect_episodes(ENV, "random", folder, 3, num_envs=2, progress=False)
    return folder, files


def sizes(env) -> tuple[int, int, int, int]:
    return env.observation_size, env.action_size, env.mj_model.nq, env.mj_model.nv


def test_episode_files_follow_exorls_layout(walker, random_episodes):
    folder, files = random_episodes
    assert [path.name for path in files] == [exorl.episode_file_name(i, 1000) for i in range(3)]
    assert sorted(path.name for path in folder.iterdir()) == sorted(path.name for path in files)
    episode = exorl.read_episode(files[1], *sizes(walker))
    assert episode["observation"].shape == (1001, 24) and episode["physics"].shape == (1001, 18)
    assert episode["physics"].dtype == np.float64 and np.all(episode["discount"] == 1.0)
    np.testing.assert_array_equal(episode["action"][0], 0.0)  # entry t holds the action that led to it
    assert np.abs(episode["action"][1:]).max() <= 1.0 and episode["action"][1:].std() > 0.3


def test_loaded_episodes_take_each_action_at_the_observation_it_was_taken_at(walker, random_episodes):
    folder, files = random_episodes
    data = exorl.load_episodes(folder, *sizes(walker))
    assert data["observations"].shape == (3003, 24) and data["qpos"].shape == (3003, 9)
    np.testing.assert_array_equal(np.flatnonzero(data["terminals"]), [1000, 2001, 3002])
    second = exorl.read_episode(files[1], *sizes(walker))
    np.testing.assert_array_equal(data["actions"][1001:2001], second["action"][1:])
    np.testing.assert_array_equal(data["actions"][2001], 0.0)
    np.testing.assert_array_equal(data["qvel"][1001:2002], second["physics"][:, 9:].astype(np.float32))
    assert len(exorl.load_episodes(folder, *sizes(walker), num_episodes=2)["terminals"]) == 2002


def test_bad_episode_files_are_refused_naming_the_file_and_key(walker, random_episodes, tmp_path):
    episode = exorl.read_episode(random_episodes[1][0], *sizes(walker))
    cases = {
        "missing.npz": ({k: v for k, v in episode.items() if k != "physics"}, "missing key(s) physics"),
        "wide.npz": (episode | {"observation": np.zeros((1001, 25))}, "key 'observation' has shape (1001, 25)"),
        "short_physics.npz": (episode | {"physics": np.zeros((1001, 10))}, "key 'physics' has shape (1001, 10)"),
        "nan.npz": (episode | {"action": np.full((1001, 6), np.nan)}, "key 'action' holds NaN"),
    }
    for name, (arrays, message) in cases.items():
        folder = tmp_path / name.removesuffix(".npz")
        folder.mkdir()
        np.savez(folder / name, **arrays)
        with pytest.raises(exorl.ExorlError, match=re.escape(f"{folder / name}: {message}")):
            exorl.load_episodes(folder, *sizes(walker))
    (tmp_path / "empty").mkdir()
    with pytest.raises(exorl.ExorlError, match="holds no .npz episode file"):
        exorl.load_episodes(tmp_path / "empty", *sizes(walker))
    with pytest.raises(exorl.ExorlError, match="no such folder"):
        exorl.load_episodes(tmp_path / "absent", *sizes(walker))


def test_rnd_reward_falls_on_observations_it_keeps_seeing_and_its_moments_merge_exactly():
    explorer = exploration.RNDExplorer(ENV, num_envs=4, capacity=4000, seed_steps=0, updates_per_step=0.25)
    rnd = jax.jit(explorer.init)(jax.random.PRNGKey(0)).rnd
    seen = jax.random.normal(jax.random.PRNGKey(1), (256, 24))
    step = jax.jit(explorer.intrinsic_reward)
    rewards = []
    for _ in range(300):
        rnd, reward = step(rnd, seen)
        rewards.append(float(reward.mean()))
    assert rewards[-1] < 0.5 * rewards[0]
    values = np.random.default_rng(0).normal(size=(3, 50))
    moments = jnp.array([values[0].mean(), values[0].var(), 50.0])
    for batch in values[1:]:
        moments = exploration._merge_moments(moments, jnp.asarray(batch))
    np.testing.assert_allclose(moments, [values.mean(), values.var(), 150.0], rtol=1e-5)


def test_rnd_collects_while_it_learns_and_the_command_refuses_flags_of_the_other_kind(walker, tmp_path):
    files = exploration.collect_episodes(
        ENV, "rnd", tmp_path / "rnd", 4, num_envs=4, seed_steps=2000, updates_per_step=0.25, progress=False
    )
    data = exorl.load_episodes(tmp_path / "rnd", *sizes(walker))
    assert len(files) == 4 and data["observations"].shape == (4004, 24) and np.all(np.isfinite(data["qpos"]))
    refused = run("collect", f"--env={ENV}", "--episode_length=5", "--num_episodes=2", check=False)
    assert refused.returncode != 0 and "--episode_length is for OGBench datasets" in refused.stderr
    refused = run("collect", "--env=pointmaze-medium-navigate-v0", "--explorer=random", check=False)
    assert refused.returncode != 0 and "--explorer is for a JAX env's exploration" in refused.stderr
