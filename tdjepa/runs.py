"""Trained runs from Python: `tdjepa.load_run(workdir)` gives back the agent, one seed's state and the run's
config, ready to prompt and act (see `tdjepa.zero_shot` for the prompts and the protocol).

A run folder (written by `experiments.train`) holds `config.json` and orbax checkpoints under
`checkpoints/<step>/`, each with the config it was saved with. The config names the agent's module, whose
`RECORD` builds the agent, and the shapes of the data it was trained on, so no dataset is needed to load it.
"""

import importlib
import json
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from tdjepa.agent import AgentRecord, ZeroShotAgent
from tdjepa.checkpoints import Checkpointer
from tdjepa.data import Batch
from tdjepa.online import initial_source_state, run_source
from tdjepa.state import AgentState
from tdjepa.training import RunnerState, init_runners, seed_slice

CONFIG_FILE = "config.json"


class LoadedRun(NamedTuple):
    """One seed of a trained run: the agent, its state at the loaded step, and the run's config."""

    agent: ZeroShotAgent
    state: AgentState
    config: dict


def write_json(path: Path, content: dict) -> None:
    """Writes JSON through a temporary name so that no half-written file is left behind."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(content, indent=2))
    tmp.replace(path)


def agent_record(config: dict) -> AgentRecord:
    """The record of a run's agent: `RECORD` of the module its config names (agents.<agent> by default)."""
    module = importlib.import_module(config.get("agent_module", f"agents.{config['agent']}"))
    return module.RECORD


def saved_agent_config(config: dict) -> dict:
    """A saved run's agent config, with today's defaults for fields added since it was written (their
    defaults reproduce the behaviour from before they existed), so older runs still resume and evaluate."""
    return agent_record(config).default_config().to_dict() | config["agent_config"]


def agent_from_config(config: dict) -> ZeroShotAgent:
    """The agent of a run's config; a bad value of an agent config field raises ValueError naming it."""
    return agent_record(config).make(ml_collections.ConfigDict(saved_agent_config(config)))


def data_spec(observations: np.ndarray, actions: np.ndarray) -> dict:
    """What a run records of its data, enough to rebuild its networks without the data."""
    return {
        "observation_shape": list(observations.shape[1:]),
        "observation_dtype": str(observations.dtype),
        "action_dim": int(actions.shape[-1]),
    }


def example_batch(spec: dict, horizon: int = 1, size: int = 2) -> Batch:
    """A batch of zeros shaped like the run's data (what `init` needs to build parameters)."""
    obs = jnp.zeros((size, *spec["observation_shape"]), spec["observation_dtype"])
    batch = Batch(obs, jnp.zeros((size, spec["action_dim"])), obs, jnp.ones(size))
    if horizon == 1:
        return batch
    future = jnp.zeros((size, horizon, *spec["observation_shape"]), spec["observation_dtype"])
    return batch.replace(future_observations=future, future_steps=jnp.full(size, horizon))


def seeds(config: dict) -> list[int]:
    """The seeds a run trains, in the order of its stacked states."""
    return [config["seed"] + i for i in range(config["num_seeds"])]


def checkpoint_steps(workdir: str | Path) -> list[int]:
    """The steps saved in a run folder (oldest first)."""
    checkpointer = Checkpointer(workdir)
    try:
        return checkpointer.all_steps()
    finally:
        checkpointer.close()


def restore_runners(workdir: str | Path, step: int | None = None) -> tuple[ZeroShotAgent, RunnerState, dict, int]:
    """The agent, the runners of every seed (stacked) at `step` (the latest when None), the config saved with
    that checkpoint, and the step. A missing checkpoint or step raises FileNotFoundError naming what exists."""
    workdir = Path(workdir)
    checkpointer = Checkpointer(workdir)
    try:
        steps = checkpointer.all_steps()
        if not steps:
            raise FileNotFoundError(f"{workdir}: no checkpoint under {workdir / 'checkpoints'}")
        step = steps[-1] if step is None else step
        if step not in steps:
            raise FileNotFoundError(f"{workdir}: no checkpoint at step {step}; available: {steps}")
        config = checkpointer.config(step)
        if "data_spec" not in config:
            raise ValueError(f"{workdir}: its config predates data_spec; retrain it with this version to load it")
        agent = agent_from_config(config)
        example = example_batch(config["data_spec"], agent.horizon)
        if config.get("online"):  # shapes only: the buffer and envs are restored, not built
            source = run_source(config, agent)
            template = jax.eval_shape(
                lambda: init_runners(agent, seeds(config), example, lambda seed: initial_source_state(source, seed))
            )
        else:
            template = init_runners(agent, seeds(config), example)
        return agent, checkpointer.restore(step, template), config, step
    finally:
        checkpointer.close()


def load_run(workdir: str | Path, step: int | None = None, seed: int | None = None) -> LoadedRun:
    """The agent, the state of `seed` (the run's first seed when None) at `step` (the latest when None) and
    the run's config, from a folder `experiments.train` wrote."""
    agent, runners, config, _ = restore_runners(workdir, step)
    trained = seeds(config)
    seed = trained[0] if seed is None else seed
    if seed not in trained:
        raise ValueError(f"{workdir}: seed {seed} was not trained; its seeds: {trained}")
    return LoadedRun(agent, seed_slice(runners.agent, trained.index(seed)), config)
