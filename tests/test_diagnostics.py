"""Diagnostics of zero-shot prompts, on agents whose Q and features have known answers."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.diagnostics import action_diagnostics, implied_reward_auc, roc_auc


def test_roc_auc_matches_pairwise_counting():
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 1.0
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), np.array([0, 0, 1, 1])) == 0.0
    assert roc_auc(np.ones(6), np.array([0, 1, 0, 1, 0, 0])) == 0.5
    assert np.isnan(roc_auc(np.arange(3.0), np.zeros(3)))
    rng = np.random.default_rng(0)
    scores, labels = rng.integers(0, 5, 40).astype(float), rng.random(40) < 0.3  # many ties
    pairs = [1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(scores[labels], scores[~labels])]
    assert roc_auc(scores, labels) == pytest.approx(np.mean(pairs))


class QuadraticAgent:
    """Q(s, a, z) = 10 − scale·‖a − a*(s)‖², a*(s) = 0.5 tanh(s); the actor returns `actor_sign`·a*(s)."""

    samples_at_evaluation = False

    def __init__(self, actor_sign: float = 1.0, scale: float = 1.0):
        self.actor_sign, self.scale = actor_sign, scale

    def act(self, state, obs, z, key=None):
        return self.actor_sign * 0.5 * jnp.tanh(obs)

    def q_value(self, state, obs, action, z):
        return 10.0 - self.scale * jnp.sum((action - 0.5 * jnp.tanh(obs)) ** 2, axis=-1)

    def reward_features(self, state, obs):
        return obs


def test_action_diagnostics_on_a_known_q():
    obs = jax.random.normal(jax.random.PRNGKey(0), (300, 2))
    data_actions = np.full((300, 2), 0.6)
    key = jax.random.PRNGKey(1)
    best = action_diagnostics(QuadraticAgent(), None, jnp.zeros(3), obs, data_actions, key, num_actions=8, chunk=128)
    assert best["actor_q_rank"] == 1.0  # a*(s) maximises Q
    expected_norm = np.linalg.norm(0.5 * np.tanh(np.asarray(obs)), axis=-1).mean() / np.hypot(0.6, 0.6)
    assert best["action_norm_ratio"] == pytest.approx(expected_norm, rel=1e-5)
    worse = action_diagnostics(QuadraticAgent(-1.0), None, jnp.zeros(3), obs, data_actions, key, num_actions=8)
    assert 0.5 < worse["actor_q_rank"] < best["actor_q_rank"]  # −a*(s) beats some random actions, not all
    flat = action_diagnostics(QuadraticAgent(scale=0.0), None, jnp.zeros(3), obs, data_actions, key, num_actions=8)
    assert flat["q_action_spread"] == 0.0 and flat["actor_q_rank"] == 0.5  # Q ignores the action
    steep = action_diagnostics(QuadraticAgent(scale=4.0), None, jnp.zeros(3), obs, data_actions, key, num_actions=8)
    assert steep["q_action_spread"] > 3.0 * best["q_action_spread"] > 0.0


def test_implied_reward_auc_ranks_by_features_times_z():
    obs = jax.random.normal(jax.random.PRNGKey(2), (500, 3))
    successes = np.asarray(obs[:, 0] > 1.0)
    agent = QuadraticAgent()
    assert implied_reward_auc(agent, None, jnp.array([1.0, 0.0, 0.0]), obs, successes, chunk=64) == 1.0
    assert implied_reward_auc(agent, None, jnp.array([-1.0, 0.0, 0.0]), obs, successes) == 0.0
    assert 0.35 < implied_reward_auc(agent, None, jnp.array([0.0, 1.0, 0.0]), obs, successes) < 0.65
