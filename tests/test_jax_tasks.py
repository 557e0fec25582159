"""The JAX bodies' task rewards against dm_control's own: the same physics states, scored by dm_control's
`task.get_reward(physics)` (or, for the papers' custom tasks, by their formula over dm_control's physics
quantities), and by `envs.task_reward`."""

import mujoco
import numpy as np
import pytest

from envs import jax_envs

dm_suite = pytest.importorskip("dm_control.suite")
from dm_control.mujoco.wrapper.mjbindings import sizes  # noqa: E402
from dm_control.utils import rewards as dm_rewards  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def dm_control_index_for_this_mujoco():
    """dm_control 1.0.50 indexes flex fields MuJoCo 4.0 removed; its Physics loads once they are dropped."""
    model = mujoco.MjModel.from_xml_string("<mujoco/>")
    removed = {}
    for struct, instance in (("mjmodel", model), ("mjdata", mujoco.MjData(model))):
        for field in [f for f in sizes.array_sizes[struct] if not hasattr(instance, f)]:
            removed[(struct, field)] = sizes.array_sizes[struct].pop(field)
    yield
    for (struct, field), value in removed.items():
        sizes.array_sizes[struct][field] = value


def dm_states(domain: str, task: str, steps: int = 40, seed: int = 0, start=None):
    """States of a random-action dm_control episode: (env, [(qpos, qvel, action)]), each state reached by its action."""
    env = dm_suite.load(domain, task, task_kwargs={"random": seed})
    rng = np.random.default_rng(seed)
    env.reset()
    if start is not None:
        with env.physics.reset_context():
            start(env.physics)
    spec = env.action_spec()
    states = []
    for _ in range(steps):
        action = rng.uniform(spec.minimum, spec.maximum)
        env.step(action)
        states.append((env.physics.data.qpos.copy(), env.physics.data.qvel.copy(), action))
    return env, states


def scored(env, states, reward) -> np.ndarray:
    """reward(physics) at each state, after dm_control's forward on it."""
    values = []
    for qpos, qvel, action in states:
        with env.physics.reset_context():
            env.physics.data.qpos[:] = qpos
            env.physics.data.qvel[:] = qvel
            env.physics.data.ctrl[:] = action
        values.append(reward(env.physics))
    return np.asarray(values)


def ours(env_id: str, task: str, states) -> np.ndarray:
    """Our reward of `task` at the states, computed with all the env's tasks at once (one compile per env)."""
    env = jax_envs.make(env_id)
    qpos, qvel, action = (np.stack(x).astype(np.float32) for x in zip(*states, strict=True))
    return np.asarray(env.task_rewards(env.tasks)(qpos, qvel, action))[:, env.tasks.index(task)]


@pytest.mark.parametrize(
    "env_id, domain, dm_tasks",
    [
        ("dmc-walker", "walker", ("stand", "walk", "run")),
        ("dmc-cheetah", "cheetah", ("run",)),
        ("dmc-hopper", "hopper", ("hop", "stand")),
        ("dmc-humanoid", "humanoid", ("stand", "walk", "run")),
    ],
)
def test_rewards_equal_dm_controls_on_the_same_states(env_id, domain, dm_tasks):
    for dm_task in dm_tasks:
        env, states = dm_states(domain, dm_task)
        expected = scored(env, states, env.task.get_reward)
        np.testing.assert_allclose(ours(env_id, f"{domain}-{dm_task}", states), expected, atol=2e-6)
        assert expected.std() > 0  # the states differ in reward, so the comparison can fail


def test_point_mass_reach_equals_dm_controls_near_its_target():
    def near_target(physics):
        physics.data.qpos[:] = [0.01, -0.01]

    env, states = dm_states("point_mass", "easy", steps=20, start=near_target)
    expected = scored(env, states, env.task.get_reward)
    np.testing.assert_allclose(ours("dmc-point_mass", "point_mass-reach", states), expected, atol=2e-6)
    assert expected.max() > 0.5


def test_custom_tasks_follow_the_papers_formulas_over_dm_controls_physics():
    """walker flip / spin (URLB, TD-JEPA's dmc_tasks) and cheetah's walk / backward tasks."""
    env, states = dm_states("walker", "walk", steps=60)

    def stand(p):
        standing = dm_rewards.tolerance(p.torso_height(), bounds=(1.2, float("inf")), margin=0.6)
        return (3 * standing + (1 + p.torso_upright()) / 2) / 4

    def spin_speed(bounds, margin):
        return lambda p: dm_rewards.tolerance(
            p.named.data.subtree_angmom["torso"][1], bounds=bounds, margin=margin, value_at_margin=0, sigmoid="linear"
        )

    flip = scored(env, states, lambda p: stand(p) * (5 * spin_speed((5, float("inf")), 5)(p) + 1) / 6)
    spin = scored(env, states, spin_speed((10, float("inf")), 10))
    np.testing.assert_allclose(ours("dmc-walker", "walker-flip", states), flip, atol=2e-6)
    np.testing.assert_allclose(ours("dmc-walker", "walker-spin", states), spin, atol=2e-6)

    env, states = dm_states("cheetah", "run", steps=60)
    for task, speed, sign in (("walk", 2, 1), ("run_backward", 10, -1), ("walk_backward", 2, -1)):
        expected = scored(
            env,
            states,
            lambda p, s=speed, d=sign: dm_rewards.tolerance(
                d * p.speed(), bounds=(s, float("inf")), margin=s, value_at_margin=0, sigmoid="linear"
            ),
        )
        np.testing.assert_allclose(ours("dmc-cheetah", f"cheetah-{task}", states), expected, atol=2e-6)


def test_ant_moves_are_root_velocities_along_eight_directions():
    qvel = np.zeros((1, 14), np.float32)
    qvel[0, :2] = [1.0, 2.0]
    qpos = np.zeros((1, 15), np.float32)
    qpos[0, 2] = 0.55
    east = jax_envs.task_reward("brax-ant", "ant-move_east", qpos, qvel)
    north_west = jax_envs.task_reward("brax-ant", "ant-move_north_west", qpos, qvel)
    np.testing.assert_allclose(east, [1.0], rtol=1e-6)
    np.testing.assert_allclose(north_west, [(2.0 - 1.0) / np.sqrt(2)], rtol=1e-6)


def test_unknown_env_and_task_are_refused_with_the_accepted_names():
    with pytest.raises(ValueError, match="unknown JAX env 'dmc-walkr'; accepted values: dmc-walker"):
        jax_envs.task_reward("dmc-walkr", "walker-walk", np.zeros((1, 9)), np.zeros((1, 9)))
    with pytest.raises(ValueError, match="unknown task 'walker-jump' for dmc-walker; accepted values: walker-stand"):
        jax_envs.task_reward("dmc-walker", "walker-jump", np.zeros((1, 9)), np.zeros((1, 9)))
