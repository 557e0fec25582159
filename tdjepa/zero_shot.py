"""The zero-shot protocol: prompt a trained agent with each task's goal or relabelled rewards, hold the
inferred z fixed and roll the policy out (the TD-JEPA paper's protocol and its code's).

The environment side is a `TaskSuite` (`envs.ogbench.tasks(name)` for OGBench): its tasks' goal
observations, the rewards reward inference regresses, and rollouts of a batched numpy policy.
"""

import functools
from collections.abc import Callable, Iterator
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np

from tdjepa.agent import ZeroShotAgent
from tdjepa.data import episode_starts, stacked_observations
from tdjepa.state import AgentState

PolicyFn = Callable[[np.ndarray], np.ndarray]  # (n, *obs_shape) observations -> (n, action_dim) actions
MODES = ("goal", "reward")


class TaskSuite(Protocol):
    """The zero-shot tasks of one environment, numbered 1 … num_tasks, each prompted by a goal and by rewards."""

    name: str
    num_tasks: int

    def goal_observation(self, task_id: int) -> np.ndarray:
        """The observation of the task's goal (what goal prompting encodes)."""
        ...

    def inference_rewards(self, task_id: int, samples: dict[str, np.ndarray]) -> np.ndarray:
        """The task's rewards at the samples' states, as reward inference regresses them."""
        ...

    def rollout(
        self, policy: PolicyFn, mode: str, task_id: int, num_episodes: int, seed: int, frame_stack: int = 1
    ) -> dict:
        """Mean `success` and `return` of `num_episodes` episodes of the policy on the task's env of `mode`
        (the policy sees frame_stack observations stacked on the last axis)."""
        ...

    def record(
        self,
        policy: PolicyFn,
        mode: str,
        task_id: int,
        seed: int,
        frame_stack: int = 1,
        size: int = 192,
        every: int = 1,
    ) -> tuple[np.ndarray, dict]:
        """(T, size, size, 3) uint8 frames of rollout's episode `seed`, every `every`-th step, with its
        `success`, `return`, `length` and `observations` (every step's)."""
        ...


def inference_samples(
    dataset: dict[str, np.ndarray], num_samples: int, seed: int, frame_stack: int = 1
) -> dict[str, np.ndarray]:
    """Every per-step array (simulator state, the data's action) at the next states of random in-episode
    transitions, drawn without replacement; observations frame-stacked as in training."""
    valid = np.flatnonzero(~dataset["terminals"][:-1])
    rng = np.random.default_rng(seed)
    next_index = rng.choice(valid, size=min(num_samples, valid.size), replace=False) + 1
    length = len(dataset["observations"])
    keys = [k for k, v in dataset.items() if k not in ("observations", "terminals") and np.ndim(v) and len(v) == length]
    starts = episode_starts(dataset["terminals"])
    observations = stacked_observations(dataset["observations"], starts, next_index, frame_stack)
    return {k: dataset[k][next_index] for k in keys} | {"observations": observations}


def network_dtype(observations: np.ndarray) -> np.ndarray:
    """uint8 frames as they are (the trunk scales them on the device), states as float32."""
    return observations if observations.dtype == np.uint8 else observations.astype(np.float32)


def goal_prompt(agent: ZeroShotAgent, state: AgentState, goal: np.ndarray) -> jnp.ndarray:
    """z of one goal observation; agents reading stacked frames see it frame_stack times."""
    goal = np.concatenate([goal] * agent.config.frame_stack, axis=-1)
    return agent.infer_z_goal(state, jnp.asarray(network_dtype(goal[None])))[0]


def inference_features(agent: ZeroShotAgent, state: AgentState, samples: dict[str, np.ndarray]) -> jnp.ndarray:
    """The reward features (ψ or B) of the inference samples' observations: computed once and shared by
    every task's reward prompt (10k stacked frames through a pixel trunk are the costly part)."""
    return agent.reward_features(state, jnp.asarray(network_dtype(samples["observations"])))


def reward_prompt(agent: ZeroShotAgent, rewards: np.ndarray, features: jnp.ndarray) -> jnp.ndarray:
    """z of rewards at the inference samples whose `inference_features` are given."""
    return agent.infer_z_from_features(features, jnp.asarray(rewards, jnp.float32))


# Compiled once per agent (static argument) and shared by every task's policy, so an evaluation of ten
# prompts compiles the actor once rather than ten times (seconds each for the pixel networks).
@functools.partial(jax.jit, static_argnums=0)
def _act(agent, state, obs: jnp.ndarray, z: jnp.ndarray, *key: jax.Array) -> jnp.ndarray:
    return agent.act(state, obs, z, *key)


@functools.partial(jax.jit, static_argnums=0)
def _act_behavior(agent, state, obs: jnp.ndarray, key: jax.Array) -> jnp.ndarray:
    return agent.act_behavior(state, obs, key)


def make_policy(agent: ZeroShotAgent, state: AgentState, z: jnp.ndarray, num_envs: int, seed: int = 0) -> PolicyFn:
    """A batched numpy policy a(s) = π(s, z); pads to num_envs rows so one compiled call serves all.

    Agents whose `samples_at_evaluation` is true (flow-BC actors) get a fresh key, derived from seed,
    at every call; the others act deterministically."""
    zs = jnp.broadcast_to(z, (num_envs, z.shape[-1]))
    stochastic = getattr(agent, "samples_at_evaluation", False)
    return _batched_policy(lambda obs, *key: _act(agent, state, obs, zs, *key), num_envs, seed if stochastic else None)


