"""Zero-shot evaluation of a saved run: `python -m experiments.evaluate --workdir=DIR [--step=N]`.

Restores the checkpoint (the latest by default), prompts the agent with each task's goal and with each
task's relabelled rewards, prints a table and writes DIR/eval.json and DIR/eval.png.
"""

from pathlib import Path

from absl import app, flags, logging

from experiments import report
from experiments.flag_utils import checkpoint_to_restore, define_eval_workers_flag, evaluation_workers
from experiments.runs import load_dataset, restore_run, saved_agent_config
from experiments.zero_shot import evaluate_behavior, evaluate_random, evaluate_zero_shot
from tdjepa.training import seed_slice

flags.DEFINE_string("workdir", None, "Run folder written by experiments.train.")
flags.DEFINE_integer("step", None, "Checkpoint step to evaluate (default: the latest).")
flags.DEFINE_string("dataset_dir", None, "Folder with OGBench npz files (default: where OGBench keeps them).")
flags.DEFINE_integer("eval_episodes", 10, "Episodes per task.")
define_eval_workers_flag()
flags.DEFINE_integer("inference_samples", 10_000, "Relabelled transitions for reward inference.")
flags.DEFINE_bool("random_baseline", False, "Also evaluate the uniform random policy on the same tasks.")
flags.DEFINE_bool(
    "behavior_baseline",
    False,
    "Also evaluate the run's BC flow, the z-free behaviour policy its flow-BC actor is distilled from, on the "
    "same tasks (first seed).",
)
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    workdir = Path(FLAGS.workdir)
    checkpointer, step, config = checkpoint_to_restore(workdir, FLAGS.step)
    actor_type = saved_agent_config(config)["actor_type"]
    if FLAGS.behavior_baseline and actor_type != "flow_bc":
        raise app.UsageError(f"--behavior_baseline needs a flow-BC run; {workdir} has actor_type={actor_type!r}")
    dataset = load_dataset(config["env"], FLAGS.dataset_dir, generate_if_missing=False)
    agent, runners = restore_run(checkpointer, step, config, dataset)
    seeds = [config["seed"] + i for i in range(config["num_seeds"])]
    with evaluation_workers(config["env"], FLAGS.eval_episodes, FLAGS.eval_workers) as workers:
        episodes = {"num_episodes": FLAGS.eval_episodes, "workers": workers}
        per_seed = [
            evaluate_zero_shot(
                agent,
                seed_slice(runners.agent, i),
                config["env"],
                dataset,
                num_inference_samples=FLAGS.inference_samples,
                seed=seed,
                **episodes,
            )
            for i, seed in enumerate(seeds)
        ]
        extra = {"versions": config["versions"], "checkpoint_step": step}
        if FLAGS.random_baseline:
            random_rows = evaluate_random(config["env"], dataset["actions"].shape[-1], **episodes)
            extra["random_policy"] = report.summary("random", config["env"], 0, [random_rows], [0], {})
        if FLAGS.behavior_baseline:
            rows = evaluate_behavior(agent, seed_slice(runners.agent, 0), config["env"], seed=seeds[0], **episodes)
            extra["behavior_policy"] = report.summary("bc_flow", config["env"], step, [rows], seeds[:1], {})
    result = report.summary(config["agent"], config["env"], step, per_seed, seeds, extra)
    report.write_results(workdir, result)
    print(report.format_table(result))
    for baseline in ("random_policy", "behavior_policy"):
        if baseline in extra:
            print(report.format_table(extra[baseline]))
    print(f"wrote {workdir / 'eval.json'} and {workdir / 'eval.png'}")


if __name__ == "__main__":
    app.run(main)
