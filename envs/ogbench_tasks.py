"""Zero-shot evaluation tasks of an OGBench dataset: its five goals and its five single-task rewards.

Goal mode runs the navigate env (reward 1 and termination on reaching the goal, checked after the action);
reward mode runs the `-singletask-task{N}` env (reward success - 1 of the state *before* the action, and
termination there). Both stop at the registered 1000-step time limit.
"""

import contextlib
import dataclasses
import functools
import inspect
from collections.abc import Iterator, Sequence
from typing import Literal

import gymnasium
import numpy as np
import ogbench.relabel_utils

from envs.env_workers import EnvWorkers
from envs.ogbench_common import (
    NUM_TASKS,
    PolicyFn,
    check_task_id,
    dataset_spec,
    make_env,
    pooled_envs,
    release_pooled_envs,
    seeded_global_numpy,
    singletask_name,
)

# The reference shifts OGBench's single-task rewards ({-1, 0} in mazes, -n … 0 in manipulation) by +1 before
# reward inference, so that a state meeting the task counts 1 (its evaluation's `shift_reward=1`).
REWARD_SHIFT = 1.0


@dataclasses.dataclass(frozen=True)
class OGBenchTasks:
    """The zero-shot tasks of an OGBench dataset (a `tdjepa.zero_shot.TaskSuite`): each of its five tasks is
    prompted by its goal observation (goal mode: the navigate env) and by its single-task rewards (reward
    mode: the `-singletask-task{N}` env); rollouts step in `workers`' processes when given."""

    name: str
    workers: EnvWorkers | None = None
    num_tasks: int = NUM_TASKS

    def goal_observation(self, task_id: int) -> np.ndarray:
        check_task_id(task_id)
        return goal_observations(self.name)[task_id - 1]

    def inference_rewards(self, task_id: int, samples: dict[str, np.ndarray]) -> np.ndarray:
        """OGBench's relabelled rewards of the samples' states, shifted by REWARD_SHIFT as the reference does."""
        return relabel_rewards(self.name, task_id, samples) + REWARD_SHIFT

    def rollout(
        self, policy: PolicyFn, mode: str, task_id: int, num_episodes: int, seed: int, frame_stack: int = 1
    ) -> dict:
        return evaluate(self.name, policy, mode, task_id, num_episodes, seed, frame_stack, self.workers)

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
        return record_episode(self.name, policy, mode, task_id, seed, frame_stack, size, every)


def tasks(dataset_name: str, workers: EnvWorkers | None = None) -> OGBenchTasks:
    """The zero-shot task suite of a dataset (an unknown name is refused with the supported ones)."""
    dataset_spec(dataset_name)
    return OGBenchTasks(dataset_name, workers)


def _goal_env_kwargs(dataset_name: str) -> dict[str, object]:
    """Goal mode disables the maze envs' goal noise so the success region is centred on the goal observation
    the policy is given (the single-task envs do the same); manipulation goals carry no noise."""
    return {} if dataset_spec(dataset_name).family == "manipspace" else {"add_noise_to_goal": False}


def goal_observations(dataset_name: str) -> np.ndarray:
    """The (5, *obs_shape) goal observations of tasks 1..5, as `info['goal']` of a reset with that task_id
    (visual datasets: the goal frame, uint8)."""
    return _goal_observations(dataset_name).copy()


@dataclasses.dataclass(frozen=True)
class MazeTask:
    """Where a maze task starts and ends, in the x, y plane, and how it is scored."""

    start_xy: np.ndarray
    goal_xy: np.ndarray
    goal_tolerance: float  # success: within this distance of goal_xy (OGBench: 1.0 point, 0.5 ant)
    max_steps: int


def maze_task(dataset_name: str, task_id: int) -> MazeTask:
    """The start and goal cell centres of a pointmaze or antmaze task, its success radius and time limit."""
    spec = dataset_spec(dataset_name)
    check_task_id(task_id)
    if spec.family == "manipspace":
        raise ValueError(f"{dataset_name} is not a maze dataset: its tasks have no start and goal positions")
    env = pooled_envs(spec.domain, 1)[0]
    info = env.unwrapped.task_infos[task_id - 1]
    return MazeTask(
        start_xy=np.asarray(info["init_xy"], np.float64),
        goal_xy=np.asarray(info["goal_xy"], np.float64),
        goal_tolerance=float(env.unwrapped._goal_tol),
        max_steps=int(env.spec.max_episode_steps),
    )


