"""Exploration datasets of the JAX bodies in ExoRL's format (`envs.exorl`), made here because ExoRL's host is
unreachable: `collect_episodes(env_id, "rnd" | "random", out, num_episodes)`.

- `random`: uniform random actions in [−1, 1].
- `rnd`: Random Network Distillation (Burda et al., 2019), the explorer of ExoRL's standard datasets, as URLB
  codes it: a predictor trained to match a frozen random network on batch-normalised observations (clipped to
  ±5), the intrinsic reward its squared error divided by the error's running standard deviation, computed on
  the replay batch after the predictor's step. The learner is the library's SAC (URLB's is DDPG) with the
  body experts' settings, on `num_envs` vmapped envs, training as it collects, so later episodes explore
  with a better explorer, as ExoRL's recorded replays did. CPU-sized networks (RND 256 wide, 64 out;
  URLB: 1024 and 512).

All envs restart together, each from a fresh reset, so each round of `episode_length` vector steps writes one
episode per env: the reset's observation and physics, then every step's, with ExoRL's action alignment (entry t
holds the action that led to observation t) and the env's own reward (ExoRL stores its domain's reward the same
way). Physics is qpos ‖ qvel (the bodies have no actuator state). Observations and the stored reward are
Playground's, one physics substep behind the stored physics (`envs.jax_envs`); relabel rewards from the physics.
"""

import dataclasses
import math
from pathlib import Path

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from tqdm import trange

from envs import exorl, jax_envs
from envs.body_experts import BodyExpertTrainer, ExpertRun
from tdjepa.optim import apply_gradients

EXPLORERS = ("rnd", "random")


def rnd_config() -> ml_collections.ConfigDict:
    """RND's settings (URLB's rnd.yaml but the widths): lr 1e-4, clip 5, reward scale 1."""
    return ml_collections.ConfigDict(dict(hidden_dim=256, rep_dim=64, lr=1e-4, clip=5.0, scale=1.0))


class RNDNetwork(nn.Module):
    """Linear → ReLU → Linear → ReLU → Linear, URLB's predictor and target."""

    hidden_dim: int
    rep_dim: int

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> jnp.ndarray:
        x = nn.relu(nn.Dense(self.hidden_dim)(obs))
        x = nn.relu(nn.Dense(self.hidden_dim)(x))
        return nn.Dense(self.rep_dim)(x)


@flax.struct.dataclass
class ExplorerRun(ExpertRun):
    """An expert run plus RND's predictor, frozen target, Adam state and the error's running moments."""

    rnd: dict


class RNDExplorer(BodyExpertTrainer):
    """SAC on RND's intrinsic reward over `num_envs` vmapped envs of `env_id`."""

    def __init__(self, env_id: str, num_envs: int, capacity: int, seed_steps: int, updates_per_step: float):
        task = jax_envs.make(env_id).tasks[0]  # the replay's stored reward; updates replace it by RND's
        super().__init__(env_id, task, num_envs, capacity, seed_steps, updates_per_step)
        self.rnd_config = rnd_config()
        self.rnd = RNDNetwork(self.rnd_config.hidden_dim, self.rnd_config.rep_dim)
        self.rnd_optimizer = optax.adam(self.rnd_config.lr)

    def init(self, key: jax.Array) -> ExplorerRun:
        k_base, k_predictor, k_target = jax.random.split(key, 3)
        base = super().init(k_base)
        obs = jnp.zeros((1, self.env.observation_size))
        predictor = self.rnd.init(k_predictor, obs)
        rnd = {
            "predictor": predictor,
            "target": self.rnd.init(k_target, obs),
            "opt_state": self.rnd_optimizer.init(predictor),
            "moments": jnp.array([0.0, 1.0, 1e-4]),  # running mean, variance, count of the error (URLB's RMS)
        }
        return ExplorerRun(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)}, rnd=rnd)

    def intrinsic_reward(self, rnd: dict, obs: jnp.ndarray) -> tuple[dict, jnp.ndarray]:
        """One predictor step on the batch, then the batch's reward with the new predictor and moments."""
        c = self.rnd_config
        normalised = jnp.clip((obs - obs.mean(0)) / (obs.std(0) + 1e-8), -c.clip, c.clip)  # BatchNorm, no affine
        target = self.rnd.apply(rnd["target"], normalised)

        def error(params):
            return jnp.mean((self.rnd.apply(params, normalised) - target) ** 2, -1)

        grads = jax.grad(lambda p: error(p).mean())(rnd["predictor"])
        predictor, opt_state = apply_gradients(self.rnd_optimizer, rnd["predictor"], grads, rnd["opt_state"])
        errors = error(predictor)
        moments = _merge_moments(rnd["moments"], errors)
        reward = c.scale * errors / (jnp.sqrt(moments[1]) + 1e-8)
        return rnd | {"predictor": predictor, "opt_state": opt_state, "moments": moments}, reward

    def _updates(self, run: ExplorerRun, key: jax.Array) -> tuple[ExplorerRun, dict]:
        """SAC updates on uniform replay batches whose rewards are RND's, each after RND's own step."""
        size = jnp.minimum(run.filled, self.capacity)

        def update(carry, k):
            learner, rnd = carry
            k_index, k_update = jax.random.split(k)
            index = jax.random.randint(k_index, (self.config.batch_size,), 0, size)
            batch = {name: values[index] for name, values in run.buffer.items()}
            rnd, batch["rewards"] = self.intrinsic_reward(rnd, batch["observations"])
            learner, metrics = self.agent.update(learner, batch, k_update)
            return (learner, rnd), metrics | {"intrinsic_reward": batch["rewards"].mean()}

        (learner, rnd), metrics = jax.lax.scan(update, (run.learner, run.rnd), jax.random.split(key, self.updates))
        return run.replace(learner=learner, rnd=rnd), jax.tree.map(jnp.mean, metrics)


