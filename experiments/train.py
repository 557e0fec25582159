"""Pre-training without rewards, then zero-shot evaluation: offline on a dataset, or online on a JAX env.

    python -m experiments.train --agent=td_jepa --env=pointmaze-medium-navigate-v0 --workdir=runs/x
    python -m experiments.train --agent=fb --env=dmc-walker --workdir=runs/y
    python -m experiments.train --agent=fb --env=dmc-walker --dataset_dir=data/walker_rnd --workdir=runs/z

The second trains online in vmapped envs; the third offline on a folder of the body's episodes in ExoRL's format
(what experiments.collect writes), evaluated in the same vmapped envs on every task of the domain.

Rerunning the same command on the same workdir resumes from its latest checkpoint.
"""

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import ml_collections
from absl import app, flags, logging
from jax.sharding import NamedSharding, PartitionSpec

import agents
from envs import jax_envs
from envs import ogbench as ogb
from envs.env_workers import EnvWorkers
from experiments import report
from experiments.configs import is_exorl, is_online
from experiments.flag_utils import (
    agent_config_from_flags,
    define_agent_flags,
    define_eval_workers_flag,
    evaluation_workers,
    schedule_from_flags,
)
from experiments.runs import (
    build_online_run,
    build_run,
    config_differences,
    dataset_file,
    dataset_record,
    exorl_record,
    load_dataset,
    load_exorl,
    online_record,
    resolved_config,
)
from tdjepa import distributed
from tdjepa.checkpoints import Checkpointer
from tdjepa.loop import Schedule, run_loop
from tdjepa.metrics_log import MetricsLogger
from tdjepa.online import OnlineSource, run_clips, tracking_clips
from tdjepa.online_eval import EpisodeSource, episode_state, evaluate_online_seeds, set_clip_priorities
from tdjepa.runs import CONFIG_FILE, write_json
from tdjepa.training import RunnerState, compile_chunk, data_mesh, replicate, seed_slice
from tdjepa.zero_shot import evaluate_zero_shot, mean_success

DEFAULT_ENV = "pointmaze-medium-navigate-v0"
define_agent_flags("td_jepa")
flags.DEFINE_string(
    "env",
    DEFAULT_ENV,
    f"Dataset name (offline): one of {', '.join(ogb.SUPPORTED_DATASETS)}; or JAX env (online): one of "
    f"{', '.join(jax_envs.ENV_IDS)}.",
)
flags.DEFINE_string("workdir", None, "Run folder (default: a new folder under runs/).")
flags.DEFINE_string(
    "dataset_dir",
    None,
    "Folder with OGBench npz files (default: where OGBench keeps them). With a JAX env: a folder of its episodes "
    "in ExoRL's format (experiments.collect's), which the run then trains on offline instead of online.",
)
flags.DEFINE_bool("generate_dataset", True, "Generate the dataset locally when it is missing.")
flags.DEFINE_integer("seed", 0, "First seed; seeds are seed, seed+1, ...")
flags.DEFINE_integer("num_seeds", 1, "Seeds trained together in one vmapped program.")
MAX_UNROLLED_UPDATES = 100
flags.DEFINE_integer(
    "checkpoint_every",
    None,
    "Checkpoint every this many updates (env steps online) and at the end; default 10000 updates offline, "
    "every evaluation online (a checkpoint holds the replay buffer).",
)
flags.DEFINE_integer("num_envs", None, "Online: environments stepped in parallel (config.num_envs).")
flags.DEFINE_integer("env_steps", None, "Online: env steps to train for, all envs together (--num_steps).")
flags.DEFINE_integer("eval_episodes", 10, "Episodes per task.")
define_eval_workers_flag()
flags.DEFINE_integer("inference_samples", 10_000, "Relabelled transitions for reward inference.")
flags.DEFINE_integer("num_devices", 1, "Devices to split each batch over (data parallel); 0 means all.")
flags.DEFINE_bool(
    "distributed",
    False,
    "Run as one of several processes (hosts): joins them with jax.distributed.initialize and splits the data "
    "over every device of every process (--num_devices does not apply).",
)
flags.DEFINE_string(
    "coordinator_address", None, "--distributed: host:port of process 0 (default: from the cluster's environment)."
)
flags.DEFINE_integer("num_processes", None, "--distributed: processes in the run (default: from the cluster).")
flags.DEFINE_integer("process_id", None, "--distributed: this process's index (default: from the cluster).")
flags.DEFINE_bool(
    "host_data",
    False,
    "Keep the dataset in host memory and sample batches there, a chunk ahead in a background thread "
    "(for datasets larger than the device's memory; one seed only).",
)
flags.DEFINE_bool("restart", False, "Start over when the workdir holds a run with another config.")
flags.DEFINE_bool("progress", True, "Show a progress bar.")
flags.DEFINE_bool(
    "print_config",
    False,
    "Print the run's resolved config (JSON) and the schedule, then exit (with --distributed: without joining).",
)
FLAGS = flags.FLAGS


