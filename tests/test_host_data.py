"""Host-resident datasets: batches drawn on the host respect episodes, depend only on (seed, update)
whatever the chunking and prefetching, and train like device-resident ones."""

import jax
import numpy as np

from tdjepa.data import episode_starts, gather_batch, make_offline_data, stacked_observations
from tdjepa.host_data import HostSampler
from tdjepa.training import compile_chunk, init_runner

from .helpers import random_episodes, tiny_agent


def sampler(batch_size: int = 16, seed: int = 0) -> HostSampler:
    return HostSampler(*random_episodes(num_episodes=4, length=30), batch_size=batch_size, seed=seed)


def test_host_batches_pair_each_state_with_its_successor_in_the_same_episode():
    observations, _, terminals = random_episodes(num_episodes=4, length=30)
    batches = sampler().draw(0, 5).batches
    assert batches.observations.shape == (5, 16, 3) and batches.actions.shape == (5, 16, 2)
    for obs, next_obs in zip(np.asarray(batches.observations), np.asarray(batches.next_observations), strict=True):
        rows = [int(np.flatnonzero((observations == o).all(-1))[0]) for o in obs]
        assert not terminals[rows].any(), "no transition starts at an episode's last step"
        np.testing.assert_array_equal(next_obs, observations[np.array(rows) + 1])


def test_host_frame_stacks_equal_the_device_datas_stacks_of_the_same_transitions():
    # Frames whose every pixel holds its step number, 5-step episodes, stacks of 3: the host ships each
    # transition's frames t-2 .. t+1 once and stacks s and s' on the device.
    n, frame_stack = 20, 3
    frames = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 4, 4, 3)).copy()
    terminals = np.zeros(n, bool)
    terminals[4::5] = True
    host = HostSampler(frames, np.zeros((n, 2), np.float32), terminals, 8, seed=0, frame_stack=frame_stack)
    chunk = host.draw(0, 3)
    assert chunk.windows.shape == (3, 8, frame_stack + 1, 4, 4, 3)
    index = host.indices(0, 3).reshape(-1)
    starts = episode_starts(terminals)
    batches = chunk.batches
    for stacked, at in ((batches.observations, index), (batches.next_observations, index + 1)):
        expected = stacked_observations(frames, starts, at, frame_stack)
        np.testing.assert_array_equal(np.asarray(stacked).reshape(expected.shape), expected)
    assert (np.asarray(batches.observations)[..., 0] <= np.asarray(batches.observations)[..., 6]).all()
    assert (index % 5 < 2).any(), "some stacks repeat their episode's first frame"


def test_host_multistep_batches_equal_the_device_datas_batches_of_the_same_transitions():
    # Step-numbered frames, 5-step episodes, stacks of 2, 3 future states: windows t-1 .. t+3 cut at the
    # episode's last frame give the same s, s', s_{t+1..t+3} and step counts as the device-resident data.
    n, frame_stack, horizon = 30, 2, 3
    frames = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 4, 4, 3)).copy()
    terminals = np.zeros(n, bool)
    terminals[4::5] = True
    actions = np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32)
    host = HostSampler(frames, actions, terminals, 8, seed=0, frame_stack=frame_stack, horizon=horizon)
    chunk = host.draw(0, 4)
    assert chunk.windows.shape == (4, 8, frame_stack + horizon, 4, 4, 3)
    index = host.indices(0, 4).reshape(-1)
    device = make_offline_data(frames, actions, terminals, frame_stack=frame_stack)
    expected = gather_batch(device, index, horizon=horizon)
    actual = jax.tree.map(lambda x: np.asarray(x).reshape(-1, *x.shape[2:]), chunk.batches)
    for a, b in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
    assert {1, 3} <= set(actual.future_steps.tolist()), "some transitions are cut short by their episode's end"


def test_host_batches_depend_only_on_the_seed_and_the_update_index():
    whole = sampler().draw(0, 6).batches.observations
    split = [sampler().draw(0, 2).batches.observations, sampler().draw(2, 4).batches.observations]
    np.testing.assert_array_equal(np.asarray(whole), np.concatenate([np.asarray(s) for s in split]))
    prefetching = sampler()
    first = prefetching.for_chunk(0, 3).batches.observations  # also starts drawing updates 3..5 ahead
    ahead = prefetching.for_chunk(3, 3).batches.observations
    np.testing.assert_array_equal(np.concatenate([np.asarray(first), np.asarray(ahead)]), np.asarray(whole))
    other_seed = sampler(seed=1).draw(0, 6).batches.observations
    assert not np.array_equal(np.asarray(other_seed), np.asarray(whole))


def test_training_from_host_batches_is_the_same_however_it_is_chunked():
    agent = tiny_agent("td_jepa", batch_size=16)
    source = HostSampler(*random_episodes(num_episodes=4, length=30), batch_size=16, seed=0, horizon=agent.horizon)
    start = init_runner(agent, 0, source.example_batch())
    chunk_6, chunk_3 = compile_chunk(agent.update, 6), compile_chunk(agent.update, 3)
    whole, _ = chunk_6(start, source.for_chunk(0, 6))
    halves = init_runner(agent, 0, source.example_batch())
    for step in (0, 3):
        halves, metrics = chunk_3(halves, source.for_chunk(step, 3))
    assert all(np.isfinite(float(v)) for v in metrics.values())
    for a, b in zip(jax.tree.leaves(whole.agent.params), jax.tree.leaves(halves.agent.params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
