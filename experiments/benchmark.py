"""Throughput of the jitted TD-JEPA and FB updates next to this machine's fp32 matmul FLOP/s.

    python -m experiments.benchmark [--sizes=paper,small[,pixels]] [--agents=td_jepa,fb] [--seconds=5]
        [--eval_envs=DATASET,...]

For each agent and size it prints updates/s, the update's FLOPs as counted by XLA's cost analysis of
the compiled update, the achieved FLOP/s and the model-FLOP utilisation (MFU) against a large fp32
matmul measured in the same run; then one update per jitted call versus K per call (with the cost of a
jitted call that does no work, the dispatch part of what K per call saves), N seeds vmapped in one
program versus one seed, and K per call with batches drawn on the host by the prefetching sampler
(`--host_data`) versus inside jit, and how many updates' batches that sampler alone draws and places
per second (the most it can feed). Data are synthetic (walker-sized: 24-d observations, 6-d actions),
so only compute is measured; the `pixels` size (not run by default: slow on a CPU) is the paper's OGBench
pixel preset on random 64×64×3 uint8 frames stacked by 3, where the host sampler moves the most bytes.

`--eval_envs=DATASET,...` also measures zero-shot evaluation's env steps/s on those datasets' envs: one
reward task, the random policy, in this process and on worker processes (`--eval_workers` of train).

`--jax_envs=dmc-walker,...` measures the JAX bodies' env steps/s, each vmapped alone over `--env_counts`
envs (random actions, 10 steps per jitted call); `--online_loop=ENV` the online loop of `experiments.train
--agent=fb --env=ENV` (default config): a round of collection alone, its updates alone, and whole rounds, with
the share of a round's time spent stepping envs (acting included) and updating.
"""

import os
import resource
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

import agents
from envs import jax_envs
from envs import ogbench as ogb
from experiments.configs import agent_config
from tdjepa.data import make_offline_data, sample_batch
from tdjepa.host_data import HostSampler
from tdjepa.online import OnlineSource, initial_source_state
from tdjepa.runs import example_batch
from tdjepa.training import OfflineSource, compile_chunk, init_runner, init_runners

flags.DEFINE_list("agents", ["td_jepa", "fb"], "Agents to benchmark.")
SIZES = ("paper", "small", "pixels")
flags.DEFINE_list(
    "sizes", ["paper", "small"], "Sizes: paper (DMC proprio: batch 1024, width 1024), small, pixels (OGBench pixels)."
)
flags.DEFINE_float("seconds", 5.0, "Measuring time per case.")
flags.DEFINE_integer(
    "updates_per_call", 0, "K for the K-updates-per-call case (0: 10 at paper and pixels sizes, 100 small)."
)
flags.DEFINE_integer("num_seeds", 4, "N for the vmapped-seeds case.")
flags.DEFINE_integer("matmul_size", 2048, "Side of the square fp32 matmul that measures peak FLOP/s.")
flags.DEFINE_list("eval_envs", [], "Datasets whose evaluation envs' steps/s to measure (none by default).")
flags.DEFINE_integer("eval_episodes", 2, "Episodes of the evaluation measurement (run side by side).")
flags.DEFINE_list("jax_envs", [], "JAX envs whose vmapped env steps/s to measure (none by default).")
flags.DEFINE_list("env_counts", ["64", "256", "1024"], "Env counts of the --jax_envs measurement.")
flags.DEFINE_string("online_loop", None, "JAX env of the online-loop measurement (none by default).")
FLAGS = flags.FLAGS

OBS_DIM, ACTION_DIM = 24, 6
FRAME_SHAPE = (64, 64, 3)
# A paper-size update takes a good fraction of a second on a CPU, so fewer updates per call keep each
# measured call short; the small size needs many to show the per-call overhead it amortises.
UPDATES_PER_CALL = {"paper": 10, "small": 100, "pixels": 10}


def timed(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of fn, measured for about `seconds` after one warm-up call. Each call is waited
    for: with JAX's asynchronous dispatch the loop would otherwise queue far more work than `seconds`."""
    jax.block_until_ready(fn())
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        jax.block_until_ready(fn())
        calls += 1
    return calls / (time.perf_counter() - start)


def matmul_flops_per_second(size: int, seconds: float) -> float:
    """Achieved FLOP/s of an fp32 size×size×size matmul: this machine's practical peak."""
    a = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (size, size), jnp.float32)
    matmul = jax.jit(jnp.matmul)
    return timed(lambda: matmul(a, b), seconds) * 2 * size**3


