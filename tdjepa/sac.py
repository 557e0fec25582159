"""Soft actor-critic (Haarnoja et al. 2018, with a learned temperature), the online learner that trains
the locomotion experts whose rollouts make OGBench's antmaze datasets.

Pure and jitted like the zero-shot agents: `update` is one gradient step on a batch and `update_many`
scans it over a stack of batches, so an online loop pays one dispatch per chunk of updates.
"""

import functools
import json
import zipfile
import zlib
from pathlib import Path

import flax.errors
import flax.linen as nn
import flax.struct
import flax.traverse_util
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from tdjepa.networks import RELU_GAIN, dense
from tdjepa.npz_files import write_npz
from tdjepa.optim import apply_gradients, polyak
from tdjepa.state import Params

LOG_STD_RANGE = (-5.0, 2.0)
Batch = dict[str, jnp.ndarray]  # observations, actions, rewards, masks (0 at terminations), next_observations


def default_config() -> ml_collections.ConfigDict:
    """OGBench's settings for its locomotion experts (its `impls` SAC): 2 × 256 ReLU layers, Adam 1e-4,
    γ 0.99, τ 0.005, batch 256, target entropy −|A|/2, temperature starting at 1, no LayerNorm."""
    return ml_collections.ConfigDict(
        dict(
            hidden_dim=256,
            hidden_layers=2,
            layer_norm=False,
            lr=1e-4,
            discount=0.99,
            tau=0.005,
            batch_size=256,
            target_entropy_per_dim=-0.5,  # target entropy = this × action_dim
            init_temperature=1.0,
        )
    )


class GaussianActor(nn.Module):
    """tanh-squashed Gaussian policy: ReLU MLP to a mean and a log-std clipped to LOG_STD_RANGE."""

    action_dim: int
    hidden_dim: int
    hidden_layers: int

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        x = obs
        for _ in range(self.hidden_layers):
            x = nn.relu(dense(self.hidden_dim, RELU_GAIN)(x))
        mean = dense(self.action_dim, 0.01)(x)
        log_std = jnp.clip(dense(self.action_dim, 0.01)(x), *LOG_STD_RANGE)
        return mean, log_std


class QHead(nn.Module):
    """Q(s, a): ReLU MLP, optionally with LayerNorm after each hidden layer."""

    hidden_dim: int
    hidden_layers: int
    layer_norm: bool

    @nn.compact
    def __call__(self, obs: jnp.ndarray, action: jnp.ndarray) -> jnp.ndarray:
        x = jnp.concatenate([obs, action], -1)
        for _ in range(self.hidden_layers):
            x = dense(self.hidden_dim, RELU_GAIN)(x)
            x = nn.relu(nn.LayerNorm()(x) if self.layer_norm else x)
        return dense(1)(x)[..., 0]


class TwinCritic(nn.Module):
    """Two independent Q heads; output shape (2, batch)."""

    hidden_dim: int
    hidden_layers: int
    layer_norm: bool

    @nn.compact
    def __call__(self, obs: jnp.ndarray, action: jnp.ndarray) -> jnp.ndarray:
        heads = nn.vmap(
            QHead,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=2,
        )
        return heads(self.hidden_dim, self.hidden_layers, self.layer_norm)(obs, action)


@flax.struct.dataclass
class SACState:
    """Actor, critic and log-temperature parameters, the critic's Polyak target, Adam states, step."""

    params: dict[str, Params]
    target_critic: Params
    opt_state: optax.OptState
    step: jnp.ndarray