def make_behavior_policy(agent, state: AgentState, num_envs: int, seed: int = 0) -> PolicyFn:
    """The batched numpy policy of a flow-BC agent's BC flow (no z), a fresh key derived from seed per call."""
    return _batched_policy(lambda obs, key: _act_behavior(agent, state, obs, key), num_envs, seed)


def _batched_policy(act: Callable, num_envs: int, seed: int | None) -> PolicyFn:
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
    agent: ZeroShotAgent,
    state: AgentState,
    tasks: TaskSuite,
    dataset: dict[str, np.ndarray],
    *,
    num_episodes: int = 10,
    num_inference_samples: int = 10_000,
    seed: int = 0,
    modes: tuple[str, ...] = MODES,
) -> list[dict]:
    """Per task and mode: infer z once (from the goal, or from rewards relabelled on `num_inference_samples`
    dataset transitions), roll out num_episodes with z fixed; one row per (mode, task)."""
    policies = prompted_policies(agent, state, tasks, dataset, num_episodes, num_inference_samples, seed, modes)
    frame_stack = agent.config.frame_stack
    return [
        _row(task_id, mode, tasks.rollout(policy, mode, task_id, num_episodes, seed, frame_stack))
        for mode, task_id, policy in policies
    ]


def record_zero_shot(
    agent: ZeroShotAgent,
    state: AgentState,
    tasks: TaskSuite,
    dataset: dict[str, np.ndarray],
    *,
    num_inference_samples: int = 10_000,
    seed: int = 0,
    modes: tuple[str, ...] = MODES,
    size: int = 192,
    every: int = 1,
) -> list[dict]:
    """The first episode `evaluate_zero_shot` rolls out for each prompt, as frames: rows of mode, task,
    frames, success, return, length and observations. Deterministic actors repeat the evaluated episode;
    flow-BC actors draw their noise afresh, so theirs is another sample of the same prompted policy."""
    policies = prompted_policies(agent, state, tasks, dataset, 1, num_inference_samples, seed, modes)
    rows = []
    for mode, task_id, policy in policies:
        frames, out = tasks.record(policy, mode, task_id, seed, agent.config.frame_stack, size, every)
        rows.append({"mode": mode, "task": f"task{task_id}", "frames": frames, **out})
    return rows


def prompted_policies(
    agent: ZeroShotAgent,
    state: AgentState,
    tasks: TaskSuite,
    dataset: dict[str, np.ndarray],
    num_envs: int,
    num_inference_samples: int,
    seed: int,
    modes: tuple[str, ...] = MODES,
) -> Iterator[tuple[str, int, PolicyFn]]:
    """(mode, task_id, π(·, z)) for each task's goal prompt, then each task's reward prompt, each policy
    seeded from `seed` and its task; reward latents are inferred only once the goal ones are used."""
    unknown = set(modes) - set(MODES)
    if unknown:
        raise ValueError(f"modes must be among {MODES}; got {sorted(unknown)}")
    if "goal" in modes:
        for task_id, z in enumerate(goal_latents(agent, state, tasks), 1):
            yield "goal", task_id, make_policy(agent, state, z, num_envs, seed=seed + task_id)
    if "reward" in modes:
        for task_id, z in enumerate(reward_latents(agent, state, tasks, dataset, num_inference_samples, seed), 1):
            yield "reward", task_id, make_policy(agent, state, z, num_envs, seed=seed + 100 + task_id)


def goal_latents(agent: ZeroShotAgent, state: AgentState, tasks: TaskSuite) -> list[jnp.ndarray]:
    """The z of each task's goal observation (tasks 1 … num_tasks)."""
    return [goal_prompt(agent, state, tasks.goal_observation(t)) for t in range(1, tasks.num_tasks + 1)]


def reward_latents(
    agent: ZeroShotAgent, state: AgentState, tasks: TaskSuite, dataset: dict, num_samples: int, seed: int
) -> list[jnp.ndarray]:
    """The z of each task's rewards, relabelled on `num_samples` random transitions of the dataset (drawn with
    `seed`), whose features are computed once for every task."""
    samples = inference_samples(dataset, num_samples, seed, agent.config.frame_stack)
    features = inference_features(agent, state, samples)
    return [reward_prompt(agent, tasks.inference_rewards(t, samples), features) for t in range(1, tasks.num_tasks + 1)]


def evaluate_task_free(
    tasks: TaskSuite, new_policy: Callable[[], PolicyFn], num_episodes: int, seed: int, frame_stack: int = 1
) -> list[dict]:
    """Rows of every goal and reward task for a policy that ignores the task (the random policy, a BC flow),
    started afresh per task: the reference points of what prompting adds."""
    return [
        _row(task_id, mode, tasks.rollout(new_policy(), mode, task_id, num_episodes, seed, frame_stack))
        for mode in MODES
        for task_id in range(1, tasks.num_tasks + 1)
    ]


def _row(task_id: int, mode: str, out: dict) -> dict:
    return {"task": f"task{task_id}", "mode": mode, "success": float(out["success"]), "return": float(out["return"])}


def mean_success(rows: list[dict], mode: str | None = None) -> float:
    """Mean success over the rows of one mode (all rows when mode is None)."""
    values = [r["success"] for r in rows if mode is None or r["mode"] == mode]
    return float(np.mean(values)) if values else float("nan")
