"""Zero-shot results as a printed table, eval.json and a figure."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tdjepa.metrics_log import read_csv  # noqa: E402
from tdjepa.runs import write_json  # noqa: E402
from tdjepa.zero_shot import mean_success  # noqa: E402


def average_over_seeds(per_seed: list[list[dict]]) -> list[dict]:
    """Per task, success and return averaged over seeds (rows are aligned across seeds)."""
    rows = []
    for task_rows in zip(*per_seed, strict=True):
        first = task_rows[0]
        rows.append(
            {
                "task": first["task"],
                "mode": first["mode"],
                "success": float(np.mean([r["success"] for r in task_rows])),
                "return": float(np.mean([r["return"] for r in task_rows])),
            }
        )
    return rows


def summary(agent: str, env: str, step: int, per_seed: list[list[dict]], seeds: list[int], extra: dict) -> dict:
    """The eval.json content."""
    tasks = average_over_seeds(per_seed)
    return {
        "agent": agent,
        "env": env,
        "step": step,
        "tasks": tasks,
        "mean_success": mean_success(tasks),
        "mean_goal_success": mean_success(tasks, "goal"),
        "mean_reward_success": mean_success(tasks, "reward"),
        "seeds": seeds,
        "per_seed_mean_success": [mean_success(rows) for rows in per_seed],
    } | extra


def online_summary(agent: str, env: str, step: int, per_seed: list[list[dict]], seeds: list[int], extra: dict) -> dict:
    """The eval.json content of an online run: per task (or tracked clip) and mode the return and the random-z
    policy's (the tracking error and the random z's), averaged over seeds, and per mode the mean of each."""
    tasks = [
        {"task": rows[0]["task"], "mode": rows[0]["mode"]}
        | {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k not in ("task", "mode")}
        for rows in zip(*per_seed, strict=True)
    ]
    means = {}
    for mode in sorted({r["mode"] for r in tasks}):
        rows = [r for r in tasks if r["mode"] == mode]
        means |= {
            f"mean_{mode}_{key}": float(np.mean([r[key] for r in rows]))
            for key in rows[0]
            if key not in ("task", "mode")
        }
    return (
        {"agent": agent, "env": env, "step": step, "tasks": tasks}
        | means
        | {"seeds": seeds, "per_seed": per_seed}
        | extra
    )


def format_online_table(result: dict) -> str:
    """A plain-text table of the prompted and random-z returns per task and mode, then the tracking errors."""
    lines = [
        f"zero-shot returns: agent={result['agent']} env={result['env']} "
        f"{result.get('step_unit', 'env steps')}={result['step']} "
        f"seeds={result['seeds']}",
        f"{'mode':<10}{'task':<26}{'return':>9}{'random z':>10}",
    ]
    tracked = [row for row in result["tasks"] if row["mode"] == "tracking"]
    for row in result["tasks"]:
        if row["mode"] != "tracking":
            lines.append(f"{row['mode']:<10}{row['task']:<26}{row['return']:>9.1f}{row['random_z_return']:>10.1f}")
    if tracked:
        lines.append(f"{'mode':<10}{'clip':<26}{'error':>9}{'random z':>10}   (mean |qpos - clip qpos|)")
        for row in tracked:
            lines.append(f"{row['mode']:<10}{row['task']:<26}{row['error']:>9.3f}{row['random_z_error']:>10.3f}")
    return "\n".join(lines)


def format_table(result: dict) -> str:
    """A plain-text table of success and return per task and mode."""
    lines = [
        f"zero-shot results: agent={result['agent']} env={result['env']} step={result['step']} seeds={result['seeds']}",
        f"{'mode':<8}{'task':<8}{'success':>9}{'return':>10}",
    ]
    for row in result["tasks"]:
        lines.append(f"{row['mode']:<8}{row['task']:<8}{row['success']:>9.2f}{row['return']:>10.1f}")
    lines.append(
        f"mean success: goal {result['mean_goal_success']:.3f}, reward {result['mean_reward_success']:.3f}, "
        f"all {result['mean_success']:.3f}"
    )
    return "\n".join(lines)


def write_results(workdir: Path, result: dict) -> None:
    """eval.json and eval.png (success per task; learning curve when logs exist) in workdir."""
    write_json(workdir / "eval.json", result)
    online = "random_z_return" in result["tasks"][0]
    metric = "return" if online else "success"
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    tasks = [r for r in result["tasks"] if r["mode"] != "tracking"]  # errors are not on the return scale
    labels = [f"{r['mode']}\n{r['task']}" for r in tasks]
    axes[0].bar(
        range(len(tasks)),
        [r[metric] for r in tasks],
        color=["C0" if r["mode"] == "goal" else "C1" for r in tasks],
    )
    if online:
        axes[0].scatter(range(len(tasks)), [r["random_z_return"] for r in tasks], color="k", marker="_", s=200)
    axes[0].set_xticks(range(len(tasks)), labels, fontsize=6, rotation=90 if online else 0)
    axes[0].set_ylim(0, None if online else 1)
    axes[0].set_ylabel(metric + (" (black: random z)" if online else ""))
    axes[0].set_title(f"{result['agent']} on {result['env']} at step {result['step']}")
    eval_log = workdir / "eval.csv"
    curves = ("mean_goal_return", "mean_reward_return") if online else ("mean_goal_success", "mean_reward_success")
    if eval_log.exists() and (rows := read_csv(eval_log)):
        steps = [float(r["step"]) for r in rows]
        for key in curves:
            axes[1].plot(steps, [float(r[key]) for r in rows], marker="o", label=key)
        axes[1].set_xlabel("env steps" if online else "updates")
        axes[1].set_ylim(0, None if online else 1)
        axes[1].legend()
    axes[1].set_title(f"learning curve (zero-shot {metric})")
    fig.tight_layout()
    tmp = workdir / "eval.tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(workdir / "eval.png")
