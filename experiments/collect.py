"""Generates a dataset: `python -m experiments.collect --env=cube-single-play-v0` writes an OGBench dataset in
OGBench's format; `python -m experiments.collect --env=dmc-walker --explorer=rnd --num_episodes=N --out=DIR`
writes exploration episodes of a JAX body in ExoRL's format (`envs.exorl`, `envs.exploration`).

Antmaze datasets are walked by the ant expert that `python -m experiments.train_expert` trains (`--expert`).
"""

from pathlib import Path

from absl import app, flags

from envs import ant_expert, exploration, jax_envs, ogbench

flags.DEFINE_enum(
    "env",
    None,
    list(ogbench.SUPPORTED_DATASETS) + list(jax_envs.ENV_IDS),
    "Dataset to generate, or JAX env to explore.",
)
flags.DEFINE_integer(
    "num_episodes", None, "OGBench: train episodes (val gets a tenth; default: the dataset's size). JAX env: episodes."
)
flags.DEFINE_string(
    "out",
    None,
    f"Directory to write the npz files to (default: {ogbench.DEFAULT_DATASET_DIR} for OGBench, "
    "~/.exorl/datasets/<env>/<explorer>/buffer for a JAX env, ExoRL's layout).",
)
flags.DEFINE_enum("explorer", "rnd", list(exploration.EXPLORERS), "JAX env: who acts (RND, ExoRL's, or random).")
flags.DEFINE_integer("num_envs", 16, "JAX env: envs stepped together (one episode of each per round).")
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
    minimums = {"num_episodes": 1, "episode_length": 2, "seed": 0, "noise": 0, "workers": 1, "num_envs": 1}
    for name, minimum in minimums.items():
        value = getattr(FLAGS, name)
        if value is not None and value < minimum:
            raise app.UsageError(f"--{name} must be >= {minimum}, got {value}")
    if FLAGS.env in jax_envs.ENV_IDS:
        explore()
        return
    for name in ("explorer", "num_envs"):
        if FLAGS[name].present:
            raise app.UsageError(f"--{name} is for a JAX env's exploration, not for OGBench's {FLAGS.env}")
    try:
        train_path, val_path = ogbench.generate_dataset(
            FLAGS.env,
            dataset_dir=FLAGS.out or ogbench.DEFAULT_DATASET_DIR,
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


def explore() -> None:
    """Exploration episodes of a JAX body in ExoRL's format."""
    for name in ("episode_length", "noise", "expert"):
        if getattr(FLAGS, name) is not None:
            raise app.UsageError(f"--{name} is for OGBench datasets, not for a JAX env (--env={FLAGS.env})")
    if FLAGS.num_episodes is None:
        raise app.UsageError(f"--num_episodes is needed with a JAX env (--env={FLAGS.env})")
    out = FLAGS.out or Path.home() / ".exorl" / "datasets" / FLAGS.env / FLAGS.explorer / "buffer"
    files = exploration.collect_episodes(
        FLAGS.env, FLAGS.explorer, out, FLAGS.num_episodes, num_envs=FLAGS.num_envs, seed=FLAGS.seed
    )
    print(f"wrote {len(files)} episodes of {FLAGS.explorer} on {FLAGS.env} to {out}")


if __name__ == "__main__":
    app.run(main)
