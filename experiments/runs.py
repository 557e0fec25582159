"""What train and evaluate share: a run's resolved config (with where its dataset lives and its checksum), the
dataset itself, and the agent, data source and runners it trains."""

import hashlib
import os
from pathlib import Path

import jax
import ml_collections
import numpy as np
from jax.sharding import Sharding

import agents
from envs import exorl, jax_envs
from envs import ogbench as ogb
from envs.ant_expert import default_expert_path
from tdjepa.data import make_offline_data, sample_batch
from tdjepa.host_data import HostSampler
from tdjepa.online import initial_source_state, run_source
from tdjepa.runs import agent_from_config, data_spec, example_batch, saved_agent_config
from tdjepa.training import OfflineSource, RunnerState, init_runners

# Fields that define what is trained; changing one of them on an existing workdir is refused.
IDENTITY_FIELDS = ("agent", "env", "seed", "num_seeds", "agent_config")


def resolved_config(
    agent: str,
    env: str,
    preset: str,
    seed: int,
    num_seeds: int,
    agent_config: ml_collections.ConfigDict,
    dataset: dict | None = None,
) -> dict:
    """The JSON-serialisable description of a run, written next to it and to every checkpoint: what is
    trained, the agent's module (which `tdjepa.load_run` imports), the dataset's file, checksum and shapes,
    and the library versions."""
    return {
        "agent": agent,
        "agent_module": agents.record(agent).agent_class.__module__,
        "env": env,
        "preset": preset,
        "seed": seed,
        "num_seeds": num_seeds,
        "agent_config": agent_config.to_dict(),
        "versions": library_versions(),
    } | (dataset or {})


def library_versions() -> dict[str, str]:
    """Versions that change results (ogbench changed reward timing in 1.2.0)."""
    from importlib.metadata import version

    names = ("jax", "flax", "optax", "ogbench", "mujoco", "gymnasium", "mujoco-mjx", "playground", "brax", "flashbax")
    return {name: version(name) for name in names}


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


def file_checksum(path: Path) -> str:
    """sha256 of a file's bytes (read in chunks: datasets may be larger than memory)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def dataset_record(path: Path, dataset: dict[str, np.ndarray]) -> dict:
    """What a run records of its dataset: the file, its checksum and the shapes its networks are built for."""
    return {
        "dataset": {"path": str(path.absolute()), "sha256": file_checksum(path)},
        "data_spec": data_spec(dataset["observations"], dataset["actions"]),
    }


def folder_checksum(folder: Path) -> str:
    """sha256 over the names and checksums of an ExoRL folder's episode files, in their order."""
    digest = hashlib.sha256()
    for path in exorl.episode_files(folder):
        digest.update(f"{path.name} {file_checksum(path)}\n".encode())
    return digest.hexdigest()


def exorl_record(folder: Path, dataset: dict[str, np.ndarray]) -> dict:
    """What a run trained on an ExoRL folder records of it: the folder, its checksum, its episode count and the
    shapes the networks are built for."""
    return {
        "dataset": {
            "path": str(folder.absolute()),
            "format": "exorl",
            "sha256": folder_checksum(folder),
            "episodes": int(dataset["terminals"].sum()),
        },
        "data_spec": data_spec(dataset["observations"], dataset["actions"]),
    }


def load_exorl(folder: Path, env_id: str) -> dict[str, np.ndarray]:
    """The episodes of ExoRL folder `folder`, checked against JAX body `env_id`'s sizes; a bad folder or file
    ends the command with a message naming it."""
    env = jax_envs.make(env_id)
    try:
        return exorl.load_episodes(folder, env.observation_size, env.action_size, env.mj_model.nq, env.mj_model.nv)
    except exorl.ExorlError as err:
        raise SystemExit(f"error: {err}") from None


def dataset_file(env: str, dataset_dir: str | None) -> Path:
    """Where `env`'s training file is: in dataset_dir, or where OGBench keeps it."""
    return ogb.dataset_path(env, dataset_dir)