def check_flags(config: ml_collections.ConfigDict, schedule: dict[str, int]) -> None:
    """Refuses bad flag values before any long work starts."""
    if agents.record(FLAGS.agent).online_only and not is_online(FLAGS.env, FLAGS.dataset_dir):
        raise app.UsageError(
            f"--agent={FLAGS.agent} trains online on its own rollouts; --env={FLAGS.env} is a dataset "
            f"(JAX envs: {', '.join(jax_envs.ENV_IDS)})"
        )
    values = schedule | {name: FLAGS[name].value for name in ("num_seeds", "eval_episodes", "inference_samples")}
    for name in ("num_seeds", "num_steps", "updates_per_call", "eval_episodes", "inference_samples"):
        if values[name] <= 0:
            hint = f" (--preset={FLAGS.preset} does not train on --env={FLAGS.env})" if schedule[name] == 0 else ""
            raise app.UsageError(f"--{name} must be positive, got {values[name]}{hint}")
    for name, value in (("eval_every", schedule["eval_every"]), ("checkpoint_every", checkpoint_period(schedule))):
        if value < 0:
            raise app.UsageError(f"--{name} must be >= 0, got {value}")
    if FLAGS.num_devices < 0:
        raise app.UsageError(f"--num_devices must be >= 0, got {FLAGS.num_devices}")
    if FLAGS.distributed and FLAGS.host_data:
        raise app.UsageError("--host_data samples on one host; --distributed runs keep the dataset on the devices")
    if FLAGS.host_data and FLAGS.num_seeds > 1:
        raise app.UsageError("--host_data draws one stream of batches: use --num_seeds=1 (or device-resident data)")
    if FLAGS.num_devices > len(jax.devices()):
        raise app.UsageError(f"--num_devices={FLAGS.num_devices} but only {len(jax.devices())} devices exist")
    if is_online(FLAGS.env, FLAGS.dataset_dir):
        check_online_flags(config, schedule)
        return
    if is_exorl(FLAGS.env, FLAGS.dataset_dir):
        if config.obs_type != "states":
            raise app.UsageError(
                f"--dataset_dir: {FLAGS.env}'s episodes train from states; config.obs_type={config.obs_type!r}"
            )
        return
    visual, pixels = ogb.dataset_spec(FLAGS.env).visual, config.obs_type == "pixels"
    if pixels and jax.default_backend() == "cpu" and schedule["updates_per_call"] > MAX_UNROLLED_UPDATES:
        raise app.UsageError(
            f"--updates_per_call={schedule['updates_per_call']}: pixel agents on CPU compile each update of a call "
            f"separately (a loop runs their convolution gradients ~30x slower); use at most {MAX_UNROLLED_UPDATES}"
        )
    if visual != pixels:
        hint = "--preset=cpu_pixels or paper_ogbench_pixels" if visual else "a state preset (cpu, paper_ogbench)"
        raise app.UsageError(
            f"--env={FLAGS.env} stores {'frames' if visual else 'states'} but "
            f"config.obs_type={config.obs_type!r}; use {hint}"
        )


