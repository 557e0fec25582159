"""Invariants of training: jit, seeds, sharding, randomness and checkpoints."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tdjepa.checkpoints import Checkpointer
from tdjepa.data import gather_batch, sample_batch
from tdjepa.latent_space import mix_goal_latents
from tdjepa.training import (
    OfflineSource,
    compile_chunk,
    data_mesh,
    init_runner,
    init_runners,
    replicate,
    seed_slice,
)

from .helpers import agent_batch, random_data, tiny_agent

AGENTS = ["td_jepa", "fb"]


def assert_trees_close(a, b, atol=1e-5):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=1e-4)


def setup(name, **overrides):
    agent = tiny_agent(name, **overrides)
    data = random_data()
    source = OfflineSource(data, agent.config.batch_size, agent.horizon)
    return agent, data, source


@pytest.mark.parametrize("name", AGENTS)
def test_jit_equals_no_jit(name):
    agent, data, _ = setup(name)
    batch = agent_batch(agent, data, jax.random.PRNGKey(0), 32)
    state = agent.init(jax.random.PRNGKey(1), batch)
    key = jax.random.PRNGKey(2)
    eager, eager_metrics = agent.update(state, batch, key)  # op by op, no enclosing jit
    jitted, jitted_metrics = jax.jit(agent.update)(state, batch, key)
    assert_trees_close(eager, jitted)
    assert_trees_close(eager_metrics, jitted_metrics, atol=1e-4)


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("td_jepa", {"symmetric": True}),
        ("fb", {}),
        ("td_jepa", {"actor_type": "flow_bc"}),
        ("fb", {"actor_type": "flow_bc"}),
    ],
)
def test_updates_change_every_network(name, overrides):
    agent, data, _ = setup(name, **overrides)
    batch = agent_batch(agent, data, jax.random.PRNGKey(0), 32)
    state = agent.init(jax.random.PRNGKey(1), batch)
    new, metrics = jax.jit(agent.update)(state, batch, jax.random.PRNGKey(2))
    assert all(np.isfinite(float(v)) for v in metrics.values())
    for net in state.params:
        changed = [
            not np.allclose(a, b)
            for a, b in zip(jax.tree.leaves(state.params[net]), jax.tree.leaves(new.params[net]), strict=True)
        ]
        assert any(changed), net
    for net in state.target_params:
        assert not np.allclose(jax.tree.leaves(state.target_params[net])[0], jax.tree.leaves(new.target_params[net])[0])


def test_multistep_update_with_one_step_left_equals_the_one_step_update():
    """n-step targets cut after one step (two-step episodes) are the one-step targets."""
    data = random_data(num_episodes=40, length=2)
    indices = data.valid_indices[:32]
    one = tiny_agent("td_jepa", n_step=1)
    multi = tiny_agent("td_jepa", n_step=3)
    state = one.init(jax.random.PRNGKey(1), gather_batch(data, indices))
    key = jax.random.PRNGKey(2)
    expected, expected_metrics = jax.jit(one.update)(state, gather_batch(data, indices), key)
    actual, metrics = jax.jit(multi.update)(state, gather_batch(data, indices, horizon=3), key)
    assert_trees_close(expected_metrics, metrics)
    assert_trees_close(expected, actual)


def test_multistep_targets_use_the_later_states_and_refuse_one_step_batches():
    data = random_data()
    indices = data.valid_indices[:32]
    agent = tiny_agent("td_jepa", n_step=3)
    state = agent.init(jax.random.PRNGKey(1), gather_batch(data, indices))
    key = jax.random.PRNGKey(2)
    _, multi = jax.jit(agent.update)(state, gather_batch(data, indices, horizon=3), key)
    _, one = jax.jit(tiny_agent("td_jepa", n_step=1).update)(state, gather_batch(data, indices), key)
    assert not np.isclose(float(multi["T_phi_loss"]), float(one["T_phi_loss"]), rtol=1e-3)
    with pytest.raises(ValueError, match="n_step=3 needs batches with 3 future states"):
        agent.update(state, gather_batch(data, indices), key)


def test_consecutive_updates_draw_different_latents():
    """The chunk threads a fresh key to every update, so the z mixing differs from step to step."""
    agent, data, source = setup("td_jepa")

    def spy_update(state, batch, key):
        goals = agent.encode(state.params, "psi", batch.next_observations)
        return state, {"z": mix_goal_latents(key, goals, 0.5)}

    runner = init_runner(agent, 0, sample_batch(data, jax.random.PRNGKey(0), 2))
    chunk = compile_chunk(spy_update, 1)
    runner, first = chunk(runner, source)
    _, second = chunk(runner, source)
    assert not np.allclose(first["z"], second["z"])


@pytest.mark.parametrize("name", AGENTS)
def test_cosine_schedule_moves_every_network_until_its_last_step_and_none_after(name):
    agent, data, source = setup(name, lr_cosine_steps=3)
    runner = init_runner(agent, 0, sample_batch(data, jax.random.PRNGKey(0), 2))
    params = [jax.tree.map(np.asarray, runner.agent.params)]  # copies: chunks donate their input state
    for num_updates in (2, 1, 2):  # after updates 2, 3 and 5
        runner, _ = compile_chunk(agent.update, num_updates)(runner, source)
        params.append(jax.tree.map(np.asarray, runner.agent.params))
    for net in params[0]:
        leaves = [jax.tree.leaves(p[net]) for p in params]
        moved = [
            not all(np.array_equal(a, b) for a, b in zip(x, y, strict=True))
            for x, y in zip(leaves, leaves[1:], strict=False)
        ]
        assert moved == [True, True, False], net  # updates 1-3 at rates 1, 0.75, 0.25 × lr; then 0
    with pytest.raises(ValueError, match="lr_cosine_steps must be >= 0"):
        tiny_agent(name, lr_cosine_steps=-1)


@pytest.mark.parametrize("name, actor_type", [("td_jepa", "td3"), ("fb", "flow_bc")])
def test_averaged_actor_follows_the_polyak_recurrence_acts_and_leaves_training_unchanged(name, actor_type):
    tau = 0.3
    agent, data, _ = setup(name, actor_type=actor_type, actor_average_tau=tau)
    plain = tiny_agent(name, actor_type=actor_type)
    batch = agent_batch(agent, data, jax.random.PRNGKey(0), 32)
    state = agent.init(jax.random.PRNGKey(1), batch)
    plain_state = plain.init(jax.random.PRNGKey(1), batch)
    # The average is kept as what it is, apart from the TD targets.
    assert set(state.target_params) == set(plain_state.target_params) and "actor" not in state.target_params
    assert set(state.averaged_params) == {"actor"} and plain_state.averaged_params == {}
    expected = state.params["actor"]
    update, plain_update = jax.jit(agent.update), jax.jit(plain.update)
    for step in range(3):
        key = jax.random.PRNGKey(10 + step)
        state, _ = update(state, batch, key)
        plain_state, _ = plain_update(plain_state, batch, key)
        expected = jax.tree.map(lambda avg, new: (1 - tau) * avg + tau * new, expected, state.params["actor"])
    assert_trees_close(state.params, plain_state.params)  # averaging does not touch training
    assert_trees_close(state.averaged_params["actor"], expected)
    obs, z = batch.observations[:8], agent.sample_z(jax.random.PRNGKey(3), 8)
    averaged_as_online = plain_state.replace(params=plain_state.params | {"actor": expected})
    np.testing.assert_allclose(agent.act(state, obs, z), plain.act(averaged_as_online, obs, z), atol=1e-5)
    assert not np.allclose(agent.act(state, obs, z), plain.act(plain_state, obs, z), atol=1e-4)
    with pytest.raises(ValueError, match="actor_average_tau must be in"):
        tiny_agent(name, actor_average_tau=1.5)


@pytest.mark.parametrize("name", AGENTS)
def test_vmapped_seeds_equal_single_seed_runs(name):
    agent, data, source = setup(name)
    example = sample_batch(data, jax.random.PRNGKey(0), 2)
    stacked, _ = compile_chunk(agent.update, 3, num_seeds=2)(init_runners(agent, [5, 6], example), source)
    for i, seed in enumerate([5, 6]):
        single, _ = compile_chunk(agent.update, 3)(init_runner(agent, seed, example), source)
        assert_trees_close(seed_slice(stacked, i), single)
    assert not np.allclose(jax.tree.leaves(seed_slice(stacked, 0))[0], jax.tree.leaves(seed_slice(stacked, 1))[0])


@pytest.mark.parametrize("num_updates", [1, 3])
def test_unrolled_chunk_equals_the_scanned_chunk_and_drops_its_loop_over_updates(num_updates):
    agent, data, source = setup("td_jepa")
    example = sample_batch(data, jax.random.PRNGKey(0), 2)
    scanned, scanned_metrics = compile_chunk(agent.update, num_updates)(init_runner(agent, 0, example), source)
    unrolled_chunk = compile_chunk(agent.update, num_updates, unroll=True)
    unrolled, metrics = unrolled_chunk(init_runner(agent, 0, example), source)
    assert_trees_close(scanned.agent.params, unrolled.agent.params)
    assert_trees_close(scanned_metrics, metrics)

    # The point of unrolling (XLA:CPU's slow convolutions inside loops): the chunk's loop over updates is
    # gone, also for one update (the update itself holds loops of its own, in both).
    def loops(chunk) -> int:
        return chunk.lower(init_runner(agent, 0, example), source).as_text().count("stablehlo.while")

    assert loops(unrolled_chunk) == loops(compile_chunk(agent.update, num_updates)) - 1


@pytest.mark.parametrize("name", AGENTS)
def test_sharded_update_equals_unsharded(name):
    assert len(jax.devices()) >= 4, "conftest sets four host devices"
    agent, data, source = setup(name)
    example = sample_batch(data, jax.random.PRNGKey(0), 2)
    plain, _ = compile_chunk(agent.update, 2)(init_runner(agent, 0, example), source)
    mesh = data_mesh(4)
    sharded_fn = compile_chunk(agent.update, 2, mesh=mesh)
    runner, sharded_source = replicate(init_runner(agent, 0, example), mesh), replicate(source, mesh)
    sharded, _ = sharded_fn(runner, sharded_source)
    assert_trees_close(plain, sharded, atol=1e-4)
    lowered = sharded_fn.lower(runner, sharded_source).as_text()
    assert "num_partitions = 4" in lowered and "sharding_constraint" in lowered


@pytest.mark.parametrize("name", AGENTS)
def test_restore_and_continue_equals_uninterrupted(tmp_path, name):
    agent, data, source = setup(name)
    example = sample_batch(data, jax.random.PRNGKey(0), 2)
    chunk = compile_chunk(agent.update, 3, num_seeds=2)
    runner = init_runners(agent, [0, 1], example)
    halfway, _ = chunk(runner, source)
    halfway_copy = jax.tree.map(jnp.copy, halfway)
    straight, _ = chunk(halfway, source)

    checkpointer = Checkpointer(tmp_path)
    checkpointer.save(3, halfway_copy, {"agent": name})
    assert checkpointer.latest_step() == 3 and checkpointer.config(3) == {"agent": name}
    template = init_runners(agent, [0, 1], example)
    restored = checkpointer.restore(3, template)
    checkpointer.close()
    resumed, _ = chunk(restored, source)
    for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_bounded_targets_keep_the_td_loss_within_the_successor_feature_bound():
    """Target predictors blown up 1e4×: with bound_successor_targets each TD target is cut to
    ‖y‖ ≤ √d/(1−γ), so the loss stays below (‖prediction‖ + bound)²; without it the loss explodes."""
    data = random_data()
    losses = {}
    for bounded in (True, False):
        agent = tiny_agent("td_jepa", bound_successor_targets=bounded)
        batch = agent_batch(agent, data, jax.random.PRNGKey(1), 32)
        state = agent.init(jax.random.PRNGKey(0), batch)
        blown_up = {name: jax.tree.map(lambda x: 1e4 * x, state.target_params[name]) for name in ("T_phi", "T_psi")}
        state = state.replace(target_params=state.target_params | blown_up)
        _, metrics = jax.jit(agent.update)(state, batch, jax.random.PRNGKey(2))
        losses[bounded] = float(metrics["T_phi_loss"])
    config = tiny_agent("td_jepa").config
    bound = np.sqrt(config.psi_dim) / (1 - config.discount)
    assert losses[True] < (bound + 10.0) ** 2
    assert losses[False] > 100 * losses[True]
