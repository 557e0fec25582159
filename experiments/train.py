"""Offline pre-training without rewards, then zero-shot evaluation.

    python -m experiments.train --agent=td_jepa --env=pointmaze-medium-navigate-v0 --workdir=runs/x

Rerunning the same command on the same workdir resumes from its latest checkpoint.
"""

import json
import shutil
import time
from pathlib import Path

import jax
import ml_collections
from absl import app, flags, logging
from jax.sharding import NamedSharding, PartitionSpec

from envs import ogbench as ogb
from envs.env_workers import EnvWorkers
from experiments import report
from experiments.flag_utils import (
    agent_config_from_flags,
    define_agent_flags,
    define_eval_workers_flag,
    evaluation_workers,
    schedule_from_flags,
)
from experiments.runs import (
    build_run,
    config_differences,
    dataset_file,
    dataset_record,
    load_dataset,
    resolved_config,
)
from tdjepa.checkpoints import Checkpointer
from tdjepa.loop import Schedule, run_loop
from tdjepa.metrics_log import MetricsLogger
from tdjepa.runs import CONFIG_FILE, write_json
from tdjepa.training import compile_chunk, data_mesh, replicate, seed_slice
from tdjepa.zero_shot import evaluate_zero_shot, mean_success

DEFAULT_ENV = "pointmaze-medium-navigate-v0"
define_agent_flags("td_jepa")
flags.DEFINE_string("env", DEFAULT_ENV, f"Dataset name; one of {', '.join(ogb.SUPPORTED_DATASETS)}.")
flags.DEFINE_string("workdir", None, "Run folder (default: a new folder under runs/).")
flags.DEFINE_string("dataset_dir", None, "Folder with OGBench npz files (default: where OGBench keeps them).")
flags.DEFINE_bool("generate_dataset", True, "Generate the dataset locally when it is missing.")
flags.DEFINE_integer("seed", 0, "First seed; seeds are seed, seed+1, ...")
flags.DEFINE_integer("num_seeds", 1, "Seeds trained together in one vmapped program.")
MAX_UNROLLED_UPDATES = 100
flags.DEFINE_integer("checkpoint_every", 10_000, "Checkpoint every this many updates (and at the end).")
flags.DEFINE_integer("eval_episodes", 10, "Episodes per task.")
define_eval_workers_flag()
flags.DEFINE_integer("inference_samples", 10_000, "Relabelled transitions for reward inference.")
flags.DEFINE_integer("num_devices", 1, "Devices to split each batch over (data parallel); 0 means all.")
flags.DEFINE_bool(
    "host_data",
    False,
    "Keep the dataset in host memory and sample batches there, a chunk ahead in a background thread "
    "(for datasets larger than the device's memory; one seed only).",
)
flags.DEFINE_bool("restart", False, "Start over when the workdir holds a run with another config.")
flags.DEFINE_bool("progress", True, "Show a progress bar.")
flags.DEFINE_bool("print_config", False, "Print the run's resolved config (JSON) and the schedule, then exit.")
FLAGS = flags.FLAGS


def check_flags(config: ml_collections.ConfigDict, schedule: dict[str, int]) -> None:
    """Refuses bad flag values before any long work starts."""
    values = schedule | {name: FLAGS[name].value for name in ("num_seeds", "eval_episodes", "inference_samples")}
    for name in ("num_seeds", "num_steps", "updates_per_call", "eval_episodes", "inference_samples"):
        if values[name] <= 0:
            raise app.UsageError(f"--{name} must be positive, got {values[name]}")
    for name, value in (("eval_every", schedule["eval_every"]), ("checkpoint_every", FLAGS.checkpoint_every)):
        if value < 0:
            raise app.UsageError(f"--{name} must be >= 0, got {value}")
    if FLAGS.num_devices < 0:
        raise app.UsageError(f"--num_devices must be >= 0, got {FLAGS.num_devices}")
    if FLAGS.host_data and FLAGS.num_seeds > 1:
        raise app.UsageError("--host_data draws one stream of batches: use --num_seeds=1 (or device-resident data)")
    if FLAGS.num_devices > len(jax.devices()):
        raise app.UsageError(f"--num_devices={FLAGS.num_devices} but only {len(jax.devices())} devices exist")
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