def check_online_flags(config: ml_collections.ConfigDict, schedule: dict[str, int]) -> None:
    """An online run's flags: states only, periods in whole rounds of env steps, envs split evenly over devices."""
    if config.obs_type != "states":
        raise app.UsageError(f"--env={FLAGS.env} trains online from states; config.obs_type={config.obs_type!r}")
    if FLAGS.host_data:
        raise app.UsageError(f"--host_data samples a dataset; --env={FLAGS.env} trains online from its replay buffer")
    try:
        OnlineSource.from_config(None, None, config, run_clips(FLAGS.env, config))
    except ValueError as err:
        raise app.UsageError(f"--env={FLAGS.env}: {err}") from None
    devices = mesh_size()
    if config.num_envs % devices:
        source = (
            "every process's devices (--distributed)" if FLAGS.distributed else f"--num_devices={FLAGS.num_devices}"
        )
        raise app.UsageError(f"--num_envs={config.num_envs} does not divide over the {devices} devices ({source})")
    round_steps = config.env_steps_per_round
    periods = {
        "num_steps (--env_steps)": schedule["num_steps"],
        "updates_per_call": schedule["updates_per_call"],
        "eval_every": schedule["eval_every"],
        "checkpoint_every": checkpoint_period(schedule),
        "config.seed_steps": config.seed_steps,
    }
    uneven = [f"--{name}={value}" for name, value in periods.items() if value % round_steps]
    if uneven:
        raise app.UsageError(
            f"{', '.join(uneven)}: online periods count env steps in whole rounds of "
            f"config.env_steps_per_round={round_steps}"
        )
    if config.seed_steps >= schedule["num_steps"]:
        raise app.UsageError(
            f"config.seed_steps={config.seed_steps} leaves no training in --env_steps={schedule['num_steps']}"
        )


def check_distributed_flags() -> None:
    """The process flags go with --distributed, which takes every device of every process."""
    if FLAGS.distributed:
        if FLAGS["num_devices"].present:
            raise app.UsageError("--distributed splits the data over every device of every process; drop --num_devices")
        return
    given = [name for name in ("coordinator_address", "num_processes", "process_id") if FLAGS[name].present]
    if given:
        raise app.UsageError(f"--{', --'.join(given)}: only with --distributed")


def mesh_size() -> int:
    """Devices the run splits its data over."""
    return len(jax.devices()) if FLAGS.distributed else FLAGS.num_devices or len(jax.devices())


def run_mesh():
    """The run's data mesh: every device of every process with --distributed, else --num_devices (None: one)."""
    if FLAGS.distributed:
        return data_mesh()
    return data_mesh(FLAGS.num_devices or None) if FLAGS.num_devices != 1 else None


def checkpoint_period(schedule: dict[str, int]) -> int:
    """--checkpoint_every, or its default: 10000 updates offline, every evaluation online."""
    if FLAGS.checkpoint_every is not None:
        return FLAGS.checkpoint_every
    return schedule["eval_every"] if is_online(FLAGS.env, FLAGS.dataset_dir) else 10_000


