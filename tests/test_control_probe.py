"""The open-field control probe: its data and its goal-reaching measure have known answers, and TD-JEPA trained
on it reaches prompted goals far more often than a random policy (a closed-loop check of the whole agent)."""

import numpy as np
import pytest

from experiments.configs import agent_config
from experiments.control_probe import PointField, collect, random_policy, reach_goals, train_and_probe


def heading_to_goal(states: np.ndarray, goals: np.ndarray) -> np.ndarray:
    offset = goals - states
    return offset / np.maximum(np.linalg.norm(offset, axis=1, keepdims=True), 1e-6)


def test_collected_episodes_follow_the_dynamics_and_stay_in_the_box():
    field = PointField(step_size=0.2)
    data = collect(field, num_episodes=3, episode_length=50, seed=0)
    assert data["observations"].shape == (150, 2) and data["actions"].shape == (150, 2)
    assert np.flatnonzero(data["terminals"]).tolist() == [49, 99, 149]
    assert data["observations"].min() >= 0.0 and data["observations"].max() <= field.size
    episodes = data["observations"].reshape(3, 50, 2)
    stepped = field.step(episodes[:, :-1].reshape(-1, 2), data["actions"].reshape(3, 50, 2)[:, :-1].reshape(-1, 2))
    np.testing.assert_allclose(stepped, episodes[:, 1:].reshape(-1, 2), atol=1e-6)


def test_an_oracle_reaches_every_goal_and_standing_still_only_the_near_ones():
    field = PointField(step_size=0.1)
    assert reach_goals(field, heading_to_goal, num_goals=50, seed=0)["success"] == 1.0
    still = reach_goals(field, lambda states, goals: np.zeros_like(states), num_goals=50, seed=0)
    rng = np.random.default_rng(0)
    starts, goals = field.uniform_states(rng, 50), field.uniform_states(rng, 50)
    assert still["success"] == np.mean(np.linalg.norm(starts - goals, axis=1) < field.tolerance)
    assert still["median_final_distance"] == pytest.approx(np.median(np.linalg.norm(starts - goals, axis=1)))


def test_td_jepa_reaches_goals_far_more_often_than_random():
    field = PointField(step_size=0.5)
    rows = train_and_probe(
        "td_jepa",
        agent_config("td_jepa", "cpu"),
        field,
        num_updates=5000,
        eval_every=5000,
        num_episodes=200,
        episode_length=100,
        log=lambda line: None,
    )
    random = reach_goals(field, random_policy(0), num_goals=100, seed=1)
    # Measured on this project's CPU machine: random 0.14 (0.18 within twice the tolerance); TD-JEPA 0.61 (0.93)
    # after 5000 updates, 0.45 (0.74) after 3000.
    assert random["success"] < 0.2 and random["within_2x_tolerance"] < 0.25
    assert rows[-1]["success"] > random["success"] + 0.25, (rows, random)
    assert rows[-1]["within_2x_tolerance"] > 0.65, (rows, random)
