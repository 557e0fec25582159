"""The online data source: N vmapped JAX environments stepped inside the jitted chunk by the agent's own
policy, feeding an on-device replay buffer the updates sample from (a `DataSource` with rounds).

One round (brax SAC's `training_step` shape): every env takes `env_steps_per_round / N` steps with its own z
(resampled every `z_every` steps of its episode, from the prior or, with `rollout_goal_ratio`, as the goal
latent of a state in the buffer), the transitions go into the buffer, then `updates_per_round` updates each
sample a batch. Before the first round, `prefill` fills the buffer with `seed_steps` of uniform random actions.

Transitions are stored whole (s, a, s', the discount, the next state's physics qpos/qvel, the rollout's z and
the truncation flag), so no sample crosses an episode's end; an episode cut at its length keeps discount 1
(agents bootstrap through it), a termination sets it to 0. Ended envs restart from their cached first state,
as brax's `AutoResetWrapper` does, after their last transition is recorded with the true final observation.

The buffer is flashbax's trajectory buffer (one row per env, a ring along time): every field, env state and
key is part of the runner's state, so a checkpoint holds all of it and a resumed run continues bit for bit.
"""

from typing import Any

import flashbax
import flax.struct
import jax
import jax.numpy as jnp
import ml_collections

from tdjepa.agent import ZeroShotAgent
from tdjepa.clips import ClipError, Clips, load_clips, sample_windows
from tdjepa.data import Batch
from tdjepa.state import AgentState


def add_online_defaults(c: ml_collections.ConfigDict) -> None:
    """The online source's settings (used when the run's env is a JAX environment), sized for two CPU cores;
    the `paper_online` preset sets the reference's (shared/reference/fb_bfm_zero_slim_reference.md §2.3)."""
    c.num_envs = 32
    c.env_steps_per_round = 256  # 8 steps of each env, then updates_per_round updates
    c.updates_per_round = 64
    c.seed_steps = 10_240  # uniform random actions first (the reference: 50k)
    c.buffer_capacity = 500_000
    c.z_every = 150  # each env's z is resampled every z_every steps of its episode (the reference's)
    c.rollout_goal_ratio = 0.5  # of them, goal latents of buffer states (else the prior)


@flax.struct.dataclass
class OnlineState:
    """What an online source carries between rounds (per seed)."""

    env_state: Any  # the N envs' brax State
    first_state: Any  # where each env restarts after its episode ends
    z: jnp.ndarray  # (N, d) each env's rollout latent
    buffer: Any  # flashbax TrajectoryBufferState, rows = envs
    episodes: jnp.ndarray  # episodes ended so far
    # With prioritize_clips, each demonstration clip's sampling weight (set from tracking errors); else uniform.
    clip_weights: jnp.ndarray | None = None


