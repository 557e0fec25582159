"""Configs: every preset of every agent's record builds its agent; flags are parsed by absl, in both spellings,
and the config a run trains is the one its --agent, --preset and --config flags name; unknown names are refused
with the accepted values."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

import agents
from experiments.configs import agent_config
from experiments.runs import build_run, config_differences, resolved_config
from tdjepa.data import make_offline_data, sample_batch

from .helpers import random_data, random_episodes

PRESETS = [(name, preset) for name, record in agents.RECORDS.items() for preset in record.presets]


@pytest.mark.parametrize("name,preset", PRESETS)
def test_every_preset_builds_and_initialises(name, preset):
    config = agent_config(name, preset)
    agent = agents.make(name, config)
    if config.obs_type == "pixels":
        frames = np.zeros((4, 64, 64, 3), np.uint8)
        data = make_offline_data(frames, np.zeros((4, 2), np.float32), np.array([0, 0, 0, 1], bool), config.frame_stack)
    else:
        data = random_data()
    state = agent.init(jax.random.PRNGKey(0), sample_batch(data, jax.random.PRNGKey(0), 2))
    assert state.action_dim == 2 and int(state.step) == 0
    assert agent.sample_z(jax.random.PRNGKey(0), 3).shape == (3, agent.z_dim)


def train_config(*flags: str) -> dict:
    """What `experiments.train` would run with these flags (its --print_config output)."""
    command = [sys.executable, "-m", "experiments.train", "--print_config", *flags]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(out.stderr)
    return json.loads(out.stdout)


def test_flags_take_both_spellings_and_the_config_is_the_one_they_name():
    """`--agent fb --preset paper_ogbench` once trained TD-JEPA's CPU config: now both spellings give FB's
    paper preset for the env's domain, with the overrides on top and the preset's schedule."""
    spaced = ["--agent", "fb", "--preset", "paper_ogbench", "--env", "antmaze-medium-navigate-v0"]
    spaced += ["--config.lr_b", "1e-5", "--num_steps", "7"]
    joined = [f"{a}={b}" for a, b in zip(spaced[::2], spaced[1::2], strict=True)]
    first, second = train_config(*spaced), train_config(*joined)
    assert first == second
    expected = agents.record("fb").config("paper_ogbench", "maze", {"lr_b": 1e-5})
    assert (first["agent"], first["preset"], first["agent_module"]) == ("fb", "paper_ogbench", "agents.fb")
    assert first["agent_config"] == expected.to_dict()
    assert (expected.bc_coeff, expected.lr_b, expected.actor_pessimism) == (0.3, 1e-5, 0.0)
    assert first["schedule"] == {"num_steps": 7, "eval_every": 250_000, "updates_per_call": 1_000}
    # The variant selects its launcher's preset: symmetric TD-JEPA on DMC has an MLP φ to 50.
    symmetric = train_config("--preset", "paper_dmc", "--config.symmetric")["agent_config"]
    assert (symmetric["phi_hidden_layers"], symmetric["phi_dim"], symmetric["symmetric"]) == (2, 50, True)


def test_the_default_command_trains_agents_default_config():
    config = train_config()
    assert (config["agent"], config["preset"], config["env"]) == ("td_jepa", "cpu", "pointmaze-medium-navigate-v0")
    assert config["agent_config"] == agents.default_config("td_jepa").to_dict()
    assert config["agent_config"]["n_step"] == 5
    assert config["schedule"] == {"num_steps": 60_000, "eval_every": 20_000, "updates_per_call": 1_000}
    for record in agents.RECORDS.values():
        assert record.config("cpu").to_dict() == record.default_config().to_dict()


def test_a_field_of_another_agent_or_an_unknown_preset_is_refused_by_name():
    command = [sys.executable, "-m", "experiments.train", "--print_config", "--agent=td_jepa", "--config.lr_b=0.1"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "config.lr_b: not a field of td_jepa's config" in out.stderr
    assert "Traceback" not in out.stderr
    with pytest.raises(ValueError, match="unknown preset 'huge' for agent 'fb'; accepted values: cpu, cpu_pixels"):
        agent_config("fb", "huge")
    with pytest.raises(ValueError, match="config.nope: not a field of fb's config"):
        agent_config("fb", overrides={"nope": 1})


def test_unknown_names_are_refused_with_accepted_values():
    with pytest.raises(ValueError, match="accepted values: td_jepa, fb"):
        agents.make("sac")
    with pytest.raises(ValueError, match="reward_inference"):
        agents.make("fb", agent_config("fb", overrides={"reward_inference": "mean"}))


def test_runs_saved_before_a_config_field_existed_still_resume_and_build():
    current = resolved_config("td_jepa", "pointmaze-medium-navigate-v0", "cpu", 0, 1, agent_config("td_jepa"))
    older = current | {"agent_config": {k: v for k, v in current["agent_config"].items() if k != "actor_type"}}
    assert config_differences(older, current) == []
    changed = current | {"agent_config": current["agent_config"] | {"actor_type": "flow_bc"}}
    assert config_differences(older, changed) == ["config.actor_type: 'td3' -> 'flow_bc'"]
    dataset = dict(zip(("observations", "actions", "terminals"), random_episodes(), strict=True))
    agent, _, _ = build_run(older, dataset)
    assert agent.config.actor_type == "td3"
