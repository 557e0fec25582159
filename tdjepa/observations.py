"""How observations reach an agent's networks, apart from what the agent learns from them: state vectors
(normalised with running statistics if asked), or stacked uint8 frames read by one DrQ trunk per view.

A view is the input one group of an agent's networks reads: the observation itself for states, the
features of that view's own trunk for pixels (TD-JEPA's φ and ψ, FB's forward and backward networks).
"""

import jax
import jax.numpy as jnp
import ml_collections

from tdjepa.data import Batch
from tdjepa.normalizer import init_normalizer, normalize, observe_batch
from tdjepa.pixels import DrQEncoder, random_shift

OBS_TYPES = ("states", "pixels")
# Frames encoded per trunk call outside training (reward inference encodes 10k stacked frames).
_EVAL_TRUNK_CHUNK = 1024


def add_observation_defaults(c: ml_collections.ConfigDict) -> None:
    """The observation settings every agent's config carries."""
    # "pixels": each view has its own DrQ trunk (no EMA copy: next-state features come from the online
    # trunk without gradient, as in the reference); frames are randomly shifted by up to augment_pad.
    c.obs_type = "states"
    c.frame_stack = 1
    c.augment_pad = 2
    c.trunk_dim = 256
    c.normalize_obs = True  # running mean/std of states, as the reference's BatchNorm normaliser


class ObservationPipeline:
    """The views of observations an agent's networks read, their trunks' parameters, the training-time
    augmentation and normalisation of batches, and the same views outside training."""

    def __init__(self, config: ml_collections.ConfigDict, view_names: tuple[str, ...]):
        if config.obs_type not in OBS_TYPES:
            raise ValueError(f"config.obs_type={config.obs_type!r}; accepted values: {', '.join(OBS_TYPES)}")
        self.pixels = config.obs_type == "pixels"
        if self.pixels and config.normalize_obs:
            raise ValueError("config.normalize_obs must be False with obs_type='pixels' (frames are scaled to ±0.5)")
        self.config = config
        self.view_names = view_names
        self.trunk = DrQEncoder(config.trunk_dim)

    @property
    def trunk_names(self) -> list[str]:
        """Parameter names of the DrQ trunks (none for states)."""
        return [f"{view}_trunk" for view in self.view_names] if self.pixels else []

    def init_trunks(self, keys: dict[str, jax.Array], obs: jnp.ndarray) -> dict:
        """Parameters of the trunks, each from the key of its name."""
        return {name: self.trunk.init(keys[name], obs)["params"] for name in self.trunk_names}

    def init_stats(self, obs: jnp.ndarray) -> dict[str, jnp.ndarray]:
        """The running statistics of the normaliser."""
        return init_normalizer(obs.shape[-1])

    def view(self, params: dict, name: str, obs: jnp.ndarray) -> jnp.ndarray:
        """What the networks of view `name` read: obs itself (states) or its trunk's features (pixels)."""
        return self.trunk.apply({"params": params[f"{name}_trunk"]}, obs) if self.pixels else obs

    def views(self, params: dict, obs: jnp.ndarray) -> dict[str, jnp.ndarray]:
        return {name: self.view(params, name, obs) for name in self.view_names}

    def prepare(self, key: jax.Array, stats: dict, batch: Batch) -> tuple[jax.Array, dict, Batch]:
        """The batch as training reads it: pixels randomly shifted (with a key split off `key`; the rest is
        returned), states normalised with the statistics this batch updates."""
        if self.pixels:
            key, k_augment = jax.random.split(key)
            batch = self._augmented(k_augment, batch)
        if self.config.normalize_obs:
            stats, batch = observe_batch(stats, batch)
        return key, stats, batch

    def _augmented(self, key: jax.Array, batch: Batch) -> Batch:
        """s and s' (and the future frames of n-step batches) randomly shifted, independently (the
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

    def inputs(self, params: dict, stats: dict, obs: jnp.ndarray, view: str) -> jnp.ndarray:
        """Raw observations as view `view` sees them outside training: normalised with the running
        statistics if enabled (states), or the trunk's features, encoded in chunks (pixels)."""
        if self.pixels:
            return jax.lax.map(lambda o: self.view(params, view, o), obs, batch_size=_EVAL_TRUNK_CHUNK)
        return normalize(stats, obs) if self.config.normalize_obs else obs