def prepare_workdir(workdir: Path, config: dict) -> None:
    """Creates the workdir, or refuses a changed config on an existing run unless --restart. Every process
    checks; the primary one writes."""
    saved_path = workdir / CONFIG_FILE
    if saved_path.exists():
        diffs = config_differences(json.loads(saved_path.read_text()), config)
        if diffs and not FLAGS.restart:
            raise app.UsageError(
                f"{saved_path} holds a run with another config ({'; '.join(diffs)}). "
                "Use another --workdir, or --restart to delete that run and start over."
            )
        if diffs and distributed.is_primary():
            print(f"--restart: deleting the run in {workdir}")
            shutil.rmtree(workdir)
    if distributed.is_primary():
        workdir.mkdir(parents=True, exist_ok=True)
        write_json(saved_path, config)
    distributed.barrier("workdir")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    check_distributed_flags()
    if FLAGS.distributed and not FLAGS.print_config:  # printing the config joins no cluster
        try:
            distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
        except ValueError as err:  # no cluster environment and not every process flag given
            raise app.UsageError(
                f"--distributed: {err}; give --coordinator_address, --num_processes and --process_id, or run "
                "under a cluster scheduler jax.distributed.initialize reads (SLURM, Open MPI, Kubernetes, TPU)"
            ) from None
        if not distributed.is_primary():  # process 0 prints and writes the run's files
            FLAGS.progress = False
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the process's lifetime)
    online = is_online(FLAGS.env, FLAGS.dataset_dir)
    if FLAGS.env not in ogb.SUPPORTED_DATASETS and FLAGS.env not in jax_envs.ENV_SPECS:
        raise app.UsageError(
            f"--env={FLAGS.env}: accepted values: datasets {', '.join(ogb.SUPPORTED_DATASETS)}; "
            f"JAX envs {', '.join(jax_envs.ENV_IDS)}"
        )
    for name in ("num_envs", "env_steps"):
        if FLAGS[name].value is not None and not online:
            kind = "trains on --dataset_dir's episodes" if is_exorl(FLAGS.env, FLAGS.dataset_dir) else "is a dataset"
            raise app.UsageError(f"--{name} is for online runs; --env={FLAGS.env} {kind}")
    if FLAGS.num_envs is not None:
        FLAGS["config"].override_values["num_envs"] = FLAGS.num_envs
    # The config is built from the parsed flags and refused (with a bad value named) before the dataset is
    # read or generated and before the workdir is written.
    agent_config = agent_config_from_flags(FLAGS.env, FLAGS.dataset_dir)
    schedule = schedule_from_flags(FLAGS.env, FLAGS.dataset_dir)
    if FLAGS.env_steps is not None:
        schedule["num_steps"] = FLAGS.env_steps
    check_flags(agent_config, schedule)
    config = resolved_config(FLAGS.agent, FLAGS.env, FLAGS.preset, FLAGS.seed, FLAGS.num_seeds, agent_config)
    if FLAGS.print_config:
        print(json.dumps(config | {"schedule": schedule}, indent=2))
        return
    if online:
        train_online(config | online_record(FLAGS.env), schedule)
        return
    if is_exorl(FLAGS.env, FLAGS.dataset_dir):
        train_exorl(config, schedule)
        return
    with evaluation_workers(FLAGS.env, FLAGS.eval_episodes, FLAGS.eval_workers) as workers:
        train(config, schedule, workers)


def new_workdir(config: dict) -> Path:
    """--workdir, or a new folder under runs/."""
    return Path(FLAGS.workdir or f"runs/{config['agent']}_{config['env']}_{time.strftime('%Y%m%d_%H%M%S')}")


def train(config: dict, schedule: dict[str, int], workers: EnvWorkers | None) -> None:
    """Trains (or resumes) the offline run `config` describes, evaluating it with `workers`' env processes."""
    path = dataset_file(config["env"], FLAGS.dataset_dir)
    dataset = load_dataset(path, config["env"], FLAGS.generate_dataset)
    tasks = ogb.tasks(config["env"], workers)

    def evaluate_seeds(agent, runners_now: RunnerState, seeds: list[int]) -> list[list[dict]]:
        return [
            evaluate_zero_shot(
                agent,
                seed_slice(runners_now.agent, i),
                tasks,
                dataset,
                num_episodes=FLAGS.eval_episodes,
                num_inference_samples=FLAGS.inference_samples,
                seed=seed,
            )
            for i, seed in enumerate(seeds)
        ]

    config = config | dataset_record(path, dataset)
    result, workdir = train_offline(config, schedule, dataset, evaluate_seeds, report.summary, report.format_table)
    print(f"\nmean goal-prompted success {mean_success(result['tasks'], 'goal'):.3f}; results in {workdir}/eval.json")


def train_exorl(config: dict, schedule: dict[str, int]) -> None:
    """Trains (or resumes) offline on --dataset_dir's episodes of a JAX body, evaluating every task of its domain
    in the body's vmapped envs, prompted from the episodes' transitions (their physics relabelled)."""
    folder = Path(FLAGS.dataset_dir)
    dataset = load_exorl(folder, config["env"])
    source, prompts = EpisodeSource(jax_envs.make(config["env"])), episode_state(dataset)

    def evaluate_seeds(agent, runners_now: RunnerState, seeds: list[int]) -> list[list[dict]]:
        return evaluate_online_seeds(
            agent,
            runners_now,
            source,
            seeds,
            num_episodes=FLAGS.eval_episodes,
            num_inference_samples=FLAGS.inference_samples,
            source_state=prompts,
        )

    config = config | exorl_record(folder, dataset)
    result, workdir = train_offline(
        config, schedule, dataset, evaluate_seeds, report.online_summary, report.format_online_table
    )
    print_returns(result, workdir)


