"""Zero-shot evaluation of an online run in its own vmapped environment.

Every task of the body is prompted twice: by reward (z inferred from buffer transitions whose next states'
physics are relabelled by the task's reward function, as the reference's DMC evaluation relabels stored
physics) and by goal (z = the goal latent of the buffer state with the highest task reward). Each prompt's
policy is rolled out for `num_episodes` full episodes from the same initial states, next to the random-z
policy, whose return on every task is the baseline: RANDOM_Z_EPISODES_PER_EPISODE times as many episodes,
each with its own prior z (one policy per z, so its return varies more across episodes than a prompt's). All
rollouts run together in one jitted scan; returns sum the task's reward over the episode, stopping at a
termination.

A run trained offline on a JAX body's episodes (ExoRL's setting) is evaluated the same way, its prompts drawn
from the dataset by `EpisodeSource` instead of a replay buffer.

Tracking (given clips): the body starts at each clip's first frame and acts at step t with
z_t = proj(mean of B over the next `window` frames of the clip, s_{t+1} … s_{t+window}, cut at its end), the
reference's tracking prompt; the error is the mean over steps of ‖qpos − the clip's qpos‖, next to the error
of a random z held for the whole clip.

Prioritised demonstrations (`prioritize_clips`, off by default): at each evaluation every training clip is
tracked the same way, and its tracking error sets how often batches and rollouts draw it
(`tdjepa.clips.tracking_priorities`, the reference's rule with our error in place of its EMD).

Few-shot adaptation (`few_shot_search`): the cross-entropy method over z on the √d-sphere with the policy frozen,
from the reward-inferred z, each candidate scored by the task's return over the same episodes; the gain is
measured on fresh episodes, the searched z against the zero-shot one.
"""

import jax
import jax.numpy as jnp
import numpy as np

from tdjepa.agent import ZeroShotAgent
from tdjepa.clips import Clips, tracking_priorities
from tdjepa.latent_space import project_to_sphere
from tdjepa.online import OnlineSource, OnlineState
from tdjepa.state import AgentState
from tdjepa.training import RunnerState, seed_slice

ONLINE_MODES = ("reward", "goal")
RANDOM_Z_EPISODES_PER_EPISODE = 4
TRACKING_WINDOW = 8  # frames each tracking latent averages (the reference's seq_length)


class EpisodeSource:
    """Transitions of a dataset of episodes that keeps each step's physics (ExoRL's), drawn uniformly as
    `OnlineSource.transitions` draws its buffer's. Its state (`episode_state`) holds the arrays, so that a
    jitted evaluation takes them as an argument rather than baking them into the program."""

    def __init__(self, env):
        self.env = env

    def transitions(self, state: dict[str, jnp.ndarray], key: jax.Array, count: int) -> dict[str, jnp.ndarray]:
        i = state["transitions"][jax.random.randint(key, (count,), 0, state["transitions"].shape[0])]
        return {
            "observations": state["observations"][i],
            "actions": state["actions"][i],
            "next_observations": state["observations"][i + 1],
            "next_qpos": state["qpos"][i + 1],
            "next_qvel": state["qvel"][i + 1],
        }


def episode_state(dataset: dict[str, np.ndarray]) -> dict[str, jnp.ndarray]:
    """`EpisodeSource`'s state of a dataset in the library's episode layout (`envs.exorl.load_episodes`): its
    arrays and the indices of its transitions, every step but an episode's last."""
    fields = {key: jnp.asarray(dataset[key]) for key in ("observations", "actions", "qpos", "qvel")}
    return fields | {"transitions": jnp.asarray(np.flatnonzero(dataset["terminals"] == 0))}


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


def tracking_latents(agent: ZeroShotAgent, state: AgentState, observations, length, window: int) -> jnp.ndarray:
    """(T − 1, d) latents of one clip: z_t = proj(mean B(s_k) over k = t+1 … min(t + window, length − 1))."""
    features = agent.reward_features(state, observations)
    steps = observations.shape[0]
    features = features * (jnp.arange(steps) < length)[:, None]
    sums = jnp.concatenate([jnp.zeros_like(features[:1]), jnp.cumsum(features, 0)])  # sums[k] = Σ_{j<k}
    start = jnp.arange(1, steps)
    end = jnp.maximum(jnp.minimum(start + window, length), start + 1)
    return project_to_sphere((sums[end] - sums[start]) / (end - start)[:, None])


def track_clips(
    agent: ZeroShotAgent, state: AgentState, env, clips: Clips, z: jnp.ndarray, key: jax.Array, window: int
):
    """Every clip tracked from its first frame: (N,) mean qpos errors and the body's qpos (N, T − 1, nq).
    z: (N, T − 1, d) latents per step, or None for the tracking latents of each clip."""
    if z is None:
        z = jax.vmap(lambda o, n: tracking_latents(agent, state, o, n, window))(clips.observations, clips.lengths)
    num, steps = clips.observations.shape[:2]
    k_reset, k_act = jax.random.split(key)
    env_state = jax.vmap(env.reset_to)(jax.random.split(k_reset, num), clips.qpos[:, 0], clips.qvel[:, 0])

    def step(env_state, inputs):
        z_t, target, k = inputs
        action = agent.act(state, env_state.obs, z_t, k if agent.samples_at_evaluation else None)
        env_state = jax.vmap(env.step)(env_state, action)
        qpos = env.physics(env_state)[0]
        return env_state, (jnp.linalg.norm(qpos - target, axis=-1), qpos)

    inputs = (jnp.swapaxes(z, 0, 1), jnp.swapaxes(clips.qpos[:, 1:], 0, 1), jax.random.split(k_act, steps - 1))
    _, (errors, qpos) = jax.lax.scan(step, env_state, inputs)
    valid = jnp.arange(1, steps)[:, None] < clips.lengths[None, :]  # (T − 1, N)
    return (errors * valid).sum(0) / valid.sum(0), jnp.swapaxes(qpos, 0, 1)


