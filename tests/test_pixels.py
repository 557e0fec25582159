"""Pixels: the DrQ trunk, random shifts, frame stacking (datasets and rollouts), pixel agents, and the
visual datasets' generation, loading and evaluation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import agents
from envs import ogbench as ogb
from envs import ogbench_common
from envs.ogbench_tasks import stack_frames
from tdjepa.data import episode_starts, gather_batch, make_offline_data, sample_batch, stacked_observations
from tdjepa.pixels import DrQEncoder, random_shift
from tdjepa.training import init_runner
from tdjepa.zero_shot import inference_samples

VISUAL = "visual-cube-single-play-v0"
TINY_PIXELS = dict(obs_type="pixels", frame_stack=3, normalize_obs=False, trunk_dim=16, batch_size=4)
TINY_HEADS = {
    "td_jepa": dict(phi_dim=8, phi_hidden_dim=16, psi_dim=6, psi_hidden_dim=16, predictor_hidden_dim=16),
    "fb": dict(z_dim=6, left_dim=8, left_hidden_dim=16, backward_hidden_dim=16, forward_hidden_dim=16),
}


def frame_episodes(num_episodes: int = 2, length: int = 8, seed: int = 0):
    """Random uint8 64×64×3 frames in episodes, with actions and terminals."""
    rng = np.random.default_rng(seed)
    n = num_episodes * length
    frames = rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    terminals = np.zeros(n, bool)
    terminals[length - 1 :: length] = True
    return frames, rng.uniform(-1, 1, (n, 5)).astype(np.float32), terminals


def test_drq_trunk_maps_stacked_uint8_frames_to_bounded_features():
    frames = jnp.asarray(frame_episodes()[0][:4].reshape(4, 64, 64, 3).repeat(3, -1))
    encoder = DrQEncoder(256)
    params = encoder.init(jax.random.PRNGKey(0), frames)["params"]
    features = encoder.apply({"params": params}, frames)
    assert features.shape == (4, 256) and bool(jnp.all(jnp.abs(features) <= 1))
    # 64×64 input: 31×31 after the stride-2 conv, then 29, 27, 25: 32·25·25 conv features, as the reference.
    assert params["Dense_0"]["kernel"].shape == (32 * 25 * 25, 256)
    assert params["Conv_0"]["kernel"].shape == (3, 3, 9, 32)


def test_random_shift_crops_the_edge_padded_image_at_random_whole_pixel_offsets():
    image = np.arange(16 * 16, dtype=np.float32).reshape(16, 16, 1)
    images = jnp.asarray(np.broadcast_to(image, (64, 16, 16, 1)))
    shifted = np.asarray(random_shift(jax.random.PRNGKey(0), images, pad=2))
    padded = np.pad(image, ((2, 2), (2, 2), (0, 0)), mode="edge")
    offsets = set()
    for out in shifted:
        matches = [
            (dy, dx) for dy in range(5) for dx in range(5) if np.array_equal(out, padded[dy : dy + 16, dx : dx + 16])
        ]
        assert len(matches) == 1, "each output is exactly one crop of the padded image"
        offsets.add(matches[0])
    assert len(offsets) >= 15, f"offsets should vary over the 25 possible ones, saw {sorted(offsets)}"
    assert np.array_equal(np.asarray(random_shift(jax.random.PRNGKey(0), images, pad=0)), np.asarray(images))


def test_frame_stacks_repeat_the_first_frame_and_never_cross_an_episode_start():
    frames = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((10, 2, 2, 1), np.uint8)
    terminals = np.zeros(10, bool)
    terminals[[3, 9]] = True  # episodes 0..3 and 4..9
    data = make_offline_data(frames, np.zeros((10, 1), np.float32), terminals, frame_stack=3)
    batch = gather_batch(data, jnp.array([0, 2, 4, 5, 8]))
    np.testing.assert_array_equal(
        np.asarray(batch.observations)[:, 0, 0], [[0, 0, 0], [0, 1, 2], [4, 4, 4], [4, 4, 5], [6, 7, 8]]
    )
    np.testing.assert_array_equal(
        np.asarray(batch.next_observations)[:, 0, 0], [[0, 0, 1], [1, 2, 3], [4, 4, 5], [4, 5, 6], [7, 8, 9]]
    )
    assert batch.observations.dtype == jnp.uint8


def test_rollout_frame_stacks_match_the_dataset_stacking():
    frames = np.random.default_rng(0).integers(0, 256, (6, 4, 4, 3), dtype=np.uint8)
    terminals = np.zeros(6, bool)
    terminals[-1] = True
    expected = stacked_observations(frames, episode_starts(terminals), np.arange(6), 3)
    stack = stack_frames(None, frames[0], 3)
    rolled = [stack]
    for frame in frames[1:]:
        stack = stack_frames(stack, frame, 3)
        rolled.append(stack)
    np.testing.assert_array_equal(np.stack(rolled), expected)


@pytest.mark.parametrize("name", ["td_jepa", "fb"])
@pytest.mark.parametrize("actor_type", ["td3", "flow_bc"])
def test_pixel_agents_train_their_trunks_and_act_on_stacked_frames(name, actor_type):
    overrides = TINY_PIXELS | TINY_HEADS[name] | dict(actor_hidden_dim=16, actor_type=actor_type)
    agent = agents.make(name, agents.record(name).config("cpu_pixels", overrides=overrides))
    frames, actions, terminals = frame_episodes()
    data = make_offline_data(frames, actions, terminals, frame_stack=3)
    runner = init_runner(agent, 0, sample_batch(data, jax.random.PRNGKey(0), 2))
    trunks = agent.observations.trunk_names
    assert len(trunks) == 2 and not set(trunks) & set(runner.agent.target_params), "trunks have no EMA copy"
    before = jax.tree.map(np.asarray, {k: runner.agent.params[k] for k in trunks})
    update, state = jax.jit(agent.update), runner.agent
    for step in range(2):
        state, metrics = update(state, sample_batch(data, jax.random.PRNGKey(step), 4), jax.random.PRNGKey(step))
        assert all(np.isfinite(float(v)) for v in metrics.values())
    for name_ in trunks:
        changed = jax.tree.map(lambda a, b: not np.allclose(a, b), before[name_], state.params[name_])
        assert any(jax.tree.leaves(changed)), f"{name_} received no gradient"
    obs = sample_batch(data, jax.random.PRNGKey(1), 3).observations
    assert obs.shape == (3, 64, 64, 9)
    z = agent.infer_z_goal(state, obs)
    assert z.shape == (3, agent.z_dim)
    assert agent.infer_z_reward(state, obs, jnp.array([0.0, 1.0, 0.0])).shape == (agent.z_dim,)
    assert agent.act(state, obs, z).shape == (3, 5)
    assert agent.act(state, obs, z, jax.random.PRNGKey(5)).shape == (3, 5)
    assert agent.q_value(state, obs, agent.act(state, obs, z), z).shape == (3,)


def test_pixel_agents_refuse_running_state_normalisation():
    config = agents.default_config("td_jepa")
    config.update(obs_type="pixels", normalize_obs=True)
    with pytest.raises(ValueError, match="normalize_obs"):
        agents.make("td_jepa", config)


@pytest.fixture(scope="module")
def visual_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("visual")
    ogb.generate_dataset(VISUAL, directory, num_episodes=2, episode_length=6, progress=False)
    return directory


def test_generated_visual_datasets_hold_rendered_uint8_frames_and_say_how(visual_dir):
    data = ogb.load_dataset(ogb.dataset_path(VISUAL, visual_dir))
    assert data["observations"].shape == (12, 64, 64, 3) and data["observations"].dtype == np.uint8
    assert data["observations"].std() > 10, "frames are rendered scenes, not blank images"
    assert not np.array_equal(data["observations"][0], data["observations"][5]), "the arm moves between frames"
    metadata = ogb.dataset_metadata(ogb.dataset_path(VISUAL, visual_dir))
    assert metadata["frames"]["shape"] == [64, 64, 3] and metadata["episode_length"] == 6
    # The same states relabel as in the state dataset (visual datasets keep qpos and qvel).
    assert ogb.relabel_rewards(VISUAL, 1, data).shape == (12,)


def test_visual_files_with_float_observations_are_refused(visual_dir, tmp_path):
    data = dict(np.load(ogb.dataset_path(VISUAL, visual_dir)))
    data["observations"] = data["observations"].astype(np.float32)
    path = tmp_path / f"{VISUAL}.npz"
    np.savez(path, **data)
    with pytest.raises(ogb.DatasetError, match="'observations'.*uint8"):
        ogb.load_dataset(path)


def test_visual_rollouts_feed_the_policy_stacks_of_the_last_three_frames():
    seen = []

    def policy(observations: np.ndarray) -> np.ndarray:
        seen.append(observations[0].copy())
        return np.zeros((len(observations), 5), np.float32)

    ogb.evaluate(VISUAL, policy, "reward", 1, num_episodes=1, frame_stack=3)
    # The task's visual env (~600 MB) is closed after its episodes rather than kept in the pool.
    assert not [key for key in ogbench_common._ENV_POOL if key[0] == ogbench_common.singletask_name(VISUAL, 1)]
    assert seen[0].shape == (64, 64, 9) and seen[0].dtype == np.uint8
    first = seen[0][..., :3]
    assert np.array_equal(seen[0], np.concatenate([first] * 3, -1)), "a reset repeats its frame"
    for previous, current in zip(seen, seen[1:], strict=False):
        np.testing.assert_array_equal(current[..., :6], previous[..., 3:])


def test_zero_shot_prompts_are_frames_stacked_like_training(visual_dir):
    data = ogb.load_dataset(ogb.dataset_path(VISUAL, visual_dir))
    samples = inference_samples(data, 5, seed=0, frame_stack=3)
    assert samples["observations"].shape == (5, 64, 64, 9) and samples["qpos"].shape == (5, 21)
    starts = episode_starts(data["terminals"])
    index = [int(np.flatnonzero((data["qpos"] == q).all(-1))[0]) for q in samples["qpos"]]
    np.testing.assert_array_equal(
        samples["observations"], stacked_observations(data["observations"], starts, np.array(index), 3)
    )
    goals = ogb.goal_observations(VISUAL)
    assert goals.shape == (5, 64, 64, 3) and goals.dtype == np.uint8
