"""Records demonstration clips of task experts: `python -m experiments.record_clips --env=dmc-walker
--experts=runs/experts/walker-stand.npz,runs/experts/walker-walk.npz --out=clips.npz`.

Each expert (written by `experiments.train_expert --env=<JAX env> --task=...`) is rolled out deterministically
from `--clips_per_expert` fresh resets; steps `--skip_steps` to `--skip_steps + --clip_length` of every rollout
become one clip (observations, qpos, qvel; format in `tdjepa.clips`), named `<task>/<i>`. FB-CPR trains on a clip
file (`--config.expert_clips`) and `experiments.evaluate` tracks the clips of another.
"""

import json

from absl import app, flags

from envs import body_experts, jax_envs

flags.DEFINE_string("env", "dmc-walker", f"JAX env: {', '.join(jax_envs.ENV_IDS)}.")
flags.DEFINE_list("experts", None, "Expert files (comma-separated) written by experiments.train_expert.")
flags.DEFINE_string("out", None, "Clip file to write (npz).")
flags.DEFINE_integer("clips_per_expert", 6, "Clips (rollouts from fresh resets) of each expert.")
flags.DEFINE_integer("clip_length", 250, "Steps of each clip.")
flags.DEFINE_integer("skip_steps", 50, "Steps of each rollout before its clip starts (the body settling).")
flags.DEFINE_integer("seed", 0, "Seed of the resets.")
flags.mark_flags_as_required(["experts", "out"])
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.env not in jax_envs.ENV_IDS:
        raise app.UsageError(f"--env={FLAGS.env}: accepted values: {', '.join(jax_envs.ENV_IDS)}")
    if FLAGS.clips_per_expert < 1 or FLAGS.clip_length < 2 or FLAGS.skip_steps < 0:
        raise app.UsageError("need --clips_per_expert >= 1, --clip_length >= 2 and --skip_steps >= 0")
    try:
        returns = body_experts.record_clips(
            FLAGS.env,
            FLAGS.experts,
            FLAGS.out,
            FLAGS.clips_per_expert,
            FLAGS.clip_length,
            FLAGS.skip_steps,
            FLAGS.seed,
        )
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    print(json.dumps({"clip_returns": returns}, indent=1))
    print(f"wrote {len(returns)} clips to {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
