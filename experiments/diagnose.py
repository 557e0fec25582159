"""Why a saved run's zero-shot policies succeed or fail: `python -m experiments.diagnose --workdir=DIR [--step=N]`.

For every task's goal prompt and reward prompt (z inferred exactly as `experiments.evaluate` does, first seed),
on other dataset states drawn apart from the inference samples: how well the implied reward separates the
task's success states (AUC), how much Q(s, a, z) depends on the action, whether the actor's action beats
random ones by Q, and how large the actor's actions are.
Prints a table and writes DIR/diagnose.json. No environment is stepped.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
from absl import app, flags, logging

from envs import ogbench as ogb
from experiments.diagnostics import action_diagnostics, implied_reward_auc, implied_rewards
from experiments.flag_utils import define_saved_run_flags, saved_run_from_flags
from experiments.implied_reward_planner import median_step_length, steps_to_goal
from tdjepa.runs import write_json
from tdjepa.training import seed_slice
from tdjepa.zero_shot import goal_latents, inference_samples, network_dtype, reward_latents

define_saved_run_flags()
flags.DEFINE_integer("inference_samples", 10_000, "Relabelled transitions for reward inference (as evaluate).")
flags.DEFINE_integer(
    "num_states", 10_000, "Dataset states the diagnostics are measured on (drawn apart from the inference samples)."
)
flags.DEFINE_integer("num_actions", 16, "Uniform random actions per state that Q ranks the actor's against.")
flags.DEFINE_integer(
    "plan_states", 1_000_000, "Maze datasets: dataset states (at most) whose positions the implied-reward planner bins."
)
FLAGS = flags.FLAGS

COLUMNS = ("implied_reward_auc", "q_action_spread", "actor_q_rank", "action_norm_ratio")
MAZE_COLUMNS = ("plan_steps",)


def diagnose(
    agent,
    state,
    env: str,
    dataset: dict,
    *,
    inference_size: int,
    num_states: int,
    num_actions: int,
    seed: int,
    plan_states: int = 1_000_000,
) -> list[dict]:
    """One row per (mode, task): the `COLUMNS` of `experiments.diagnostics` for that task's prompted z, and on
    maze datasets the `MAZE_COLUMNS` of `experiments.implied_reward_planner`. Success states are those whose
    relabelled single-task reward is 0 (every sub-goal met)."""
    tasks = ogb.tasks(env)
    goal_zs = goal_latents(agent, state, tasks)
    reward_zs = reward_latents(agent, state, tasks, dataset, inference_size, seed)
    # Drawn apart from the inference samples (they may overlap by chance).
    held_out = inference_samples(dataset, num_states, seed + 1, agent.config.frame_stack)
    observations = jnp.asarray(network_dtype(held_out["observations"]))
    plan = _maze_planner(agent, state, env, dataset, plan_states, seed + 2)
    rows = []
    for task_id in range(1, ogb.NUM_TASKS + 1):
        successes = ogb.relabel_rewards(env, task_id, held_out) == 0.0
        for mode, z in (("goal", goal_zs[task_id - 1]), ("reward", reward_zs[task_id - 1])):
            key = jax.random.fold_in(jax.random.PRNGKey(seed), task_id)
            stats = action_diagnostics(agent, state, z, observations, held_out["actions"], key, num_actions)
            auc = implied_reward_auc(agent, state, z, observations, successes)
            row = {"task": f"task{task_id}", "mode": mode, "success_states": int(successes.sum())}
            row |= stats | {"implied_reward_auc": auc}
            rows.append(row | ({"plan_steps": plan(task_id, z)} if plan else {}))
    return rows


def _maze_planner(agent, state, env: str, dataset: dict, num_states: int, seed: int):
    """task_id, z -> the implied reward's `steps_to_goal` on maze datasets (positions: qpos x, y); None elsewhere."""
    if ogb.dataset_spec(env).family == "manipspace":
        return None
    step_length = median_step_length(dataset["qpos"][:, :2], dataset["terminals"])
    states = inference_samples(dataset, num_states, seed, agent.config.frame_stack)
    positions, observations = states["qpos"][:, :2], network_dtype(states["observations"])

    def plan(task_id: int, z: jnp.ndarray) -> float:
        task = ogb.maze_task(env, task_id)
        return steps_to_goal(
            positions,
            implied_rewards(agent, state, z, observations, chunk=10_000),
            start_xy=task.start_xy,
            goal_xy=task.goal_xy,
            goal_tolerance=task.goal_tolerance,
            discount=agent.config.discount,
            step_length=step_length,
            max_steps=task.max_steps,
        )

    return plan


def format_rows(rows: list[dict]) -> str:
    """A fixed-width table of the rows (the maze columns when the rows have them)."""
    columns = COLUMNS + tuple(c for c in MAZE_COLUMNS if rows and c in rows[0])
    header = f"{'mode':7} {'task':6} {'success states':>14} " + " ".join(f"{c:>18}" for c in columns)
    lines = [header] + [
        f"{r['mode']:7} {r['task']:6} {r['success_states']:>14} " + " ".join(f"{r[c]:>18.3f}" for c in columns)
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    for name in ("inference_samples", "num_states", "num_actions", "plan_states"):
        if getattr(FLAGS, name) < 1:
            raise app.UsageError(f"--{name} must be at least 1, got {getattr(FLAGS, name)}")
    logging.set_verbosity(logging.WARNING)
    workdir = Path(FLAGS.workdir)
    agent, runners, config, step, dataset = saved_run_from_flags()
    if dataset is None:
        raise app.UsageError(f"--workdir={workdir} trained online; diagnose reads OGBench runs and their datasets")
    rows = diagnose(
        agent,
        seed_slice(runners.agent, 0),
        config["env"],
        dataset,
        inference_size=FLAGS.inference_samples,
        num_states=FLAGS.num_states,
        num_actions=FLAGS.num_actions,
        seed=config["seed"],
        plan_states=FLAGS.plan_states,
    )
    write_json(workdir / "diagnose.json", {"agent": config["agent"], "env": config["env"], "step": step, "rows": rows})
    print(f"diagnostics: agent={config['agent']} env={config['env']} step={step} seed={config['seed']}")
    print(format_rows(rows))
    print(f"wrote {workdir / 'diagnose.json'}")


if __name__ == "__main__":
    app.run(main)
