"""Generates an OGBench dataset in OGBench's format: `python -m experiments.collect --env=cube-single-play-v0`.

Antmaze datasets are walked by the ant expert that `python -m experiments.train_expert` trains (`--expert`).
"""

from absl import app, flags

from envs import ant_expert, ogbench

flags.DEFINE_enum("env", None, list(ogbench.SUPPORTED_DATASETS), "Dataset to generate.")
flags.DEFINE_integer("num_episodes", None, "Train episodes (val gets a tenth); default: the dataset's size.")
flags.DEFINE_string("out", str(ogbench.DEFAULT_DATASET_DIR), "Directory to write the npz files to.")
flags.DEFINE_integer(
    "episode_length", None, "Observations per episode (the last one included); default: the dataset's."
)
flags.DEFINE_integer("seed", 0, "Random seed; the val split uses a separate stream derived from it.")
flags.DEFINE_float(
    "noise", None, "Oracle action noise (pointmaze: Gaussian std; manipulation: plan noise); default: OGBench's."
)
flags.DEFINE_integer("workers", 1, "Processes collecting manipulation/antmaze episodes in parallel (same result).")
flags.DEFINE_string(
    "expert",
    None,
    f"Ant expert for antmaze datasets (default: {ant_expert.DEFAULT_EXPERT_PATH}, written by experiments.train_expert, "
    "when it exists, else the expert shipped with the library).",
)
flags.mark_flag_as_required("env")
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    """Writes the train and val files and prints where they went."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    minimums = {"num_episodes": 1, "episode_length": 2, "seed": 0, "noise": 0, "workers": 1}
    for name, minimum in minimums.items():
        value = getattr(FLAGS, name)
        if value is not None and value < minimum:
            raise app.UsageError(f"--{name} must be >= {minimum}, got {value}")
    try:
        train_path, val_path = ogbench.generate_dataset(
            FLAGS.env,
            dataset_dir=FLAGS.out,
            num_episodes=FLAGS.num_episodes,
            episode_length=FLAGS.episode_length,
            seed=FLAGS.seed,
            noise=FLAGS.noise,
            workers=FLAGS.workers,
            expert_path=FLAGS.expert,
        )
    except ogbench.DatasetError as err:  # no expert: the message says how to train one
        raise SystemExit(f"error: {err}") from None
    print(f"wrote {train_path}\nwrote {val_path}")


if __name__ == "__main__":
    app.run(main)
