"""Task experts of the JAX bodies and the clips they record: SAC on vmapped walkers writes an actor file that
reads back; recorded clips start where the body was reset and load as clips; tracking starts from a clip's
first frame and prompts each step with the windowed mean of B over the clip's next frames."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs import body_experts, jax_envs
from tdjepa.clips import load_clips
from tdjepa.latent_space import project_to_sphere
from tdjepa.online_eval import track_clips, tracking_latents
from tests.helpers import tiny_agent
from tests.test_end_to_end import run

ENV = "dmc-walker"


@pytest.fixture(scope="module")
def expert_file(tmp_path_factory):
    config = body_experts.expert_config()
    config.update(hidden_dim=16, batch_size=8)
    path = tmp_path_factory.mktemp("experts") / "stand.npz"
    record = body_experts.train_body_expert(
        ENV,
        "walker-stand",
        path,
        128,
        num_envs=4,
        seed_steps=64,
        report_every=64,
        eval_episodes=2,
        progress=False,
        config=config,
    )
    assert [h["env_steps"] for h in record["history"]] == [64, 128]
    assert record["task"] == "walker-stand" and len(record["eval_returns"]) == 2
    assert all(0 <= r <= 1000 for r in record["eval_returns"])
    return path


def test_an_expert_file_reads_back_and_names_its_body(expert_file):
    act, record = body_experts.load_body_expert(expert_file, ENV)
    env = jax_envs.make(ENV)
    actions = act(jnp.zeros((3, env.observation_size)))
    assert actions.shape == (3, env.action_size) and bool(jnp.all(jnp.abs(actions) <= 1))
    with pytest.raises(ValueError, match="an expert for 'dmc-walker', not for 'dmc-cheetah'"):
        body_experts.load_body_expert(expert_file, "dmc-cheetah")
    with pytest.raises(ValueError, match="not an expert written by experiments.train_expert"):
        body_experts.load_body_expert(expert_file.with_name("missing.npz"), ENV)


def test_recorded_clips_are_the_experts_rollouts_and_load_as_clips(expert_file, tmp_path):
    out = tmp_path / "clips.npz"
    returns = body_experts.record_clips(ENV, [expert_file, expert_file], out, 2, 20, skip_steps=0, seed=3)
    names = tuple(f"walker-stand/{i}" for i in range(4))
    assert tuple(returns) == names and all(0 <= r <= 19 for r in returns.values())
    env = jax_envs.make(ENV)
    clips = load_clips(out, ENV, env.observation_size, env.mj_model.nq, env.mj_model.nv)
    assert clips.observations.shape == (4, 20, env.observation_size) and clips.names == names
    # Clip i of expert 0 starts at the reset of its key, and its frames follow the expert's actions.
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(3), 0), 2)
    first = jax.vmap(env.reset)(keys)
    np.testing.assert_allclose(clips.qpos[:2, 0], first.data.qpos, atol=1e-6)
    act, _ = body_experts.load_body_expert(expert_file, ENV)
    second = jax.vmap(env.step)(first, act(first.obs))
    np.testing.assert_allclose(clips.observations[:2, 1], second.obs, atol=1e-4)


def test_tracking_latents_average_b_over_the_next_frames_of_the_clip():
    agent = tiny_agent("fb", z_dim=4)
    obs = jax.random.normal(jax.random.PRNGKey(0), (10, 24))
    state = agent.init(jax.random.PRNGKey(1), _batch(obs))
    window, length = 3, 7  # frames 7.. are padding
    z = np.asarray(tracking_latents(agent, state, obs, length, window))
    b = np.asarray(agent.reward_features(state, obs))
    for t in range(length - 1):
        frames = range(t + 1, min(t + 1 + window, length))
        expected = project_to_sphere(jnp.asarray(b[list(frames)].mean(0)))
        np.testing.assert_allclose(z[t], expected, rtol=1e-5, atol=1e-5)


def test_tracking_starts_at_each_clips_first_frame_and_measures_qpos_distance(expert_file, tmp_path):
    env = jax_envs.make(ENV)
    out = tmp_path / "clips.npz"
    # From a reset frame (mid-episode, Playground's observations read the kinematics of the step's start).
    body_experts.record_clips(ENV, [expert_file], out, 2, 6, skip_steps=0, seed=0)
    clips = load_clips(out, ENV, env.observation_size, env.mj_model.nq, env.mj_model.nv)
    start = jax.vmap(env.reset_to)(jax.random.split(jax.random.PRNGKey(0), 2), clips.qpos[:, 0], clips.qvel[:, 0])
    np.testing.assert_allclose(start.obs, clips.observations[:, 0], atol=1e-4)
    agent = tiny_agent("fb", z_dim=4)
    state = agent.init(jax.random.PRNGKey(1), _batch(clips.observations[0]))
    errors, qpos = track_clips(agent, state, env, clips, None, jax.random.PRNGKey(2), 3)
    expected = np.linalg.norm(np.asarray(qpos) - np.asarray(clips.qpos[:, 1:]), axis=-1).mean(1)
    np.testing.assert_allclose(errors, expected, rtol=1e-5)
    assert qpos.shape == (2, 5, env.mj_model.nq)


def _batch(obs):
    from tdjepa.data import Batch

    n = obs.shape[0]
    return Batch(observations=obs, actions=jnp.zeros((n, 6)), next_observations=obs, discount=jnp.ones(n))


def test_the_commands_record_clips_and_refuse_bad_flags(expert_file, tmp_path):
    out = run("record_clips", f"--experts={expert_file}", f"--out={tmp_path / 'c.npz'}", "--clips_per_expert=1")
    assert "wrote 1 clips" in out.stdout and (tmp_path / "c.npz").is_file()
    refusals = [
        (["train_expert", "--env=dmc-walker"], "--task goes with a JAX --env"),
        (["train_expert", "--env=dmc-walker", "--task=walker-fly"], "--task=walker-fly: accepted values: walker-stand"),
        (["record_clips", f"--experts={expert_file}", "--out=x.npz", "--env=dmc-cheetah"], "not for 'dmc-cheetah'"),
        (["record_clips", f"--experts={expert_file}", "--out=x.npz", "--clip_length=990"], "exceeds dmc-walker's"),
    ]
    for args, message in refusals:
        out = run(*args, check=False)
        assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]
