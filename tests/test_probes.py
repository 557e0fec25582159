"""Probe problems with known answers: the FB and TD-JEPA losses recover the successor measure and
successor features of a fixed policy on a small finite MDP with one-hot states."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from agents.fb import measure_loss, measure_target
from agents.td_jepa import discounted_feature_sum, prediction_loss, successor_target
from tdjepa.latents import polyak

N_STATES, GAMMA = 6, 0.8


def random_chain(seed: int = 0) -> np.ndarray:
    """Transition matrix P_π of a fixed policy on a random 6-state MDP (each row a distribution)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(N_STATES, N_STATES)) * 2.0
    p = np.exp(logits)
    return p / p.sum(1, keepdims=True)


def successor_measure(p: np.ndarray) -> np.ndarray:
    """Σ_t γ^t P^{t+1} = P (I − γP)^{-1}."""
    return p @ np.linalg.inv(np.eye(N_STATES) - GAMMA * p)


def sample_transitions(key, p: jnp.ndarray, batch: int):
    """s ~ uniform ρ, s' ~ P_π(s, ·)."""
    k_s, k_next = jax.random.split(key)
    s = jax.random.randint(k_s, (batch,), 0, N_STATES)
    s_next = jax.random.categorical(k_next, jnp.log(p[s]))
    return s, s_next


def train_tabular(loss_fn, params, steps: int, lr: float, tau: float, seed: int = 0):
    """Adam on a tabular loss with Polyak targets, as the agents train their networks."""
    opt = optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=0.01))
    opt_state = opt.init(params)

    @jax.jit
    def step(carry, key):
        params, target, opt_state = carry
        grads = jax.grad(loss_fn)(params, target, key)
        updates, opt_state = opt.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (params, polyak(params, target, tau), opt_state), None

    keys = jax.random.split(jax.random.PRNGKey(seed), steps)
    (params, _, _), _ = jax.lax.scan(step, (params, params, opt_state), keys)
    return params


def test_fb_recovers_successor_measure():
    """F ᵀ B diag(ρ) → Σ_t γ^t P_π^{t+1}, ρ the law of the goals s': relative Frobenius error below 5%."""
    p = jnp.asarray(random_chain())
    rho = np.asarray(p).mean(0)  # s ~ uniform, so the goals s' follow ρ = uniform · P
    dim = N_STATES
    init = jax.random.normal(jax.random.PRNGKey(1), (2, N_STATES, dim)) * 0.1
    params = {"F": init[0], "B": init[1]}

    def loss(params, target, key):
        s, s_next = sample_transitions(key, p, 512)
        forward = params["F"][s][None]  # one ensemble head; F(s) for the fixed policy
        target_m = measure_target(target["F"][s_next][None], target["B"][s_next], jnp.full(512, GAMMA), 0.0)
        value, _ = measure_loss(forward, params["B"][s_next], jax.lax.stop_gradient(target_m))
        return value

    params = train_tabular(loss, params, steps=6000, lr=3e-2, tau=0.02)
    estimate = np.asarray(params["F"] @ params["B"].T) * rho[None, :]
    truth = successor_measure(np.asarray(p))
    error = np.linalg.norm(estimate - truth) / np.linalg.norm(truth)
    assert error < 0.05, f"relative error {error:.3f}"


def test_td_jepa_predictor_recovers_successor_features():
    """With a fixed one-hot ψ, T(s) → Σ_t γ^t E[ψ(s_{t+1})] = M ψ: relative error below 2%."""
    p = jnp.asarray(random_chain(seed=3))
    psi = jnp.eye(N_STATES)
    params = {"T": jnp.zeros((N_STATES, N_STATES))}

    def loss(params, target, key):
        s, s_next = sample_transitions(key, p, 512)
        y = successor_target(psi[s_next], target["T"][s_next][None], jnp.full(512, GAMMA), 0.0)
        return prediction_loss(params["T"][s][None], jax.lax.stop_gradient(y))

    params = train_tabular(loss, params, steps=4000, lr=3e-2, tau=0.05)
    truth = successor_measure(np.asarray(p)) @ np.asarray(psi)
    error = np.linalg.norm(np.asarray(params["T"]) - truth) / np.linalg.norm(truth)
    assert error < 0.02, f"relative error {error:.3f}"


def sample_paths(key, p: jnp.ndarray, batch: int, n: int):
    """s ~ uniform ρ and its next n states under P_π, (batch,) and (batch, n)."""
    k_s, *keys = jax.random.split(key, n + 1)
    s = jax.random.randint(k_s, (batch,), 0, N_STATES)
    path, current = [], s
    for k in keys:
        current = jax.random.categorical(k, jnp.log(p[current]))
        path.append(current)
    return s, jnp.stack(path, 1)


def test_td_jepa_multistep_targets_recover_the_same_successor_features():
    """n-step targets on on-policy paths, cut at a random step m ≤ n as at episode ends, have the
    one-step fixed point M ψ: relative error below 2%."""
    p = jnp.asarray(random_chain(seed=3))
    psi = jnp.eye(N_STATES)
    n = 4

    def loss(params, target, key):
        k_path, k_cut = jax.random.split(key)
        s, path = sample_paths(k_path, p, 512, n)
        steps = jax.random.randint(k_cut, (512,), 1, n + 1)
        boot = path[jnp.arange(512), steps - 1]
        y = successor_target(
            discounted_feature_sum(psi[path], steps, GAMMA), target["T"][boot][None], GAMMA**steps, 0.0
        )
        return prediction_loss(params["T"][s][None], jax.lax.stop_gradient(y))

    params = train_tabular(loss, {"T": jnp.zeros((N_STATES, N_STATES))}, steps=4000, lr=3e-2, tau=0.05)
    truth = successor_measure(np.asarray(p)) @ np.asarray(psi)
    error = np.linalg.norm(np.asarray(params["T"]) - truth) / np.linalg.norm(truth)
    assert error < 0.02, f"relative error {error:.3f}"


def test_probe_detects_a_wrong_discount():
    """The probe can fail: training with γ=0.5 does not match the γ=0.8 successor features."""
    p = jnp.asarray(random_chain(seed=3))
    psi = jnp.eye(N_STATES)

    def loss(params, target, key):
        s, s_next = sample_transitions(key, p, 512)
        y = successor_target(psi[s_next], target["T"][s_next][None], jnp.full(512, 0.5), 0.0)
        return prediction_loss(params["T"][s][None], jax.lax.stop_gradient(y))

    params = train_tabular(loss, {"T": jnp.zeros((N_STATES, N_STATES))}, steps=2000, lr=3e-2, tau=0.05)
    truth = successor_measure(np.asarray(p))
    assert np.linalg.norm(np.asarray(params["T"]) - truth) / np.linalg.norm(truth) > 0.2
