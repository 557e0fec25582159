"""Named configs: every preset builds its agent; unknown names are refused with the accepted values."""

import jax
import numpy as np
import pytest

import agents
from experiments.configs import PIXEL_PRESETS, PRESETS, SCHEDULES, agent_config
from experiments.flag_utils import peek_flag
from experiments.runs import build_run, config_differences, resolved_config
from tdjepa.data import make_offline_data, sample_batch

from .helpers import random_data, random_episodes


@pytest.mark.parametrize("name,preset", [(a, p) for a, presets in PRESETS.items() for p in presets])
def test_every_preset_builds_and_initialises(name, preset):
    config = agent_config(name, preset)
    agent = agents.make(name, config)
    if preset in PIXEL_PRESETS:
        frames = np.zeros((4, 64, 64, 3), np.uint8)
        data = make_offline_data(frames, np.zeros((4, 2), np.float32), np.array([0, 0, 0, 1], bool), config.frame_stack)
    else:
        data = random_data()
    state = agent.init(jax.random.PRNGKey(0), sample_batch(data, jax.random.PRNGKey(0), 2))
    assert state.action_dim == 2 and int(state.step) == 0
    assert agent.sample_z(jax.random.PRNGKey(0), 3).shape == (3, agent.z_dim)
    assert set(SCHEDULES[preset]) == {"num_steps", "eval_every", "updates_per_call"}


@pytest.mark.parametrize("name", ["td_jepa", "fb"])
def test_paper_ogbench_presets_use_the_flow_bc_actor_with_the_domain_bc_weight(name):
    for preset in ("paper_ogbench", "paper_ogbench_pixels"):
        maze = agent_config(name, preset, "antmaze-large-navigate-v0")
        manipulation = agent_config(name, preset, "visual-puzzle-3x3-play-v0")
        assert (maze.actor_type, maze.bc_coeff, manipulation.bc_coeff) == ("flow_bc", 0.3, 3.0)
        assert (maze.batch_size, maze.discount, maze.flow_hidden_layers) == (256, 0.99, 4)
    assert agent_config(name, "paper_ogbench_pixels").frame_stack == 3
    assert SCHEDULES["paper_ogbench"] == dict(num_steps=1_000_000, eval_every=250_000, updates_per_call=1_000)


def test_paper_presets_restore_the_reference_optimisation():
    config = agent_config("td_jepa", "paper_dmc")
    assert (config.batch_size, config.predictor_hidden_dim, config.phi_dim, config.psi_dim) == (1024, 1024, 256, 50)
    assert (config.lr_psi, config.encoder_tau, config.bc_coeff, config.normalize_obs) == (1e-4, 0.001, 0.0, False)
    # One-step targets as the reference, where the CPU preset bootstraps after 5 steps.
    assert [agent_config("td_jepa", p).n_step for p in ("paper_dmc", "paper_ogbench", "cpu")] == [1, 1, 5]


def test_unknown_names_are_refused_with_accepted_values():
    with pytest.raises(ValueError, match="accepted values: td_jepa, fb"):
        agents.make("sac")
    with pytest.raises(ValueError, match="paper_dmc"):
        agent_config("fb", "huge")
    with pytest.raises(ValueError, match="reward_inference"):
        config = agents.default_config("fb")
        config.reward_inference = "mean"
        agents.make("fb", config)


def test_flags_are_peeked_before_parsing():
    assert peek_flag("agent", "td_jepa", ["--agent=fb", "--seed=3"]) == "fb"
    assert peek_flag("preset", "cpu", ["--agent=fb"]) == "cpu"


def test_runs_saved_before_a_config_field_existed_still_resume_and_build():
    current = resolved_config("td_jepa", "pointmaze-medium-navigate-v0", "cpu", 0, 1, agent_config("td_jepa"))
    older = current | {"agent_config": {k: v for k, v in current["agent_config"].items() if k != "actor_type"}}
    assert config_differences(older, current) == []
    changed = current | {"agent_config": current["agent_config"] | {"actor_type": "flow_bc"}}
    assert config_differences(older, changed) == ["config.actor_type: 'td3' -> 'flow_bc'"]
    dataset = dict(zip(("observations", "actions", "terminals"), random_episodes(), strict=True))
    agent, _, _ = build_run(older, dataset)
    assert agent.config.actor_type == "td3"