def train_offline(
    config: dict,
    schedule: dict[str, int],
    dataset: dict,
    evaluate_seeds: Callable[[object, RunnerState, list[int]], list[list[dict]]],
    summary: Callable[..., dict],
    table: Callable[[dict], str],
) -> tuple[dict, Path]:
    """The offline training of `config` on `dataset` (resumed when its workdir holds it), evaluated by
    `evaluate_seeds` (per seed, rows of results) summarised by `summary` and printed by `table`; returns the last
    evaluation and the workdir."""
    workdir = new_workdir(config)
    prepare_workdir(workdir, config)
    mesh = run_mesh()
    # Host batches arrive stacked (updates, batch, ...): split their batch axis over the mesh.
    host_sharding = NamedSharding(mesh, PartitionSpec(None, "data")) if mesh is not None else None
    agent, source, runners = build_run(config, dataset, FLAGS.host_data, host_sharding)
    seeds = [FLAGS.seed + i for i in range(FLAGS.num_seeds)]

    def evaluate(step: int, runners_now: RunnerState) -> dict:
        per_seed = evaluate_seeds(agent, runners_now, seeds)
        extra = {"versions": config["versions"], "step_unit": "updates"}
        result = summary(config["agent"], config["env"], step, per_seed, seeds, extra)
        print("\n" + table(result))
        return result

    plan = Schedule(
        schedule["num_steps"], schedule["updates_per_call"], schedule["eval_every"], checkpoint_period(schedule)
    )
    unroll = agent.pixels and jax.default_backend() == "cpu"
    return run(workdir, config, agent, source, runners, plan, mesh, evaluate, unroll=unroll), workdir


def print_returns(result: dict, workdir: Path) -> None:
    """The last line of a run evaluated in a JAX env: its mean reward-prompted return next to random z's."""
    print(
        f"\nmean reward-prompted return {result['mean_reward_return']:.1f} "
        f"(random z {result['mean_reward_random_z_return']:.1f}); results in {workdir}/eval.json"
    )


def train_online(config: dict, schedule: dict[str, int]) -> None:
    """Trains (or resumes) the online run `config` describes: its envs fill the replay buffer as it trains."""
    agent_name, env = config["agent"], config["env"]
    workdir = new_workdir(config)
    prepare_workdir(workdir, config)
    mesh = run_mesh()
    agent, source, runners = build_online_run(config)
    seeds = [FLAGS.seed + i for i in range(FLAGS.num_seeds)]
    # Agents trained on demonstrations are evaluated on tracking the held-out clips shipped for the env (others
    # by experiments.evaluate, which tracks with any agent).
    tracking = tracking_clips(env) if "expert_clips" in config["agent_config"] else None

    def evaluate(step: int, runners_now: RunnerState) -> dict:
        per_seed = evaluate_online_seeds(
            agent,
            runners_now,
            source,
            seeds,
            num_episodes=FLAGS.eval_episodes,
            num_inference_samples=FLAGS.inference_samples,
            tracking=tracking,
        )
        extra = {"versions": config["versions"], "step_unit": "env steps"}
        result = report.online_summary(agent_name, env, step, per_seed, seeds, extra)
        print("\n" + report.format_online_table(result))
        return result

    c = agent.config
    plan = Schedule(
        schedule["num_steps"],
        schedule["updates_per_call"],
        schedule["eval_every"],
        checkpoint_period(schedule),
        unit="env steps",
        updates_per_unit=c.updates_per_round / c.env_steps_per_round,
    )

    def prefill(runners_now: RunnerState) -> RunnerState:
        print(f"filling the replay buffer with {c.seed_steps} env steps of random actions")
        fill = jax.vmap(lambda r: r.replace(source_state=source.prefill(r.source_state, r.key, c.seed_steps)))
        return jax.jit(fill)(runners_now)

    def prioritize(step: int, runners_now: RunnerState) -> RunnerState:
        return set_clip_priorities(agent, source, runners_now)

    refresh = prioritize if source.prioritize_clips else None
    result = run(
        workdir, config, agent, source, runners, plan, mesh, evaluate, prefill=(c.seed_steps, prefill), refresh=refresh
    )
    print_returns(result, workdir)


