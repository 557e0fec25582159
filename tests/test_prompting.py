"""Prompting where the answer is known, through the code path evaluation uses (`tdjepa.zero_shot` with the
OGBench task suite, its +1 reward shift included): a reward linear in the agent's reward features gives back
its latent, and a goal gives the projection of its encoding (whitened when TD-JEPA trains on whitened goals)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs import ogbench as ogb
from envs import ogbench_tasks
from tdjepa.latent_space import project_to_sphere
from tdjepa.runs import data_spec, example_batch
from tdjepa.zero_shot import goal_latents, reward_latents

from .helpers import random_episodes, tiny_agent

ENV = "pointmaze-medium-navigate-v0"
# The reference's evaluation adds 1 to OGBench's relabelled rewards before inference (shift_reward=1).
REFERENCE_SHIFT = 1.0


def dataset_of(observations, actions, terminals) -> dict[str, np.ndarray]:
    n = len(observations)
    return {"observations": observations, "actions": actions, "terminals": terminals, "qpos": np.zeros((n, 2))}


@pytest.mark.parametrize("name", ["td_jepa", "fb"])
def test_a_reward_linear_in_the_features_gives_back_its_latent(name, monkeypatch):
    """TD-JEPA: r = ψ(s)ᵀz* regressed by least squares gives z*. FB: r = B(s)ᵀ Cov(B)⁻¹ z*, the reward z* encodes
    (Cov over the inference samples), gives z* = proj(Σ r_i B(s_i)). One z* per task, five tasks."""
    agent = tiny_agent(name)
    dataset = dataset_of(*random_episodes(num_episodes=20, length=30, obs_dim=3))
    state = agent.init(jax.random.PRNGKey(1), example_batch(data_spec(dataset["observations"], dataset["actions"])))
    targets = agent.sample_z(jax.random.PRNGKey(2), ogb.NUM_TASKS)

    def relabel(dataset_name, task_id, samples):  # OGBench's relabelling, replaced by a known reward
        features = agent.reward_features(state, jnp.asarray(samples["observations"]))
        if name == "fb":
            features = features @ jnp.linalg.inv(features.T @ features / len(features))
        return np.asarray(features @ targets[task_id - 1]) - REFERENCE_SHIFT

    monkeypatch.setattr(ogbench_tasks, "relabel_rewards", relabel)
    latents = reward_latents(agent, state, ogb.tasks(ENV), dataset, num_samples=300, seed=0)
    np.testing.assert_allclose(np.stack(latents), targets, atol=2e-3)


def test_goal_latents_are_the_projected_goal_encodings_whitened_as_in_training():
    agent = tiny_agent("td_jepa", scale_train_goals=True)
    dataset = dataset_of(*random_episodes(obs_dim=2))
    state = agent.init(jax.random.PRNGKey(1), example_batch(data_spec(dataset["observations"], dataset["actions"])))
    moment = jnp.diag(jnp.arange(1.0, agent.z_dim + 1))
    state = state.replace(stats=state.stats | {"z_second_moment": moment})
    tasks = ogb.tasks(ENV)
    goals = np.stack([tasks.goal_observation(t) for t in range(1, ogb.NUM_TASKS + 1)])
    expected = project_to_sphere(agent.reward_features(state, jnp.asarray(goals)) @ jnp.linalg.inv(moment))
    np.testing.assert_allclose(np.stack(goal_latents(agent, state, tasks)), expected, atol=1e-4)
