"""Zero-shot evaluation of a trained agent: goal prompting and reward prompting on every task."""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from envs import ogbench as ogb
from envs.env_workers import EnvWorkers
from tdjepa.data import episode_starts, stacked_observations

# The reference shifts OGBench's {-1, 0} rewards by +1 before inference, so that success counts 1.
REWARD_SHIFT = 1.0


def inference_samples(
    dataset: dict[str, np.ndarray], num_samples: int, seed: int, frame_stack: int = 1
) -> dict[str, np.ndarray]:
    """Next-state arrays (observations, frame-stacked as in training, simulator state and the data's action
    there) of random in-episode transitions."""
    valid = np.flatnonzero(~dataset["terminals"][:-1])
    rng = np.random.default_rng(seed)
    next_index = rng.choice(valid, size=min(num_samples, valid.size), replace=False) + 1
    keys = [k for k in ("qpos", "qvel", "button_states", "actions") if k in dataset]
    starts = episode_starts(dataset["terminals"])
    observations = stacked_observations(dataset["observations"], starts, next_index, frame_stack)
    return {k: dataset[k][next_index] for k in keys} | {"observations": observations}


# Compiled once per agent (static argument) and shared by every task's policy, so an evaluation of ten
# prompts compiles the actor once rather than ten times (seconds each for the pixel networks).
@functools.partial(jax.jit, static_argnums=0)
def _act(agent, state, obs: jnp.ndarray, z: jnp.ndarray, *key: jax.Array) -> jnp.ndarray:
    return agent.act(state, obs, z, *key)


@functools.partial(jax.jit, static_argnums=0)
def _act_behavior(agent, state, obs: jnp.ndarray, key: jax.Array) -> jnp.ndarray:
    return agent.act_behavior(state, obs, key)


