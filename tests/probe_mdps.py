"""Probe MDPs with closed-form answers, for tests that drive an agent's own `update`.

- `ChainProbe`: a 6-state Markov chain whose transitions ignore the action, one-hot observations. Whatever
  the policy, the successor measure is M = Σ_t γ^t P^{t+1} = P (I − γP)^{-1}, so TD-JEPA's predictor T_φ of
  fixed features ψ converges to M Ψ and FB's F(s)ᵀB(s') ρ(s') to M(s, s').
- `ForkProbe`: states C, L, R; from C the action a ∈ [−1, 1] leads to R with probability (1 + a)/2 and to L
  otherwise; L and R lead back to C. Prompted with R (or L) as the goal, or with the reward 1[s = R], the
  optimal action at C is +1 (or −1): Q(C, a, z) is linear in a with the sign of that goal.

Batches are drawn exactly from the probe's law inside jit (s uniform), with n-step paths cut at a random step
as episode ends cut them in the datasets.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from tdjepa.data import Batch


def one_hot(states: jnp.ndarray, n: int) -> jnp.ndarray:
    return jax.nn.one_hot(states, n, dtype=jnp.float32)


@dataclasses.dataclass(frozen=True)
class ChainProbe:
    """A random 6-state chain (each row of P a distribution), discount γ."""

    seed: int = 0
    gamma: float = 0.8
    num_states: int = 6

    @property
    def transitions(self) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        p = np.exp(rng.normal(size=(self.num_states, self.num_states)) * 2.0)
        return p / p.sum(1, keepdims=True)

    @property
    def successor_measure(self) -> np.ndarray:
        """Σ_t γ^t P^{t+1} = P (I − γP)^{-1}."""
        p = self.transitions
        return p @ np.linalg.inv(np.eye(self.num_states) - self.gamma * p)

    @property
    def goal_density(self) -> np.ndarray:
        """ρ(s'): the law of the batches' next states (s uniform)."""
        return self.transitions.mean(0)

    def batch(self, key: jax.Array, size: int, horizon: int = 1) -> Batch:
        """(s, a, s') with s uniform, a uniform in [−1, 1] (ignored by the chain), s' ~ P(s, ·); with horizon
        n > 1 also s_{t+1} … s_{t+n}, cut after a uniform number of steps m ≤ n (the last one repeated)."""
        n = self.num_states
        k_s, k_a, k_cut, *k_path = jax.random.split(key, 3 + horizon)
        logits = jnp.log(jnp.asarray(self.transitions))
        s = jax.random.randint(k_s, (size,), 0, n)
        path, current = [], s
        for k in k_path:
            current = jax.random.categorical(k, logits[current])
            path.append(current)
        path = jnp.stack(path, 1)
        batch = Batch(
            observations=one_hot(s, n),
            actions=jax.random.uniform(k_a, (size, 1), minval=-1.0, maxval=1.0),
            next_observations=one_hot(path[:, 0], n),
            discount=jnp.ones(size),
        )
        if horizon == 1:
            return batch
        steps = jax.random.randint(k_cut, (size,), 1, horizon + 1)
        kept = path[jnp.arange(size)[:, None], jnp.minimum(jnp.arange(horizon), steps[:, None] - 1)]
        return batch.replace(future_observations=one_hot(kept, n), future_steps=steps)


@dataclasses.dataclass(frozen=True)
class ForkProbe:
    """States C = 0, L = 1, R = 2 (one-hot); 1-d actions."""

    num_states: int = 3

    def batch(self, key: jax.Array, size: int, horizon: int = 1) -> Batch:
        """s uniform over C, L, R, a uniform; s' as the fork's law; n-step paths follow uniform actions."""
        k_s, k_a, k_cut, k_path = jax.random.split(key, 4)
        s = jax.random.randint(k_s, (size,), 0, 3)
        actions = jax.random.uniform(k_a, (size, horizon), minval=-1.0, maxval=1.0)
        draws = jax.random.uniform(k_path, (size, horizon))
        path, current = [], s
        for t in range(horizon):
            branch = jnp.where(draws[:, t] < (1.0 + actions[:, t]) / 2.0, 2, 1)
            current = jnp.where(current == 0, branch, 0)
            path.append(current)
        path = jnp.stack(path, 1)
        batch = Batch(
            observations=one_hot(s, 3),
            actions=actions[:, :1],
            next_observations=one_hot(path[:, 0], 3),
            discount=jnp.ones(size),
        )
        if horizon == 1:
            return batch
        steps = jax.random.randint(k_cut, (size,), 1, horizon + 1)
        kept = path[jnp.arange(size)[:, None], jnp.minimum(jnp.arange(horizon), steps[:, None] - 1)]
        return batch.replace(future_observations=one_hot(kept, 3), future_steps=steps)


def train(agent, probe, steps: int, seed: int = 0):
    """`steps` of the agent's own update on the probe's batches (one jitted scan); the final state."""
    example = probe.batch(jax.random.PRNGKey(0), 2, agent.horizon)
    state = agent.init(jax.random.PRNGKey(seed), example)
    return train_from(agent, probe, state, steps, seed)


def train_from(agent, probe, state, steps: int, seed: int = 0):
    """`steps` updates from a given state (e.g. with encoders set by hand)."""
    size = agent.config.batch_size

    @jax.jit
    def run(state, key):
        def step(state, key):
            k_batch, k_update = jax.random.split(key)
            state, _ = agent.update(state, probe.batch(k_batch, size, agent.horizon), k_update)
            return state, None

        return jax.lax.scan(step, state, jax.random.split(key, steps))[0]

    return run(state, jax.random.PRNGKey(seed + 1))
