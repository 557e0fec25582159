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
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    tasks = result["tasks"]
    labels = [f"{r['mode']}\n{r['task']}" for r in tasks]
    axes[0].bar(
        range(len(tasks)),
        [r["success"] for r in tasks],
        color=["C0" if r["mode"] == "goal" else "C1" for r in tasks],
    )
    axes[0].set_xticks(range(len(tasks)), labels, fontsize=7)
    axes[0].set_ylim(0, 1)
    axes[0].set_ylabel("success")
    axes[0].set_title(f"{result['agent']} on {result['env']} at step {result['step']}")
    eval_log = workdir / "eval.csv"
    if eval_log.exists() and (rows := read_csv(eval_log)):
        steps = [float(r["step"]) for r in rows]
        for key in ("mean_goal_success", "mean_reward_success"):
            axes[1].plot(steps, [float(r[key]) for r in rows], marker="o", label=key)
        axes[1].set_xlabel("updates")
        axes[1].set_ylim(0, 1)
        axes[1].legend()
    axes[1].set_title("learning curve (zero-shot success)")
    fig.tight_layout()
    tmp = workdir / "eval.tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(workdir / "eval.png")
