"""Zero-shot evaluation of an online run in its own vmapped environment.

Every task of the body is prompted twice: by reward (z inferred from buffer transitions whose next states'
physics are relabelled by the task's reward function, as the reference's DMC evaluation relabels stored
physics) and by goal (z = the goal latent of the buffer state with the highest task reward). Each prompt's
policy is rolled out for `num_episodes` full episodes from the same initial states, next to the random-z
policy, whose return on every task is the baseline: RANDOM_Z_EPISODES_PER_EPISODE times as many episodes,
each with its own prior z (one policy per z, so its return varies more across episodes than a prompt's). All
rollouts run together in one jitted scan; returns sum the task's reward over the episode, stopping at a
termination.
"""

import jax
import jax.numpy as jnp
import numpy as np

from tdjepa.agent import ZeroShotAgent
from tdjepa.online import OnlineSource, OnlineState
from tdjepa.state import AgentState
from tdjepa.training import seed_slice

ONLINE_MODES = ("reward", "goal")
RANDOM_Z_EPISODES_PER_EPISODE = 4


def prompt_latents(
    agent: ZeroShotAgent, state: AgentState, env, samples: dict[str, jnp.ndarray]
) -> dict[str, jnp.ndarray]:
    """Per mode, the (num_tasks, d) latents of every task of `env` from buffer `samples`."""
    rewards = env.task_rewards(env.tasks)(samples["next_qpos"], samples["next_qvel"], samples["actions"])
    reward_z = jax.vmap(lambda r: agent.infer_z_reward(state, samples["next_observations"], r), 1)(rewards)
    goals = samples["next_observations"][jnp.argmax(rewards, axis=0)]
    return {"reward": reward_z, "goal": agent.infer_z_goal(state, goals)}


def rollout_returns(
    agent: ZeroShotAgent,
    state: AgentState,
    env,
    z: jnp.ndarray,
    reset_keys: jnp.ndarray,
    act_key: jax.Array,
    positions: bool = False,
):
    """(M, num_tasks) returns of M episodes, episode i acting with z[i] from the reset of reset_keys[i]; with
    `positions`, also every step's qpos (T, M, nq)."""
    score = env.task_rewards(env.tasks)

    def step(carry, key):
        env_state, alive, returns = carry
        action = agent.act(state, env_state.obs, z, key if agent.samples_at_evaluation else None)
        env_state = jax.vmap(env.step)(env_state, action)
        qpos, qvel = env.physics(env_state)
        returns = returns + alive[:, None] * score(qpos, qvel, action)
        alive = alive * (1.0 - env_state.done * (1.0 - env.truncated(env_state)))
        return (env_state, alive, returns), qpos if positions else None

    env_state = jax.vmap(env.reset)(reset_keys)
    num = z.shape[0]
    carry = (env_state, jnp.ones(num), jnp.zeros((num, len(env.tasks))))
    keys = jax.random.split(act_key, env.spec.episode_length)
    (_, _, returns), trajectory = jax.lax.scan(step, carry, keys)
    return (returns, trajectory) if positions else returns


def evaluate_online(
    agent: ZeroShotAgent,
    state: AgentState,
    source: OnlineSource,
    source_state: OnlineState,
    *,
    num_episodes: int,
    num_inference_samples: int,
    seed: int,
) -> list[dict]:
    """Rows {task, mode, return, random_z_return} per task and mode (mean over episodes)."""
    env = source.env
    k_samples, k_random, k_reset, k_act = jax.random.split(jax.random.PRNGKey(seed), 4)
    returns = _evaluate(agent, source, num_episodes, num_inference_samples)(
        state, source_state, k_samples, k_random, k_reset, k_act
    )
    returns = {mode: np.asarray(values) for mode, values in returns.items()}
    rows = []
    for mode in ONLINE_MODES:
        for t, task in enumerate(env.tasks):
            rows.append(
                {
                    "task": task,
                    "mode": mode,
                    "return": float(returns[mode][t]),
                    "random_z_return": float(returns["random_z"][t]),
                }
            )
    return rows


