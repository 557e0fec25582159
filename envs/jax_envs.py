"""Environments that are JAX programs, stepped with `jax.vmap` inside the jitted training chunk, through brax's
`Env` / `State` API: the DeepMind Control bodies MuJoCo Playground ports to MJX, and brax's ant and humanoid.

    env = envs.jax_envs.make("dmc-walker")
    state = jax.vmap(env.reset)(keys)             # brax/playground State: obs, reward, done, info, physics
    state = jax.vmap(env.step)(state, actions)    # info["truncation"] marks the episode-length cut
    qpos, qvel = env.physics(state)
    rewards = envs.task_reward("dmc-walker", "walker-walk", qpos, qvel, actions)

Physics runs on MJX's pure-JAX implementation (`impl="jax"`), so one program runs on CPU, GPU and TPU and
compiles in seconds (Playground's default, Warp, compiled its kernels for ~3 minutes before the first reset on
this CPU). Episodes end at `episode_length` steps (brax's `EpisodeWrapper`, a truncation) or when the body
terminates (brax's ant and humanoid falling; NaN physics in Playground). The env's own reward is not used:
runs are reward-free and every task is a function of the physics (`envs.jax_tasks`).

Playground's observation and reward after a step read the body's kinematics as MJX left them, from the start
of the step's last physics substep, while qpos / qvel are its end (dm_control recomputes kinematics after a
step). Measured on walker after 10 random steps: the observation differs by up to 0.05 from the one of the
same physics recomputed, and its own walk reward by 8e-4 from `task_reward` (which equals dm_control's). The
agents see Playground's observations in training and evaluation alike; rewards always come from physics.
"""

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from brax.envs.wrappers.training import EpisodeWrapper
from mujoco import mjx
from mujoco.mjx._src import io as _mjx_io

from envs.jax_tasks import BODY_TASKS, batched_rewards, reward_model


def _default_to_this_process(resolve: Callable) -> Callable:
    """MJX places models and data on `jax.devices()[0]` when given no device: in a run over several processes
    that is process 0's device, which the others cannot use (their first jitted reset fails). There, this
    process's first device is given instead; a single process is left as MJX has it."""

    @functools.wraps(resolve)
    def resolve_here(impl, device=None):
        if device is None and jax.process_count() > 1:
            device = jax.local_devices()[0]
        return resolve(impl, device)

    return resolve_here


# Playground and brax build their MJX models and reset data without a device; every path goes through here.
_mjx_io._resolve_impl_and_device = _default_to_this_process(_mjx_io._resolve_impl_and_device)


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """An env id: where its body comes from, the prefix of its task names, and its episode length."""

    env_id: str
    suite: str  # "playground" or "brax"
    name: str  # the suite's env name
    body: str  # key of its tasks in envs.jax_tasks.BODY_TASKS
    task_prefix: str
    episode_length: int = 1000


ENV_SPECS = {
    spec.env_id: spec
    for spec in (
        EnvSpec("dmc-walker", "playground", "WalkerWalk", "walker", "walker"),
        EnvSpec("dmc-cheetah", "playground", "CheetahRun", "cheetah", "cheetah"),
        EnvSpec("dmc-hopper", "playground", "HopperHop", "hopper", "hopper"),
        EnvSpec("dmc-point_mass", "playground", "PointMass", "point_mass", "point_mass"),
        EnvSpec("dmc-humanoid", "playground", "HumanoidWalk", "humanoid", "humanoid"),
        EnvSpec("brax-ant", "brax", "ant", "ant", "ant"),
        EnvSpec("brax-humanoid", "brax", "humanoid", "brax_humanoid", "humanoid"),
    )
}
ENV_IDS = tuple(ENV_SPECS)


def env_spec(env_id: str) -> EnvSpec:
    """The spec of `env_id`; an unknown id is refused with the accepted ones."""
    if env_id not in ENV_SPECS:
        raise ValueError(f"unknown JAX env {env_id!r}; accepted values: {', '.join(ENV_IDS)}")
    return ENV_SPECS[env_id]


def task_names(env_id: str) -> tuple[str, ...]:
    """The tasks of an env id, named `<body>-<task>` (`walker-stand`, `cheetah-run_backward`, …)."""
    spec = env_spec(env_id)
    return tuple(f"{spec.task_prefix}-{task}" for task in BODY_TASKS[spec.body])


def _strong(tree):
    """The tree with every leaf's weak type made strong: reset and step then give states of one type, and the
    jitted step is not compiled a second time for the state it returned itself."""
    return jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.asarray(x).dtype), tree)


