"""The directional ant expert that collects antmaze data, trained online with SAC as OGBench trains its own.

OGBench drives the maze ant with a SAC policy trained on `online-ant-xy-v0`: the gymnasium ant (10 Hz,
restricted joints) whose observation ends with a unit direction z and whose reward is the xy displacement
along z, with z redrawn every 100 steps. Its `main_sac.py` trains 400k env steps (10k random seed steps,
one update per step); this module does the same with `tdjepa.sac` and writes the actor to an npz file.
"""

from collections.abc import Callable
from pathlib import Path

import gymnasium
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from tqdm import trange

from envs.ogbench_common import DatasetError, seeded_global_numpy
from envs.ogbench_data import DEFAULT_DATASET_DIR, PathLike
from tdjepa import sac

DEFAULT_EXPERT_PATH = DEFAULT_DATASET_DIR.parent / "experts" / "ant-xy.npz"  # where train_expert writes
# The expert this project trained with `experiments.train_expert` (README: how, and how well it walks), shipped
# so that antmaze data can be generated without the 30-minute training run.
SHIPPED_EXPERT_PATH = Path(__file__).parent / "experts" / "ant-xy.npz"
OBS_DIM, ACTION_DIM = 29, 8  # 27 ant joint/velocity entries without x, y; then the 2-d direction.
DIRECTION_INTERVAL = 100  # Steps between direction draws (OGBench's GymXYWrapper setting for the ant).
_META_KEY = "metadata"
ExpertFn = Callable[[np.ndarray], np.ndarray]


class ExpertError(DatasetError):
    """A missing or unusable expert file; the message names the file and how to make one."""


def make_directional_ant() -> gymnasium.Env:
    """`online-ant-xy-v0` as OGBench's `make_online_env` builds it (its direction draws use np.random)."""
    import ogbench.online_locomotion  # noqa: F401  (registers online-ant-v0)
    from ogbench.online_locomotion.wrappers import GymXYWrapper

    return GymXYWrapper(gymnasium.make("online-ant-v0"), resample_interval=DIRECTION_INTERVAL)


def train_expert(
    out: PathLike = DEFAULT_EXPERT_PATH,
    num_steps: int = 400_000,
    seed: int = 0,
    seed_steps: int = 10_000,
    updates_per_call: int = 50,
    eval_episodes: int = 5,
    progress: bool = True,
    config: ml_collections.ConfigDict | None = None,
) -> dict:
    """Trains the expert for `num_steps` env steps, evaluates it and writes it to `out`; returns the record.

    Updates start after `seed_steps` uniformly random steps, one per env step, run `updates_per_call` at
    a time in one jitted scan (the policy acting in between is at most that many updates old).
    """
    if num_steps <= seed_steps or updates_per_call < 1 or seed_steps < 1:
        raise ValueError(f"need num_steps > seed_steps >= 1 and updates_per_call >= 1, got {num_steps}, {seed_steps}")
    config = sac.default_config() if config is None else config
    agent = sac.SAC(config, ACTION_DIM)
    act_key, update_key, init_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    state = agent.init(init_key, OBS_DIM)
    rng = np.random.default_rng([seed, 1])
    env = make_directional_ant()
    buffer = {
        name: np.zeros((num_steps, *shape), np.float32)
        for name, shape in (("observations", (OBS_DIM,)), ("actions", (ACTION_DIM,)), ("rewards", ()))
    } | {"masks": np.zeros(num_steps, np.float32), "next_observations": np.zeros((num_steps, OBS_DIM), np.float32)}
    returns, episode_return, metrics = [], 0.0, {}
    with seeded_global_numpy([seed, 2]):
        ob, _ = env.reset(seed=seed)
        bar = trange(num_steps, desc="ant expert (SAC)", disable=not progress)
        for step in bar:
            if step < seed_steps:
                action = rng.uniform(-1.0, 1.0, ACTION_DIM)
            else:
                action = np.asarray(agent.act(state.params, ob[None], jax.random.fold_in(act_key, step))[0])
            next_ob, reward, terminated, truncated, _ = env.step(action)
            for name, value in zip(buffer, (ob, action, reward, 1.0 - terminated, next_ob), strict=True):
                buffer[name][step] = value
            episode_return += reward
            ob = next_ob
            if terminated or truncated:
                returns.append(episode_return)
                episode_return, (ob, _) = 0.0, env.reset()
            if step + 1 >= seed_steps and (step + 1) % updates_per_call == 0:
                index = rng.integers(0, step + 1, (updates_per_call, config.batch_size))
                batches = {name: jnp.asarray(values[index]) for name, values in buffer.items()}
                state, metrics = agent.update_many(state, batches, jax.random.fold_in(update_key, step))
                if returns and (step + 1) % 5000 == 0:
                    bar.set_postfix(ret=f"{np.mean(returns[-10:]):.2f}", temp=f"{float(metrics['temperature']):.3f}")
        evaluation = evaluate_expert(agent, state.params, eval_episodes, seed)
    record = {
        "producer": "envs.ant_expert.train_expert",
        "env": "online-ant-xy-v0 (gymnasium online-ant-v0 + GymXYWrapper, resample 100)",
        "num_steps": num_steps,
        "seed_steps": seed_steps,
        "seed": seed,
        "sac_config": config.to_dict(),
        "last_10_train_returns": float(np.mean(returns[-10:])) if returns else None,
        "final_metrics": {name: float(value) for name, value in metrics.items()},
        **evaluation,
    }
    sac.save_actor(out, state.params["actor"], record)
    return record


def evaluate_expert(agent: sac.SAC, params: dict, episodes: int, seed: int) -> dict:
    """Mean return (xy displacement along the commanded direction) of the deterministic policy."""
    env = make_directional_ant()
    returns, lengths = [], []
    for episode in range(episodes):
        ob, _ = env.reset(seed=seed + 10_000 + episode)
        total, done, length = 0.0, False, 0
        while not done:
            ob, reward, terminated, truncated, _ = env.step(np.asarray(agent.act(params, ob[None])[0]))
            total, length, done = total + reward, length + 1, terminated or truncated
        returns.append(total)
        lengths.append(length)
    return {"eval_episodes": episodes, "eval_return": float(np.mean(returns)), "eval_length": float(np.mean(lengths))}


def default_expert_path() -> Path:
    """The user's own expert at DEFAULT_EXPERT_PATH when there is one, else the one shipped with the library."""
    return DEFAULT_EXPERT_PATH if DEFAULT_EXPERT_PATH.is_file() else SHIPPED_EXPERT_PATH


def load_expert(path: PathLike | None = None) -> tuple[ExpertFn, dict]:
    """The expert's deterministic policy (tanh of the mean, as OGBench samples at temperature 0) on a
    batch of 29-d observations, and the record of how it was trained (default: `default_expert_path()`)."""
    path = Path(path).expanduser() if path is not None else default_expert_path()
    if not path.is_file():
        raise ExpertError(
            f"no ant expert at {path}: antmaze data is collected by a directional ant policy; train one with "
            f"`python -m experiments.train_expert --out={path}` (OGBench's 400k SAC steps) or pass --expert"
        )
    try:
        agent, params, record = sac.load_actor(path, OBS_DIM, ACTION_DIM)
    except sac.ActorFileError as error:
        raise ExpertError(f"{path} is not an ant expert written by experiments.train_expert: {error}") from error
    return lambda observations: np.asarray(agent.act(params, np.asarray(observations, np.float32))), record