def xla_flops(compiled) -> float:
    """FLOPs of a compiled computation from XLA's cost analysis."""
    analysis = compiled.cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0]
    return float(analysis["flops"])


def build(agent_name: str, size: str):
    """The agent at a size of its record's `benchmark_sizes` (a preset and overrides), an in-jit data source and
    a host sampler over 100k synthetic steps (walker-sized states, or random frames for `pixels`)."""
    preset, overrides = agents.record(agent_name).benchmark_sizes[size]
    config = agent_config(agent_name, preset, overrides=overrides)
    agent = agents.make(agent_name, config)
    rng = np.random.default_rng(0)
    n = 100_000
    terminals = np.zeros(n, bool)
    terminals[999::1000] = True
    if size == "pixels":
        observations = rng.integers(0, 256, (n, *FRAME_SHAPE), dtype=np.uint8)
    else:
        observations = rng.normal(size=(n, OBS_DIM)).astype(np.float32)
    arrays = (observations, rng.uniform(-1, 1, (n, ACTION_DIM)).astype(np.float32), terminals)
    k = config.frame_stack
    host = HostSampler(*arrays, batch_size=config.batch_size, seed=0, frame_stack=k, horizon=agent.horizon)
    return agent, OfflineSource(make_offline_data(*arrays, frame_stack=k), config.batch_size, agent.horizon), host


