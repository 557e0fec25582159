"""The README stays true: its Python example runs on a trained run, every `python -m experiments.*` command in
it is accepted as written, and it stays short.

Each command runs with the smallest settings appended (absl: the last occurrence of a flag wins) where no
other test runs its module: train commands resolve their config (--print_config), collect and benchmark run.
The commands whose modules the end-to-end tests run for real (evaluate, diagnose, suite) are parsed by their
module's own flags, so a renamed or mistyped flag in the README fails here."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .test_end_to_end import ENV, dataset_dir, run, train_args  # noqa: F401 (dataset_dir: fixture)

README = Path(__file__).resolve().parents[1] / "README.md"
RUN_IN_README = "runs/default_td_jepa"
RUN_FOR_REAL = {
    "train": ["--print_config"],
    "collect": ["--num_episodes=1", "--episode_length=5", "--workers=1"],
    "benchmark": ["--agents=td_jepa", "--sizes=small", "--seconds=0.01", "--updates_per_call=2", "--matmul_size=64"],
}
RUN_ELSEWHERE = {  # module -> the test that runs it
    "evaluate": "tests/test_end_to_end.py::test_train_then_evaluate_writes_results",
    "diagnose": "tests/test_end_to_end.py::test_train_then_evaluate_writes_results",
    "suite": "tests/test_suite.py",
    "train_expert": "tests/test_body_experts.py",
    "record_clips": "tests/test_body_experts.py",
    "coverage": "tests/test_exploration.py",
    "collect --env=dmc-": "tests/test_exploration.py",  # a JAX body's collector: in-process and its refusals
}
PARSE_FLAGS = "import sys; from absl import flags; import experiments.{module}; flags.FLAGS(sys.argv); print('parsed')"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.S)


def readme_commands() -> list[str]:
    """Every `python -m experiments.*` line of the README's bash blocks, comments dropped."""
    lines = [line.split("#")[0].strip() for block in code_blocks("bash") for line in block.splitlines()]
    return [line for line in lines if line.startswith("python -m experiments.")]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, dataset_dir):  # noqa: F811
    workdir = tmp_path_factory.mktemp("readme") / "run"
    run("train", *train_args(workdir, dataset_dir, "--num_steps=10", "--eval_every=0"))
    return workdir


def test_the_python_example_loads_a_run_prompts_it_and_acts(tiny_run):
    (example,) = code_blocks("python")
    assert RUN_IN_README in example
    script = example.replace(RUN_IN_README, str(tiny_run))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "'success'" in out.stdout and "'return'" in out.stdout


@pytest.mark.parametrize("command", readme_commands())
def test_every_readme_command_is_accepted_as_written(command, tmp_path):
    module = command.split()[2].removeprefix("experiments.")
    args = command.split()[3:]
    if module == "collect" and "--env=dmc-" in command:
        module = "collect --env=dmc-"
    if module in RUN_FOR_REAL:
        out_dir = [f"--out={tmp_path}"] if module == "collect" else []
        run(module, *args, *RUN_FOR_REAL[module], *out_dir)
        return
    assert module in RUN_ELSEWHERE, f"no test runs the README's {module} command"
    parse = [sys.executable, "-c", PARSE_FLAGS.format(module=module.split()[0]), *args]
    out = subprocess.run(parse, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "parsed" in out.stdout, out.stderr


def test_the_readme_is_short():
    assert len(README.read_text().encode()) < 13_000
