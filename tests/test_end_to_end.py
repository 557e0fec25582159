"""The train and evaluate commands end to end on a small generated dataset, including a run killed
between checkpoints and resumed."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from envs.ogbench import generate_dataset
from tdjepa.checkpoints import Checkpointer
from tdjepa.video import read_video

ENV = "pointmaze-medium-navigate-v0"
TINY_FLAGS = [
    "--config.batch_size=32",
    "--config.phi_hidden_dim=32",
    "--config.psi_hidden_dim=32",
    "--config.predictor_hidden_dim=32",
    "--config.actor_hidden_dim=32",
    "--eval_episodes=1",
    "--inference_samples=200",
    "--updates_per_call=10",
    "--progress=false",
]


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("ogbench")
    generate_dataset(ENV, directory, num_episodes=3, progress=False)
    return directory


def command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"experiments.{module}", *args]


def run(module: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = os.environ | {"XLA_FLAGS": ""}
    out = subprocess.run(command(module, *args), capture_output=True, text=True, env=env, timeout=600)
    if check and out.returncode != 0:
        raise AssertionError(f"{module} failed:\n{out.stdout}\n{out.stderr}")
    return out


def train_args(workdir: Path, dataset_dir: Path, *extra: str) -> list[str]:
    return [f"--workdir={workdir}", f"--dataset_dir={dataset_dir}", f"--env={ENV}", *TINY_FLAGS, *extra]


def final_state(workdir: Path, step: int):
    """The saved runner state at `step`, as a tree of arrays."""
    checkpointer = Checkpointer(workdir)
    try:
        return checkpointer.restore_saved(step)
    finally:
        checkpointer.close()


def test_train_then_evaluate_writes_results(tmp_path, dataset_dir):
    workdir = tmp_path / "run"
    out = run("train", *train_args(workdir, dataset_dir, "--num_steps=20", "--checkpoint_every=10"))
    assert "mean success: goal" in out.stdout
    assert (workdir / "config.json").exists() and (workdir / "train.csv").exists()
    video = ["--video", "--video_every=250", "--video_size=32", "--eval_episodes=1", "--random_baseline"]
    out = run("evaluate", f"--workdir={workdir}", f"--dataset_dir={dataset_dir}", *video, "--step=10")
    result = json.loads((workdir / "eval.json").read_text())
    assert result["agent"] == "td_jepa" and result["env"] == ENV and result["step"] == 10
    assert len(result["tasks"]) == 10 and {t["mode"] for t in result["tasks"]} == {"goal", "reward"}
    assert set(result["tasks"][0]) == {"task", "mode", "success", "return"}
    assert 0.0 <= result["mean_success"] <= 1.0
    assert result["random_policy"]["agent"] == "random" and len(result["random_policy"]["tasks"]) == 10
    assert (workdir / "eval.png").stat().st_size > 0
    assert "goal    task1" in out.stdout
    videos = sorted((workdir / "videos").iterdir())
    assert [v.name for v in videos] == sorted(f"{m}_task{t}.mp4" for m in ("goal", "reward") for t in range(1, 6))
    for path in videos:  # 1000-step episodes (a 20-update agent reaches no goal): frames at 0, 250, ..., 1000
        assert read_video(path).shape == (5, 32, 32, 3) and f"wrote {path}: 5 frames" in out.stdout
    host = tmp_path / "host"
    flow_bc = ["--config.actor_type=flow_bc", "--config.bc_coeff=3.0"]
    out = run("train", *train_args(host, dataset_dir, "--num_steps=10", "--host_data", *flow_bc))
    assert "mean success: goal" in out.stdout and (host / "checkpoints" / "10").exists()
    evaluate_args = [f"--workdir={host}", f"--dataset_dir={dataset_dir}", "--eval_episodes=1"]
    out = run("evaluate", *evaluate_args, "--behavior_baseline")
    baseline = json.loads((host / "eval.json").read_text())["behavior_policy"]
    assert baseline["agent"] == "bc_flow" and len(baseline["tasks"]) == 10
    assert "agent=bc_flow" in out.stdout
    sizes = ["--num_states=64", "--inference_samples=200", "--num_actions=4"]
    out = run("diagnose", f"--workdir={host}", f"--dataset_dir={dataset_dir}", *sizes)
    rows = json.loads((host / "diagnose.json").read_text())["rows"]
    assert [(r["mode"], r["task"]) for r in rows[:2]] == [("goal", "task1"), ("reward", "task1")] and len(rows) == 10
    assert all(0.0 <= r["actor_q_rank"] <= 1.0 and r["q_action_spread"] >= 0.0 for r in rows)
    assert "implied_reward_auc" in out.stdout and "plan_steps" in out.stdout
    assert all(r["plan_steps"] != r["plan_steps"] or 0 <= r["plan_steps"] <= 1000 for r in rows)  # nan or steps


def test_changed_config_changed_dataset_and_bad_flags_are_refused_with_a_message(tmp_path, dataset_dir):
    """Bad input is named before any work. config.json records the dataset's path and checksum, so evaluate
    needs no --dataset_dir, and refuses the file changed since (regenerated with another seed) or gone."""
    workdir, own_data = tmp_path / "run", tmp_path / "data"
    shutil.copytree(dataset_dir, own_data)
    run("train", *train_args(workdir, own_data, "--num_steps=10", "--eval_every=0"))
    recorded = json.loads((workdir / "config.json").read_text())["dataset"]
    assert recorded["path"] == str((own_data / f"{ENV}.npz").absolute()) and len(recorded["sha256"]) == 64
    out = run("evaluate", f"--workdir={workdir}", "--behavior_baseline", check=False)
    assert out.returncode != 0 and "--behavior_baseline needs a flow-BC run" in out.stderr
    out = run("diagnose", f"--workdir={workdir}", "--step=7", check=False)
    assert out.returncode != 0 and "--step" in out.stderr and "no checkpoint at step 7" in out.stderr
    out = run("evaluate", f"--workdir={workdir}", "--eval_workers=-2", check=False)
    assert out.returncode != 0 and "--eval_workers must be 0 or more" in out.stderr
    out = run("evaluate", f"--workdir={workdir}", "--video", "--video_size=33", check=False)
    assert out.returncode != 0 and "--video_size an even number" in out.stderr and "Traceback" not in out.stderr
    assert "zero-shot results" not in out.stdout  # refused before evaluating
    out = run("train", *train_args(workdir, own_data, "--num_steps=10", "--config.lr_phi=0.5"), check=False)
    assert out.returncode != 0 and "config.lr_phi" in out.stderr and "--restart" in out.stderr
    bad = tmp_path / "bad"
    out = run("train", *train_args(bad, dataset_dir, "--config.actor_average_tau=-1"), check=False)
    assert out.returncode != 0 and "actor_average_tau must be in [0, 1]" in out.stderr
    assert "Traceback" not in out.stderr and not bad.exists()
    out = run("train", *train_args(workdir, dataset_dir, "--agent=nope"), check=False)
    assert out.returncode != 0 and "nope" in out.stderr
    out = run(
        "train", f"--workdir={tmp_path / 'x'}", f"--dataset_dir={tmp_path}", "--generate_dataset=false", check=False
    )
    assert out.returncode != 0 and "experiments.collect" in out.stderr
    out = run("collect", "--env=cube-single-play-v0", "--workers=0", f"--out={tmp_path / 'c'}", check=False)
    assert out.returncode != 0 and "--workers must be >= 1" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "c").exists()
    # Frames need a pixel preset (and states a state preset), refused before any dataset is read.
    out = run("train", f"--workdir={tmp_path / 'v'}", "--env=visual-cube-single-play-v0", check=False)
    assert out.returncode != 0 and "--preset=cpu_pixels" in out.stderr and not (tmp_path / "v").exists()
    out = run("train", f"--workdir={tmp_path / 'v'}", "--preset=cpu_pixels", check=False)
    assert out.returncode != 0 and "obs_type='pixels'" in out.stderr
    evaluate = ["evaluate", f"--workdir={workdir}", "--eval_episodes=1", "--inference_samples=100"]
    generate_dataset(ENV, own_data, num_episodes=3, seed=1, progress=False)
    out = run(*evaluate, check=False)
    assert out.returncode != 0 and "has changed since the run was trained" in out.stderr
    assert "wrote" in run(*evaluate, "--nocheck_dataset").stdout  # found from config.json, no --dataset_dir
    shutil.rmtree(own_data)
    out = run(*evaluate, check=False)
    assert out.returncode != 0 and "does not exist" in out.stderr and "--dataset_dir" in out.stderr


def test_killed_run_resumes_exactly(tmp_path, dataset_dir):
    """Kill -9 after the step-20 checkpoint (during the evaluation that follows it), rerun, compare."""
    common = ["--num_steps=40", "--checkpoint_every=10", "--eval_every=20"]
    straight = tmp_path / "straight"
    run("train", *train_args(straight, dataset_dir, *common))

    killed = tmp_path / "killed"
    env = os.environ | {"XLA_FLAGS": ""}
    proc = subprocess.Popen(
        command("train", *train_args(killed, dataset_dir, *common)),
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 300
    while not (killed / "checkpoints" / "20").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "checkpoints" / "40").exists(), "the run finished before it could be killed"
    out = run("train", *train_args(killed, dataset_dir, *common))
    assert "resuming from the checkpoint at step 20" in out.stdout

    a, b = final_state(straight, 40), final_state(killed, 40)
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    steps = [row.split(",")[0] for row in (killed / "train.csv").read_text().splitlines()[1:]]
    assert steps == ["10", "20", "30", "40"]


def _leaves(tree) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(tree)]
