"""Videos of prompted episodes: the recorded episode is the evaluated one, and a video file holds its frames."""

import numpy as np
import pytest

from envs.ogbench import evaluate, goal_observations, oracle_policy, record_episode
from tdjepa.video import read_video, write_video

MEDIUM = "pointmaze-medium-navigate-v0"


@pytest.fixture(scope="module")
def oracle_episode() -> tuple[np.ndarray, dict]:
    policy = oracle_policy(MEDIUM, goal_observations(MEDIUM)[2])
    return record_episode(MEDIUM, policy, "goal", task_id=3, seed=4, size=64, every=7)


def expected_frames(length: int, every: int) -> int:
    """The reset, every `every`-th step, and the last step when it is not one of those."""
    return 1 + length // every + (length % every > 0)


def test_the_recorded_episode_is_the_evaluated_one(oracle_episode):
    frames, out = oracle_episode
    evaluated = evaluate(MEDIUM, oracle_policy(MEDIUM, goal_observations(MEDIUM)[2]), "goal", 3, 1, seed=4)
    assert out["success"] == evaluated["success"] == 1.0 and out["return"] == evaluated["return"]
    assert out["length"] == evaluated["episode_lengths"][0] < 1000
    assert frames.shape == (expected_frames(out["length"], 7), 64, 64, 3) and frames.dtype == np.uint8
    assert np.abs(frames[0].astype(int) - frames[-1]).sum() > 0  # the point moved across the maze
    assert out["observations"].shape == (out["length"] + 1, 2)  # the point's x, y, from the reset on
    distance_to_goal = np.linalg.norm(out["observations"][:, :2] - goal_observations(MEDIUM)[2][:2], axis=-1)
    assert distance_to_goal[-1] <= 1.0 < distance_to_goal[0]


def test_reward_mode_records_the_singletask_episode():
    policy = oracle_policy(MEDIUM, goal_observations(MEDIUM)[2])
    frames, out = record_episode(MEDIUM, policy, "reward", task_id=3, seed=1, size=32, every=50)
    evaluated = evaluate(MEDIUM, policy, "reward", 3, 1, seed=1)
    assert out["return"] == evaluated["return"] == -(out["length"] - 1)
    assert frames.shape == (expected_frames(out["length"], 50), 32, 32, 3)


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_a_video_file_holds_the_episodes_frames(tmp_path, oracle_episode, suffix):
    frames, _ = oracle_episode
    path = write_video(tmp_path / f"goal_task3{suffix}", frames, fps=20)
    video = read_video(path)
    assert video.shape == frames.shape and video.metadata.fps == 20
    assert np.abs(video.astype(int) - frames).mean() < 10  # lossy codecs, but the same pictures
    assert sorted(tmp_path.iterdir()) == [path]  # no partial file left behind


def test_bad_videos_are_refused_before_anything_is_written(tmp_path, oracle_episode):
    frames, _ = oracle_episode
    with pytest.raises(ValueError, match="suffix"):
        write_video(tmp_path / "episode.avi", frames)
    with pytest.raises(ValueError, match="even height and width"):
        write_video(tmp_path / "episode.mp4", frames[:, :63])
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "episode.mp4", frames.astype(np.float32))
    with pytest.raises(ValueError, match="every must be"):
        record_episode(MEDIUM, oracle_policy(MEDIUM, goal_observations(MEDIUM)[2]), "goal", 3, every=0)
    assert not list(tmp_path.iterdir())
