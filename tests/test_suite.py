"""The suite command: aggregation over seeds (mean ± standard error) and its outputs, and a real run."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from experiments.suite import aggregate, markdown_table, read_results, write_outputs

from .test_end_to_end import ENV, TINY_FLAGS, dataset_dir, run  # noqa: F401 (dataset_dir is a fixture)


def fake_result(agent: str, env: str, goal: list[float], reward: list[float], step: int = 100) -> dict:
    tasks = [{"task": f"task{i + 1}", "mode": "goal", "success": s, "return": 0.0} for i, s in enumerate(goal)]
    tasks += [{"task": f"task{i + 1}", "mode": "reward", "success": s, "return": 0.0} for i, s in enumerate(reward)]
    return {"agent": agent, "env": env, "step": step, "tasks": tasks}


def test_aggregate_gives_the_mean_and_standard_error_over_seeds():
    results = [
        fake_result("td_jepa", "cube", [1, 0, 0, 0, 0], [0] * 5),  # goal mean 0.2
        fake_result("td_jepa", "cube", [1, 1, 0, 0, 0], [1] * 5),  # 0.4
        fake_result("td_jepa", "cube", [1, 1, 1, 0, 0], [0] * 5, step=50),  # 0.6
        fake_result("fb", "cube", [0] * 5, [0.5] * 5),
    ]
    rows = aggregate(results)
    assert [(r["agent"], r["num_seeds"]) for r in rows] == [("fb", 1), ("td_jepa", 3)]
    td = rows[1]
    assert td["goal_mean"] == pytest.approx(0.4) and td["goal_se"] == pytest.approx(0.2 / np.sqrt(3))
    assert td["reward_mean"] == pytest.approx(1 / 3) and td["step"] == 50
    assert rows[0]["reward_mean"] == 0.5 and rows[0]["goal_se"] == 0.0
    assert "| td_jepa | cube | 3 | 50 | 0.40 ± 0.12 | 0.33 ± 0.33 |" in markdown_table(rows)


def test_outputs_are_csv_markdown_and_png(tmp_path: Path):
    rows = aggregate([fake_result("td_jepa", "cube", [1, 0, 0, 0, 0], [0] * 5)])
    csv_path, md_path, png_path = write_outputs(tmp_path, rows)
    with open(csv_path) as file:
        assert list(csv.DictReader(file))[0]["goal_mean"] == "0.2"
    assert md_path.read_text().startswith("| agent | dataset |")
    assert png_path.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "results.md", "results.png"]


def test_an_unreadable_eval_json_is_named(tmp_path: Path):
    path = tmp_path / "td_jepa" / "cube" / "seed0" / "eval.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"agent": "td_jepa"}))
    with pytest.raises(ValueError, match=str(path)):
        read_results(tmp_path)


def test_suite_trains_each_seed_and_aggregates(tmp_path: Path, dataset_dir: Path):  # noqa: F811
    flags = " ".join([f"--dataset_dir={dataset_dir}", "--num_steps=10", *TINY_FLAGS])
    root = tmp_path / "suite"
    out = run("suite", f"--root={root}", f"--envs={ENV}", "--seeds=3,4", f"--train_flags={flags}")
    for seed in (3, 4):
        assert json.loads((root / "td_jepa" / ENV / f"seed{seed}" / "eval.json").read_text())["seeds"] == [seed]
    assert f"| td_jepa | {ENV} | 2 | 10 |" in out.stdout
    assert (root / "results.png").exists()
    bad = run("suite", f"--root={root}", "--envs=cube-triple-play-v0", check=False)
    assert bad.returncode != 0 and "cube-triple-play-v0" in bad.stderr
