"""Task experts for the JAX envs' bodies (walker stand, walk, run, flip, …) and the demonstration clips their
rollouts make: FB-CPR's unlabelled motions and the tracking prompts, made here because no motion-capture data
can be downloaded.

`train_body_expert` runs the library's SAC (`tdjepa.sac`) on `num_envs` envs stepped with `jax.vmap`, rewarded by
the task's function of the physics (`envs.jax_tasks`), `updates_per_step` updates per env step; every stretch
between two progress reports is one jitted scan of env steps and updates. brax's SAC is not used: Playground's
tuned config for walker takes 5M env steps (8 updates per 128 env steps), hours on two CPU cores, while this
SAC at half an update per env step makes a walker stander of return 950 in 100k env steps, 9 minutes here
(docs/results/fb-cpr.md has the runs).

`record_clips` rolls experts out deterministically from fresh resets and keeps observations, qpos and qvel in
the clip format of `tdjepa.clips`.
"""

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from tqdm import trange

from envs import jax_envs
from tdjepa import sac
from tdjepa.clips import save_clips

CLIPS_DIR = Path(__file__).parent / "clips"  # the clips shipped with the library, one file per env id


def shipped_clips(env_id: str, held_out: bool = False) -> Path:
    """The shipped clip file of `env_id`: training clips, or the held-out ones tracking is evaluated on."""
    return CLIPS_DIR / f"{env_id}{'-held-out' if held_out else ''}.npz"


def expert_config() -> ml_collections.ConfigDict:
    """SAC for the DMC bodies: OGBench's expert networks with the usual DMC settings (Adam 3e-4, temperature
    from 0.1, target entropy −|A|) and LayerNorm in the critic as Playground's SAC has it."""
    config = sac.default_config()
    config.update(lr=3e-4, init_temperature=0.1, target_entropy_per_dim=-1.0, layer_norm=True)
    return config


@flax.struct.dataclass
class ExpertRun:
    """The learner, the envs (and their first states, for auto-reset), the replay rows and episode returns."""

    learner: sac.SACState
    env_state: Any
    first_state: Any
    buffer: dict[str, jnp.ndarray]
    filled: jnp.ndarray  # rows written so far (the buffer holds min(filled, capacity))
    episode_return: jnp.ndarray  # (num_envs,) return of each env's running episode
    last_return: jnp.ndarray  # (num_envs,) return of each env's last finished episode