class JaxEnv:
    """One env id: reset / step of a single env in brax's API (vmap them for many), its physics and its tasks."""

    def __init__(self, spec: EnvSpec):
        self.spec = spec
        inner = _load(spec.suite, spec.name)
        self._env = EpisodeWrapper(inner, spec.episode_length, action_repeat=1)
        self.action_size: int = inner.action_size
        self.mj_model: mujoco.MjModel = inner.mj_model if spec.suite == "playground" else inner.sys.mj_model
        self._xml, self._assets = _model_source(spec.suite, inner)
        self.tasks = task_names(spec.env_id)
        self._rewards: dict[tuple[str, ...], Callable] = {}
        self._reward_mj_model: mujoco.MjModel | None = None

    @property
    def observation_size(self) -> int:
        return int(jax.eval_shape(self.reset, jax.random.PRNGKey(0)).obs.shape[-1])

    def reset(self, key: jax.Array):
        return _strong(self._env.reset(key))

    def step(self, state, action: jnp.ndarray):
        return _strong(self._env.step(state, action))

    def reset_to(self, key: jax.Array, qpos: jnp.ndarray, qvel: jnp.ndarray):
        """A fresh episode whose body starts at (qpos, qvel), e.g. a clip's first frame (Playground bodies)."""
        if self.spec.suite != "playground":
            raise ValueError(f"{self.spec.env_id}: starting from a given physics state needs a Playground body")
        state = self._env.reset(key)
        inner = self._env.env
        data = mjx.forward(inner.mjx_model, state.data.replace(qpos=qpos, qvel=qvel))
        return _strong(state.replace(data=data, obs=inner._get_obs(data, state.info)))

    def physics(self, state) -> tuple[jnp.ndarray, jnp.ndarray]:
        """(qpos, qvel) of a state (any batch shape)."""
        if self.spec.suite == "playground":
            return state.data.qpos, state.data.qvel
        return state.pipeline_state.q, state.pipeline_state.qd

    def truncated(self, state) -> jnp.ndarray:
        """1 where the episode was cut at its length (bootstrap through it), 0 where it ended otherwise."""
        return state.info["truncation"]

    def render(self, qpos: np.ndarray, size: int = 192) -> np.ndarray:
        """(T, size, size, 3) uint8 frames of the body at the T positions qpos (T, nq), drawn by MuJoCo's
        offscreen renderer from the model's first camera (dm_control's default view; the free camera if none)."""
        data = mujoco.MjData(self.mj_model)
        camera = 0 if self.mj_model.ncam else -1
        with mujoco.Renderer(self.mj_model, size, size) as renderer:
            frames = []
            for position in np.asarray(qpos, np.float64):
                data.qpos[:] = position
                mujoco.mj_forward(self.mj_model, data)
                renderer.update_scene(data, camera=camera)
                frames.append(renderer.render())
        return np.stack(frames)

    def task_rewards(self, tasks: tuple[str, ...]) -> Callable[[jnp.ndarray, jnp.ndarray, jnp.ndarray], jnp.ndarray]:
        """rewards(qpos, qvel, action) -> (..., len(tasks)) of some of this env's tasks, over leading axes
        (one physics forward per state for all of them)."""
        unknown = [task for task in tasks if task not in self.tasks]
        if unknown:
            raise ValueError(
                f"unknown task {unknown[0]!r} for {self.spec.env_id}; accepted values: {', '.join(self.tasks)}"
            )
        if tasks not in self._rewards:
            if self._reward_mj_model is None:
                self._reward_mj_model = reward_model(self.mj_model, self._xml, self._assets, self.spec.body)
            body_tasks = [BODY_TASKS[self.spec.body][task.split("-", 1)[1]] for task in tasks]
            self._rewards[tasks] = jax.jit(batched_rewards(self._reward_mj_model, body_tasks))
        return self._rewards[tasks]


def _load(suite: str, name: str):
    if suite == "playground":
        from mujoco_playground import registry

        config = registry.get_default_config(name)
        config.impl = "jax"
        return registry.load(name, config=config)
    from brax import envs as brax_envs

    return brax_envs.get_environment(name, backend="mjx")


def _model_source(suite: str, inner) -> tuple[str, dict]:
    """The XML and assets the body was built from (the reward model adds sensors to them)."""
    if suite == "playground":
        from mujoco_playground._src.dm_control_suite import common

        return str(inner.xml_path), common.get_assets()
    return "", {}


@functools.cache
def make(env_id: str) -> JaxEnv:
    """The env of `env_id` (built once per process; an unknown id is refused with the accepted ones)."""
    return JaxEnv(env_spec(env_id))


def task_reward(
    env_id: str, task: str, qpos: jnp.ndarray, qvel: jnp.ndarray, action: jnp.ndarray | None = None
) -> jnp.ndarray:
    """The reward of `task` at physics states (qpos, qvel) of `env_id`'s body, batched over leading axes.
    `action` is the control the state was reached with (the control costs of hopper stand, humanoid and point
    mass read it); None means no control (those costs are then at their best)."""
    env = make(env_id)
    if action is None:
        action = jnp.zeros((*jnp.shape(qpos)[:-1], env.action_size))
    rewards = env.task_rewards((task,))(jnp.asarray(qpos), jnp.asarray(qvel), jnp.asarray(action))
    return rewards[..., 0]
