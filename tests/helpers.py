"""Small synthetic datasets and tiny agents shared by the tests."""

import jax
import numpy as np

import agents
from envs.ogbench_common import pooled_envs, singletask_name
from tdjepa.data import make_offline_data, sample_batch


def tiny_agent(name: str, **overrides):
    """The default agent with the small networks of its record's `tiny_config`, for fast tests."""
    record = agents.record(name)
    return record.make(record.config("cpu", overrides=dict(record.tiny_config) | overrides))


def agent_batch(agent, data, key: jax.Array, size: int):
    """A uniform batch with the next states the agent's updates need (its `horizon`)."""
    return sample_batch(data, key, size, agent.horizon)


def random_episodes(num_episodes: int = 4, length: int = 30, obs_dim: int = 3, action_dim: int = 2, seed: int = 0):
    """Episode-layout arrays (OGBench style) of a random walk."""
    rng = np.random.default_rng(seed)
    n = num_episodes * length
    actions = rng.uniform(-1, 1, (n, action_dim)).astype(np.float32)
    observations = np.cumsum(rng.normal(size=(n, obs_dim)), 0).astype(np.float32) * 0.1
    terminals = np.zeros(n, bool)
    terminals[length - 1 :: length] = True
    return observations, actions, terminals


def random_data(**kwargs):
    """A device-resident OfflineData of random episodes."""
    return make_offline_data(*random_episodes(**kwargs))


def singletask_env_rewards(dataset_name: str, task_id: int, data: dict[str, np.ndarray]) -> np.ndarray:
    """The reward the `-singletask` env reports for each stored state: reset to the task, put the
    simulator in that state, step once; the env scores the state before the action (success_timing 'pre')."""
    env = pooled_envs(singletask_name(dataset_name, task_id), 1)[0]
    rewards = []
    for i in range(len(data["qpos"])):
        env.reset(seed=i)
        state = [data[key][i].astype(np.float64) for key in ("qpos", "qvel")]
        if "button_states" in data:
            state.append(data["button_states"][i].copy())
        env.unwrapped.set_state(*state)
        _, reward, _, _, _ = env.step(np.zeros(env.action_space.shape))
        rewards.append(reward)
    return np.asarray(rewards, np.float32)