class SAC:
    """SAC on flat observations with actions in [−1, 1]^action_dim."""

    def __init__(self, config: ml_collections.ConfigDict, action_dim: int):
        self.config = config
        self.action_dim = action_dim
        self.actor = GaussianActor(action_dim, config.hidden_dim, config.hidden_layers)
        self.critic = TwinCritic(config.hidden_dim, config.hidden_layers, config.layer_norm)
        self.optimizer = optax.adam(config.lr)
        self.target_entropy = config.target_entropy_per_dim * action_dim

    def init(self, key: jax.Array, obs_dim: int) -> SACState:
        k_actor, k_critic = jax.random.split(key)
        obs, action = jnp.zeros((1, obs_dim)), jnp.zeros((1, self.action_dim))
        critic = self.critic.init(k_critic, obs, action)
        params = {
            "actor": self.actor.init(k_actor, obs),
            "critic": critic,
            "log_temperature": jnp.log(jnp.asarray(self.config.init_temperature, jnp.float32)),
        }
        return SACState(params, critic, self.optimizer.init(params), jnp.zeros((), jnp.int32))

    def _sample(self, actor_params: Params, obs: jnp.ndarray, key: jax.Array) -> tuple[jnp.ndarray, jnp.ndarray]:
        """A reparameterised action and its log-probability under the squashed Gaussian."""
        mean, log_std = self.actor.apply(actor_params, obs)
        pre_tanh = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
        action = jnp.tanh(pre_tanh)
        gaussian = -0.5 * (((pre_tanh - mean) / jnp.exp(log_std)) ** 2 + 2 * log_std + jnp.log(2 * jnp.pi))
        squash = 2.0 * (jnp.log(2.0) - pre_tanh - jax.nn.softplus(-2.0 * pre_tanh))  # log(1 − tanh²)
        return action, jnp.sum(gaussian - squash, -1)

    @functools.partial(jax.jit, static_argnums=0)
    def act(self, params: Params, obs: jnp.ndarray, key: jax.Array | None = None) -> jnp.ndarray:
        """tanh of the mean without a key (evaluation), a sample from the policy with one (exploration)."""
        if key is None:
            return jnp.tanh(self.actor.apply(params["actor"], obs)[0])
        return self._sample(params["actor"], obs, key)[0]

    def _loss(self, params: Params, target_critic: Params, batch: Batch, key: jax.Array):
        """Critic, actor and temperature losses, summed: each term only reaches its own parameters."""
        c = self.config
        k_next, k_now = jax.random.split(key)
        temperature = jnp.exp(params["log_temperature"])
        frozen_temperature = jax.lax.stop_gradient(temperature)

        next_action, next_log_prob = self._sample(params["actor"], batch["next_observations"], k_next)
        next_q = jnp.min(self.critic.apply(target_critic, batch["next_observations"], next_action), 0)
        soft_next = next_q - frozen_temperature * next_log_prob
        target = jax.lax.stop_gradient(batch["rewards"] + c.discount * batch["masks"] * soft_next)
        q = self.critic.apply(params["critic"], batch["observations"], batch["actions"])
        critic_loss = jnp.mean((q - target) ** 2)

        action, log_prob = self._sample(params["actor"], batch["observations"], k_now)
        frozen_critic = jax.lax.stop_gradient(params["critic"])
        q_pi = jnp.min(self.critic.apply(frozen_critic, batch["observations"], action), 0)
        actor_loss = jnp.mean(frozen_temperature * log_prob - q_pi)

        entropy_gap = jax.lax.stop_gradient(-log_prob - self.target_entropy)
        temperature_loss = jnp.mean(temperature * entropy_gap)
        metrics = {
            "critic_loss": critic_loss,
            "actor_loss": actor_loss,
            "q": jnp.mean(q),
            "entropy": -jnp.mean(log_prob),
            "temperature": temperature,
        }
        return critic_loss + actor_loss + temperature_loss, metrics

    def update(self, state: SACState, batch: Batch, key: jax.Array) -> tuple[SACState, dict[str, jnp.ndarray]]:
        """One SAC step on every network, then the Polyak step of the target critic."""
        grads, metrics = jax.grad(self._loss, has_aux=True)(state.params, state.target_critic, batch, key)
        params, opt_state = apply_gradients(self.optimizer, state.params, grads, state.opt_state)
        target_critic = polyak(params["critic"], state.target_critic, self.config.tau)
        return SACState(params, target_critic, opt_state, state.step + 1), metrics

    @functools.partial(jax.jit, static_argnums=0)
    def update_many(self, state: SACState, batches: Batch, key: jax.Array) -> tuple[SACState, dict[str, jnp.ndarray]]:
        """`update` scanned over batches stacked on a leading axis; metrics averaged over the chunk."""

        def step(state, inputs):
            batch, index = inputs
            return self.update(state, batch, jax.random.fold_in(key, index))

        count = jax.tree.leaves(batches)[0].shape[0]
        state, metrics = jax.lax.scan(step, state, (batches, jnp.arange(count)))
        return state, jax.tree.map(jnp.mean, metrics)


_RECORD_KEY = "metadata"


class ActorFileError(ValueError):
    """An actor file that cannot be read back (missing, truncated, another format or another size)."""


def save_actor(path: str | Path, actor_params: Params, record: dict) -> None:
    """Writes an actor's parameters and its record (which holds its `sac_config`) to an npz file at `path`
    (a temporary name first, then renamed)."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = flax.traverse_util.flatten_dict(jax.device_get(actor_params), sep="/")
    arrays = {f"actor/{name}": np.asarray(value) for name, value in flat.items()}
    write_npz(path, arrays | {_RECORD_KEY: np.array(json.dumps(record, sort_keys=True))}, compressed=False)


def read_actor(path: str | Path) -> tuple[dict, dict]:
    """({"actor": params}, record) of an actor file written by `save_actor`; ActorFileError if unreadable."""
    try:
        with np.load(Path(path).expanduser(), allow_pickle=False) as archive:
            record = json.loads(str(archive[_RECORD_KEY]))
            flat = {name.removeprefix("actor/"): archive[name] for name in archive.files if name.startswith("actor/")}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, zlib.error) as error:
        raise ActorFileError(str(error)) from error
    return {"actor": flax.traverse_util.unflatten_dict(flat, sep="/")}, record


def load_actor(path: str | Path, obs_dim: int, action_dim: int) -> tuple[SAC, dict, dict]:
    """(agent, {"actor": params}, record) of an actor file written by `save_actor`, checked by acting once on
    an `obs_dim` observation; ActorFileError says what is wrong."""
    params, record = read_actor(path)
    try:
        agent = SAC(ml_collections.ConfigDict(record["sac_config"]), action_dim)
        agent.act(params, np.zeros((1, obs_dim), np.float32))
    except (KeyError, ValueError, TypeError, flax.errors.FlaxError) as error:
        raise ActorFileError(str(error)) from error
    return agent, params, record
