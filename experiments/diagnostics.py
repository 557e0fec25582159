"""Why a zero-shot policy succeeds or fails on a task, measured on dataset states: does the
prompted z encode the task, does Q(s, a, z) depend on the action, and does the actor follow Q.

These are the checks that explained the pointmaze and cube-single results in the README; `experiments.diagnose`
runs them for every goal and reward prompt of a checkpoint.
"""

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a random positive > score of a random negative), ties counting half: 1 separates the
    classes perfectly, 0.5 not at all; nan when either class is empty."""
    labels = np.asarray(labels, dtype=bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = scipy.stats.rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def action_diagnostics(
    agent,
    state,
    z: jnp.ndarray,
    observations: jnp.ndarray,
    data_actions: jnp.ndarray,
    key: jax.Array,
    num_actions: int = 16,
    chunk: int = 500,
) -> dict[str, float]:
    """How Q(s, ·, z) ranks actions on these states, against `num_actions` uniform random actions per state.

    - `q_action_spread`: the mean over states of Q's standard deviation across those actions, relative to
      the mean |Q| at the actor's action (Q hardly depends on the action when this is small);
    - `actor_q_rank`: the mean fraction of random actions whose Q is below the actor's (ties half): 1 when
      the actor maximises Q, 0.5 when its action is no better than a random one by Q's own measure;
    - `action_norm_ratio`: mean ‖π(s, z)‖ over mean ‖a_data‖ (a deterministic actor near 0 stands still).

    The actor acts as in evaluation: with a fresh key when `agent.samples_at_evaluation`, else its mean."""
    stochastic = getattr(agent, "samples_at_evaluation", False)

    @jax.jit
    def per_state(obs: jnp.ndarray, key: jax.Array) -> tuple[jnp.ndarray, ...]:
        k_act, k_random = jax.random.split(key)
        zs = jnp.broadcast_to(z, (obs.shape[0], z.shape[-1]))
        actions = agent.act(state, obs, zs, k_act if stochastic else None)
        candidates = jax.random.uniform(k_random, (num_actions, *actions.shape), minval=-1.0, maxval=1.0)
        q_actor = agent.q_value(state, obs, actions, zs)
        q_random = jax.vmap(lambda a: agent.q_value(state, obs, a, zs))(candidates)
        rank = jnp.mean((q_random < q_actor) + 0.5 * (q_random == q_actor), axis=0)
        return q_actor, jnp.std(q_random, axis=0), rank, jnp.linalg.norm(actions, axis=-1)

    parts = [
        per_state(observations[start : start + chunk], jax.random.fold_in(key, start))
        for start in range(0, observations.shape[0], chunk)
    ]
    q_actor, spread, rank, norms = (np.concatenate([np.asarray(p[i]) for p in parts]) for i in range(4))
    return {
        "q_action_spread": float(spread.mean() / max(np.abs(q_actor).mean(), 1e-12)),
        "actor_q_rank": float(rank.mean()),
        "action_norm_ratio": float(norms.mean() / max(np.linalg.norm(data_actions, axis=-1).mean(), 1e-12)),
    }


def implied_rewards(agent, state, z: jnp.ndarray, observations, chunk: int = 500) -> np.ndarray:
    """features(s)ᵀz for each observation: for TD-JEPA the reward z encodes, ψ(s)ᵀz; for FB, B(s)ᵀz, the
    encoded reward before B's covariance."""
    features = jax.jit(lambda obs: agent.reward_features(state, obs) @ z)
    return np.concatenate(
        [np.asarray(features(jnp.asarray(observations[i : i + chunk]))) for i in range(0, len(observations), chunk)]
    )


def implied_reward_auc(
    agent, state, z: jnp.ndarray, observations: jnp.ndarray, successes: np.ndarray, chunk: int = 500
) -> float:
    """How well the `implied_rewards` rank the task's success states above the others (`roc_auc`)."""
    return roc_auc(implied_rewards(agent, state, z, observations, chunk), successes)