def evaluate_tracking(
    agent: ZeroShotAgent, state: AgentState, env, clips: Clips, seed: int, window: int = TRACKING_WINDOW
) -> list[dict]:
    """Rows {task: clip name, mode: "tracking", error, random_z_error} per clip."""
    k_track, k_random = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 7))
    num, steps = clips.observations.shape[:2]
    random_z = jnp.repeat(agent.sample_z(k_random, num)[:, None], steps - 1, 1)
    run = jax.jit(lambda state, clips, z: track_clips(agent, state, env, clips, z, k_track, window)[0])
    errors, random_errors = np.asarray(run(state, clips, None)), np.asarray(run(state, clips, random_z))
    names = clips.names or tuple(str(i) for i in range(num))
    return [
        {"task": name, "mode": "tracking", "error": float(e), "random_z_error": float(r)}
        for name, e, r in zip(names, errors, random_errors, strict=True)
    ]


def set_clip_priorities(agent: ZeroShotAgent, source: OnlineSource, runners: RunnerState) -> RunnerState:
    """Seed-stacked runners whose clip weights are the priorities of each seed's tracking errors of its
    training clips (tracked from their first frames, with a key of the runner's own, so a resumed run agrees)."""

    def weights(state: AgentState, key: jax.Array) -> jnp.ndarray:
        key = jax.random.fold_in(key, 11)
        errors, _ = track_clips(agent, state, source.env, source.clips, None, key, source.seq_length)
        return tracking_priorities(errors)

    cache_key = ("priorities", id(agent), id(source))
    if cache_key not in _COMPILED:
        _COMPILED[cache_key] = jax.jit(jax.vmap(weights))
    new = _COMPILED[cache_key](runners.agent, runners.key)
    old = runners.source_state.clip_weights
    return runners.replace(source_state=runners.source_state.replace(clip_weights=jax.device_put(new, old.sharding)))


def evaluate_online(
    agent: ZeroShotAgent,
    state: AgentState,
    source: OnlineSource | EpisodeSource,
    source_state: OnlineState | dict,
    *,
    num_episodes: int,
    num_inference_samples: int,
    seed: int,
    tracking: Clips | None = None,
) -> list[dict]:
    """Rows {task, mode, return, random_z_return} per task and mode (mean over episodes), and with `tracking`
    clips the rows of `evaluate_tracking`."""
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
    if tracking is not None:
        rows += evaluate_tracking(agent, state, env, tracking, seed)
    return rows


def record_online(
    agent: ZeroShotAgent,
    state: AgentState,
    source: OnlineSource | EpisodeSource,
    source_state: OnlineState | dict,
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
    source: OnlineSource | EpisodeSource,
    seeds: list[int],
    *,
    num_episodes: int,
    num_inference_samples: int,
    tracking: Clips | None = None,
    source_state=None,
) -> list[list[dict]]:
    """`evaluate_online` of every seed of seed-stacked runners, in seed order: each prompted from its own buffer,
    or all from the one `source_state` given (a dataset's)."""
    return [
        evaluate_online(
            agent,
            seed_slice(runners.agent, i),
            source,
            seed_slice(runners.source_state, i) if source_state is None else source_state,
            num_episodes=num_episodes,
            num_inference_samples=num_inference_samples,
            seed=seed,
            tracking=tracking,
        )
        for i, seed in enumerate(seeds)
    ]


_COMPILED: dict = {}


def _evaluate(
    agent: ZeroShotAgent, source: OnlineSource | EpisodeSource, num_episodes: int, num_inference_samples: int
):
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


def few_shot_search(
    agent: ZeroShotAgent,
    state: AgentState,
    env,
    task: int,
    z0: jnp.ndarray,
    key: jax.Array,
    *,
    iterations: int,
    population: int = 16,
    elites: int = 4,
    episodes: int = 2,
    sigma: float = 0.5,
) -> dict:
    """CEM over z for task index `task` of `env`, from z0: each round scores `population` candidates
    proj(mean + σ·ε) (z0 itself first, then the best so far) on `episodes` shared resets and refits the mean and
    σ to the `elites` best. Returns the best z and the zero-shot and searched returns on fresh episodes."""
    score = jax.jit(
        lambda z, resets, k: (
            rollout_returns(agent, state, env, jnp.repeat(z, resets.shape[0], 0), jnp.tile(resets, (z.shape[0], 1)), k)[
                :, task
            ]
            .reshape(z.shape[0], resets.shape[0])
            .mean(1)
        )
    )
    k_resets, k_act, k_search, k_test = jax.random.split(key, 4)
    resets = jax.random.split(k_resets, episodes)
    mean, best_z, best = z0, z0, -jnp.inf
    curve = []
    for i in range(iterations):
        noise = jax.random.normal(jax.random.fold_in(k_search, i), (population - 1, z0.shape[-1]))
        candidates = jnp.concatenate([best_z[None], project_to_sphere(mean + sigma * noise)])
        returns = score(candidates, resets, k_act)
        order = jnp.argsort(-returns)
        if returns[order[0]] > best:
            best, best_z = returns[order[0]], candidates[order[0]]
        elite = candidates[order[:elites]]
        mean, sigma = elite.mean(0), float(jnp.mean(elite.std(0)))
        curve.append(float(best))
    test = jax.random.split(k_test, episodes)
    before, after = np.asarray(score(jnp.stack([z0, best_z]), test, jax.random.fold_in(k_act, 1)))
    return {"z": best_z, "zero_shot_return": float(before), "few_shot_return": float(after), "search_curve": curve}
