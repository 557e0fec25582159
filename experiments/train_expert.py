"""Trains the directional ant expert that collects antmaze data: `python -m experiments.train_expert`.

SAC on `online-ant-xy-v0` for OGBench's 400k env steps by default (32 minutes on the 2-core CPU machine);
`python -m experiments.collect --env=antmaze-medium-navigate-v0` then reads it from the default path.
"""

import json

from absl import app, flags

from envs import ant_expert

flags.DEFINE_string("out", str(ant_expert.DEFAULT_EXPERT_PATH), "Where to write the expert (npz).")
flags.DEFINE_integer("num_steps", 400_000, "Environment steps (one SAC update per step after the seed steps).")
flags.DEFINE_integer("seed_steps", 10_000, "Uniformly random steps before the first update.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_integer("eval_episodes", 5, "Deterministic evaluation episodes at the end.")
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    """Trains, evaluates, writes the expert and prints its record."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.seed_steps < 1 or FLAGS.num_steps <= FLAGS.seed_steps:
        raise app.UsageError(f"need --num_steps > --seed_steps >= 1, got {FLAGS.num_steps}, {FLAGS.seed_steps}")
    record = ant_expert.train_expert(
        FLAGS.out, FLAGS.num_steps, FLAGS.seed, FLAGS.seed_steps, eval_episodes=FLAGS.eval_episodes
    )
    print(json.dumps(record, indent=1, sort_keys=True))
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