def bench_case(agent_name: str, size: str, peak: float, seconds: float) -> list[str]:
    """Result lines for one agent at one size."""
    agent, source, host = build(agent_name, size)
    example = sample_batch(source.data, jax.random.PRNGKey(0), 2)
    batch = sample_batch(source.data, jax.random.PRNGKey(1), source.batch_size, source.horizon)
    state = agent.init(jax.random.PRNGKey(0), example)
    update = jax.jit(agent.update)
    flops = xla_flops(update.lower(state, batch, jax.random.PRNGKey(2)).compile())
    holder = {"state": state}

    def one_update():
        holder["state"], _ = update(holder["state"], batch, jax.random.PRNGKey(3))
        return holder["state"]

    ups_single = timed(one_update, seconds)
    k = FLAGS.updates_per_call or UPDATES_PER_CALL[size]
    runner = {"r": init_runner(agent, 0, example)}
    unroll = agent.pixels and jax.default_backend() == "cpu"  # as experiments.train does (jax#12868)
    chunk_k, chunk_1 = (compile_chunk(agent.update, n, unroll=unroll) for n in (k, 1))

    def call(chunk):
        def run():
            runner["r"], _ = chunk(runner["r"], source)
            return runner["r"]

        return run

    ups_chunk_1 = timed(call(chunk_1), seconds)
    # What scanning K updates saves is the per-call cost: dispatching a jitted call on this runner and
    # waiting for it. A call that does no work measures the dispatch part of it.
    call_overhead = 1.0 / timed(call(jax.jit(lambda r, _: (r, None), donate_argnums=0)), seconds)
    ups_chunk_k = timed(call(chunk_k), seconds) * k
    host_step = {"next": 0}

    def run_host():
        runner["r"], _ = chunk_k(runner["r"], host.for_chunk(host_step["next"], k))
        host_step["next"] += k
        return runner["r"]

    ups_host = timed(run_host, seconds) * k
    feed = {"next": 0}

    def draw_only():
        feed["next"] += k
        return host.draw(feed["next"], k).windows

    ups_feed = timed(draw_only, seconds) * k
    # N seeds with K/N updates each per call: the same updates per call as the one-seed chunk.
    n = FLAGS.num_seeds
    k_seeds = max(1, k // n)
    seeds = {"r": init_runners(agent, list(range(n)), example)}
    chunk_seeds = compile_chunk(agent.update, k_seeds, num_seeds=n, unroll=unroll)

    def run_seeds():
        seeds["r"], _ = chunk_seeds(seeds["r"], source)
        return seeds["r"]

    ups_seeds = timed(run_seeds, seconds) * k_seeds * n
    achieved = flops * ups_chunk_k
    return [
        f"{agent_name:8s} {size:6s} batch {source.batch_size:5d} | {flops / 1e9:7.3f} GFLOP/update (XLA cost analysis)",
        f"    update jitted alone, same batch: {ups_single:8.1f} upd/s",
        f"    scan chunk, 1 update/call:       {ups_chunk_1:8.1f} upd/s (sampling inside jit)",
        f"    empty jitted call on the runner: {1e3 * call_overhead:8.3f} ms/call "
        f"(= {100 * call_overhead * ups_chunk_1:4.1f}% of a 1-update call)",
        f"    scan chunk, {k} updates/call:   {ups_chunk_k:8.1f} upd/s -> {achieved / 1e9:7.1f} GFLOP/s, "
        f"MFU {100 * achieved / peak:5.1f}% of matmul peak",
        f"    {n} seeds vmapped, {k_seeds}/call each: {ups_seeds:8.1f} seed-upd/s "
        f"({ups_seeds / ups_chunk_k:4.2f}x one seed's updates/s)",
        f"    host-sampled batches, {k}/call:  {ups_host:8.1f} upd/s "
        f"({ups_host / ups_chunk_k:4.2f}x sampling inside jit)",
        f"    host sampler alone, {k}/draw:      {ups_feed:8.1f} upd/s of batches drawn and placed on the device",
    ]


def bench_evaluation(dataset_name: str, episodes: int) -> list[str]:
    """Env steps/s of zero-shot evaluation on one reward task (task 1, the random policy), `episodes`
    episodes in lockstep in this process and on one worker process each (up to the CPU count); each
    timed run is the second of two, its envs already built."""
    frame_stack = 3 if ogb.dataset_spec(dataset_name).visual else 1
    action_dim = ogb.dataset_spec(dataset_name).action_dim

    def steps_per_second(workers) -> tuple[float, dict]:
        for _ in range(2):
            policy = ogb.random_policy(action_dim, seed=0)
            start = time.perf_counter()
            out = ogb.evaluate(dataset_name, policy, "reward", 1, episodes, 0, frame_stack, workers)
            elapsed = time.perf_counter() - start
        return out["episode_lengths"].sum() / elapsed, out

    local, local_out = steps_per_second(None)
    count = min(episodes, os.cpu_count() or 1)
    with ogb.evaluation_workers(count) as workers:
        parallel, parallel_out = steps_per_second(workers)
    same = np.array_equal(local_out["episode_lengths"], parallel_out["episode_lengths"]) and (
        local_out["return"] == parallel_out["return"]
    )
    return [
        f"evaluation {dataset_name}, {episodes} episodes (reward task 1, random policy)",
        f"    in this process:    {local:8.1f} env steps/s",
        f"    {count} worker processes: {parallel:8.1f} env steps/s ({parallel / local:4.2f}x; same episodes: {same})",
    ]


def bench_jax_env(env_id: str, num_envs: int, seconds: float) -> str:
    """Env steps/s of `num_envs` vmapped envs of `env_id` (uniform random actions, 10 steps per call)."""
    env = jax_envs.make(env_id)
    state = {"s": jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), num_envs))}

    @jax.jit
    def ten_steps(env_state, key):
        def one(s, k):
            action = jax.random.uniform(k, (num_envs, env.action_size), minval=-1.0, maxval=1.0)
            return jax.vmap(env.step)(s, action), None

        return jax.lax.scan(one, env_state, jax.random.split(key, 10))[0]

    def run():
        state["s"] = ten_steps(state["s"], jax.random.PRNGKey(1))
        return state["s"].obs

    start = time.perf_counter()
    jax.block_until_ready(run())
    compile_seconds = time.perf_counter() - start
    rate = timed(run, seconds) * 10 * num_envs
    first = f"(compile and first call {compile_seconds:.1f} s)"
    return f"    {env_id:15s} {num_envs:5d} envs: {rate:10.0f} env steps/s {first}"


