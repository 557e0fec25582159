"""Invariants of the core: latents, pessimism, data sampling, inference."""

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

from tdjepa.actor_objectives import ActionValue, flow_bc_actor_loss, noisy_action, td3_actor_loss
from tdjepa.data import gather_batch, make_offline_data, sample_batch, transition_indices
from tdjepa.ensembles import pessimism
from tdjepa.inference import least_squares_latent, reward_weighted_latent, softmax_weighted_latent
from tdjepa.latent_space import mix_goal_latents, project_to_ball, project_to_sphere, sample_sphere, whitening_matrix
from tdjepa.orthonormality import orthonormality_loss

from .helpers import random_data, random_episodes


def test_two_head_pessimism_half_is_minimum_and_zero_is_mean():
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 7, 3))
    np.testing.assert_allclose(pessimism(x, 0.5), jnp.min(x, 0), atol=1e-6)
    np.testing.assert_allclose(pessimism(x, 0.0), jnp.mean(x, 0), atol=1e-6)
    assert not np.allclose(pessimism(x, 0.25), jnp.min(x, 0))


def test_prior_latents_lie_on_the_sphere_and_are_centred():
    z = sample_sphere(jax.random.PRNGKey(0), 20_000, 16)
    np.testing.assert_allclose(jnp.sum(z**2, -1), 16.0, rtol=1e-5)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=0.05)
    np.testing.assert_allclose(z.T @ z / z.shape[0], jnp.eye(16), atol=0.06)


def test_projection_keeps_direction():
    x = jnp.array([[3.0, 4.0]])
    np.testing.assert_allclose(project_to_sphere(x), jnp.sqrt(2.0) * x / 5.0, rtol=1e-6)


def test_ball_projection_shortens_only_rows_outside_the_ball():
    x = jnp.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    y = project_to_ball(x, 2.0)
    np.testing.assert_allclose(y, [[1.2, 1.6], [0.3, 0.4], [0.0, 0.0]], rtol=1e-6)


def test_goal_mixing_uses_goals_at_the_given_ratio_and_depends_on_the_key():
    goals = jax.random.normal(jax.random.PRNGKey(1), (4000, 5))
    z1 = mix_goal_latents(jax.random.PRNGKey(2), goals, 0.5)
    z2 = mix_goal_latents(jax.random.PRNGKey(3), goals, 0.5)
    assert not np.allclose(z1, z2)
    np.testing.assert_allclose(jnp.sum(z1**2, -1), 5.0, rtol=1e-5)
    projected_goals = project_to_sphere(goals)
    is_goal = jnp.any(jnp.all(jnp.isclose(z1[:, None], projected_goals[None], atol=1e-6), -1), -1)
    assert 0.45 < float(is_goal.mean()) < 0.55


def test_whitened_goals_use_the_inverse_second_moment():
    cov = jnp.diag(jnp.array([4.0, 1.0]))
    goals = jnp.array([[2.0, 1.0]])
    z = mix_goal_latents(jax.random.PRNGKey(0), goals, 1.0, whitening_matrix(cov))
    np.testing.assert_allclose(z, project_to_sphere(jnp.array([[0.5, 1.0]])), rtol=1e-4)


def test_orthonormality_diagonal_has_no_gradient_on_the_sphere():
    x = project_to_sphere(jax.random.normal(jax.random.PRNGKey(0), (16, 4)))
    diagonal_term = lambda y: -jnp.mean(jnp.sum(project_to_sphere(y) ** 2, -1))  # noqa: E731
    np.testing.assert_allclose(jax.grad(diagonal_term)(x), 0.0, atol=1e-5)
    assert float(jnp.abs(jax.grad(lambda y: orthonormality_loss(project_to_sphere(y)))(x)).max()) > 1e-3


def test_orthonormality_is_minimal_for_orthonormal_rows():
    e = jnp.sqrt(3.0) * jnp.eye(3)
    random = project_to_sphere(jax.random.normal(jax.random.PRNGKey(0), (3, 3)))
    assert orthonormality_loss(e) < orthonormality_loss(random)


def test_transitions_never_cross_episode_ends():
    _, _, terminals = random_episodes(num_episodes=3, length=5)
    indices = transition_indices(terminals)
    np.testing.assert_array_equal(indices, [0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13])


def test_sampled_batches_pair_each_state_with_its_successor():
    data = random_data(num_episodes=3, length=10)
    batch = sample_batch(data, jax.random.PRNGKey(0), 500)
    obs = np.asarray(data.observations)
    rows = [int(np.flatnonzero((obs == o).all(-1))[0]) for o in np.asarray(batch.observations)]
    np.testing.assert_array_equal(np.asarray(batch.next_observations), obs[np.array(rows) + 1])
    assert all(r % 10 != 9 for r in rows)
    np.testing.assert_array_equal(gather_batch(data, jnp.array([0])).actions, data.actions[:1])


