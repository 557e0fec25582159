"""What TD-JEPA and FB share around their policy π(s, z): acting, the z prior, how observations reach
the networks (normalised states, or uint8 frames through one DrQ trunk per view) and the actor step,
TD3-style (`actor_type="td3"`) or flow-BC (`"flow_bc"`, the reference's OGBench actor). Subclasses
supply their views and the encoder the actor may read."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections

from tdjepa.actor_update import td3_actor_loss
from tdjepa.data import Batch
from tdjepa.flow_bc import flow_actions, flow_bc_actor_loss, flow_matching_loss
from tdjepa.latents import sample_sphere
from tdjepa.networks import Actor, FlowVelocity, NoiseConditionedActor
from tdjepa.normalizer import normalize
from tdjepa.pixels import DrQEncoder, random_shift
from tdjepa.policies import noisy_action
from tdjepa.state import AgentState, apply_gradients, global_norm, per_network_adam

ACTOR_TYPES = ("td3", "flow_bc")
OBS_TYPES = ("states", "pixels")
# Frames encoded per trunk call outside training (reward inference encodes 10k stacked frames).
_EVAL_TRUNK_CHUNK = 1024
SuccessorFn = Callable[[jnp.ndarray], jnp.ndarray]  # actions -> (K, B, d) predictions at the batch's (s, z)
ActorLoss = Callable[[dict], tuple[jnp.ndarray, dict]]


def add_actor_type_defaults(c: ml_collections.ConfigDict) -> None:
    """The actor choice every latent-actor agent's config carries, with the flow-BC settings."""
    # "td3" (deterministic actor, the reference's DMC setting) or "flow_bc" (its OGBench actor: flow-matching
    # BC distilled into a one-step noise-conditioned policy; bc_coeff is then the distillation weight β).
    c.actor_type = "td3"
    c.lr_actor_flow = 3e-4
    c.flow_steps = 10
    c.flow_hidden_layers = 2
    # > 0: keep a Polyak average of π's weights at this rate (window ≈ 1/τ updates) and act with it; training
    # (TD targets, the actor's own step) still uses the online π. 0: act with the online π (the reference's).
    c.actor_average_tau = 0.0


def add_schedule_defaults(c: ml_collections.ConfigDict) -> None:
    """The learning-rate schedule of every optimiser of the agent."""
    # 0: constant rates (the reference's). N > 0: every rate decays along a cosine to 0 over N updates, so
    # a run ends on settled weights rather than wherever the last updates left them.
    c.lr_cosine_steps = 0


def add_observation_defaults(c: ml_collections.ConfigDict) -> None:
    """How observations enter the networks: state vectors, or stacked uint8 frames (visual datasets)."""
    # "pixels": each view has its own DrQ trunk (no EMA copy: next-state features come from the online
    # trunk without gradient, as in the reference); frames are randomly shifted by up to augment_pad.
    c.obs_type = "states"
    c.frame_stack = 1
    c.augment_pad = 2
    c.trunk_dim = 256