def bench_online_loop(env_id: str, seconds: float) -> list[str]:
    """The default online FB loop on `env_id`: per round, collection alone, updates alone, and both."""
    config = agent_config("fb", "cpu", env_id)
    agent = agents.make("fb", config)
    source = OnlineSource.from_config(jax_envs.make(env_id), agent, config)
    env = source.env
    spec = {"observation_shape": [env.observation_size], "observation_dtype": "float32", "action_dim": env.action_size}
    runner = init_runner(agent, 0, example_batch(spec), initial_source_state(source, 0))
    runner = jax.jit(lambda r: r.replace(source_state=source.prefill(r.source_state, r.key, config.seed_steps)))(runner)
    holder = {"r": runner}
    collect = jax.jit(lambda r: r.replace(source_state=source.collect(r.source_state, r.agent, r.key)[0]))

    @jax.jit
    def updates(r):
        def one(agent_state, key):
            k_batch, k_update = jax.random.split(key)
            return agent.update(agent_state, source.sample(r.source_state, agent_state, k_batch, 0)[1], k_update)[
                0
            ], None

        keys = jax.random.split(r.key, config.updates_per_round)
        return r.replace(agent=jax.lax.scan(one, r.agent, keys)[0])

    rounds = 10
    whole = compile_chunk(agent.update, rounds * config.updates_per_round)

    def call(fn):
        def run():
            holder["r"] = fn(holder["r"])
            return holder["r"].key

        return run

    collect_rate = timed(call(collect), seconds)  # rounds/s
    update_rate = timed(call(updates), seconds)
    loop_rate = timed(call(lambda r: whole(r, source)[0]), seconds) * rounds
    collect_time, update_time = 1 / collect_rate, 1 / update_rate
    share = collect_time / (collect_time + update_time)
    steps, upd = config.env_steps_per_round, config.updates_per_round
    return [
        f"online loop fb on {env_id} (default config: {config.num_envs} envs, {steps} env steps then {upd} updates "
        f"of batch {config.batch_size} per round)",
        f"    collection alone (acting, stepping, buffer insertion): {collect_rate * steps:9.0f} env steps/s",
        f"    updates alone (buffer sampling included):               {update_rate * upd:9.1f} upd/s",
        f"    whole rounds, {rounds} per call: {loop_rate * steps:9.0f} env steps/s and {loop_rate * upd:7.1f} upd/s; "
        f"of a round's time {100 * share:4.1f}% env steps, {100 * (1 - share):4.1f}% updates",
    ]


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    for size in FLAGS.sizes:
        if size not in SIZES:
            raise app.UsageError(f"--sizes: unknown size {size!r}; accepted values: {', '.join(SIZES)}")
    for name in FLAGS.agents:
        if name not in agents.NAMES:
            raise app.UsageError(f"--agents: unknown agent {name!r}; accepted values: {', '.join(agents.NAMES)}")
        if not agents.record(name).benchmark_sizes:
            raise app.UsageError(f"--agents={name}: updates on offline batches do not apply (it trains online)")
    for env_id in FLAGS.jax_envs + ([FLAGS.online_loop] if FLAGS.online_loop else []):
        if env_id not in jax_envs.ENV_IDS:
            raise app.UsageError(f"--jax_envs/--online_loop: unknown JAX env {env_id!r}; accepted: {jax_envs.ENV_IDS}")
    if not all(count.isdigit() and int(count) > 0 for count in FLAGS.env_counts):
        raise app.UsageError(f"--env_counts must be positive integers, got {FLAGS.env_counts}")
    for dataset_name in FLAGS.eval_envs:
        if dataset_name not in ogb.SUPPORTED_DATASETS:
            raise app.UsageError(f"--eval_envs: unknown dataset {dataset_name!r}; accepted: {ogb.SUPPORTED_DATASETS}")
    if FLAGS.eval_episodes < 1:
        raise app.UsageError(f"--eval_episodes must be >= 1, got {FLAGS.eval_episodes}")
    if FLAGS.updates_per_call < 0 or FLAGS.num_seeds < 1 or FLAGS.seconds <= 0:
        raise app.UsageError(
            "--updates_per_call must be >= 0 (0: the per-size default), --num_seeds >= 1 and --seconds > 0; "
            f"got {FLAGS.updates_per_call}, {FLAGS.num_seeds}, {FLAGS.seconds}"
        )
    device = jax.devices()[0]
    print(f"device: {device.platform} {device.device_kind} x{len(jax.devices())}, jax {jax.__version__}")
    peak = matmul_flops_per_second(FLAGS.matmul_size, FLAGS.seconds)
    print(f"fp32 matmul {FLAGS.matmul_size}^3: {peak / 1e9:.1f} GFLOP/s (measured now; the MFU denominator)")
    for size in FLAGS.sizes:
        for name in FLAGS.agents:
            print("\n".join(bench_case(name, size, peak, FLAGS.seconds)), flush=True)
    for dataset_name in FLAGS.eval_envs:
        print("\n".join(bench_evaluation(dataset_name, FLAGS.eval_episodes)), flush=True)
    if FLAGS.jax_envs:
        print("JAX envs vmapped alone (uniform random actions):")
    for env_id in FLAGS.jax_envs:
        for count in FLAGS.env_counts:
            print(bench_jax_env(env_id, int(count), FLAGS.seconds), flush=True)
    if FLAGS.online_loop:
        print("\n".join(bench_online_loop(FLAGS.online_loop, FLAGS.seconds)), flush=True)
    peak_after = matmul_flops_per_second(FLAGS.matmul_size, FLAGS.seconds)
    print(f"fp32 matmul again at the end: {peak_after / 1e9:.1f} GFLOP/s")
    print(f"peak host memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    app.run(main)
