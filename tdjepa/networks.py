"""Network blocks shared by every agent: the reference MLP embeddings, sphere-projected encoders,
policy-conditioned predictors (as ensembles) and the deterministic actor."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from tdjepa.latent_space import project_to_sphere

RELU_GAIN = 2.0**0.5


def orthogonal(gain: float = 1.0) -> jax.nn.initializers.Initializer:
    """flax's orthogonal initialiser, the same values, but vmapped (over seeds, ensemble members) as a loop of
    one-matrix QRs instead of one batched QR. jaxlib 0.10's CPU QR splits a batch over XLA's intra-op pool
    and blocks until its parts finish; when the runtime runs as many such QRs at once as the pool has threads
    (two on a two-core machine), every thread waits on parts none is free to run, and the program hangs idle
    (seen in SAC's and the explorers' init: both pool threads parked in `QrFactorization` ->
    `ParallelBatchMap`). Init runs once, so the loop costs nothing measurable."""
    base = nn.initializers.orthogonal(gain)

    def init(key: jax.Array, shape, dtype=jnp.float32) -> jnp.ndarray:
        return jax.custom_batching.sequential_vmap(lambda k: base(k, shape, dtype))(key)

    return init


def dense(features: int, gain: float = 1.0) -> nn.Dense:
    """Linear layer with orthogonal weights and zero bias, the reference initialisation."""
    return nn.Dense(features, kernel_init=orthogonal(gain), bias_init=nn.initializers.zeros)


class Embedding(nn.Module):
    """Linear -> LayerNorm -> Tanh, (layers-2) x [Linear -> ReLU], Linear(h, h/2) -> ReLU."""

    hidden_dim: int
    num_layers: int = 2
    gain: float = 1.0

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        x = jnp.tanh(nn.LayerNorm()(dense(self.hidden_dim, self.gain)(x)))
        for _ in range(self.num_layers - 2):
            x = nn.relu(dense(self.hidden_dim, self.gain)(x))
        return nn.relu(dense(self.hidden_dim // 2, self.gain)(x))


class SphereEncoder(nn.Module):
    """State encoder onto the sphere of radius sqrt(output_dim) (the reference BackwardMap).

    hidden_layers = 0 reduces it to Linear -> projection.
    """

    output_dim: int
    hidden_dim: int = 256
    hidden_layers: int = 2

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> jnp.ndarray:
        x = obs
        if self.hidden_layers > 0:
            x = jnp.tanh(nn.LayerNorm()(dense(self.hidden_dim)(x)))
            for _ in range(self.hidden_layers - 1):
                x = nn.relu(dense(self.hidden_dim)(x))
        return project_to_sphere(dense(self.output_dim)(x))


class Predictor(nn.Module):
    """One head of F(s, a, z) / T(φ(s), a, z): embeddings of [s‖a] and [s‖z], then an MLP head."""

    output_dim: int
    hidden_dim: int = 1024
    hidden_layers: int = 1
    embedding_layers: int = 2
    gain: float = 1.0

    @nn.compact
    def __call__(self, obs: jnp.ndarray, action: jnp.ndarray, z: jnp.ndarray) -> jnp.ndarray:
        sa = Embedding(self.hidden_dim, self.embedding_layers, self.gain)(jnp.concatenate([obs, action], -1))
        oz = Embedding(self.hidden_dim, self.embedding_layers, self.gain)(jnp.concatenate([obs, z], -1))
        x = jnp.concatenate([sa, oz], -1)
        for _ in range(self.hidden_layers):
            x = nn.relu(dense(self.hidden_dim, self.gain)(x))
        return dense(self.output_dim, self.gain)(x)


class EnsemblePredictor(nn.Module):
    """K independent Predictor heads evaluated on the same inputs; output shape (K, ..., output_dim).

    Members use the ReLU gain sqrt(2) for their orthogonal init, as the reference's parallel layers do.
    """

    output_dim: int
    num_heads: int = 2
    hidden_dim: int = 1024
    hidden_layers: int = 1
    embedding_layers: int = 2

    @nn.compact
    def __call__(self, obs: jnp.ndarray, action: jnp.ndarray, z: jnp.ndarray) -> jnp.ndarray:
        heads = nn.vmap(
            Predictor,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.num_heads,
        )
        gain = RELU_GAIN if self.num_heads > 1 else 1.0
        return heads(self.output_dim, self.hidden_dim, self.hidden_layers, self.embedding_layers, gain)(obs, action, z)


class Actor(nn.Module):
    """Deterministic z-conditioned policy mean tanh(μ(s, z)) from embeddings of s and [s‖z]."""

    action_dim: int
    hidden_dim: int = 1024
    hidden_layers: int = 1
    embedding_layers: int = 2

    @nn.compact
    def __call__(self, obs: jnp.ndarray, z: jnp.ndarray) -> jnp.ndarray:
        s = Embedding(self.hidden_dim, self.embedding_layers)(obs)
        oz = Embedding(self.hidden_dim, self.embedding_layers)(jnp.concatenate([obs, z], -1))
        x = jnp.concatenate([s, oz], -1)
        for _ in range(self.hidden_layers):
            x = nn.relu(dense(self.hidden_dim)(x))
        return jnp.tanh(dense(self.action_dim)(x))


class NoiseConditionedActor(nn.Module):
    """One-step stochastic policy tanh(μ(s, z, ξ)) of the flow-BC actor: the Actor reading [s‖ξ]."""

    action_dim: int
    hidden_dim: int = 1024
    hidden_layers: int = 1
    embedding_layers: int = 2

    @nn.compact
    def __call__(self, obs: jnp.ndarray, z: jnp.ndarray, noise: jnp.ndarray) -> jnp.ndarray:
        actor = Actor(self.action_dim, self.hidden_dim, self.hidden_layers, self.embedding_layers)
        return actor(jnp.concatenate([obs, noise], -1), z)


class FlowVelocity(nn.Module):
    """Velocity field v(s, x_t, t) of flow-matching behaviour cloning (task-agnostic: no z), the
    reference's VectorField: Linear → GELU, (layers − 1) × [Linear → GELU], Linear, no normalisation."""

    action_dim: int
    hidden_dim: int = 1024
    hidden_layers: int = 2

    @nn.compact
    def __call__(self, obs: jnp.ndarray, x: jnp.ndarray, t: jnp.ndarray) -> jnp.ndarray:
        h = jnp.concatenate([obs, x, t], -1)
        for _ in range(self.hidden_layers):
            # Gain 1 (the reference's plain nn.Linear) and the exact, erf GELU of torch's nn.GELU().
            h = nn.gelu(dense(self.hidden_dim)(h), approximate=False)
        return dense(self.action_dim)(h)