class BodyExpertTrainer:
    """SAC on `task` of env `env_id` with `num_envs` vmapped envs and a replay of `capacity` transitions."""

    def __init__(
        self,
        env_id: str,
        task: str,
        num_envs: int,
        capacity: int,
        seed_steps: int,
        updates_per_step: float = 1.0,
        config: ml_collections.ConfigDict | None = None,
    ):
        self.env = jax_envs.make(env_id)
        self.reward = self.env.task_rewards((task,))
        self.task, self.num_envs, self.capacity, self.seed_steps = task, num_envs, capacity, seed_steps
        if capacity % num_envs:
            raise ValueError(f"replay capacity {capacity} is not a multiple of num_envs={num_envs}")
        self.updates = round(num_envs * updates_per_step)  # after each step of every env
        if self.updates < 1:
            raise ValueError(f"updates_per_step={updates_per_step} gives no update per step of {num_envs} envs")
        self.config = expert_config() if config is None else config
        self.agent = sac.SAC(self.config, self.env.action_size)

    def init(self, key: jax.Array) -> ExpertRun:
        k_agent, k_reset = jax.random.split(key)
        obs_dim = self.env.observation_size
        env_state = jax.vmap(self.env.reset)(jax.random.split(k_reset, self.num_envs))
        shapes = {
            "observations": (obs_dim,),
            "actions": (self.env.action_size,),
            "rewards": (),
            "masks": (),
            "next_observations": (obs_dim,),
        }
        zeros = jnp.zeros(self.num_envs)
        return ExpertRun(
            learner=self.agent.init(k_agent, obs_dim),
            env_state=env_state,
            first_state=env_state,
            buffer={name: jnp.zeros((self.capacity, *shape)) for name, shape in shapes.items()},
            filled=jnp.zeros((), jnp.int32),
            episode_return=zeros,
            last_return=zeros,
        )

    def _env_step(self, run: ExpertRun, key: jax.Array) -> tuple[ExpertRun, dict]:
        """Every env one step (uniform actions during the seed steps), its transitions written to the replay;
        also returns the step's frame: the next observation and physics, the action, the env's own reward."""
        k_random, k_policy = jax.random.split(key)
        obs = run.env_state.obs
        shape = (self.num_envs, self.env.action_size)
        action = jnp.where(
            run.filled < self.seed_steps,
            jax.random.uniform(k_random, shape, minval=-1.0, maxval=1.0),
            self.agent.act(run.learner.params, obs, k_policy),
        )
        next_state = jax.vmap(self.env.step)(run.env_state, action)
        qpos, qvel = self.env.physics(next_state)
        reward = self.reward(qpos, qvel, action)[:, 0]
        done = next_state.done.astype(bool)
        rows = {
            "observations": obs,
            "actions": action,
            "rewards": reward,
            "masks": 1.0 - next_state.done * (1.0 - self.env.truncated(next_state)),
            "next_observations": next_state.obs,
        }
        start = run.filled % self.capacity
        buffer = {name: jax.lax.dynamic_update_slice_in_dim(run.buffer[name], rows[name], start, 0) for name in rows}
        env_state = jax.tree.map(
            lambda first, now: jnp.where(done.reshape(done.shape + (1,) * (now.ndim - 1)), first, now),
            run.first_state,
            next_state,
        )
        episode_return = run.episode_return + reward
        frame = {
            "observation": next_state.obs,
            "action": action,
            "qpos": qpos,
            "qvel": qvel,
            "reward": next_state.reward,
            "done": done,
        }
        run = run.replace(
            env_state=env_state,
            buffer=buffer,
            filled=run.filled + self.num_envs,
            episode_return=jnp.where(done, 0.0, episode_return),
            last_return=jnp.where(done, episode_return, run.last_return),
        )
        return run, frame

    def _updates(self, run: ExpertRun, key: jax.Array) -> tuple[ExpertRun, dict]:
        """The SAC updates of one step of every env, on uniform batches of the replay."""
        size = jnp.minimum(run.filled, self.capacity)

        def update(learner, k):
            k_index, k_update = jax.random.split(k)
            index = jax.random.randint(k_index, (self.config.batch_size,), 0, size)
            batch = {name: values[index] for name, values in run.buffer.items()}
            return self.agent.update(learner, batch, k_update)

        learner, metrics = jax.lax.scan(update, run.learner, jax.random.split(key, self.updates))
        return run.replace(learner=learner), jax.tree.map(jnp.mean, metrics)

    def _scan(self, run: ExpertRun, key: jax.Array, vector_steps: int) -> tuple[ExpertRun, dict, dict]:
        """`vector_steps` steps of every env, each followed by its updates once the seed steps are done: the
        run, the last updates' metrics and the frames, (vector_steps, num_envs, ...)."""

        def one(run, k):
            k_env, k_update = jax.random.split(k)
            run, frame = self._env_step(run, k_env)
            skip = (run, jax.tree.map(jnp.zeros_like, jax.eval_shape(self._updates, run, k_update)[1]))
            run, metrics = jax.lax.cond(
                run.filled >= self.seed_steps, lambda: self._updates(run, k_update), lambda: skip
            )
            return run, (metrics, frame)

        run, (metrics, frames) = jax.lax.scan(one, run, jax.random.split(key, vector_steps))
        return run, jax.tree.map(lambda m: m[-1], metrics), frames

    @functools.partial(jax.jit, static_argnums=(0, 3))
    def advance(self, run: ExpertRun, key: jax.Array, vector_steps: int) -> tuple[ExpertRun, dict]:
        """`_scan` without the frames."""
        return self._scan(run, key, vector_steps)[:2]

    @functools.partial(jax.jit, static_argnums=(0, 3))
    def advance_recording(self, run: ExpertRun, key: jax.Array, vector_steps: int) -> tuple[ExpertRun, dict, dict]:
        """`_scan`, frames included (the exploration datasets' episodes)."""
        return self._scan(run, key, vector_steps)


def rollouts(env_id: str, act, reset_keys: jax.Array, steps: int) -> dict[str, jnp.ndarray]:
    """`steps` steps of deterministic policy `act` (observations -> actions) from the resets of `reset_keys`:
    the observations, qpos and qvel of every state before its action, the actions, and each step's alive mask
    (0 after the episode ended), all shaped (episodes, steps, ...)."""
    env = jax_envs.make(env_id)

    def step(carry, _):
        env_state, alive = carry
        action = act(env_state.obs)
        qpos, qvel = env.physics(env_state)
        frame = {"observations": env_state.obs, "qpos": qpos, "qvel": qvel, "actions": action, "alive": alive}
        next_state = jax.vmap(env.step)(env_state, action)
        return (next_state, alive * (1.0 - next_state.done)), frame

    env_state = jax.vmap(env.reset)(reset_keys)
    _, frames = jax.lax.scan(step, (env_state, jnp.ones(len(reset_keys))), None, length=steps)
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), frames)


def expert_returns(env_id: str, task: str, act, reset_keys: jax.Array) -> np.ndarray:
    """Each episode's return of `task` under deterministic policy `act` (a whole episode from each reset)."""
    env = jax_envs.make(env_id)
    frames = jax.jit(rollouts, static_argnums=(0, 1, 3))(env_id, act, reset_keys, env.spec.episode_length)
    next_qpos = jnp.concatenate([frames["qpos"][:, 1:], frames["qpos"][:, -1:]], 1)
    next_qvel = jnp.concatenate([frames["qvel"][:, 1:], frames["qvel"][:, -1:]], 1)
    rewards = env.task_rewards((task,))(next_qpos, next_qvel, frames["actions"])[..., 0]
    return np.asarray(jnp.sum(rewards * frames["alive"], 1))