def relabel_rewards(dataset_name: str, task_id: int, data: dict[str, np.ndarray]) -> np.ndarray:
    """Single-task rewards r(s) of each state, computed by OGBench's own relabelling from qpos (and button
    states): success − 1 in mazes, (number of satisfied sub-goals) − (number of sub-goals) in manipulation.
    Visual datasets are relabelled by their state env (same simulator state, same reward, no rendering)."""
    if "qpos" not in data:
        raise KeyError("relabel_rewards needs data['qpos'] (load the dataset with its qpos/qvel keys)")
    env = pooled_envs(singletask_name(dataset_spec(dataset_name).domain, task_id), 1)[0]
    fields = {key: data[key] for key in ("qpos", "qvel", "button_states") if key in data}
    with seeded_global_numpy(0):  # relabel_dataset resets the env, which draws from numpy's global RNG.
        ogbench.relabel_utils.relabel_dataset(env.spec.id, env, fields)
    return fields["rewards"].astype(np.float32)


def evaluate(
    dataset_name: str,
    policy_fn: PolicyFn,
    mode: Literal["goal", "reward"],
    task_id: int,
    num_episodes: int = 10,
    seed: int = 0,
    frame_stack: int = 1,
    workers: EnvWorkers | None = None,
) -> dict:
    """Runs `num_episodes` episodes, episode j seeded with seed + j, in lockstep waves with one batched
    policy call per step: waves of `max_parallel_envs` envs in this process (manipulation envs take ~160 MB
    each), or of one env per worker of `workers`, stepped in parallel (the same episodes).

    With frame_stack k > 1 the policy sees the last k observations concatenated on the last axis, the
    first one repeated after a reset, as the datasets are stacked for training."""
    if frame_stack < 1:
        raise ValueError(f"frame_stack must be >= 1, got {frame_stack}")
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be at least 1, got {num_episodes}")
    name, env_kwargs, options = _task_env(dataset_name, mode, task_id)
    if workers is not None:
        workers.use(name, env_kwargs)
        envs, width = workers, min(num_episodes, len(workers))
    else:
        width = min(num_episodes, max_parallel_envs(dataset_name))
        envs = _LocalEnvs(pooled_envs(name, width, **env_kwargs))
    waves = [
        _run_lockstep(envs, policy_fn, seeds, options, frame_stack)
        for seeds in np.array_split(seed + np.arange(num_episodes), -(-num_episodes // width))
    ]
    if workers is None and mode == "reward" and dataset_spec(dataset_name).visual:
        # Each task has its own singletask env; kept, every visual one stays resident (a cpu_pixels run's RSS
        # grew by ~0.6 GB per reward task). It is rebuilt at the next evaluation.
        release_pooled_envs(name)
    returns, lengths, successes = (np.concatenate(parts) for parts in zip(*waves, strict=True))
    return {"success": float(successes.mean()), "return": float(returns.mean()), "episode_lengths": lengths}


def record_episode(
    dataset_name: str,
    policy_fn: PolicyFn,
    mode: Literal["goal", "reward"],
    task_id: int,
    seed: int = 0,
    frame_stack: int = 1,
    size: int = 192,
    every: int = 1,
) -> tuple[np.ndarray, dict]:
    """The (T, size, size, 3) uint8 frames of one episode, from the reset and then every `every`-th step (and
    the last), with its success, return, length and every observation (length + 1 of them). The episode is
    `evaluate`'s episode of the same seed (the same seeded reset), so a deterministic policy repeats it
    exactly. State envs are drawn by MuJoCo's offscreen renderer from the camera of OGBench's visual
    datasets; visual envs show their observations, what the agent sees, enlarged to about `size`."""
    if every < 1 or size < 16:
        raise ValueError(f"every must be >= 1 and size >= 16; got every={every}, size={size}")
    visual = dataset_spec(dataset_name).visual
    name, env_kwargs, options = _task_env(dataset_name, mode, task_id)
    render_kwargs = {} if visual else {"render_mode": "rgb_array", "width": size, "height": size}
    env = make_env(name, **env_kwargs, **render_kwargs)
    try:
        ob = _reset(env, seed, options)
        stack = stack_frames(None, ob, frame_stack)
        frames, observations = [_frame(env, ob, visual, size)], [ob]
        total, length, success, done = 0.0, 0, False, False
        while not done:
            action = _policy_actions(policy_fn, stack[None], env.action_space)[0]
            ob, reward, terminated, truncated, succeeded = _step(env, action)
            stack = stack_frames(stack, ob, frame_stack)
            observations.append(ob)
            total, length, success, done = total + reward, length + 1, success or succeeded, terminated or truncated
            if length % every == 0 or done:
                frames.append(_frame(env, ob, visual, size))
    finally:
        env.close()
    out = {"success": float(success), "return": total, "length": length, "observations": np.stack(observations)}
    return np.stack(frames), out


def _frame(env: gymnasium.Env, observation: np.ndarray, visual: bool, size: int) -> np.ndarray:
    """What a video shows of the env now: the rendered scene, or a visual observation enlarged by an integer
    factor (pixels repeated, no smoothing)."""
    if not visual:
        return env.render()
    factor = max(1, size // observation.shape[0])
    return observation.repeat(factor, axis=0).repeat(factor, axis=1)


def max_parallel_envs(dataset_name: str) -> int:
    """How many envs of a dataset run in lockstep: point and ant mazes are light, while each
    manipulation env holds ~160 MB (ten per task, pooled over ten tasks, filled 12 GB)."""
    return 2 if dataset_spec(dataset_name).family == "manipspace" else 10


def stack_frames(stack: np.ndarray | None, observation: np.ndarray, frame_stack: int) -> np.ndarray:
    """The newest frame_stack observations on the last axis: observation repeated when stack is None (a
    reset), else stack's oldest observation dropped and this one appended."""
    if stack is None:
        return np.concatenate([observation] * frame_stack, axis=-1)
    return np.concatenate([stack[..., observation.shape[-1] :], observation], axis=-1)


def _run_lockstep(
    envs: "_LocalEnvs | EnvWorkers", policy_fn: PolicyFn, seeds: np.ndarray, options: dict, frame_stack: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns, lengths and successes of one episode per seed, on envs 0 … len(seeds) − 1 stepped together."""
    count = len(seeds)
    first = envs.reset(range(count), seeds, options)
    observations = np.stack([stack_frames(None, ob, frame_stack) for ob in first])
    running = np.ones(count, dtype=bool)
    returns = np.zeros(count)
    lengths = np.zeros(count, dtype=np.int64)
    successes = np.zeros(count, dtype=bool)
    while running.any():
        indices = np.flatnonzero(running)
        actions = _policy_actions(policy_fn, observations[indices], envs.action_space)
        for j, (ob, reward, terminated, truncated, success) in zip(indices, envs.step(indices, actions), strict=True):
            observations[j] = stack_frames(observations[j], ob, frame_stack)
            returns[j] += reward
            lengths[j] += 1
            successes[j] |= success
            running[j] = not (terminated or truncated)
    return returns, lengths, successes


class _LocalEnvs:
    """In-process envs with `EnvWorkers`' reset / step interface, stepped one after the other."""

    def __init__(self, envs: list[gymnasium.Env]):
        self.envs, self.action_space = envs, envs[0].action_space

    def reset(self, indices: Sequence[int], seeds: Sequence[int], options: dict) -> list[np.ndarray]:
        return [_reset(self.envs[i], int(s), options) for i, s in zip(indices, seeds, strict=True)]

    def step(self, indices: Sequence[int], actions: np.ndarray) -> list[tuple]:
        return [_step(self.envs[i], a) for i, a in zip(indices, actions, strict=True)]


def evaluation_workers(count: int) -> EnvWorkers:
    """`count` worker processes that `evaluate` steps its envs in, in parallel (worth it for visual envs,
    whose rendering dominates; a state env's step is cheaper than sending it to another process)."""
    return EnvWorkers(count, (_make_env, _reset, _step, release_pooled_envs))


def _make_env(name: str, env_kwargs: dict[str, object]) -> gymnasium.Env:
    return pooled_envs(name, 1, **env_kwargs)[0]


def _step(env: gymnasium.Env, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, bool]:
    """(observation in its dataset dtype, reward, terminated, truncated, success) of one env step."""
    ob, reward, terminated, truncated, info = env.step(action)
    return _stored(ob), float(reward), bool(terminated), bool(truncated), bool(info["success"])


def random_policy(action_dim: int, seed: int) -> PolicyFn:
    """Uniform actions in [-1, 1]: the random-policy floor of the evaluation scores."""
    rng = np.random.default_rng(seed)
    return lambda observations: rng.uniform(-1.0, 1.0, (len(observations), action_dim)).astype(np.float32)


@functools.cache
def _goal_observations(dataset_name: str) -> np.ndarray:
    """Cached goal observations; the goals are fixed cells, so any seed gives the same result."""
    dataset_spec(dataset_name)
    env = pooled_envs(dataset_name, 1, **_goal_env_kwargs(dataset_name))[0]
    goals = []
    for task_id in range(1, NUM_TASKS + 1):
        _, info = _seeded_reset(env, task_id, {"task_id": task_id, "render_goal": False})
        goals.append(_stored(info["goal"]))
    return np.stack(goals)


def _task_env(dataset_name: str, mode: str, task_id: int) -> tuple[str, dict[str, object], dict[str, object]]:
    """The env name and kwargs of one evaluation task, and the reset options that select the task."""
    dataset_spec(dataset_name)
    check_task_id(task_id)
    if mode == "goal":
        return dataset_name, _goal_env_kwargs(dataset_name), {"task_id": task_id, "render_goal": False}
    if mode == "reward":
        return singletask_name(dataset_name, task_id), {}, {}
    raise ValueError(f"mode must be 'goal' or 'reward', got {mode!r}")


def _reset(env: gymnasium.Env, seed: int, options: dict[str, object]) -> np.ndarray:
    """The first observation of a seeded reset, in its dataset dtype."""
    return _stored(_seeded_reset(env, seed, options)[0])


def _seeded_reset(env: gymnasium.Env, seed: int, options: dict[str, object]) -> tuple[np.ndarray, dict]:
    """env.reset with every RNG it draws from seeded, so episodes and goals are reproducible: the env's own,
    numpy's global one (OGBench's start-position noise) and the action space's, whose random actions
    OGBench's task resets take from the goal state before recording the goal observation (unseeded, the
    arm of a cube goal or the legs of an ant goal differed from one process to the next)."""
    with seeded_global_numpy(seed), _seeded_action_space(env, seed):
        return env.reset(seed=seed, options=options)


@contextlib.contextmanager
def _seeded_action_space(env: gymnasium.Env, seed: int) -> Iterator[None]:
    """env's action space seeded with seed. OGBench's manipulation envs build a new, unseeded Box at each
    `action_space` access, so inside the block their class returns one seeded Box instead."""
    space = env.action_space
    space.seed(seed)
    owner = type(env.unwrapped)
    rebuilds = isinstance(inspect.getattr_static(owner, "action_space", None), property)
    own = owner.__dict__.get("action_space")
    if rebuilds:
        owner.action_space = property(lambda _: space)
    try:
        yield
    finally:
        if rebuilds and own is None:
            del owner.action_space
        elif rebuilds:
            owner.action_space = own


def _stored(observation: np.ndarray) -> np.ndarray:
    """An observation in its dataset dtype: uint8 frames stay uint8, states become float32."""
    observation = np.asarray(observation)
    return observation if observation.dtype == np.uint8 else observation.astype(np.float32)


def _policy_actions(policy_fn: PolicyFn, observations: np.ndarray, space: gymnasium.spaces.Box) -> np.ndarray:
    """Calls the policy on a batch and clips to the action box, as OGBench's evaluation does."""
    actions = np.asarray(policy_fn(observations), dtype=np.float32)
    expected = (len(observations), *space.shape)
    if actions.shape != expected:
        raise ValueError(f"policy_fn returned actions of shape {actions.shape}; expected {expected}")
    return np.clip(actions, space.low, space.high)