def record_online(
    agent: ZeroShotAgent,
    state: AgentState,
    source: OnlineSource,
    source_state: OnlineState,
    *,
    num_inference_samples: int,
    seed: int,
) -> list[dict]:
    """Per task and mode, the first evaluated episode of its prompt (the same z and reset as `evaluate_online`
    with this seed): {task, mode, qpos (T, nq), return}; `source.env.render(qpos)` draws it."""
    env = source.env
    k_samples, _, k_reset, k_act = jax.random.split(jax.random.PRNGKey(seed), 4)
    samples = source.transitions(source_state, k_samples, num_inference_samples)
    latents = prompt_latents(agent, state, env, samples)
    z = jnp.concatenate([latents[mode] for mode in ONLINE_MODES])
    reset = jax.random.split(k_reset, RANDOM_Z_EPISODES_PER_EPISODE)[:1]
    returns, qpos = jax.jit(lambda z, keys: rollout_returns(agent, state, env, z, keys, k_act, positions=True))(
        z, jnp.tile(reset, (z.shape[0], 1))
    )
    episodes = []
    for i, (mode, task) in enumerate((m, t) for m in ONLINE_MODES for t in env.tasks):
        t = env.tasks.index(task)
        episodes.append({"task": task, "mode": mode, "qpos": np.asarray(qpos[:, i]), "return": float(returns[i, t])})
    return episodes


def evaluate_online_seeds(
    agent: ZeroShotAgent,
    runners,
    source: OnlineSource,
    seeds: list[int],
    *,
    num_episodes: int,
    num_inference_samples: int,
) -> list[list[dict]]:
    """`evaluate_online` of every seed of seed-stacked runners (each from its own buffer), in seed order."""
    return [
        evaluate_online(
            agent,
            seed_slice(runners.agent, i),
            source,
            seed_slice(runners.source_state, i),
            num_episodes=num_episodes,
            num_inference_samples=num_inference_samples,
            seed=seed,
        )
        for i, seed in enumerate(seeds)
    ]


_COMPILED: dict = {}


def _evaluate(agent: ZeroShotAgent, source: OnlineSource, num_episodes: int, num_inference_samples: int):
    """The jitted evaluation of one (agent, env, sizes): per mode, (num_tasks,) mean returns."""
    cache_key = (id(agent), id(source.env), num_episodes, num_inference_samples)
    if cache_key in _COMPILED:
        return _COMPILED[cache_key]
    env = source.env
    num_tasks = len(env.tasks)

    def run(state, source_state, k_samples, k_random, k_reset, k_act):
        samples = source.transitions(source_state, k_samples, num_inference_samples)
        latents = prompt_latents(agent, state, env, samples)
        # Rows: every (mode, task) prompt and the random z, each for num_episodes episodes from the same resets.
        prompted = jnp.concatenate([latents[mode] for mode in ONLINE_MODES])  # (modes * tasks, d)
        z = jnp.repeat(prompted, num_episodes, axis=0)
        num_random = RANDOM_Z_EPISODES_PER_EPISODE * num_episodes
        z = jnp.concatenate([z, agent.sample_z(k_random, num_random)])
        resets = jax.random.split(k_reset, num_random)  # the prompts' episodes start where the first random ones do
        reset_keys = jnp.concatenate([jnp.tile(resets[:num_episodes], (len(ONLINE_MODES) * num_tasks, 1)), resets])
        returns = rollout_returns(agent, state, env, z, reset_keys, k_act)
        prompted_returns = returns[:-num_random].reshape(len(ONLINE_MODES) * num_tasks, num_episodes, num_tasks)
        prompted_returns = prompted_returns.mean(1)
        result = {
            mode: jnp.diagonal(prompted_returns[i * num_tasks : (i + 1) * num_tasks])
            for i, mode in enumerate(ONLINE_MODES)
        }
        return result | {"random_z": returns[-num_random:].mean(0)}

    _COMPILED[cache_key] = jax.jit(run)
    return _COMPILED[cache_key]
