"""Flow-BC actor: the flow-matching maths on problems with known answers, and the agents using it."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tdjepa import zero_shot
from tdjepa.data import sample_batch
from tdjepa.flow_matching import flow_actions, flow_matching_loss
from tdjepa.networks import FlowVelocity
from tdjepa.zero_shot import make_policy

from .helpers import agent_batch, random_data, tiny_agent


def test_the_exact_flow_of_a_point_mass_has_zero_loss_and_lands_on_it():
    target = jnp.array([[0.5, -0.3]])
    data = jnp.repeat(target, 64, axis=0)

    def exact(x, t):  # the conditional flow of a point mass at `target`: v = (a − x) / (1 − t)
        return (target - x) / (1.0 - t)

    assert float(flow_matching_loss(exact, data, jax.random.PRNGKey(0))) < 1e-8
    assert float(flow_matching_loss(lambda x, t: jnp.zeros_like(x), data, jax.random.PRNGKey(0))) > 0.5
    noise = jax.random.normal(jax.random.PRNGKey(1), data.shape)
    np.testing.assert_allclose(flow_actions(exact, noise, steps=10), data, atol=1e-5)
    # Actions leave the flow clipped to the action box.
    np.testing.assert_array_equal(flow_actions(lambda x, t: 10.0 * jnp.ones_like(x), noise, steps=10), 1.0)


def test_a_trained_flow_reproduces_both_modes_of_bimodal_actions():
    """Regression to the mean would answer 0 for actions ±0.6; the flow's samples keep both modes."""
    velocity = FlowVelocity(action_dim=1, hidden_dim=64, hidden_layers=2)
    obs = jnp.zeros((256, 1))
    data = jnp.where(jnp.arange(256)[:, None] % 2 == 0, 0.6, -0.6)
    params = velocity.init(jax.random.PRNGKey(0), obs, data, jnp.zeros((256, 1)))["params"]
    optimizer = optax.adam(3e-3)

    def step(carry, key):
        params, opt_state = carry
        loss = lambda p: flow_matching_loss(lambda x, t: velocity.apply({"params": p}, obs, x, t), data, key)  # noqa: E731
        grads = jax.grad(loss)(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        return (optax.apply_updates(params, updates), opt_state), None

    keys = jax.random.split(jax.random.PRNGKey(1), 1500)
    (params, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, keys))((params, optimizer.init(params)))
    noise = jax.random.normal(jax.random.PRNGKey(2), (256, 1))
    samples = np.asarray(flow_actions(lambda x, t: velocity.apply({"params": params}, obs, x, t), noise, steps=10))
    assert np.abs(np.abs(samples) - 0.6).mean() < 0.1
    assert 0.3 < (samples > 0).mean() < 0.7


@pytest.mark.parametrize("name", ["td_jepa", "fb"])
def test_flow_bc_agents_train_the_velocity_field_and_act_deterministically_without_a_key(name):
    agent = tiny_agent(name, actor_type="flow_bc", bc_coeff=3.0, lr_actor_flow=3e-3)
    data = random_data()
    batch = agent_batch(agent, data, jax.random.PRNGKey(0), 32)
    # Actions a deterministic function of the state: the BC flow can fit them exactly.
    batch = batch.replace(actions=jnp.tanh(3.0 * batch.observations[:, :2]))
    state = agent.init(jax.random.PRNGKey(1), batch)
    initial = agent.act_behavior(state, batch.observations, jax.random.PRNGKey(6))
    behavior_error = [np.abs(initial - batch.actions).mean()]
    update = jax.jit(agent.update)
    losses = []
    for i in range(100):  # the flow loss falls from ~1.3 to ~0.3 on this batch (td_jepa)
        state, metrics = update(state, batch, jax.random.PRNGKey(i))
        losses.append(float(metrics["actor_flow_loss"]))
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    z = agent.sample_z(jax.random.PRNGKey(3), 32)
    np.testing.assert_array_equal(agent.act(state, batch.observations, z), agent.act(state, batch.observations, z))
    noisy = [agent.act(state, batch.observations, z, jax.random.PRNGKey(k)) for k in (4, 5)]
    assert not np.allclose(noisy[0], noisy[1])
    assert np.abs(np.asarray(noisy[0])).max() <= 1.0
    # The BC flow alone (no z) moves towards the data's actions, repeats with its key and varies across keys.
    behavior = [agent.act_behavior(state, batch.observations, jax.random.PRNGKey(k)) for k in (6, 6, 7)]
    behavior_error.append(np.abs(behavior[0] - batch.actions).mean())
    assert behavior_error[1] < 0.5 * behavior_error[0]
    np.testing.assert_array_equal(behavior[0], behavior[1])
    assert not np.allclose(behavior[0], behavior[2])


def test_only_flow_bc_agents_have_a_behavior_flow():
    agent = tiny_agent("td_jepa")
    batch = sample_batch(random_data(), jax.random.PRNGKey(0), 4)
    state = agent.init(jax.random.PRNGKey(1), batch)
    with pytest.raises(ValueError, match="actor_type='flow_bc'"):
        agent.act_behavior(state, batch.observations, jax.random.PRNGKey(2))


def test_unknown_actor_type_is_refused():
    with pytest.raises(ValueError, match="actor_type"):
        tiny_agent("td_jepa", actor_type="sac")


def test_zero_shot_policies_sample_fresh_noise_for_flow_bc_and_repeat_with_the_seed():
    data = random_data()
    batch = sample_batch(data, jax.random.PRNGKey(0), 4)
    obs = np.asarray(batch.observations)
    for actor_type, stochastic in (("flow_bc", True), ("td3", False)):
        agent = tiny_agent("td_jepa", actor_type=actor_type)
        state = agent.init(jax.random.PRNGKey(1), batch)
        z = agent.sample_z(jax.random.PRNGKey(2), 1)[0]
        first, again = (make_policy(agent, state, z, num_envs=4, seed=7) for _ in "ab")
        calls = [first(obs), first(obs)]
        assert (not np.allclose(calls[0], calls[1])) == stochastic
        np.testing.assert_array_equal(again(obs), calls[0])


def test_the_policies_of_every_prompt_share_one_compiled_actor():
    """Evaluation builds a policy per prompt; compiling the actor once per agent, not per prompt, saves
    seconds per task with pixel networks. z stays an argument: two prompts still act differently."""
    batch = sample_batch(random_data(), jax.random.PRNGKey(0), 4)
    obs = np.asarray(batch.observations)
    agent = tiny_agent("td_jepa", actor_type="td3")
    state = agent.init(jax.random.PRNGKey(1), batch)
    z1, z2 = agent.sample_z(jax.random.PRNGKey(2), 2)
    compiled_before = zero_shot._act._cache_size()
    actions = [make_policy(agent, state, z, num_envs=4)(obs) for z in (z1, z2, z1)]
    assert zero_shot._act._cache_size() == compiled_before + 1
    assert not np.allclose(actions[0], actions[1])
    np.testing.assert_array_equal(actions[0], actions[2])
