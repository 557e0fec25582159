"""Zero-shot evaluation of a saved run: `python -m experiments.evaluate --workdir=DIR [--step=N]`.

Restores the checkpoint (the latest by default), prompts the agent with each task's goal and with each
task's relabelled rewards, prints a table and writes DIR/eval.json and DIR/eval.png; with --video, also
DIR/videos/<mode>_task<N>.mp4, one prompted episode per task (the first seed's). The dataset is the file the
run was trained on (its path and checksum are in the run's config), unless --dataset_dir says where to find
it now. A run of a JAX body (online, or offline on the body's episodes) is evaluated in its vmapped envs on every
task of the domain, prompted from its replay buffer or its episodes.
"""

import functools
from pathlib import Path

import jax
import numpy as np
from absl import app, flags, logging

from envs import jax_envs
from envs import ogbench as ogb
from experiments import report
from experiments.flag_utils import (
    define_eval_workers_flag,
    define_saved_run_flags,
    evaluation_workers,
    saved_run_from_flags,
)
from tdjepa.clips import ClipError
from tdjepa.online import run_source, tracking_clips
from tdjepa.online_eval import (
    TRACKING_WINDOW,
    EpisodeSource,
    episode_state,
    evaluate_online_seeds,
    few_shot_search,
    prompt_latents,
    record_online,
    track_clips,
)
from tdjepa.runs import seeds
from tdjepa.training import seed_slice
from tdjepa.video import SUFFIXES, write_video
from tdjepa.zero_shot import evaluate_task_free, evaluate_zero_shot, make_behavior_policy, record_zero_shot

define_saved_run_flags()
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
flags.DEFINE_bool(
    "video",
    False,
    "Also write DIR/videos/<mode>_task<N>.<video_format>: the first evaluated episode of each prompt (first seed).",
)
flags.DEFINE_integer("video_size", 192, "Video frame height and width (state envs; visual ones show their frames).")
flags.DEFINE_integer("video_every", 4, "Record every n-th step (a 1000-step episode at 4: 250 frames, 10 s).")
flags.DEFINE_float("video_fps", 25.0, "Frames per second of the videos.")
flags.DEFINE_integer(
    "few_shot_iterations",
    0,
    "Online runs: also search z for each task by CEM with the policy frozen, this many rounds from the "
    "reward-inferred z (first seed), and report the return before and after.",
)
flags.DEFINE_string(
    "tracking_clips",
    None,
    "Online runs: clip file to track (default: the held-out clips shipped for the run's env, if any).",
)
flags.DEFINE_enum("video_format", "mp4", [s.lstrip(".") for s in SUFFIXES], "Video file format.")
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.video and (FLAGS.video_every < 1 or FLAGS.video_size < 16 or FLAGS.video_size % 2):
        # Checked before the evaluation, which takes minutes, rather than by the recorder after it.
        raise app.UsageError(
            "--video_every must be >= 1 and --video_size an even number >= 16 (H.264 needs even sides); "
            f"got {FLAGS.video_every} and {FLAGS.video_size}"
        )
    logging.set_verbosity(logging.WARNING)
    workdir = Path(FLAGS.workdir)
    agent, runners, config, step, dataset = saved_run_from_flags()
    if config.get("online"):
        evaluate_online_run(workdir, agent, runners, config, step, run_source(config, agent))
        return
    if config["env"] in jax_envs.ENV_SPECS:  # trained on the body's episodes
        source = EpisodeSource(jax_envs.make(config["env"]))
        evaluate_online_run(workdir, agent, runners, config, step, source, episode_state(dataset))
        return
    if FLAGS.behavior_baseline and agent.config.actor_type != "flow_bc":
        actor_type = agent.config.actor_type
        raise app.UsageError(f"--behavior_baseline needs a flow-BC run; {workdir} has actor_type={actor_type!r}")
    run_seeds = seeds(config)
    with evaluation_workers(config["env"], FLAGS.eval_episodes, FLAGS.eval_workers) as workers:
        tasks = ogb.tasks(config["env"], workers)
        episodes = FLAGS.eval_episodes
        per_seed = [
            evaluate_zero_shot(
                agent,
                seed_slice(runners.agent, i),
                tasks,
                dataset,
                num_episodes=episodes,
                num_inference_samples=FLAGS.inference_samples,
                seed=seed,
            )
            for i, seed in enumerate(run_seeds)
        ]
        extra = {"versions": config["versions"], "checkpoint_step": step}
        if FLAGS.random_baseline:
            new_policy = functools.partial(ogb.random_policy, config["data_spec"]["action_dim"], 0)
            rows = evaluate_task_free(tasks, new_policy, episodes, 0)
            extra["random_policy"] = report.summary("random", config["env"], 0, [rows], [0], {})
        if FLAGS.behavior_baseline:
            state = seed_slice(runners.agent, 0)
            new_policy = functools.partial(make_behavior_policy, agent, state, episodes, run_seeds[0])
            rows = evaluate_task_free(tasks, new_policy, episodes, run_seeds[0], agent.config.frame_stack)
            extra["behavior_policy"] = report.summary("bc_flow", config["env"], step, [rows], run_seeds[:1], {})
    result = report.summary(config["agent"], config["env"], step, per_seed, run_seeds, extra)
    report.write_results(workdir, result)
    print(report.format_table(result))
    for baseline in ("random_policy", "behavior_policy"):
        if baseline in extra:
            print(report.format_table(extra[baseline]))
    print(f"wrote {workdir / 'eval.json'} and {workdir / 'eval.png'}")
    if FLAGS.video:
        state = seed_slice(runners.agent, 0)
        write_videos(workdir / "videos", agent, state, ogb.tasks(config["env"]), dataset, run_seeds[0])


