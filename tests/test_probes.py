"""Probe MDPs with closed-form answers, driven through each agent's own `update` (tests/probe_mdps.py).

A wrong sign, a missing γ, a swapped target or a missing stop-gradient anywhere in an update moves what
these converge to; docs/fidelity.md lists the mutations tried and the test that caught each.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import agents

from .probe_mdps import ChainProbe, ForkProbe, one_hot, train, train_from

CHAIN = ChainProbe(gamma=0.8)


def probe_agent(name: str, **overrides):
    """The default agent with the record's tiny networks and the probe's γ, plus `overrides`."""
    record = agents.record(name)
    return record.make(record.config("cpu", overrides=dict(record.tiny_config) | dict(discount=0.8) | overrides))


def orthonormal_rows(n: int, d: int, seed: int) -> np.ndarray:
    """n orthonormal rows in R^d (n ≤ d)."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q[:n]


def with_linear_encoders(state, kernels: dict[str, np.ndarray]):
    """A TD-JEPA state whose linear encoders (online and EMA) map one-hot states through the given kernels."""

    def encoder(kernel):
        return {"Dense_0": {"kernel": jnp.asarray(kernel, jnp.float32), "bias": jnp.zeros(kernel.shape[1])}}

    fixed = {name: encoder(kernel) for name, kernel in kernels.items()}
    return state.replace(params=state.params | fixed, target_params=state.target_params | fixed)


@pytest.mark.parametrize(
    "overrides",
    [dict(n_step=1), dict(n_step=5), dict(n_step=5, symmetric=True)],
    ids=["one_step", "five_step", "symmetric"],
)
def test_td_jepa_predictors_converge_to_the_successor_features_of_their_targets(overrides):
    """With φ and ψ fixed to distinct orthonormal encodings of one-hot states (learning rate 0), T_φ(φ(s)) →
    M Ψ and the mirror T_ψ(ψ(s)) → M Φ, M = Σ_t γ^t P^{t+1}: relative error below 6% (measured 2.3-3.3%)."""
    agent = probe_agent(
        "td_jepa",
        phi_dim=8,
        psi_dim=6,
        phi_hidden_layers=0,
        psi_hidden_layers=0,
        lr_phi=0.0,
        lr_psi=0.0,
        normalize_obs=False,
        predictor_hidden_dim=64,
        batch_size=256,
        **overrides,
    )
    kernels = {"phi": orthonormal_rows(6, 8, 1), "psi": orthonormal_rows(6, 6, 2)}
    kernels = {name: kernels[name] for name in agent.encoders}
    state = agent.init(jax.random.PRNGKey(0), CHAIN.batch(jax.random.PRNGKey(0), 2, agent.horizon))
    state = train_from(agent, CHAIN, with_linear_encoders(state, kernels), steps=2000)
    features = {name: np.sqrt(kernel.shape[1]) * kernel for name, kernel in kernels.items()}  # on the √d sphere
    obs = one_hot(jnp.arange(6), 6)
    actions = jax.random.uniform(jax.random.PRNGKey(4), (6, 1), minval=-1.0, maxval=1.0)
    z = agent.sample_z(jax.random.PRNGKey(3), 6)
    # What each predictor reads and predicts, as the paper defines them (written here, not read from the agent).
    pairs = [("T_phi", "phi", "phi")] if agent.config.symmetric else [("T_phi", "phi", "psi"), ("T_psi", "psi", "phi")]
    assert sorted(agent.predictors) == sorted(name for name, _, _ in pairs)
    for name, source, target in pairs:
        np.testing.assert_allclose(agent.encode(state.params, source, obs), features[source], atol=1e-5)
        prediction = agent.predict(state.params, name, agent.encode(state.params, source, obs), actions, z).mean(0)
        truth = CHAIN.successor_measure @ features[target]
        error = np.linalg.norm(np.asarray(prediction) - truth) / np.linalg.norm(truth)
        assert error < 0.06, f"{name}: relative error {error:.3f}"