def prepare_workdir(workdir: Path, config: dict) -> None:
    """Creates the workdir, or refuses a changed config on an existing run unless --restart."""
    saved_path = workdir / CONFIG_FILE
    if saved_path.exists():
        diffs = config_differences(json.loads(saved_path.read_text()), config)
        if diffs and not FLAGS.restart:
            raise app.UsageError(
                f"{saved_path} holds a run with another config ({'; '.join(diffs)}). "
                "Use another --workdir, or --restart to delete that run and start over."
            )
        if diffs:
            print(f"--restart: deleting the run in {workdir}")
            shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    write_json(saved_path, config)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    if FLAGS.env not in ogb.SUPPORTED_DATASETS:
        raise app.UsageError(f"--env={FLAGS.env}: accepted values: {', '.join(ogb.SUPPORTED_DATASETS)}")
    # The config is built from the parsed flags and refused (with a bad value named) before the dataset is
    # read or generated and before the workdir is written.
    agent_config = agent_config_from_flags(FLAGS.env)
    schedule = schedule_from_flags()
    check_flags(agent_config, schedule)
    config = resolved_config(FLAGS.agent, FLAGS.env, FLAGS.preset, FLAGS.seed, FLAGS.num_seeds, agent_config)
    if FLAGS.print_config:
        print(json.dumps(config | {"schedule": schedule}, indent=2))
        return
    with evaluation_workers(FLAGS.env, FLAGS.eval_episodes, FLAGS.eval_workers) as workers:
        train(config, schedule, workers)


def train(config: dict, schedule: dict[str, int], workers: EnvWorkers | None) -> None:
    """Trains (or resumes) the run `config` describes, evaluating it with `workers`' env processes."""
    agent_name, env = config["agent"], config["env"]
    workdir = Path(FLAGS.workdir or f"runs/{agent_name}_{env}_{time.strftime('%Y%m%d_%H%M%S')}")
    path = dataset_file(env, FLAGS.dataset_dir)
    dataset = load_dataset(path, env, FLAGS.generate_dataset)
    config = config | dataset_record(path, dataset)
    prepare_workdir(workdir, config)
    mesh = data_mesh(FLAGS.num_devices or None) if FLAGS.num_devices != 1 else None
    # Host batches arrive stacked (updates, batch, ...): split their batch axis over the mesh.
    host_sharding = NamedSharding(mesh, PartitionSpec(None, "data")) if mesh is not None else None
    agent, source, runners = build_run(config, dataset, FLAGS.host_data, host_sharding)
    checkpointer = Checkpointer(workdir)
    start_step = checkpointer.latest_step() or 0
    if start_step:
        runners = checkpointer.restore(start_step, runners)
        print(f"resuming from the checkpoint at step {start_step} in {workdir}")
    if mesh is not None:
        runners = replicate(runners, mesh)
        source = source if FLAGS.host_data else replicate(source, mesh)
    compiled = {}
    unroll = agent.pixels and jax.default_backend() == "cpu"

    def chunk_for(n: int):
        if n not in compiled:
            compiled[n] = compile_chunk(agent.update, n, num_seeds=FLAGS.num_seeds, mesh=mesh, unroll=unroll)
        return compiled[n]

    train_log = MetricsLogger(workdir, "train", resume_step=start_step)
    eval_log = MetricsLogger(workdir, "eval", resume_step=start_step)
    seeds = [FLAGS.seed + i for i in range(FLAGS.num_seeds)]
    tasks = ogb.tasks(env, workers)
    results = {}

    def evaluate(step: int, runners_now) -> None:
        per_seed = [
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
        result = report.summary(agent_name, env, step, per_seed, seeds, {"versions": config["versions"]})
        eval_log.log(step, {k: result[k] for k in ("mean_success", "mean_goal_success", "mean_reward_success")})
        results["last"] = result
        print("\n" + report.format_table(result))

    def checkpoint(step: int, runners_now) -> None:
        checkpointer.save(step, runners_now, config)

    num_steps = schedule["num_steps"]
    plan = Schedule(num_steps, schedule["updates_per_call"], schedule["eval_every"], FLAGS.checkpoint_every)
    if start_step >= num_steps:
        print(f"the run in {workdir} already reached step {start_step}; evaluating it")
    runners = run_loop(
        runners,
        source,
        chunk_for,
        plan,
        start_step,
        log=lambda step, metrics: train_log.log(step, metrics),
        evaluate=evaluate,
        checkpoint=checkpoint,
        progress=FLAGS.progress,
    )
    final_step = max(start_step, num_steps)
    if "last" not in results or results["last"]["step"] != final_step:
        evaluate(final_step, runners)
    report.write_results(workdir, results["last"])
    train_log.close()
    eval_log.close()
    checkpointer.close()
    print(
        f"\nmean goal-prompted success {mean_success(results['last']['tasks'], 'goal'):.3f}; "
        f"results in {workdir}/eval.json"
    )


if __name__ == "__main__":
    app.run(main)