def test_multistep_batches_hold_the_next_states_cut_at_the_episode_end():
    """s_{t+1} … s_{t+3} of each transition, the episode's last state repeated past its end."""
    obs = np.arange(10, dtype=np.float32)[:, None]  # the value of a state is its row
    terminals = np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 1], bool)
    data = make_offline_data(obs, np.zeros((10, 1), np.float32), terminals)
    batch = gather_batch(data, jnp.array([0, 1, 2, 4, 7, 8]), horizon=3)
    expected = [[1, 2, 3], [2, 3, 3], [3, 3, 3], [5, 6, 7], [8, 9, 9], [9, 9, 9]]
    np.testing.assert_array_equal(batch.future_observations[..., 0], expected)
    np.testing.assert_array_equal(batch.future_steps, [3, 2, 1, 3, 2, 1])
    np.testing.assert_array_equal(batch.future_observations[:, 0], batch.next_observations)
    assert gather_batch(data, jnp.array([0])).future_observations is None


def test_noisy_action_is_bounded_and_straight_through():
    mean = jnp.array([[0.99, -0.5]])
    a = noisy_action(jax.random.PRNGKey(0), mean, 0.2, 0.3)
    assert float(jnp.abs(a).max()) < 1.0 and float(jnp.abs(a - mean).max()) <= 0.3 + 1e-6
    grad = jax.grad(lambda m: noisy_action(jax.random.PRNGKey(0), m, 0.2, 0.3).sum())(mean)
    np.testing.assert_allclose(grad, 1.0)


def test_least_squares_latent_recovers_a_linear_reward_direction():
    features = jax.random.normal(jax.random.PRNGKey(0), (500, 4))
    w = jnp.array([1.0, -2.0, 0.5, 0.0])
    np.testing.assert_allclose(least_squares_latent(features, features @ w), project_to_sphere(w), atol=1e-4)


@pytest.mark.parametrize("fn", [reward_weighted_latent, softmax_weighted_latent])
def test_reward_weighted_latents_point_to_rewarded_states(fn):
    features = project_to_sphere(jnp.eye(3))
    z = fn(features, jnp.array([0.0, 1.0, 0.0]))
    np.testing.assert_allclose(z, features[1], atol=1e-5)


@pytest.mark.parametrize("objective", ["td3", "flow_bc"])
def test_behaviour_regularised_actor_gradient_treats_the_q_scale_as_a_constant(objective):
    """With Q(a) = Σ a + 10 (all positive) the Q term's gradient per action is −1/(B·sg(mean|Q|)): without the
    stop-gradient, −mean Q / mean |Q| is constant (−1) and the Q term gives no gradient at all."""
    actions = jnp.array([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.2]])
    data = jnp.zeros_like(actions)

    def value_fn(a):
        q = a.sum(-1) + 10.0
        return ActionValue(q=q, scale=jnp.abs(q).mean())

    def loss(a):
        if objective == "td3":  # std 0: the noisy action is the mean
            return td3_actor_loss(a, value_fn, data, jax.random.PRNGKey(0), std=0.0, clip=0.3, bc_coeff=0.5)[0]
        return flow_bc_actor_loss(a, value_fn, data, jnp.zeros(()), bc_coeff=0.5)[0]

    scale = float(jnp.abs(actions.sum(-1) + 10.0).mean())
    expected = -1.0 / (3 * scale) + 0.5 * 2 * (actions - data) / actions.size
    np.testing.assert_allclose(jax.grad(loss)(actions), expected, rtol=1e-5, atol=1e-7)


def test_orthogonal_init_equals_flaxs_and_vmaps_to_one_matrix_qrs():
    """Batched CPU QRs deadlocked jaxlib 0.10's intra-op pool (tdjepa.networks.orthogonal): the library's
    initialiser gives flax's values, and vmapped over keys it factorises one matrix at a time."""
    import flax.linen as nn

    from tdjepa.networks import orthogonal

    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    ours = jax.vmap(lambda k: orthogonal(2.0**0.5)(k, (24, 64)))
    np.testing.assert_array_equal(
        ours(keys), jax.vmap(lambda k: nn.initializers.orthogonal(2.0**0.5)(k, (24, 64)))(keys)
    )
    qr_shapes = []

    def collect(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "householder_product" or "qr" in eqn.primitive.name:
                qr_shapes.append(eqn.invars[0].aval.shape)
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                collect(sub)

    collect(jax.make_jaxpr(ours)(keys).jaxpr)
    assert qr_shapes and all(len(shape) == 2 for shape in qr_shapes)