def run(
    workdir: Path,
    config: dict,
    agent,
    source,
    runners: RunnerState,
    plan: Schedule,
    mesh,
    evaluate: Callable[[int, RunnerState], dict],
    unroll: bool = False,
    prefill: tuple[int, Callable[[RunnerState], RunnerState]] | None = None,
    refresh: Callable[[int, RunnerState], RunnerState] | None = None,
) -> dict:
    """The training loop of a run: resume, (online: fill the buffer first), chunks with logs, evaluations and
    checkpoints, a last evaluation, eval.json; returns the last evaluation."""
    checkpointer = Checkpointer(workdir)
    start_step = checkpointer.latest_step() or 0

    def place(runners_now: RunnerState) -> RunnerState:
        return runners_now if mesh is None else shard_runners(runners_now, mesh, online=prefill is not None)

    if start_step:
        # Restored straight into the mesh's shards (with several processes, each reads its own).
        runners = place(checkpointer.restore(start_step, place(runners)))
        print(f"resuming from the checkpoint at step {start_step} in {workdir}")
    elif prefill is not None:
        start_step, fill = prefill
        runners = place(fill(runners))
    else:
        runners = place(runners)
    if mesh is not None and not FLAGS.host_data:
        source = replicate(source, mesh)
    compiled = {}
    updates_per_unit = plan.updates_per_unit

    def chunk_for(n: int):
        if n not in compiled:
            updates = round(n * updates_per_unit)
            compiled[n] = compile_chunk(agent.update, updates, num_seeds=FLAGS.num_seeds, mesh=mesh, unroll=unroll)
        return compiled[n]

    primary = distributed.is_primary()  # the others write no logs
    train_log = MetricsLogger(workdir, "train", resume_step=start_step) if primary else None
    eval_log = MetricsLogger(workdir, "eval", resume_step=start_step) if primary else None
    results = {}

    def evaluate_and_log(step: int, runners_now: RunnerState) -> None:
        # Every process evaluates the whole state (the same numbers), so none waits on another.
        result = evaluate(step, distributed.host_copy(runners_now))
        if primary:
            eval_log.log(step, {k: v for k, v in result.items() if k.startswith("mean_")})
        results["last"] = result

    if start_step >= plan.num_steps:
        print(f"the run in {workdir} already reached step {start_step}; evaluating it")
    runners = run_loop(
        runners,
        source,
        chunk_for,
        plan,
        start_step,
        log=lambda step, metrics: train_log.log(step, metrics) if primary else None,
        evaluate=evaluate_and_log,
        checkpoint=lambda step, runners_now: checkpointer.save(step, runners_now, config),
        progress=FLAGS.progress,
        refresh=refresh,
    )
    final_step = max(start_step, plan.num_steps)
    if "last" not in results or results["last"]["step"] != final_step:
        evaluate_and_log(final_step, runners)
    if primary:
        report.write_results(workdir, results["last"])
        train_log.close()
        eval_log.close()
    checkpointer.close()
    return results["last"]


def shard_runners(runners: RunnerState, mesh, online: bool) -> RunnerState:
    """Parameters replicated over the mesh; online, the envs, their latents and the buffer's rows split over the
    env axis (after the seed axis)."""
    if not online:
        return replicate(runners, mesh)
    by_env = NamedSharding(mesh, PartitionSpec(None, "data"))
    replicated = NamedSharding(mesh, PartitionSpec())
    split = (
        ".source_state.env_state",
        ".source_state.first_state",
        ".source_state.z",
        ".source_state.buffer.experience",
    )

    def sharding(path, _):
        return by_env if jax.tree_util.keystr(path).startswith(split) else replicated

    return jax.device_put(runners, jax.tree_util.tree_map_with_path(sharding, runners))


if __name__ == "__main__":
    app.run(main)
