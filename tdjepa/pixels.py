"""Pixel observations: the DrQ convolutional trunk and DrQ's random-shift augmentation.

Frames are stored as uint8 (H, W, C·frames) and converted to x/255 − 0.5 on the device, inside the
trunk, so batches cross the host–device boundary at a quarter of their float32 size.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from tdjepa.networks import RELU_GAIN, dense, orthogonal


class DrQEncoder(nn.Module):
    """Conv(32, 3, stride 2) → 3 × Conv(32, 3) with ReLUs, flattened, then Linear → LayerNorm → Tanh
    (the reference DrQEncoder: 64×64 frames give 32·25·25 = 20000 conv features)."""

    feature_dim: int = 256
    channels: int = 32

    @nn.compact
    def __call__(self, frames: jnp.ndarray) -> jnp.ndarray:
        x = frames.astype(jnp.float32) / 255.0 - 0.5
        conv = dict(kernel_size=(3, 3), padding="VALID", kernel_init=orthogonal(RELU_GAIN))
        x = nn.relu(nn.Conv(self.channels, strides=(2, 2), **conv)(x))
        for _ in range(3):
            x = nn.relu(nn.Conv(self.channels, strides=(1, 1), **conv)(x))
        x = x.reshape(*x.shape[:-3], -1)
        return jnp.tanh(nn.LayerNorm()(dense(self.feature_dim)(x)))


def random_shift(key: jax.Array, images: jnp.ndarray, pad: int) -> jnp.ndarray:
    """DrQ augmentation: pads each (H, W, C) image by `pad` pixels, repeating its border, and crops it
    back at an offset drawn uniformly from {0, …, 2·pad}² independently per image. (The reference's
    grid_sample at pixel centres shifted by whole pixels is this integer crop.)"""
    if pad == 0:
        return images
    height, width = images.shape[-3:-1]
    padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    offsets = jax.random.randint(key, (images.shape[0], 2), 0, 2 * pad + 1)

    def crop(image: jnp.ndarray, offset: jnp.ndarray) -> jnp.ndarray:
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (height, width, image.shape[-1]))

    return jax.vmap(crop)(padded, offsets)