@flax.struct.dataclass
class OnlineSource:
    """Vmapped environments feeding a replay buffer; every field is static configuration."""

    env: Any = flax.struct.field(pytree_node=False)  # envs.jax_envs.JaxEnv
    agent: ZeroShotAgent = flax.struct.field(pytree_node=False)
    num_envs: int = flax.struct.field(pytree_node=False)
    env_steps_per_round: int = flax.struct.field(pytree_node=False)
    updates_per_round: int = flax.struct.field(pytree_node=False)
    batch_size: int = flax.struct.field(pytree_node=False)
    capacity: int = flax.struct.field(pytree_node=False)
    z_every: int = flax.struct.field(pytree_node=False)
    rollout_goal_ratio: float = flax.struct.field(pytree_node=False)
    # Demonstrations (FB-CPR): each batch also carries batch_size / seq_length windows of seq_length steps.
    clips: Clips | None = None
    seq_length: int = flax.struct.field(pytree_node=False, default=1)
    # Of the rollouts' latents, the latents of demonstration windows (agents with `infer_z_windows`).
    rollout_expert_ratio: float = flax.struct.field(pytree_node=False, default=0.0)
    # Clips drawn by weights that evaluations set from their tracking errors (`set_clip_priorities`).
    prioritize_clips: bool = flax.struct.field(pytree_node=False, default=False)

    @classmethod
    def from_config(
        cls, env, agent: ZeroShotAgent, c: ml_collections.ConfigDict, clips: Clips | None = None
    ) -> "OnlineSource":
        """The source of an agent config's online fields (a bad combination raises ValueError naming them)."""
        return cls(
            clips=clips,
            seq_length=c.get("seq_length", 1),
            rollout_expert_ratio=c.get("rollout_expert_ratio", 0.0),
            prioritize_clips=c.get("prioritize_clips", False),
            env=env,
            agent=agent,
            num_envs=c.num_envs,
            env_steps_per_round=c.env_steps_per_round,
            updates_per_round=c.updates_per_round,
            batch_size=c.batch_size,
            capacity=c.buffer_capacity,
            z_every=c.z_every,
            rollout_goal_ratio=c.rollout_goal_ratio,
        )

    def __post_init__(self):
        problems = []
        for name, value in (("num_envs", self.num_envs), ("updates_per_round", self.updates_per_round)):
            if value <= 0:
                problems.append(f"config.{name} must be positive, got {value}")
        if self.z_every <= 0:
            problems.append(f"config.z_every must be positive, got {self.z_every}")
        if not 0 <= self.rollout_goal_ratio <= 1 - self.rollout_expert_ratio <= 1:
            problems.append(
                f"config.rollout_goal_ratio={self.rollout_goal_ratio} and config.rollout_expert_ratio="
                f"{self.rollout_expert_ratio} must be ratios that sum to at most 1"
            )
        if self.rollout_expert_ratio > 0 and self.clips is None:
            problems.append(f"config.rollout_expert_ratio={self.rollout_expert_ratio} needs demonstration clips")
        if self.prioritize_clips and self.clips is None:
            problems.append("config.prioritize_clips needs demonstration clips")
        if self.num_envs > 0 and (self.env_steps_per_round <= 0 or self.env_steps_per_round % self.num_envs):
            problems.append(
                f"config.env_steps_per_round={self.env_steps_per_round} is not a positive multiple of "
                f"config.num_envs={self.num_envs}"
            )
        if self.capacity < self.batch_size:
            problems.append(f"config.buffer_capacity={self.capacity} is smaller than a batch ({self.batch_size})")
        if self.num_envs > 0 and self.env_steps_per_round > self.capacity:
            problems.append(
                f"config.buffer_capacity={self.capacity} holds less than a round "
                f"(config.env_steps_per_round={self.env_steps_per_round})"
            )
        if self.capacity < self.num_envs:
            problems.append(
                f"config.buffer_capacity={self.capacity} holds less than one step of the {self.num_envs} envs"
            )
        if self.clips is not None and self.batch_size % self.seq_length:
            problems.append(
                f"config.batch_size={self.batch_size} is not a multiple of config.seq_length={self.seq_length} "
                "(a batch holds as many demonstration steps, in whole windows)"
            )
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def steps_per_env(self) -> int:
        return self.env_steps_per_round // self.num_envs

    @property
    def buffer(self):
        return self._buffer(self.batch_size)

    def _buffer(self, sample_batch_size: int):
        """flashbax's trajectory buffer over the envs' rows, sampling single transitions."""
        return flashbax.make_trajectory_buffer(
            add_batch_size=self.num_envs,
            sample_batch_size=sample_batch_size,
            sample_sequence_length=1,
            period=1,
            min_length_time_axis=1,
            max_length_time_axis=self.capacity // self.num_envs,
        )

    def init(self, key: jax.Array, z_dim: int) -> OnlineState:
        """Fresh envs (their first states cached for auto-reset) and an empty buffer shaped for transitions."""
        k_reset, k_z = jax.random.split(key)
        env_state = jax.vmap(self.env.reset)(jax.random.split(k_reset, self.num_envs))
        z = self.agent.sample_z(k_z, self.num_envs)
        example = jax.tree.map(
            lambda x: x[0], self._transition(env_state, jnp.zeros((self.num_envs, self.env.action_size)), env_state, z)
        )
        return OnlineState(
            env_state=env_state,
            first_state=env_state,
            z=z,
            buffer=self.buffer.init(example),
            episodes=jnp.zeros((), jnp.int32),
            clip_weights=jnp.ones(self.clips.lengths.shape, jnp.float32) if self.prioritize_clips else None,
        )

    def _transition(self, state, action: jnp.ndarray, next_state, z: jnp.ndarray) -> dict:
        qpos, qvel = self.env.physics(next_state)
        truncated = self.env.truncated(next_state)
        return {
            "observations": state.obs,
            "actions": action,
            "next_observations": next_state.obs,
            "discount": 1.0 - next_state.done * (1.0 - truncated),
            "truncated": truncated,
            "next_qpos": qpos,
            "next_qvel": qvel,
            "z": z,
        }

    def _rollout_latents(self, source_state: OnlineState, agent_state: AgentState, key: jax.Array) -> jnp.ndarray:
        """N candidate latents: the goal latent of a buffer state with probability rollout_goal_ratio, the latent
        of a demonstration window with rollout_expert_ratio, else a prior draw."""
        k_prior, k_goal, k_mix = jax.random.split(key, 3)
        z = self.agent.sample_z(k_prior, self.num_envs)
        u = jax.random.uniform(k_mix, (self.num_envs, 1))  # what jax.random.bernoulli draws
        if self.rollout_expert_ratio > 0:
            k_windows = jax.random.fold_in(k_goal, 1)
            _, windows = sample_windows(
                self.clips, k_windows, self.num_envs, self.seq_length, source_state.clip_weights
            )
            expert_z = self.agent.infer_z_windows(agent_state, windows)[:: self.seq_length]
            z = jnp.where(u < self.rollout_goal_ratio + self.rollout_expert_ratio, expert_z, z)
        if self.rollout_goal_ratio > 0:
            goals = self.transitions(source_state, k_goal, self.num_envs)["next_observations"]
            z = jnp.where(u < self.rollout_goal_ratio, self.agent.infer_z_goal(agent_state, goals), z)
        return z

    def _steps(self, source_state: OnlineState, agent_state: AgentState | None, key: jax.Array, count: int):
        """`count` steps of every env (uniform random actions when agent_state is None), inserted in the buffer."""

        def one_step(carry, step_key):
            env_state, first_state, z, episodes = carry
            k_z, k_act = jax.random.split(step_key)
            shape = (self.num_envs, self.env.action_size)
            if agent_state is None:
                action = jax.random.uniform(k_act, shape, minval=-1.0, maxval=1.0)
            else:
                fresh = env_state.info["steps"] % self.z_every == 0
                candidates = self._rollout_latents(source_state, agent_state, k_z)
                z = jnp.where(fresh[:, None], candidates, z)
                action = self.agent.act(agent_state, env_state.obs, z, k_act)
            next_state = jax.vmap(self.env.step)(env_state, action)
            transition = self._transition(env_state, action, next_state, z)
            done = next_state.done.astype(bool)
            restarted = jax.tree.map(lambda f, n: jnp.where(_rows(done, n), f, n), first_state, next_state)
            return (restarted, first_state, z, episodes + done.sum()), transition

        carry = (source_state.env_state, source_state.first_state, source_state.z, source_state.episodes)
        (env_state, first_state, z, episodes), transitions = jax.lax.scan(one_step, carry, jax.random.split(key, count))
        transitions = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), transitions)  # (N, count, ...)
        return source_state.replace(
            env_state=env_state,
            first_state=first_state,
            z=z,
            buffer=self.buffer.add(source_state.buffer, transitions),
            episodes=episodes,
        )

    def prefill(self, source_state: OnlineState, key: jax.Array, env_steps: int) -> OnlineState:
        """`env_steps` (whole rounds) of uniform random actions into the buffer, a round at a time."""
        if env_steps % self.env_steps_per_round:
            raise ValueError(f"prefill of {env_steps} env steps: not whole rounds of {self.env_steps_per_round}")
        rounds = env_steps // self.env_steps_per_round
        return jax.lax.fori_loop(
            0, rounds, lambda i, s: self._steps(s, None, jax.random.fold_in(key, i), self.steps_per_env), source_state
        )

    def collect(self, source_state: OnlineState, agent: AgentState, key: jax.Array) -> tuple[OnlineState, dict]:
        source_state = self._steps(source_state, agent, key, self.steps_per_env)
        return source_state, {"buffer_size": self.size(source_state).astype(jnp.float32)}

    def size(self, source_state: OnlineState) -> jnp.ndarray:
        """Transitions held in the buffer."""
        buffer = source_state.buffer
        rows = jnp.where(buffer.is_full, self.capacity // self.num_envs, buffer.current_index)
        return rows * self.num_envs

    def transitions(self, source_state: OnlineState, key: jax.Array, count: int) -> dict:
        """`count` uniform transitions of the buffer, fields as stored (batches, rollout goals, and reward
        inference and goals at evaluation)."""
        experience = self._buffer(count).sample(source_state.buffer, key).experience
        return jax.tree.map(lambda x: x[:, 0], experience)

    def sample(self, source_state: OnlineState, agent: AgentState, key: jax.Array, index: jnp.ndarray):
        if self.clips is not None:
            key, k_clips = jax.random.split(key)
        fields = self.transitions(source_state, key, self.batch_size)
        if self.clips is not None:
            num_windows = self.batch_size // self.seq_length
            windows = sample_windows(self.clips, k_clips, num_windows, self.seq_length, source_state.clip_weights)
            fields["expert_observations"], fields["expert_next_observations"] = windows
        batch = Batch(
            observations=fields.pop("observations"),
            actions=fields.pop("actions"),
            next_observations=fields.pop("next_observations"),
            discount=fields.pop("discount"),
            extras=fields,
        )
        return source_state, batch

    def for_chunk(self, step: int, num_updates: int) -> "OnlineSource":
        return self


def _rows(mask: jnp.ndarray, like: jnp.ndarray) -> jnp.ndarray:
    """The (N,) mask broadcast over a (N, ...) leaf."""
    return mask.reshape(mask.shape + (1,) * (like.ndim - 1))


def run_clips(env_id: str, c: ml_collections.ConfigDict) -> Clips | None:
    """The demonstrations of an agent config with an `expert_clips` field (its file, or when empty the clips
    shipped for `env_id`), each long enough for a window and its successor; None for agents without. A bad
    or missing file raises ClipError naming it."""
    if "expert_clips" not in c:
        return None
    from envs import body_experts, jax_envs  # the core reaches the env registry only for runs that train online

    env = jax_envs.make(env_id)
    path = c.expert_clips or body_experts.shipped_clips(env_id)
    if not c.expert_clips and not path.is_file():
        raise ClipError(
            f"no demonstration clips are shipped for {env_id} ({path}): record some with "
            "`python -m experiments.record_clips` and give them as --config.expert_clips"
        )
    nq, nv = env.mj_model.nq, env.mj_model.nv
    return load_clips(path, env_id, env.observation_size, nq, nv, min_length=c.seq_length + 1)


def tracking_clips(env_id: str, path: str | None = None) -> Clips | None:
    """The clips online evaluation tracks: the file at `path`, else the held-out clips shipped for `env_id`
    (None when none are)."""
    from envs import body_experts, jax_envs

    env = jax_envs.make(env_id)
    if path is None:
        path = body_experts.shipped_clips(env_id, held_out=True)
        if not path.is_file():
            return None
    return load_clips(path, env_id, env.observation_size, env.mj_model.nq, env.mj_model.nv)


def run_source(config: dict, agent: ZeroShotAgent) -> OnlineSource:
    """The online source of a run's config (its env is one of envs.jax_envs' ids)."""
    from envs import jax_envs

    clips = run_clips(config["env"], agent.config)
    return OnlineSource.from_config(jax_envs.make(config["env"]), agent, agent.config, clips)


def initial_source_state(source: OnlineSource, seed: int) -> OnlineState:
    """Seed `seed`'s fresh envs and empty buffer (their key is independent of the agent's)."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 1)
    return jax.jit(source.init, static_argnums=1)(key, source.agent.z_dim)