def test_fb_measure_converges_to_the_successor_measure():
    """F(L(s), a, z)ᵀ B(s') ρ(s') → Σ_t γ^t P^{t+1}(s, s') for any a and z, every network learned through FB's
    update: relative error below 6% (measured 2.4%)."""
    agent = probe_agent(
        "fb", z_dim=8, batch_size=256, forward_hidden_dim=64, backward_hidden_dim=64, left_hidden_dim=64
    )
    state = train(agent, CHAIN, steps=2000)
    obs = one_hot(jnp.arange(6), 6)
    backward = agent.reward_features(state, obs)
    left = agent.left_encoding(state.params, agent.observations.inputs(state.params, state.stats, obs, "forward"))
    for k in range(3):
        z = jnp.repeat(agent.sample_z(jax.random.PRNGKey(10 + k), 1), 6, 0)
        actions = jax.random.uniform(jax.random.PRNGKey(20 + k), (6, 1), minval=-1.0, maxval=1.0)
        forward = agent.forward_embedding(state.params, left, actions, z).mean(0)
        estimate = np.asarray(forward @ backward.T) * CHAIN.goal_density[None]
        error = np.linalg.norm(estimate - CHAIN.successor_measure) / np.linalg.norm(CHAIN.successor_measure)
        assert error < 0.06, f"relative error {error:.3f}"


@pytest.mark.parametrize("name,dims", [("td_jepa", dict(phi_dim=6, psi_dim=6)), ("fb", dict(z_dim=6))])
def test_learned_reward_features_become_orthonormal(name, dims):
    """The orthonormality regulariser pushes the 6 states' features (ψ, or B) apart: their Gram matrix / d has
    off-diagonal entries near 0 after 300 updates (measured 0.002 ψ, 0.02 B; a flipped sign gives ~1)."""
    agent = probe_agent(name, batch_size=256, **dims)
    state = train(agent, CHAIN, steps=300)
    features = np.asarray(agent.reward_features(state, one_hot(jnp.arange(6), 6)))
    cosines = features @ features.T / features.shape[1]
    assert np.abs(cosines - np.diag(np.diag(cosines))).sum() / 30 < 0.1


@pytest.mark.parametrize("name", ["td_jepa", "fb"])
@pytest.mark.parametrize("actor_type,margin", [("td3", 0.5), ("flow_bc", 0.2)])
def test_prompted_actors_take_the_branch_of_their_goal_or_reward(name, actor_type, margin):
    """On the fork, prompted with R (the goal R, or the reward 1[s = R]) Q(C, ·, z) prefers a = +1 and the actor
    at C pushes a towards it, and towards −1 for L (measured ±0.78-0.99 TD3, ±0.43-0.79 flow-BC, 1000 updates)."""
    overrides = dict(actor_type=actor_type) | (dict(bc_coeff=0.3) if actor_type == "flow_bc" else {})
    agent = probe_agent(name, batch_size=128, **overrides)
    state = train(agent, ForkProbe(), steps=1000)
    obs = one_hot(jnp.arange(3), 3)
    samples = ForkProbe().batch(jax.random.PRNGKey(7), 1000).next_observations
    for branch, sign in ((2, 1.0), (1, -1.0)):
        prompts = {
            "goal": agent.infer_z_goal(state, obs[branch : branch + 1]),
            "reward": agent.infer_z_reward(state, samples, samples[:, branch])[None],
        }
        for mode, z in prompts.items():
            action = float(agent.act(state, obs[:1], z)[0, 0])
            assert sign * action > margin, f"{mode} prompt of state {branch}: action {action:.2f}"
            # Q itself ranks the branch's action above the other one.
            q_towards, q_away = (agent.q_value(state, obs[:1], jnp.full((1, 1), a), z)[0] for a in (sign, -sign))
            assert q_towards > q_away, f"{mode} prompt of state {branch}: Q {q_towards:.3f} <= {q_away:.3f}"