def load_dataset(path: Path, env: str, generate_if_missing: bool) -> dict[str, np.ndarray]:
    """The dataset at `path`, generated there first when missing and allowed (antmaze data only when an ant
    expert exists: otherwise loading fails with a message saying how to get the file)."""
    expert_ready = not ogb.dataset_spec(env).needs_expert or default_expert_path().is_file()
    if not path.exists() and generate_if_missing and expert_ready:
        print(f"dataset {path} not found: generating it locally (once)")
        ogb.generate_dataset(env, path.parent, workers=os.cpu_count() or 1)
    try:
        return ogb.load_dataset(path)
    except ogb.DatasetError as err:  # a message naming the file and key, without a traceback
        raise SystemExit(f"error: {err}") from None


def run_dataset(config: dict, dataset_dir: str | None, check: bool = True) -> dict[str, np.ndarray]:
    """The dataset a saved run was trained on: the file (or ExoRL folder) its config records, or `env`'s file in
    (or, ExoRL, the folder) dataset_dir when given; refused with a message when it is gone or, with `check`,
    when its checksum changed."""
    recorded = config.get("dataset")
    episodes = recorded is not None and recorded.get("format") == "exorl"
    if episodes:
        path = Path(dataset_dir or recorded["path"])
    elif dataset_dir is not None or recorded is None:
        path = dataset_file(config["env"], dataset_dir)
    else:
        path = Path(recorded["path"])
    if not path.exists():
        trained_on = recorded["path"] if recorded else "?"
        raise SystemExit(
            f"error: the run's dataset {path} does not exist (it was trained on {trained_on}); "
            "pass --dataset_dir=DIR with that file"
        )
    checksum = folder_checksum if episodes else file_checksum
    if check and recorded is not None and (now := checksum(path)) != recorded["sha256"]:
        raise SystemExit(
            f"error: {path} has changed since the run was trained on it (sha256 {now[:12]}…, recorded "
            f"{recorded['sha256'][:12]}…); pass --dataset_dir with the original {'folder' if episodes else 'file'}, "
            "or --nocheck_dataset to evaluate on this one anyway"
        )
    if episodes:
        return load_exorl(path, config["env"])
    return load_dataset(path, config["env"], generate_if_missing=False)


def build_run(config: dict, dataset: dict[str, np.ndarray], host_data: bool = False, sharding: Sharding | None = None):
    """The agent, its data source and freshly initialised runners (one per seed).

    The source holds the dataset on the device (sampled inside jit), or with `host_data` in host memory
    (sampled by a host thread, a chunk ahead, placed with `sharding`); only one seed can use the latter."""
    agent = agent_from_config(config)
    batch_size, frame_stack = agent.config.batch_size, agent.config.frame_stack
    arrays = (dataset["observations"], dataset["actions"], dataset["terminals"])
    if host_data:
        source = HostSampler(*arrays, batch_size, config["seed"], frame_stack, sharding=sharding, horizon=agent.horizon)
        example = source.example_batch()
    else:
        data = make_offline_data(*arrays, frame_stack=frame_stack)
        source = OfflineSource(data, batch_size, agent.horizon)
        example = sample_batch(data, jax.random.PRNGKey(0), 2)
    seeds = [config["seed"] + i for i in range(config["num_seeds"])]
    runners: RunnerState = init_runners(agent, seeds, example)
    return agent, source, runners


def online_record(env_id: str) -> dict:
    """What an online run records of its env: that it is online, and the shapes its networks are built for."""
    env = jax_envs.make(env_id)
    return {
        "online": True,
        "data_spec": {
            "observation_shape": [env.observation_size],
            "observation_dtype": "float32",
            "action_dim": env.action_size,
        },
    }


def build_online_run(config: dict):
    """The agent, its online source (vmapped envs and replay buffer) and fresh runners, one per seed."""
    agent = agent_from_config(config)
    source = run_source(config, agent)
    seeds = [config["seed"] + i for i in range(config["num_seeds"])]
    example = example_batch(config["data_spec"], agent.horizon)
    runners = init_runners(agent, seeds, example, lambda seed: initial_source_state(source, seed))
    return agent, source, runners
