"""Open-field control probe: `python -m experiments.control_probe [--agent=td_jepa] [--config.FIELD=VALUE]`.

Trains an agent offline on a point mass in an open box, s' = clip(s + step·a), from noisy navigation to random
waypoints, then prompts it with goals from random starts. Nothing is hard here but control (no walls, a
2-D state, dense coverage), so a config that fails this fails at control, not at exploration or at the
representation; it screens a config change in minutes before a maze run of a quarter of an hour.
"""

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

import agents
from experiments.flag_utils import agent_config_from_flags, define_agent_flags
from tdjepa.data import make_offline_data, sample_batch
from tdjepa.training import OfflineSource, compile_chunk, init_runner


@dataclasses.dataclass(frozen=True)
class PointField:
    """A point mass in [0, size]²; one step moves it by step_size·a (a clipped to [-1, 1]) and stops it at the
    walls. A goal is reached within `tolerance`; episodes last long enough to cross the box five times."""

    size: float = 10.0
    step_size: float = 0.1
    tolerance: float = 0.5

    @property
    def horizon(self) -> int:
        return round(5 * self.size / self.step_size)

    def step(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return np.clip(states + self.step_size * np.clip(actions, -1.0, 1.0), 0.0, self.size).astype(np.float32)

    def uniform_states(self, rng: np.random.Generator, count: int) -> np.ndarray:
        return rng.uniform(0.0, self.size, (count, 2)).astype(np.float32)


def collect(
    field: PointField, num_episodes: int, episode_length: int, seed: int, noise: float = 0.5
) -> dict[str, np.ndarray]:
    """Episodes that head for a random waypoint (a new one on arrival) with N(0, noise²) action noise, all
    stepped at once; flattened episode after episode as OGBench stores them (terminals mark episode ends)."""
    rng = np.random.default_rng(seed)
    states = field.uniform_states(rng, num_episodes)
    waypoints = field.uniform_states(rng, num_episodes)
    observations, actions = [], []
    for _ in range(episode_length):
        arrived = np.linalg.norm(waypoints - states, axis=1) < field.tolerance
        waypoints[arrived] = field.uniform_states(rng, int(arrived.sum()))
        offset = waypoints - states
        heading = offset / np.maximum(np.linalg.norm(offset, axis=1, keepdims=True), 1e-6)
        action = np.clip(heading + rng.normal(0.0, noise, heading.shape), -1.0, 1.0).astype(np.float32)
        observations.append(states)
        actions.append(action)
        states = field.step(states, action)
    terminals = np.zeros((num_episodes, episode_length), bool)
    terminals[:, -1] = True
    return {
        "observations": episode_major(observations),
        "actions": episode_major(actions),
        "terminals": terminals.reshape(-1),
    }


def episode_major(steps: list[np.ndarray]) -> np.ndarray:
    """[time][episode, dim] arrays as one (episode · time, dim) array, each episode's steps together."""
    stacked = np.stack(steps)
    return np.swapaxes(stacked, 0, 1).reshape(-1, stacked.shape[-1])


def reach_goals(field: PointField, policy, num_goals: int, seed: int) -> dict[str, float]:
    """Runs `policy(states, goals) -> actions` from random starts towards random goals for the field's horizon:
    the fraction that come within the tolerance (success) and within twice it, and the median final distance."""
    rng = np.random.default_rng(seed)
    states, goals = field.uniform_states(rng, num_goals), field.uniform_states(rng, num_goals)
    closest = np.linalg.norm(states - goals, axis=1)
    for _ in range(field.horizon):
        states = field.step(states, policy(states, goals))
        closest = np.minimum(closest, np.linalg.norm(states - goals, axis=1))
    return {
        "success": float(np.mean(closest < field.tolerance)),
        "within_2x_tolerance": float(np.mean(closest < 2 * field.tolerance)),
        "median_final_distance": float(np.median(np.linalg.norm(states - goals, axis=1))),
    }


def random_policy(seed: int):
    """Uniform random actions in [-1, 1]² (the baseline every trained policy is compared with)."""
    rng = np.random.default_rng(seed)
    return lambda states, goals: rng.uniform(-1.0, 1.0, states.shape).astype(np.float32)


def goal_prompted_policy(agent, state):
    """The agent's zero-shot policy prompted with each goal's own z (z from the goal observation, as evaluation)."""
    act = jax.jit(lambda observations, goals: agent.act(state, observations, agent.infer_z_goal(state, goals)))
    return lambda states, goals: np.asarray(act(jnp.asarray(states), jnp.asarray(goals)))


def train_and_probe(
    agent_name: str,
    config,
    field: PointField,
    *,
    num_updates: int,
    eval_every: int,
    num_episodes: int = 500,
    episode_length: int = 200,
    num_goals: int = 100,
    seed: int = 0,
    log=print,
) -> list[dict]:
    """Trains on `collect`'s data and probes goal reaching every `eval_every` updates; one row per evaluation."""
    if eval_every < 1 or num_updates % eval_every:
        raise ValueError(f"eval_every must divide num_updates, got {eval_every} and {num_updates}")
    data = make_offline_data(**collect(field, num_episodes, episode_length, seed))
    agent = agents.make(agent_name, config)
    runner = init_runner(agent, seed, sample_batch(data, jax.random.PRNGKey(seed), 2))
    source = OfflineSource(data, config.batch_size, agent.horizon)
    chunk = compile_chunk(agent.update, eval_every)
    rows, start = [], time.perf_counter()
    for step in range(eval_every, num_updates + 1, eval_every):
        runner, _ = chunk(runner, source)
        reached = reach_goals(field, goal_prompted_policy(agent, runner.agent), num_goals, seed + 1)
        rows.append({"updates": step} | reached | {"seconds": round(time.perf_counter() - start, 1)})
        log(format_row(rows[-1]))
    return rows


def format_row(row: dict) -> str:
    """One printed line: each key followed by its value, floats to two decimals."""
    return "  ".join(
        f"{key} {value:.2f}" if isinstance(value, float) else f"{key} {value}" for key, value in row.items()
    )


define_agent_flags("td_jepa", schedule_flags=False)
flags.DEFINE_integer("num_updates", 15_000, "Gradient updates.")
flags.DEFINE_integer("eval_every", 5_000, "Updates between goal-reaching evaluations (must divide --num_updates).")
flags.DEFINE_float("step_size", 0.1, "Distance one unit action moves the point (the box is 10 wide, tolerance 0.5).")
flags.DEFINE_integer("num_goals", 100, "Start/goal pairs per evaluation.")
flags.DEFINE_integer("seed", 0, "Seed of the data, the networks and the start/goal pairs.")
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.step_size <= 0:
        raise app.UsageError(f"--step_size must be positive, got {FLAGS.step_size}")
    if FLAGS.eval_every < 1 or FLAGS.num_updates % FLAGS.eval_every:
        raise app.UsageError(f"--eval_every must divide --num_updates, got {FLAGS.eval_every} and {FLAGS.num_updates}")
    config = agent_config_from_flags(None)
    field = PointField(step_size=FLAGS.step_size)
    baseline = reach_goals(field, random_policy(FLAGS.seed), FLAGS.num_goals, FLAGS.seed + 1)
    print(format_row({"policy": "uniform random"} | baseline), flush=True)
    train_and_probe(
        FLAGS.agent,
        config,
        field,
        num_updates=FLAGS.num_updates,
        eval_every=FLAGS.eval_every,
        num_goals=FLAGS.num_goals,
        seed=FLAGS.seed,
        log=lambda line: print(line, flush=True),
    )


if __name__ == "__main__":
    app.run(main)