def train_body_expert(
    env_id: str,
    task: str,
    out: str | Path,
    num_steps: int,
    num_envs: int = 16,
    seed: int = 0,
    seed_steps: int = 5_000,
    updates_per_step: float = 1.0,
    report_every: int = 10_000,
    eval_episodes: int = 8,
    progress: bool = True,
    config: ml_collections.ConfigDict | None = None,
) -> dict:
    """Trains the expert of `task` for `num_steps` env steps, evaluates it and writes its actor to `out`
    (tdjepa.sac's actor file); returns the record written with it."""
    env = jax_envs.make(env_id)
    if task not in env.tasks:
        raise ValueError(f"unknown task {task!r} for {env_id}; accepted values: {', '.join(env.tasks)}")
    chunk = report_every // num_envs
    if chunk < 1 or num_steps % (chunk * num_envs) or num_steps <= seed_steps:
        raise ValueError(
            f"need num_steps ({num_steps}) > seed_steps ({seed_steps}) and a whole number of reports of "
            f"{report_every} env steps ({num_envs} envs each step)"
        )
    trainer = BodyExpertTrainer(env_id, task, num_envs, num_steps, seed_steps, updates_per_step, config)
    key = jax.random.PRNGKey(seed)
    run = jax.jit(trainer.init)(jax.random.fold_in(key, 0))
    history = []
    bar = trange(num_steps // (chunk * num_envs), desc=f"{task} expert (SAC)", disable=not progress)
    for report in bar:
        run, metrics = trainer.advance(run, jax.random.fold_in(key, report + 1), chunk)
        train_return = float(jnp.mean(run.last_return))
        history.append({"env_steps": int(run.filled), "train_return": train_return})
        bar.set_postfix(ret=f"{train_return:.0f}", temp=f"{float(metrics['temperature']):.3f}")
    params = run.learner.params
    act = functools.partial(trainer.agent.act, params)
    returns = expert_returns(env_id, task, act, jax.random.split(jax.random.fold_in(key, 2**31 - 1), eval_episodes))
    record = {
        "producer": "envs.body_experts.train_body_expert",
        "env": env_id,
        "task": task,
        "num_steps": num_steps,
        "num_envs": num_envs,
        "seed_steps": seed_steps,
        "updates_per_step": updates_per_step,
        "seed": seed,
        "sac_config": trainer.config.to_dict(),
        "obs_dim": env.observation_size,
        "history": history,
        "final_metrics": {name: float(value) for name, value in metrics.items()},
        "eval_episodes": eval_episodes,
        "eval_return": float(np.mean(returns)),
        "eval_returns": [float(r) for r in returns],
    }
    sac.save_actor(out, params["actor"], record)
    return record


def load_body_expert(path: str | Path, env_id: str):
    """(deterministic policy observations -> actions, record) of an expert file for `env_id`'s body."""
    env = jax_envs.make(env_id)
    try:
        trained_on = sac.read_actor(path)[1].get("env")
        if trained_on != env_id:
            raise ValueError(f"{path}: an expert for {trained_on!r}, not for {env_id!r}")
        agent, params, record = sac.load_actor(path, env.observation_size, env.action_size)
    except sac.ActorFileError as error:
        raise ValueError(f"{path}: not an expert written by experiments.train_expert ({error})") from error
    return functools.partial(agent.act, params), record


def record_clips(
    env_id: str,
    experts: Sequence[str | Path],
    out: str | Path,
    clips_per_expert: int,
    clip_length: int,
    skip_steps: int = 0,
    seed: int = 0,
) -> dict:
    """Rolls each expert out deterministically from `clips_per_expert` fresh resets and writes the steps
    skip_steps … skip_steps + clip_length − 1 of every rollout to clip file `out`, named `<task>/<i>` (i counts
    the task's clips); returns
    {name: the clip's return of its expert's task}."""
    env = jax_envs.make(env_id)
    steps = skip_steps + clip_length
    if steps > env.spec.episode_length:
        raise ValueError(f"skip_steps + clip_length = {steps} exceeds {env_id}'s episodes ({env.spec.episode_length})")
    parts, names, returns = [], [], {}
    for e, path in enumerate(experts):
        act, record = load_body_expert(path, env_id)
        keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), e), clips_per_expert)
        frames = jax.jit(rollouts, static_argnums=(0, 1, 3))(env_id, act, keys, steps)
        frames = jax.tree.map(lambda x: np.asarray(x[:, skip_steps:]), frames)
        reward = env.task_rewards((record["task"],))
        rewards = np.asarray(reward(frames["qpos"][:, 1:], frames["qvel"][:, 1:], frames["actions"][:, :-1]))
        for i in range(clips_per_expert):
            names.append(f"{record['task']}/{sum(name.startswith(record['task'] + '/') for name in names)}")
            returns[names[-1]] = float(np.sum(rewards[i, :, 0]))
        parts.append(frames)
    frames = {key: np.concatenate([part[key] for part in parts]) for key in ("observations", "qpos", "qvel")}
    save_clips(out, env_id, frames["observations"], frames["qpos"], frames["qvel"], names=names)
    return returns