def _merge_moments(moments: jnp.ndarray, values: jnp.ndarray) -> jnp.ndarray:
    """Running (mean, variance, count) merged with a batch's (Chan et al.'s parallel update, URLB's RMS)."""
    mean, var, count = moments
    batch_mean, batch_var, batch_count = values.mean(), values.var(), values.shape[0]
    delta = batch_mean - mean
    total = count + batch_count
    new_mean = mean + delta * batch_count / total
    m2 = var * count + batch_var * batch_count + delta**2 * count * batch_count / total
    return jnp.stack([new_mean, m2 / total, total])


def make_explorer(env_id: str, explorer: str, num_envs: int, updates_per_step: float, seed_steps: int):
    """The trainer whose rollouts make the dataset: RND's SAC, or (random) one that only takes random actions."""
    if explorer not in EXPLORERS:
        raise ValueError(f"unknown explorer {explorer!r}; accepted values: {', '.join(EXPLORERS)}")
    episode_length = jax_envs.make(env_id).spec.episode_length
    if explorer == "random":  # never past its seed steps: uniform actions, no update
        return BodyExpertTrainer(env_id, jax_envs.make(env_id).tasks[0], num_envs, num_envs, 2**31 - 1)
    capacity = num_envs * episode_length * 100  # the last 100 episodes of every env
    return RNDExplorer(env_id, num_envs, capacity, seed_steps, updates_per_step)


def collect_episodes(
    env_id: str,
    explorer: str,
    out: str | Path,
    num_episodes: int,
    num_envs: int = 16,
    seed: int = 0,
    updates_per_step: float = 0.25,
    seed_steps: int = 16_000,
    progress: bool = True,
) -> list[Path]:
    """Writes `num_episodes` episodes of `explorer` on `env_id` to folder `out` in ExoRL's format (rounds of
    one whole episode per env; the last round's extra episodes are not written); returns the files."""
    env = jax_envs.make(env_id)
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be positive, got {num_episodes}")
    trainer = make_explorer(env_id, explorer, num_envs, updates_per_step, seed_steps)
    length = env.spec.episode_length
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    key = jax.random.PRNGKey(seed)
    run = jax.jit(trainer.init)(jax.random.fold_in(key, 0))
    # Every episode from a fresh reset, as ExoRL's: the envs' auto-reset restarts each where it first began.
    reset = jax.jit(lambda k: jax.vmap(env.reset)(jax.random.split(k, num_envs)))
    files: list[Path] = []
    rounds = math.ceil(num_episodes / num_envs)
    bar = trange(rounds, desc=f"{explorer} on {env_id}", unit="round", disable=not progress)
    for index in bar:
        if index:
            run = run.replace(env_state=reset(jax.random.fold_in(jax.random.fold_in(key, index + 1), 0)))
        first_obs, (first_qpos, first_qvel) = run.env_state.obs, env.physics(run.env_state)
        run, metrics, frames = trainer.advance_recording(run, jax.random.fold_in(key, index + 1), length)
        frames = jax.device_get(frames)
        done = np.asarray(frames["done"])
        if done[:-1].any() or not done[-1].all():
            raise RuntimeError(f"{env_id}: an episode ended before step {length}; the collector needs whole episodes")
        for e in range(min(num_envs, num_episodes - len(files))):
            episode = _episode(env, first_obs[e], first_qpos[e], first_qvel[e], {k: v[:, e] for k, v in frames.items()})
            files.append(out / exorl.episode_file_name(len(files), length))
            exorl.write_episode(files[-1], episode)
        if "intrinsic_reward" in metrics:
            bar.set_postfix(intrinsic=f"{float(metrics['intrinsic_reward']):.2f}")
    return files


def _episode(env, obs, qpos, qvel, frames: dict) -> dict[str, np.ndarray]:
    """One env's episode in ExoRL's layout: the reset entry, then one entry per step."""
    action = np.concatenate([np.zeros((1, env.action_size)), frames["action"]]).astype(np.float32)
    physics = np.concatenate([np.concatenate([qpos, qvel])[None], np.concatenate([frames["qpos"], frames["qvel"]], 1)])
    return {
        "observation": np.concatenate([np.asarray(obs)[None], frames["observation"]]).astype(np.float32),
        "action": action,
        "physics": physics.astype(np.float64),
        "reward": np.concatenate([[0.0], frames["reward"]])[:, None].astype(np.float32),
        "discount": np.ones((len(action), 1), np.float32),
    }
