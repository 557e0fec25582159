"""Small synthetic datasets and tiny agent configs shared by the tests."""

import numpy as np

import agents
from envs.ogbench_common import pooled_envs, singletask_name
from tdjepa.data import make_offline_data

TINY = dict(batch_size=32)
TINY_TD_JEPA = TINY | dict(
    phi_dim=8, phi_hidden_dim=32, psi_dim=6, psi_hidden_dim=32, predictor_hidden_dim=32, actor_hidden_dim=32
)
TINY_FB = TINY | dict(
    z_dim=6, left_dim=8, left_hidden_dim=32, backward_hidden_dim=32, forward_hidden_dim=32, actor_hidden_dim=32
)
TINY_CONFIGS = {"td_jepa": TINY_TD_JEPA, "fb": TINY_FB}


def tiny_agent(name: str, **overrides):
    """An agent with small networks, for fast tests."""
    config = agents.default_config(name)
    config.update(TINY_CONFIGS[name] | overrides)
    return agents.make(name, config)


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