class LatentActorAgent:
    """Base of agents with a z-conditioned actor π(s, z) (flow-BC: π(s, z, ξ)) trained to maximise T(s, a, z)ᵀz.

    A view is the input one group of networks reads: the observation itself for states, the features of
    that view's DrQ trunk for pixels. `view_names` lists them; the actor reads `actor_view`.
    """

    config: ml_collections.ConfigDict
    z_dim: int
    view_names: tuple[str, ...]
    actor_view: str

    def __init__(self, config: ml_collections.ConfigDict):
        self.config = config
        if config.actor_type not in ACTOR_TYPES:
            raise ValueError(f"config.actor_type={config.actor_type!r}; accepted values: {', '.join(ACTOR_TYPES)}")
        if config.obs_type not in OBS_TYPES:
            raise ValueError(f"config.obs_type={config.obs_type!r}; accepted values: {', '.join(OBS_TYPES)}")
        self.pixels = config.obs_type == "pixels"
        if self.pixels and config.normalize_obs:
            raise ValueError("config.normalize_obs must be False with obs_type='pixels' (frames are scaled to ±0.5)")
        self.trunk = DrQEncoder(config.trunk_dim)
        self.flow_bc = config.actor_type == "flow_bc"
        rates = {"actor": config.lr_actor} | ({"actor_flow": config.lr_actor_flow} if self.flow_bc else {})
        if config.lr_cosine_steps < 0:
            raise ValueError(f"config.lr_cosine_steps must be >= 0, got {config.lr_cosine_steps}")
        self.actor_optimizer = per_network_adam(rates, config.lr_cosine_steps)
        if not 0.0 <= config.actor_average_tau <= 1.0:
            raise ValueError(f"config.actor_average_tau must be in [0, 1], got {config.actor_average_tau}")

    @property
    def samples_at_evaluation(self) -> bool:
        """Whether zero-shot evaluation acts with a key, as the reference does for its flow-BC actors
        (fresh ξ each step: ξ = 0 maps to the median of a multi-modal action distribution, e.g. a
        gripper command halfway between open and closed); TD3 actors are evaluated by their mean."""
        return self.flow_bc

    @property
    def actor_names(self) -> list[str]:
        """The networks the actor step trains: π, plus the BC velocity field v with flow-BC."""
        return ["actor", "actor_flow"] if self.flow_bc else ["actor"]

    def actor_encoder(self, params: dict, obs: jnp.ndarray) -> jnp.ndarray:
        """The state encoding the actor reads when config.actor_use_full_encoder."""
        raise NotImplementedError

    @property
    def trunk_names(self) -> list[str]:
        """Parameter names of the DrQ trunks (none for states)."""
        return [f"{view}_trunk" for view in self.view_names] if self.pixels else []

    def _init_trunks(self, keys: dict[str, jax.Array], obs: jnp.ndarray) -> dict:
        """Parameters of the trunks, each from the key of its name."""
        return {name: self.trunk.init(keys[name], obs)["params"] for name in self.trunk_names}

    def view(self, params: dict, name: str, obs: jnp.ndarray) -> jnp.ndarray:
        """What the networks of view `name` read: obs itself (states) or its trunk's features (pixels)."""
        return self.trunk.apply({"params": params[f"{name}_trunk"]}, obs) if self.pixels else obs

    def views(self, params: dict, obs: jnp.ndarray) -> dict[str, jnp.ndarray]:
        return {name: self.view(params, name, obs) for name in self.view_names}

    def _augmented(self, key: jax.Array, batch: Batch) -> Batch:
        """Pixels: s and s' (and the future frames of n-step batches) randomly shifted, independently (the
        reference's augment_image)."""
        k_obs, k_next = jax.random.split(key)
        pad = self.config.augment_pad
        batch = batch.replace(
            observations=random_shift(k_obs, batch.observations, pad),
            next_observations=random_shift(k_next, batch.next_observations, pad),
        )
        if batch.future_observations is None:
            return batch
        future = batch.future_observations
        shifted = random_shift(jax.random.fold_in(k_next, 1), future.reshape(-1, *future.shape[2:]), pad)
        return batch.replace(future_observations=shifted.reshape(future.shape))

    def _actor(self, action_dim: int) -> Actor | NoiseConditionedActor:
        c = self.config
        network = NoiseConditionedActor if self.flow_bc else Actor
        return network(action_dim, c.actor_hidden_dim, c.actor_hidden_layers, c.actor_embedding_layers)

    def _velocity(self, action_dim: int) -> FlowVelocity:
        return FlowVelocity(action_dim, self.config.actor_hidden_dim, self.config.flow_hidden_layers)

    def _actor_input(self, params: dict, obs: jnp.ndarray) -> jnp.ndarray:
        return self.actor_encoder(params, obs) if self.config.actor_use_full_encoder else obs

    def _init_actor(self, key: jax.Array, params: dict, obs: jnp.ndarray, action_dim: int) -> dict:
        """Parameters of the networks in `actor_names`."""
        inputs, z = self._actor_input(params, obs), jnp.zeros((1, self.z_dim))
        if not self.flow_bc:
            return {"actor": self._actor(action_dim).init(key, inputs, z)["params"]}
        k_actor, k_flow = jax.random.split(key)
        action, time = jnp.zeros((1, action_dim)), jnp.zeros((1, 1))
        return {
            "actor": self._actor(action_dim).init(k_actor, inputs, z, action)["params"],
            "actor_flow": self._velocity(action_dim).init(k_flow, inputs, action, time)["params"],
        }

    def _averaged_actor(self, params: dict) -> dict:
        """The initial entry of `target_params` holding π's weight average ({} when not averaging)."""
        return {"actor": jax.tree.map(jnp.copy, params["actor"])} if self.config.actor_average_tau > 0 else {}

    def _policy(
        self,
        state: AgentState,
        params: dict,
        obs: jnp.ndarray,
        z: jnp.ndarray,
        noise: jnp.ndarray | None = None,
        actor_params: dict | None = None,
    ) -> jnp.ndarray:
        """tanh μ(s, z) (flow-BC: tanh μ(s, z, ξ)), the actor reading obs or its encoding under `params`
        (online or target); π's own weights are the online ones unless `actor_params` are given."""
        inputs = self._actor_input(params, obs)
        extra = (noise,) if self.flow_bc else ()
        weights = state.params["actor"] if actor_params is None else actor_params
        return self._actor(state.action_dim).apply({"params": weights}, inputs, z, *extra)

    def _next_actions(
        self, state: AgentState, params: dict, next_obs: jnp.ndarray, z: jnp.ndarray, key: jax.Array
    ) -> jnp.ndarray:
        """a' of the TD targets: the smoothed, clipped TD3 sample around μ(s', z), or with flow-BC the
        one-step policy's action π(s', z, ξ') for fresh noise ξ', unclipped, as the reference does."""
        c = self.config
        if self.flow_bc:
            return self._policy(state, params, next_obs, z, jax.random.normal(key, (len(next_obs), state.action_dim)))
        return noisy_action(key, self._policy(state, params, next_obs, z), c.actor_std, c.actor_noise_clip)

    def _inputs(self, state: AgentState, obs: jnp.ndarray, view: str) -> jnp.ndarray:
        """Raw observations as view `view` sees them outside training: normalised with the running
        statistics if enabled (states), or the trunk's features, encoded in chunks (pixels)."""
        if self.pixels:
            return jax.lax.map(lambda o: self.view(state.params, view, o), obs, batch_size=_EVAL_TRUNK_CHUNK)
        return normalize(state.stats, obs) if self.config.normalize_obs else obs

    def _actor_step(
        self,
        state: AgentState,
        params: dict,
        obs: jnp.ndarray,
        successor_fn: SuccessorFn,
        z: jnp.ndarray,
        data_actions: jnp.ndarray,
        key: jax.Array,
    ) -> tuple[dict, object, dict]:
        """One Adam step of the actor networks on their objective; returns their params, optimiser state
        and metrics."""
        inputs = jax.lax.stop_gradient(self._actor_input(params, obs))
        loss = (self._flow_bc_loss if self.flow_bc else self._td3_loss)(
            state, inputs, successor_fn, z, data_actions, key
        )
        actor_params = {name: params[name] for name in self.actor_names}
        (value, metrics), grads = jax.value_and_grad(loss, has_aux=True)(actor_params)
        actor_params, opt_state = apply_gradients(self.actor_optimizer, actor_params, grads, state.opt_states["actor"])
        metrics = {f"actor_{k}": v for k, v in metrics.items()}
        return actor_params, opt_state, metrics | {"actor_loss": value, "actor_grad_norm": global_norm(grads)}

    def _td3_loss(
        self,
        state: AgentState,
        inputs: jnp.ndarray,
        successor_fn: SuccessorFn,
        z: jnp.ndarray,
        data_actions: jnp.ndarray,
        key: jax.Array,
    ) -> ActorLoss:
        """The TD3(+BC) objective of the deterministic actor, as a function of the actor's params."""
        c = self.config

        def loss(actor_params):
            mean = self._actor(state.action_dim).apply({"params": actor_params["actor"]}, inputs, z)
            return td3_actor_loss(
                mean,
                successor_fn,
                z,
                data_actions,
                key,
                std=c.actor_std,
                clip=c.actor_noise_clip,
                pessimism_penalty=c.actor_pessimism,
                bc_coeff=c.bc_coeff,
            )

        return loss

    def _flow_bc_loss(
        self,
        state: AgentState,
        inputs: jnp.ndarray,
        successor_fn: SuccessorFn,
        z: jnp.ndarray,
        data_actions: jnp.ndarray,
        key: jax.Array,
    ) -> ActorLoss:
        """Flow matching for v plus the distilled one-step policy's objective, as a function of both."""
        c = self.config
        k_noise, k_flow = jax.random.split(key)
        noise = jax.random.normal(k_noise, data_actions.shape)
        velocity = self._velocity(state.action_dim)
        # The distillation target: the BC flow's action from the same ξ, before this step's update.
        target = flow_actions(
            lambda x, t: velocity.apply({"params": state.params["actor_flow"]}, inputs, x, t), noise, c.flow_steps
        )

        def loss(actor_params):
            flow_loss = flow_matching_loss(
                lambda x, t: velocity.apply({"params": actor_params["actor_flow"]}, inputs, x, t),
                data_actions,
                k_flow,
            )
            actions = self._actor(state.action_dim).apply({"params": actor_params["actor"]}, inputs, z, noise)
            return flow_bc_actor_loss(
                actions,
                successor_fn,
                z,
                target,
                flow_loss,
                pessimism_penalty=c.actor_pessimism,
                bc_coeff=c.bc_coeff,
            )

        return loss

    def act(self, state: AgentState, obs: jnp.ndarray, z: jnp.ndarray, key: jax.Array | None = None):
        """The policy's action. TD3: its mean tanh μ(s, z), or a noisy TD3 sample when a key is given.
        Flow-BC: π(s, z, ξ) with ξ = 0 (deterministic), or ξ ~ N(0, I) when a key is given (how it is
        evaluated: see `samples_at_evaluation`). π's averaged weights when config.actor_average_tau > 0."""
        inputs = self._inputs(state, obs, self.actor_view)
        weights = state.target_params.get("actor")
        if self.flow_bc:
            shape = (*inputs.shape[:-1], state.action_dim)  # inputs: features for pixels, not frames
            noise = jnp.zeros(shape) if key is None else jax.random.normal(key, shape)
            return self._policy(state, state.params, inputs, z, noise, weights)
        mean = self._policy(state, state.params, inputs, z, actor_params=weights)
        if key is None:
            return mean
        return noisy_action(key, mean, self.config.actor_std, self.config.actor_noise_clip)

    def act_behavior(self, state: AgentState, obs: jnp.ndarray, key: jax.Array) -> jnp.ndarray:
        """The BC flow's action a_flow(s, ξ), ξ ~ N(0, I): the z-free behaviour policy the flow-BC actor is
        distilled from; evaluated beside π(s, z, ξ), it shows what steering by z adds to cloning."""
        if not self.flow_bc:
            raise ValueError(f"act_behavior needs config.actor_type='flow_bc', got {self.config.actor_type!r}")
        inputs = self._actor_input(state.params, self._inputs(state, obs, self.actor_view))
        velocity = self._velocity(state.action_dim)
        noise = jax.random.normal(key, (*inputs.shape[:-1], state.action_dim))
        return flow_actions(
            lambda x, t: velocity.apply({"params": state.params["actor_flow"]}, inputs, x, t),
            noise,
            self.config.flow_steps,
        )

    def sample_z(self, key: jax.Array, n: int) -> jnp.ndarray:
        """n latents from the prior, uniform on the √d sphere."""
        return sample_sphere(key, n, self.z_dim)
