"""experiments.train --distributed: two CPU processes on localhost (gloo collectives), one device each, train
what one process with both devices trains; the process flags are refused without --distributed."""

import json
import os
import socket
import subprocess
from pathlib import Path

import jax
import numpy as np

from tests.test_end_to_end import command, dataset_dir, final_state, run, train_args  # noqa: F401 (dataset_dir: fixture)

TWO_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def train_distributed(*args: str, num_processes: int = 2) -> str:
    """Runs experiments.train as `num_processes` processes of one device each; process 0's output."""
    address = f"localhost:{free_port()}"
    env = os.environ | {"XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    procs = [
        subprocess.Popen(
            command("train", *args, "--distributed", f"--coordinator_address={address}")
            + [f"--num_processes={num_processes}", f"--process_id={i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(num_processes)
    ]
    outputs = [p.communicate(timeout=900) for p in procs]
    for i, (p, (_, err)) in enumerate(zip(procs, outputs, strict=True)):
        assert p.returncode == 0, f"process {i} failed:\n{err[-3000:]}"
    assert all("results in" not in out for out, _ in outputs[1:]), "only process 0 prints (gloo's C++ may)"
    return outputs[0][0]


def train_two_devices(*args: str) -> None:
    out = subprocess.run(
        command("train", *args, "--num_devices=2"),
        capture_output=True,
        text=True,
        env=os.environ | TWO_DEVICES,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]


def assert_same_state(a: Path, b: Path, step: int) -> None:
    """Both runs saved the same runner state at `step` (a sum over two devices adds the same two numbers)."""
    x, y = final_state(a, step), final_state(b, step)
    assert jax.tree.structure(x) == jax.tree.structure(y)
    for u, v in zip(jax.tree.leaves(x), jax.tree.leaves(y), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-6, atol=1e-7)


def test_two_processes_train_offline_what_one_process_with_two_devices_trains(tmp_path, dataset_dir):  # noqa: F811
    flags = ["--num_steps=20", "--checkpoint_every=10", "--eval_every=0"]
    one, two = tmp_path / "one", tmp_path / "two"
    train_two_devices(*train_args(one, dataset_dir, *flags))
    out = train_distributed(*train_args(two, dataset_dir, *flags))
    assert "mean goal-prompted success" in out
    assert_same_state(one, two, 20)
    assert json.loads((two / "eval.json").read_text())["step"] == 20
    assert [row.split(",")[0] for row in (two / "train.csv").read_text().splitlines()[1:]] == ["10", "20"]


def test_process_flags_need_distributed_and_distributed_takes_every_device(tmp_path):
    out = run("train", "--process_id=1", "--print_config", check=False)
    assert out.returncode != 0 and "--process_id: only with --distributed" in out.stderr
    assert "Traceback" not in out.stderr
    out = run("train", "--distributed", "--num_devices=2", "--print_config", check=False)
    assert out.returncode != 0 and "drop --num_devices" in out.stderr
    out = run("train", "--distributed", f"--workdir={tmp_path}", "--num_steps=1", check=False)  # no coordinator
    assert out.returncode != 0 and "give --coordinator_address" in out.stderr
    assert "Traceback" not in out.stderr and not tmp_path.joinpath("config.json").exists()
    out = run("train", "--distributed", "--print_config", check=False)  # printing joins no cluster
    assert out.returncode == 0 and '"schedule"' in out.stdout, out.stderr
