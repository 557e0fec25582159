"""Trains a task expert with SAC: `python -m experiments.train_expert`.

By default the directional ant expert that collects antmaze data: SAC on `online-ant-xy-v0` for OGBench's 400k
env steps (32 minutes on the 2-core CPU machine); `python -m experiments.collect --env=antmaze-medium-navigate-v0`
then reads it from the default path.

With `--env=<JAX env> --task=<task>` (e.g. `--env=dmc-walker --task=walker-walk`): an expert of that body's task,
trained on vmapped envs, whose rollouts `python -m experiments.record_clips` turns into demonstration clips.
"""

import json
from pathlib import Path

from absl import app, flags

from envs import ant_expert, body_experts, jax_envs

flags.DEFINE_string("env", "online-ant-xy-v0", f"online-ant-xy-v0, or a JAX env: {', '.join(jax_envs.ENV_IDS)}.")
flags.DEFINE_string("task", None, "With a JAX env: the task to learn (e.g. walker-walk).")
flags.DEFINE_string(
    "out", None, f"Where to write the expert (npz; default {ant_expert.DEFAULT_EXPERT_PATH} for the ant)."
)
flags.DEFINE_integer("num_steps", None, "Environment steps (default: 400k for the ant, 200k for a JAX env).")
flags.DEFINE_integer("seed_steps", None, "Uniformly random steps before the first update (default 10k ant, 5k JAX).")
flags.DEFINE_integer("num_envs", 16, "JAX env: envs stepped in parallel.")
flags.DEFINE_float("updates_per_step", 0.5, "JAX env: SAC updates per env step.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_integer("eval_episodes", 5, "Deterministic evaluation episodes at the end.")
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    """Trains, evaluates, writes the expert and prints its record."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    ant = FLAGS.env == "online-ant-xy-v0"
    if not ant and FLAGS.env not in jax_envs.ENV_IDS:
        raise app.UsageError(f"--env={FLAGS.env}: accepted values: online-ant-xy-v0, {', '.join(jax_envs.ENV_IDS)}")
    if ant == (FLAGS.task is not None):
        raise app.UsageError("--task goes with a JAX --env (e.g. --env=dmc-walker --task=walker-walk) and only there")
    if not ant and FLAGS.task not in jax_envs.task_names(FLAGS.env):
        raise app.UsageError(f"--task={FLAGS.task}: accepted values: {', '.join(jax_envs.task_names(FLAGS.env))}")
    num_steps = FLAGS.num_steps or (400_000 if ant else 200_000)
    seed_steps = FLAGS.seed_steps if FLAGS.seed_steps is not None else (10_000 if ant else 5_000)
    if seed_steps < 1 or num_steps <= seed_steps:
        raise app.UsageError(f"need --num_steps > --seed_steps >= 1, got {num_steps}, {seed_steps}")
    if ant:
        out = FLAGS.out or str(ant_expert.DEFAULT_EXPERT_PATH)
        record = ant_expert.train_expert(out, num_steps, FLAGS.seed, seed_steps, eval_episodes=FLAGS.eval_episodes)
    else:
        out = FLAGS.out or str(Path("runs/experts") / f"{FLAGS.task}.npz")
        try:
            record = body_experts.train_body_expert(
                FLAGS.env,
                FLAGS.task,
                out,
                num_steps,
                num_envs=FLAGS.num_envs,
                seed=FLAGS.seed,
                seed_steps=seed_steps,
                updates_per_step=FLAGS.updates_per_step,
                eval_episodes=FLAGS.eval_episodes,
            )
        except ValueError as error:
            raise app.UsageError(str(error)) from None
        record = {key: value for key, value in record.items() if key != "history"}
    print(json.dumps(record, indent=1, sort_keys=True))
    print(f"wrote {out}")


if __name__ == "__main__":
    app.run(main)