def evaluate_online_run(workdir: Path, agent, runners, config: dict, step: int, source, source_state=None) -> None:
    """A run of a JAX body, prompted by reward and goal from its replay buffer (or from `source_state`, the
    episodes it trained on, shared by every seed) and rolled out in its vmapped env."""
    for flag in ("random_baseline", "behavior_baseline"):
        if FLAGS[flag].value:
            raise app.UsageError(f"--{flag} is for OGBench runs; {workdir} trained on {config['env']}")
    try:
        clips = tracking_clips(config["env"], FLAGS.tracking_clips)
    except ClipError as error:
        raise app.UsageError(f"--tracking_clips: {error}") from None
    run_seeds = seeds(config)
    per_seed = evaluate_online_seeds(
        agent,
        runners,
        source,
        run_seeds,
        num_episodes=FLAGS.eval_episodes,
        num_inference_samples=FLAGS.inference_samples,
        tracking=clips,
        source_state=source_state,
    )
    first_state = seed_slice(runners.source_state, 0) if source_state is None else source_state
    extra = {"versions": config["versions"], "checkpoint_step": step}
    extra["step_unit"] = "env steps" if config.get("online") else "updates"
    if FLAGS.few_shot_iterations > 0:
        extra["few_shot"] = few_shot_rows(agent, seed_slice(runners.agent, 0), source, first_state, run_seeds[0])
    result = report.online_summary(config["agent"], config["env"], step, per_seed, run_seeds, extra)
    report.write_results(workdir, result)
    print(report.format_online_table(result))
    for row in extra.get("few_shot", []):
        print(
            f"few-shot {row['task']:<24} zero-shot z {row['zero_shot_return']:8.1f} -> searched z {row['return']:8.1f}"
        )
    print(f"wrote {workdir / 'eval.json'} and {workdir / 'eval.png'}")
    if FLAGS.video:
        episodes = record_online(
            agent,
            seed_slice(runners.agent, 0),
            source,
            first_state,
            num_inference_samples=FLAGS.inference_samples,
            seed=run_seeds[0],
        )
        for episode in episodes:
            frames = source.env.render(episode["qpos"][:: FLAGS.video_every], FLAGS.video_size)
            path = write_video(
                workdir / "videos" / f"{episode['mode']}_{episode['task']}.{FLAGS.video_format}",
                frames,
                FLAGS.video_fps,
            )
            print(f"wrote {path}: {len(frames)} frames, return {episode['return']:.1f}")
        if clips is not None:
            write_tracking_videos(
                workdir / "videos", agent, seed_slice(runners.agent, 0), source.env, clips, run_seeds[0]
            )


def few_shot_rows(agent, state, source, source_state, seed: int) -> list[dict]:
    """Per task of the env, the return of agent `state` with its reward-inferred z and with the z CEM finds."""
    key = jax.random.PRNGKey(seed)
    samples = source.transitions(source_state, jax.random.fold_in(key, 1), FLAGS.inference_samples)
    reward_z = prompt_latents(agent, state, source.env, samples)["reward"]
    rows = []
    for t, task in enumerate(source.env.tasks):
        found = few_shot_search(
            agent,
            state,
            source.env,
            t,
            reward_z[t],
            jax.random.fold_in(key, 2 + t),
            iterations=FLAGS.few_shot_iterations,
        )
        rows.append(
            {"task": task, "mode": "few_shot", "return": found["few_shot_return"]}
            | {k: found[k] for k in ("zero_shot_return", "search_curve")}
        )
    return rows


def write_tracking_videos(folder: Path, agent, state, env, clips, seed: int) -> None:
    """Per clip, the tracked motion (left) next to the clip itself (right)."""
    key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), 7), 0)
    errors, qpos = jax.jit(lambda s: track_clips(agent, s, env, clips, None, key, TRACKING_WINDOW))(state)
    for i, name in enumerate(clips.names or [str(i) for i in range(len(errors))]):
        steps = slice(0, int(clips.lengths[i]) - 1, FLAGS.video_every)
        tracked = env.render(np.asarray(qpos[i, steps]), FLAGS.video_size)
        reference = env.render(np.asarray(clips.qpos[i, 1:][steps]), FLAGS.video_size)
        file = f"tracking_{name.replace('/', '_')}.{FLAGS.video_format}"
        path = write_video(folder / file, np.concatenate([tracked, reference], 2), FLAGS.video_fps)
        print(f"wrote {path}: {len(tracked)} frames (tracked | clip), error {float(errors[i]):.3f}")


def write_videos(folder: Path, agent, state, tasks, dataset: dict, seed: int) -> None:
    """One video per prompt, of the episode the evaluation rolled out first, and a line per video."""
    episodes = record_zero_shot(
        agent,
        state,
        tasks,
        dataset,
        num_inference_samples=FLAGS.inference_samples,
        seed=seed,
        size=FLAGS.video_size,
        every=FLAGS.video_every,
    )
    for episode in episodes:
        path = folder / f"{episode['mode']}_{episode['task']}.{FLAGS.video_format}"
        write_video(path, episode["frames"], FLAGS.video_fps)
        print(f"wrote {path}: {len(episode['frames'])} frames, success {episode['success']:.0f}")


if __name__ == "__main__":
    app.run(main)
