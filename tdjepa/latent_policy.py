"""The z-conditioned policy π(s, z) of a zero-shot agent, trained on any value function of its actions:
TD3-style (`actor_type="td3"`: a deterministic actor with smoothed target actions, the reference's DMC
setting) or flow-BC (`"flow_bc"`, its OGBench actor: a one-step policy π(s, z, ξ) distilled from a
flow-matching BC flow v). Optionally a Polyak average of π's weights acts in its place.

The policy reads `inputs` the agent prepares (the observation's view, or an encoding of it) and never
sees how its value is computed: the agent passes a `ValueFn` to `update`.
"""

import jax
import jax.numpy as jnp
import ml_collections

from tdjepa.actor_objectives import ValueFn, flow_bc_actor_loss, noisy_action, td3_actor_loss
from tdjepa.flow_matching import flow_actions, flow_matching_loss
from tdjepa.networks import Actor, FlowVelocity, NoiseConditionedActor
from tdjepa.optim import apply_gradients, global_norm, per_network_adam, polyak

ACTOR_TYPES = ("td3", "flow_bc")


def add_actor_type_defaults(c: ml_collections.ConfigDict) -> None:
    """The actor choice every latent-policy agent's config carries, with the flow-BC settings."""
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


class LatentPolicy:
    """π's networks, their optimiser, acting and one training step. Parameters live in the agent's state
    under `names` ("actor", and "actor_flow" for the velocity field v with flow-BC)."""

    def __init__(self, config: ml_collections.ConfigDict, z_dim: int):
        if config.actor_type not in ACTOR_TYPES:
            raise ValueError(f"config.actor_type={config.actor_type!r}; accepted values: {', '.join(ACTOR_TYPES)}")
        if config.lr_cosine_steps < 0:
            raise ValueError(f"config.lr_cosine_steps must be >= 0, got {config.lr_cosine_steps}")
        if not 0.0 <= config.actor_average_tau <= 1.0:
            raise ValueError(f"config.actor_average_tau must be in [0, 1], got {config.actor_average_tau}")
        self.config = config
        self.z_dim = z_dim
        self.flow_bc = config.actor_type == "flow_bc"
        self.names = ["actor", "actor_flow"] if self.flow_bc else ["actor"]
        rates = {"actor": config.lr_actor} | ({"actor_flow": config.lr_actor_flow} if self.flow_bc else {})
        self.optimizer = per_network_adam(rates, config.lr_cosine_steps)

    @property
    def samples_at_evaluation(self) -> bool:
        """Whether zero-shot evaluation acts with a key, as the reference does for its flow-BC actors
        (fresh ξ each step: ξ = 0 maps to the median of a multi-modal action distribution, e.g. a
        gripper command halfway between open and closed); TD3 actors are evaluated by their mean."""
        return self.flow_bc

    def _actor(self, action_dim: int) -> Actor | NoiseConditionedActor:
        c = self.config
        network = NoiseConditionedActor if self.flow_bc else Actor
        return network(action_dim, c.actor_hidden_dim, c.actor_hidden_layers, c.actor_embedding_layers)

    def _velocity(self, action_dim: int) -> FlowVelocity:
        return FlowVelocity(action_dim, self.config.actor_hidden_dim, self.config.flow_hidden_layers)

    def init(self, key: jax.Array, inputs: jnp.ndarray, action_dim: int) -> dict:
        """Parameters of the networks in `names`, for inputs shaped like `inputs`."""
        z = jnp.zeros((1, self.z_dim))
        if not self.flow_bc:
            return {"actor": self._actor(action_dim).init(key, inputs, z)["params"]}
        k_actor, k_flow = jax.random.split(key)
        action, time = jnp.zeros((1, action_dim)), jnp.zeros((1, 1))
        return {
            "actor": self._actor(action_dim).init(k_actor, inputs, z, action)["params"],
            "actor_flow": self._velocity(action_dim).init(k_flow, inputs, action, time)["params"],
        }

    def init_averages(self, params: dict) -> dict:
        """The initial averaged weights ({} when config.actor_average_tau is 0): a copy of π's."""
        return {"actor": jax.tree.map(jnp.copy, params["actor"])} if self.config.actor_average_tau > 0 else {}

    def update_averages(self, params: dict, averages: dict) -> dict:
        """One Polyak step of the averaged weights towards the online π."""
        return {name: polyak(params[name], averages[name], self.config.actor_average_tau) for name in averages}

    def action(
        self, weights: dict, inputs: jnp.ndarray, z: jnp.ndarray, action_dim: int, noise: jnp.ndarray | None = None
    ) -> jnp.ndarray:
        """tanh μ(s, z) (flow-BC: tanh μ(s, z, ξ) for noise ξ) of π with the given weights."""
        extra = (noise,) if self.flow_bc else ()
        return self._actor(action_dim).apply({"params": weights}, inputs, z, *extra)

    def target_actions(
        self, weights: dict, inputs: jnp.ndarray, z: jnp.ndarray, action_dim: int, key: jax.Array
    ) -> jnp.ndarray:
        """a' of the TD targets: the smoothed, clipped TD3 sample around μ(s', z), or with flow-BC the
        one-step policy's action π(s', z, ξ') for fresh noise ξ', unclipped, as the reference does."""
        c = self.config
        if self.flow_bc:
            return self.action(weights, inputs, z, action_dim, jax.random.normal(key, (len(inputs), action_dim)))
        return noisy_action(key, self.action(weights, inputs, z, action_dim), c.actor_std, c.actor_noise_clip)

    def act(
        self, weights: dict, inputs: jnp.ndarray, z: jnp.ndarray, action_dim: int, key: jax.Array | None = None
    ) -> jnp.ndarray:
        """TD3: the mean tanh μ(s, z), or a noisy TD3 sample when a key is given. Flow-BC: π(s, z, ξ) with
        ξ = 0 (deterministic), or ξ ~ N(0, I) when a key is given (how it is evaluated)."""
        if self.flow_bc:
            shape = (*inputs.shape[:-1], action_dim)
            noise = jnp.zeros(shape) if key is None else jax.random.normal(key, shape)
            return self.action(weights, inputs, z, action_dim, noise)
        mean = self.action(weights, inputs, z, action_dim)
        if key is None:
            return mean
        return noisy_action(key, mean, self.config.actor_std, self.config.actor_noise_clip)

    def behavior_action(self, params: dict, inputs: jnp.ndarray, action_dim: int, key: jax.Array) -> jnp.ndarray:
        """The BC flow's action a_flow(s, ξ), ξ ~ N(0, I): the z-free behaviour policy π is distilled from."""
        if not self.flow_bc:
            raise ValueError(f"act_behavior needs config.actor_type='flow_bc', got {self.config.actor_type!r}")
        noise = jax.random.normal(key, (*inputs.shape[:-1], action_dim))
        velocity = self._velocity(action_dim)
        return flow_actions(
            lambda x, t: velocity.apply({"params": params["actor_flow"]}, inputs, x, t), noise, self.config.flow_steps
        )

    def update(
        self,
        params: dict,
        opt_state: object,
        inputs: jnp.ndarray,
        value_fn: ValueFn,
        z: jnp.ndarray,
        data_actions: jnp.ndarray,
        action_dim: int,
        key: jax.Array,
    ) -> tuple[dict, object, dict]:
        """One Adam step of the networks in `names` on their objective, for the value `value_fn` gives the
        actions at these inputs and latents; returns their params, optimiser state and metrics."""
        objective = self._flow_bc_objective if self.flow_bc else self._td3_objective
        loss = objective(params, inputs, value_fn, z, data_actions, action_dim, key)
        policy_params = {name: params[name] for name in self.names}
        (value, metrics), grads = jax.value_and_grad(loss, has_aux=True)(policy_params)
        policy_params, opt_state = apply_gradients(self.optimizer, policy_params, grads, opt_state)
        metrics = {f"actor_{k}": v for k, v in metrics.items()}
        return policy_params, opt_state, metrics | {"actor_loss": value, "actor_grad_norm": global_norm(grads)}

    def _td3_objective(self, params, inputs, value_fn, z, data_actions, action_dim, key):
        """The TD3(+BC) objective of the deterministic actor, as a function of the policy's params."""
        c = self.config

        def loss(policy_params):
            mean = self.action(policy_params["actor"], inputs, z, action_dim)
            return td3_actor_loss(
                mean, value_fn, data_actions, key, std=c.actor_std, clip=c.actor_noise_clip, bc_coeff=c.bc_coeff
            )

        return loss

    def _flow_bc_objective(self, params, inputs, value_fn, z, data_actions, action_dim, key):
        """Flow matching for v plus the distilled one-step policy's objective, as a function of both."""
        c = self.config
        k_noise, k_flow = jax.random.split(key)
        noise = jax.random.normal(k_noise, data_actions.shape)
        velocity = self._velocity(action_dim)
        # The distillation target: the BC flow's action from the same ξ, before this step's update.
        target = flow_actions(
            lambda x, t: velocity.apply({"params": params["actor_flow"]}, inputs, x, t), noise, c.flow_steps
        )

        def loss(policy_params):
            flow_loss = flow_matching_loss(
                lambda x, t: velocity.apply({"params": policy_params["actor_flow"]}, inputs, x, t),
                data_actions,
                k_flow,
            )
            actions = self.action(policy_params["actor"], inputs, z, action_dim, noise)
            return flow_bc_actor_loss(actions, value_fn, target, flow_loss, bc_coeff=c.bc_coeff)

        return loss