def make_policy(agent, state, z: jnp.ndarray, num_envs: int, seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """A batched numpy policy a(s) = π(s, z); pads to num_envs rows so one compiled call serves all.

    Agents whose `samples_at_evaluation` is true (flow-BC actors) get a fresh key, derived from seed,
    at every call; the others act deterministically."""
    zs = jnp.broadcast_to(z, (num_envs, z.shape[-1]))
    stochastic = getattr(agent, "samples_at_evaluation", False)
    return _batched_policy(lambda obs, *key: _act(agent, state, obs, zs, *key), num_envs, seed if stochastic else None)


def make_behavior_policy(agent, state, num_envs: int, seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """The batched numpy policy of a flow-BC agent's BC flow (no z), a fresh key derived from seed per call."""
    return _batched_policy(lambda obs, key: _act_behavior(agent, state, obs, key), num_envs, seed)


def _batched_policy(act: Callable, num_envs: int, seed: int | None) -> Callable[[np.ndarray], np.ndarray]:
    """numpy observations -> numpy actions of act(obs[, key]), padded to num_envs rows; a fresh key per
    call, split from PRNGKey(seed), unless seed is None."""
    keys = None if seed is None else {"next": jax.random.PRNGKey(seed)}

    def policy(obs: np.ndarray) -> np.ndarray:
        n = obs.shape[0]
        padded = np.zeros((num_envs, *obs.shape[1:]), obs.dtype)
        padded[:n] = obs
        if keys is None:
            return np.asarray(act(padded))[:n]
        keys["next"], key = jax.random.split(keys["next"])
        return np.asarray(act(padded, key))[:n]

    return policy


def evaluate_zero_shot(
    agent,
    state,
    dataset_name: str,
    dataset: dict[str, np.ndarray],
    *,
    num_episodes: int = 10,
    num_inference_samples: int = 10_000,
    seed: int = 0,
    modes: tuple[str, ...] = ("goal", "reward"),
    workers: EnvWorkers | None = None,
) -> list[dict]:
    """Per task: infer z once (from the goal, or from relabelled rewards), roll out num_episodes (in
    `workers`' processes when given).

    Agents reading stacked frames (config.frame_stack > 1) see a goal frame repeated frame_stack times."""
    frame_stack = agent.config.frame_stack
    results = []
    if "goal" in modes:
        for task_id in range(1, ogb.NUM_TASKS + 1):
            z = goal_prompt(agent, state, dataset_name, task_id)
            policy = make_policy(agent, state, z, num_episodes, seed=seed + task_id)
            out = ogb.evaluate(dataset_name, policy, "goal", task_id, num_episodes, seed, frame_stack, workers)
            results.append(_row(f"task{task_id}", "goal", out))
    if "reward" in modes:
        samples = inference_samples(dataset, num_inference_samples, seed, frame_stack)
        features = inference_features(agent, state, samples)
        for task_id in range(1, ogb.NUM_TASKS + 1):
            z = reward_prompt(agent, dataset_name, task_id, samples, features)
            policy = make_policy(agent, state, z, num_episodes, seed=seed + 100 + task_id)
            out = ogb.evaluate(dataset_name, policy, "reward", task_id, num_episodes, seed, frame_stack, workers)
            results.append(_row(f"task{task_id}", "reward", out))
    return results


def goal_prompt(agent, state, dataset_name: str, task_id: int) -> jnp.ndarray:
    """z of a task's goal observation; agents reading stacked frames see the goal frame frame_stack times."""
    goal = ogb.goal_observations(dataset_name)[task_id - 1]
    goal = np.concatenate([goal] * agent.config.frame_stack, axis=-1)
    return agent.infer_z_goal(state, jnp.asarray(network_dtype(goal[None])))[0]


def inference_features(agent, state, samples: dict[str, np.ndarray]) -> jnp.ndarray:
    """The reward features (ψ or B) of the inference samples' observations: computed once and shared by
    every task's reward prompt (10k stacked frames through the pixel trunk are the costly part)."""
    return agent.reward_features(state, jnp.asarray(network_dtype(samples["observations"])))


def reward_prompt(
    agent, dataset_name: str, task_id: int, samples: dict[str, np.ndarray], features: jnp.ndarray
) -> jnp.ndarray:
    """z inferred from a task's rewards, relabelled on `inference_samples` and shifted as the reference does;
    `features` are the samples' `inference_features`."""
    rewards = ogb.relabel_rewards(dataset_name, task_id, samples) + REWARD_SHIFT
    return agent.infer_z_from_features(features, jnp.asarray(rewards, jnp.float32))


def network_dtype(observations: np.ndarray) -> np.ndarray:
    """uint8 frames as they are (the trunk scales them on the device), states as float32."""
    return observations if observations.dtype == np.uint8 else observations.astype(np.float32)


def evaluate_random(
    dataset_name: str, action_dim: int, *, num_episodes: int = 10, seed: int = 0, workers: EnvWorkers | None = None
) -> list[dict]:
    """The uniform random policy on the same tasks: the floor every agent is compared with."""
    new_policy = functools.partial(ogb.random_policy, action_dim, seed)
    return _evaluate_task_free(dataset_name, new_policy, num_episodes, seed, 1, workers)


def evaluate_behavior(
    agent, state, dataset_name: str, *, num_episodes: int = 10, seed: int = 0, workers: EnvWorkers | None = None
) -> list[dict]:
    """A flow-BC agent's BC flow, which ignores the task, on the same tasks: what cloning the data alone
    achieves, the reference point for what steering by z adds."""
    new_policy = functools.partial(make_behavior_policy, agent, state, num_episodes, seed)
    return _evaluate_task_free(dataset_name, new_policy, num_episodes, seed, agent.config.frame_stack, workers)


def _evaluate_task_free(
    dataset_name: str,
    new_policy: Callable[[], Callable],
    num_episodes: int,
    seed: int,
    frame_stack: int,
    workers: EnvWorkers | None,
) -> list[dict]:
    """Rows of every goal and reward task for a policy that ignores the task, started afresh per task."""
    results = []
    for mode in ("goal", "reward"):
        for task_id in range(1, ogb.NUM_TASKS + 1):
            out = ogb.evaluate(dataset_name, new_policy(), mode, task_id, num_episodes, seed, frame_stack, workers)
            results.append(_row(f"task{task_id}", mode, out))
    return results


def _row(task: str, mode: str, out: dict) -> dict:
    return {"task": task, "mode": mode, "success": float(out["success"]), "return": float(out["return"])}


def mean_success(rows: list[dict], mode: str | None = None) -> float:
    """Mean success over the rows of one mode (all rows when mode is None)."""
    values = [r["success"] for r in rows if mode is None or r["mode"] == mode]
    return float(np.mean(values)) if values else float("nan")
