"""Runs a grid of (agent, dataset, seed) trainings and aggregates their zero-shot results.

    python -m experiments.suite --agents=td_jepa,fb --envs=cube-single-play-v0,scene-play-v0 --seeds=0,1,2 \
        --root=runs/suite [--train_flags="--num_steps=100000 --config.actor_type=flow_bc"] [--aggregate_only]

Each run is `experiments.train` in its own process with workdir ROOT/<agent>/<env>/seed<k>, so an
interrupted suite resumes where it stopped (finished runs are only re-evaluated if their step is
short). The aggregate, per agent and dataset, is the mean ± standard error over seeds of the mean
goal-prompted and reward-prompted success, written as ROOT/results.csv, results.md and results.png.
"""

import csv
import json
import shlex
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

import agents  # noqa: E402
from envs import ogbench as ogb  # noqa: E402

flags.DEFINE_list("agents", ["td_jepa"], "Agents to train.")
flags.DEFINE_list("envs", ["pointmaze-medium-navigate-v0"], "Datasets to train on.")
flags.DEFINE_list("seeds", ["0"], "Seeds; one run per seed.")
flags.DEFINE_string("root", "runs/suite", "Folder of the runs and of the aggregated results.")
flags.DEFINE_string("train_flags", "", "Extra flags for every experiments.train run (quoted, shell syntax).")
flags.DEFINE_bool("aggregate_only", False, "Only aggregate the eval.json files already under --root.")
FLAGS = flags.FLAGS

MODES = ("goal", "reward")
COLUMNS = ("agent", "env", "num_seeds", "step", "goal_mean", "goal_se", "reward_mean", "reward_se")


def run_dir(root: Path, agent: str, env: str, seed: int) -> Path:
    return root / agent / env / f"seed{seed}"


def train_command(root: Path, agent: str, env: str, seed: int, extra: list[str]) -> list[str]:
    """The experiments.train command of one run."""
    workdir = run_dir(root, agent, env, seed)
    return [
        sys.executable,
        "-m",
        "experiments.train",
        f"--agent={agent}",
        f"--env={env}",
        f"--seed={seed}",
        f"--workdir={workdir}",
        *extra,
    ]


def mode_means(result: dict) -> dict[str, float]:
    """Mean success per prompting mode of one eval.json."""
    return {mode: float(np.mean([t["success"] for t in result["tasks"] if t["mode"] == mode])) for mode in MODES}


def aggregate(results: list[dict]) -> list[dict]:
    """Per (agent, env): mean and standard error over seeds (runs) of each mode's mean success.

    The standard error is the sample standard deviation over sqrt(n); 0 for a single seed."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for result in results:
        groups.setdefault((result["agent"], result["env"]), []).append(result)
    rows = []
    for (agent, env), group in sorted(groups.items()):
        row = {"agent": agent, "env": env, "num_seeds": len(group), "step": min(r["step"] for r in group)}
        for mode in MODES:
            values = np.array([mode_means(r)[mode] for r in group])
            row[f"{mode}_mean"] = float(values.mean())
            row[f"{mode}_se"] = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
        rows.append(row)
    return rows


def read_results(root: Path) -> list[dict]:
    """Every ROOT/<agent>/<env>/seed<k>/eval.json; a file that cannot be read is named in the error."""
    results = []
    for path in sorted(root.glob("*/*/seed*/eval.json")):
        try:
            result = json.loads(path.read_text())
            mode_means(result)
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not an eval.json written by experiments.train ({error!r})") from error
        results.append(result)
    return results


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| agent | dataset | seeds | step | goal-prompted success | reward-prompted success |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['agent']} | {r['env']} | {r['num_seeds']} | {r['step']} | "
            f"{r['goal_mean']:.2f} ± {r['goal_se']:.2f} | {r['reward_mean']:.2f} ± {r['reward_se']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def write_outputs(root: Path, rows: list[dict]) -> list[Path]:
    """results.csv, results.md and results.png in root, each written to a temporary name first."""
    paths = [root / "results.csv", root / "results.md", root / "results.png"]
    temporaries = [path.with_name(f".{path.name}.tmp") for path in paths]
    with open(temporaries[0], "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    temporaries[1].write_text(markdown_table(rows))
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(rows) + 2), 4))
    x = np.arange(len(rows))
    for offset, mode in ((-0.2, "goal"), (0.2, "reward")):
        means = [r[f"{mode}_mean"] for r in rows]
        errors = [r[f"{mode}_se"] for r in rows]
        ax.bar(x + offset, means, 0.4, yerr=errors, capsize=3, label=f"{mode}-prompted")
    ax.set_xticks(x, [f"{r['agent']}\n{r['env']}" for r in rows], fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("success (mean ± s.e. over seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(temporaries[2], dpi=100, format="png")
    plt.close(fig)
    for temporary, path in zip(temporaries, paths, strict=True):
        temporary.replace(path)
    return paths


def check_flags() -> list[int]:
    """Refuses unknown agents, datasets and bad seeds before any run starts; returns the seeds."""
    for name in FLAGS.agents:
        if name not in agents.NAMES:
            raise app.UsageError(f"--agents: unknown agent {name!r}; accepted values: {', '.join(agents.NAMES)}")
    for env in FLAGS.envs:
        if env not in ogb.SUPPORTED_DATASETS:
            raise app.UsageError(
                f"--envs: unknown dataset {env!r}; accepted values: {', '.join(ogb.SUPPORTED_DATASETS)}"
            )
    try:
        seeds = [int(seed) for seed in FLAGS.seeds]
    except ValueError:
        raise app.UsageError(f"--seeds must be integers, got {','.join(FLAGS.seeds)}") from None
    if any(seed < 0 for seed in seeds):
        raise app.UsageError(f"--seeds must be >= 0, got {seeds}")
    return seeds


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    seeds = check_flags()
    root = Path(FLAGS.root)
    if not FLAGS.aggregate_only:
        extra = shlex.split(FLAGS.train_flags)
        for agent in FLAGS.agents:
            for env in FLAGS.envs:
                for seed in seeds:
                    command = train_command(root, agent, env, seed, extra)
                    print(f"[suite] {shlex.join(command[1:])}", flush=True)
                    if subprocess.run(command).returncode != 0:
                        raise SystemExit(f"error: run failed: {shlex.join(command[1:])}")
    results = read_results(root)
    if not results:
        raise SystemExit(f"error: no eval.json under {root}/<agent>/<env>/seed<k>/")
    rows = aggregate(results)
    paths = write_outputs(root, rows)
    print(markdown_table(rows) + "written: " + ", ".join(str(p) for p in paths))


if __name__ == "__main__":
    app.run(main)
