"""What train and evaluate share: a run's resolved config, its dataset and its runner template."""

import json
import os
from pathlib import Path

import jax
import ml_collections
import numpy as np
from jax.sharding import Sharding

import agents
from envs import ogbench as ogb
from envs.ant_expert import default_expert_path
from tdjepa.checkpoints import Checkpointer
from tdjepa.data import make_offline_data, sample_batch
from tdjepa.host_data import HostSampler
from tdjepa.training import OfflineSource, RunnerState, init_runners

CONFIG_FILE = "config.json"
# Fields that define what is trained; changing one of them on an existing workdir is refused.
IDENTITY_FIELDS = ("agent", "env", "seed", "num_seeds", "agent_config")


def resolved_config(
    agent: str, env: str, preset: str, seed: int, num_seeds: int, agent_config: ml_collections.ConfigDict
) -> dict:
    """The JSON-serialisable description of a run, written next to it and to every checkpoint."""
    return {
        "agent": agent,
        "env": env,
        "preset": preset,
        "seed": seed,
        "num_seeds": num_seeds,
        "agent_config": agent_config.to_dict(),
        "versions": library_versions(),
    }


def library_versions() -> dict[str, str]:
    """Versions that change results (ogbench changed reward timing in 1.2.0)."""
    from importlib.metadata import version

    return {name: version(name) for name in ("jax", "flax", "optax", "ogbench", "mujoco", "gymnasium")}


def saved_agent_config(config: dict) -> dict:
    """A saved run's agent config, with today's defaults for fields added since it was written (their
    defaults reproduce the behaviour from before they existed), so older runs still resume and evaluate."""
    return agents.default_config(config["agent"]).to_dict() | config["agent_config"]


def config_differences(saved: dict, current: dict) -> list[str]:
    """Identity fields whose values differ between a saved run and the requested one."""
    saved = saved | {"agent_config": saved_agent_config(saved)}
    diffs = []
    for field in IDENTITY_FIELDS:
        if field == "agent_config":
            keys = sorted(set(saved[field]) | set(current[field]))
            diffs += [
                f"config.{k}: {saved[field].get(k)!r} -> {current[field].get(k)!r}"
                for k in keys
                if saved[field].get(k) != current[field].get(k)
            ]
        elif saved.get(field) != current.get(field):
            diffs.append(f"{field}: {saved.get(field)!r} -> {current.get(field)!r}")
    return diffs


def write_json(path: Path, content: dict) -> None:
    """Writes JSON through a temporary name so that no half-written file is left behind."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(content, indent=2))
    tmp.replace(path)


def load_dataset(env: str, dataset_dir: str | None, generate_if_missing: bool) -> dict[str, np.ndarray]:
    """The training dataset of `env`, generated locally first when missing and allowed (antmaze data only
    when an ant expert exists: otherwise loading fails with a message saying how to get the file)."""
    path = ogb.dataset_path(env, dataset_dir)
    expert_ready = not ogb.dataset_spec(env).needs_expert or default_expert_path().is_file()
    if not path.exists() and generate_if_missing and expert_ready:
        print(f"dataset {path} not found: generating it locally (once)")
        ogb.generate_dataset(env, dataset_dir, workers=os.cpu_count() or 1)
    try:
        return ogb.load_dataset(path)
    except ogb.DatasetError as err:  # a message naming the file and key, without a traceback
        raise SystemExit(f"error: {err}") from None


def make_agent(config: dict):
    """The agent of a resolved run config; a bad value of an agent config field raises ValueError naming it."""
    return agents.make(config["agent"], ml_collections.ConfigDict(saved_agent_config(config)))


def build_run(config: dict, dataset: dict[str, np.ndarray], host_data: bool = False, sharding: Sharding | None = None):
    """The agent, its data source and freshly initialised runners (one per seed).

    The source holds the dataset on the device (sampled inside jit), or with `host_data` in host memory
    (sampled by a host thread, a chunk ahead, placed with `sharding`); only one seed can use the latter."""
    agent = make_agent(config)
    agent_config = agent.config
    arrays = (dataset["observations"], dataset["actions"], dataset["terminals"])
    horizon = agent_config.get("n_step", 1)
    if host_data:
        source = HostSampler(
            *arrays,
            agent_config.batch_size,
            config["seed"],
            agent_config.frame_stack,
            sharding=sharding,
            horizon=horizon,
        )
        example = source.example_batch()
    else:
        data = make_offline_data(*arrays, frame_stack=agent_config.frame_stack)
        source = OfflineSource(data, agent_config.batch_size, horizon)
        example = sample_batch(data, jax.random.PRNGKey(0), 2)
    seeds = [config["seed"] + i for i in range(config["num_seeds"])]
    runners: RunnerState = init_runners(agent, seeds, example)
    return agent, source, runners


def restore_run(checkpointer: Checkpointer, step: int, config: dict, dataset: dict[str, np.ndarray]):
    """The agent and the runners (one per seed) saved at `step`, built without a device copy of the dataset."""
    agent, _, template = build_run(config, dataset, host_data=True)
    runners = checkpointer.restore(step, template)
    checkpointer.close()
    return agent, runners
