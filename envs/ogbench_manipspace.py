"""Manipulation `play` episodes (cube, scene, puzzle) collected the way OGBench's own generator collects them.

The env runs in its data-collection mode, where it keeps drawing sub-tasks (move a cube, press a
button, open the drawer, slide the window); the scripted plan oracle of each sub-task, which ships in
the ogbench package, follows a keyframe plan with temporally correlated noise, and a new sub-task is
drawn as soon as the oracle finishes. Each episode is seeded on its own, so episodes can be collected
in parallel processes and the result does not depend on how many there are.
"""

import functools

import gymnasium
import numpy as np
from ogbench.manipspace.oracles.plan.button_plan import ButtonPlanOracle
from ogbench.manipspace.oracles.plan.cube_plan import CubePlanOracle
from ogbench.manipspace.oracles.plan.drawer_plan import DrawerPlanOracle
from ogbench.manipspace.oracles.plan.window_plan import WindowPlanOracle

from envs.ogbench_common import DatasetSpec, collect_seeded_episodes, dataset_spec, pooled_envs, seeded_global_numpy
from envs.ogbench_data import storage_dtype

# Temporal smoothing of the plan noise, OGBench's `--noise_smoothing` default for play data.
NOISE_SMOOTHING = 0.5
_KEYS = ("observations", "actions", "terminals", "qpos", "qvel", "button_states")
_MAX_SCENE_ATTEMPTS = 100


def collect_play_episodes(
    spec: DatasetSpec,
    num_episodes: int,
    episode_length: int,
    seed: list[int],
    noise: float,
    progress: bool,
    desc: str,
    workers: int,
) -> dict[str, np.ndarray]:
    """Episode-layout arrays of `num_episodes` oracle episodes of `episode_length` observations; episode i
    is seeded by seed + [i]. Visual datasets store the env's rendered uint8 frames."""
    collect = functools.partial(_play_episode, spec.name, noise, episode_length)
    return collect_seeded_episodes(collect, num_episodes, seed, workers, f"{spec.name} {desc}" if progress else None)


def stack_probability(dataset_name: str) -> float:
    """Probability that a cube sub-task stacks onto another cube, drawn per episode as OGBench does."""
    dataset_name = dataset_spec(dataset_name).domain
    if dataset_name.startswith("cube-single"):
        return 0.0
    if dataset_name.startswith("cube-double"):
        return float(np.random.uniform(0.0, 0.25))
    return 0.5


def make_oracles(env: gymnasium.Env, dataset_name: str, noise: float) -> dict[str, object]:
    """The plan oracle of each sub-task kind the env draws (`info['privileged/target_task']`)."""
    kwargs = {"env": env, "noise": noise, "noise_smoothing": NOISE_SMOOTHING}
    dataset_name = dataset_spec(dataset_name).domain
    if dataset_name.startswith("cube"):
        return {"cube": CubePlanOracle(**kwargs)}
    if dataset_name.startswith("puzzle"):
        return {"button": ButtonPlanOracle(gripper_always_closed=True, **kwargs)}
    if dataset_name.startswith("scene"):
        return {
            "cube": CubePlanOracle(**kwargs),
            "button": ButtonPlanOracle(**kwargs),
            "drawer": DrawerPlanOracle(**kwargs),
            "window": WindowPlanOracle(**kwargs),
        }
    raise ValueError(f"{dataset_name!r} is not a manipulation dataset (cube, scene or puzzle)")


def scene_episode_is_healthy(qpos: np.ndarray) -> bool:
    """OGBench's check on scene episodes: the cube never leaves the table except into the drawer, so
    test-time goal images stay unambiguous. Unhealthy episodes are collected again."""
    cube_xyz = qpos[:, 14:17]
    too_far_right = (cube_xyz[:, 1] >= 0.29).any()
    outside_drawer = (cube_xyz[:, 1] <= -0.3) & ((cube_xyz[:, 2] < 0.06) | (cube_xyz[:, 2] > 0.08))
    return not (too_far_right or outside_drawer.any())


def _play_episode(
    dataset_name: str, noise: float, episode_length: int, episode_seed: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """One episode to the time limit; scene episodes are retried with the next attempt's seed until healthy."""
    env = pooled_envs(
        dataset_name, 1, terminate_at_goal=False, mode="data_collection", max_episode_steps=episode_length
    )[0]
    for attempt in range(_MAX_SCENE_ATTEMPTS):
        # The oracles and the stacking probability draw from numpy's global RNG, the env from its own.
        with seeded_global_numpy([*episode_seed, attempt]):
            episode = _run_oracle(env, dataset_name, noise, seed=int(np.random.randint(2**31)))
        if not dataset_spec(dataset_name).domain.startswith("scene") or scene_episode_is_healthy(episode["qpos"]):
            return episode
    raise RuntimeError(f"{dataset_name}: no healthy episode in {_MAX_SCENE_ATTEMPTS} attempts (seed {episode_seed})")


def _run_oracle(env: gymnasium.Env, dataset_name: str, noise: float, seed: int) -> dict[str, np.ndarray]:
    """Steps the env with the current sub-task's oracle, switching sub-task whenever the oracle is done."""
    oracles = make_oracles(env, dataset_name, noise)
    ob, info = env.reset(seed=seed)
    p_stack = stack_probability(dataset_name)
    oracle = oracles[info["privileged/target_task"]]
    oracle.reset(ob, info)
    has_buttons = "prev_button_states" in info or "button_states" in info
    keys = _KEYS if has_buttons else _KEYS[:-1]
    steps = {key: [] for key in keys}
    done = False
    while not done:
        action = np.clip(np.asarray(oracle.select_action(ob, info)), -1.0, 1.0)
        next_ob, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        if oracle.done:
            oracle_ob, oracle_info = env.unwrapped.set_new_target(p_stack=p_stack)
            oracle = oracles[oracle_info["privileged/target_task"]]
            oracle.reset(oracle_ob, oracle_info)
        values = (ob, action, done, info["prev_qpos"], info["prev_qvel"], info.get("prev_button_states"))
        for key, value in zip(keys, values, strict=False):
            steps[key].append(value)
        ob = next_ob
    visual = dataset_spec(dataset_name).visual
    return {key: np.asarray(values, dtype=storage_dtype(key, visual)) for key, values in steps.items()}
