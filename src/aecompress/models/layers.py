"""Keras layers and helpers the conv families share: pad to 2^k and crop back, predict by shape.

The layers are registered with Keras so a saved model reloads as the same layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from aecompress.images import ImageSet
from aecompress.preprocessing import Normalization, pad_tensor


@tf.keras.saving.register_keras_serializable(package="aecompress")
class PadToMultiple(tf.keras.layers.Layer):
    """Pad (N, H, W, C) at the bottom and right so H and W are multiples of `multiple`."""

    def __init__(self, multiple: int, mode: str = "replicate", **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)
        self.mode = mode

    def call(self, images):
        return pad_tensor(tf, images, self.multiple, self.mode)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "multiple": self.multiple, "mode": self.mode}


@tf.keras.saving.register_keras_serializable(package="aecompress")
class CropToReference(tf.keras.layers.Layer):
    """Crop `decoded` to the spatial size of `reference` (the unpadded input)."""

    def call(self, inputs):
        decoded, reference = inputs
        shape = tf.shape(reference)
        return decoded[:, : shape[1], : shape[2], :]


def conv(filters: int, activation=None, strides: int = 1, initializer: str = "he_normal", name=None):
    """A 3x3 'same' convolution (the building block of every conv family)."""
    return tf.keras.layers.Conv2D(
        filters, 3, strides=strides, padding="same", activation=activation, kernel_initializer=initializer,
        name=name,
    )  # fmt: skip


def padded_autoencoder(
    encoder: tf.keras.Model, decoder: tf.keras.Model, channels: int, multiple: int, mode: str, name: str
) -> tf.keras.Model:
    """input -> pad to `multiple` -> encoder -> decoder -> crop back: any H x W in, same H x W out."""
    inputs = tf.keras.Input(shape=(None, None, channels))
    padded = PadToMultiple(multiple, mode, name="pad")(inputs)
    decoded = decoder(encoder(padded))
    outputs = CropToReference(name="crop")([decoded, inputs])
    return tf.keras.Model(inputs, outputs, name=name)


def padding_of(preprocessing: dict[str, Any], factor: int) -> tuple[int, str]:
    """The pad multiple and mode: the configured ones, else the family's factor with replicate."""
    padding = preprocessing.get("padding") or {}
    multiple = padding.get("multiple") or factor
    if multiple % factor:
        raise ValueError(
            f"preprocessing.padding.multiple: {multiple} is not a multiple of the model's downsampling "
            f"factor {factor}"
        )
    return multiple, padding.get("mode", "replicate")


def whole_images(images: ImageSet, params: dict[str, Any] | None = None) -> np.ndarray:
    """The split as one (N, H, W, C) array, for families that train on whole images."""
    if not images.same_size:
        shapes = sorted({im.shape for im in images.images})[:3]
        raise ValueError(
            f"the training images have different sizes ({shapes}...); set the experiment's "
            "preprocessing.patches to train on random crops of them"
        )
    return images.stacked()


def reconstruct_images(
    model: tf.keras.Model,
    images: ImageSet,
    params: dict[str, Any],
    normalization: Normalization,
    batch_size: int = 64,
) -> list[np.ndarray]:
    """Decode every image (any size) to uint8; same-size images share batches."""
    out: list[np.ndarray | None] = [None] * len(images)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images.images):
        by_shape.setdefault(image.shape, []).append(i)
    for indices in by_shape.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            batch = normalization.forward(np.stack([images.images[i] for i in chunk]))
            decoded = normalization.inverse(model(batch, training=False).numpy())
            for j, i in enumerate(chunk):
                out[i] = decoded[j]
    return out


# The latent interface (codecs.latent): the padded conv families expose their encoder and decoder
# sub-models, so a codec can quantize what the encoder emits and decode it after range coding.


def encode_latents(
    model: tf.keras.Model, images: np.ndarray, params: dict[str, Any], normalization: Normalization
) -> np.ndarray:
    """uint8 (N, H, W, C) of one size -> the encoder's float latents (N, ..., channels)."""
    padded = model.get_layer("pad")(normalization.forward(images))
    return model.get_layer("encoder")(padded, training=False).numpy()


def decode_latents(
    model: tf.keras.Model,
    latents: np.ndarray,
    image_shape: tuple[int, int, int],
    params: dict[str, Any],
    normalization: Normalization,
) -> np.ndarray:
    """Float latents (N, ...) -> uint8 images (N, H, W, C), cropped back to `image_shape`."""
    decoded = model.get_layer("decoder")(latents, training=False).numpy()
    return normalization.inverse(decoded[:, : image_shape[0], : image_shape[1]])


def coded_shape(model: tf.keras.Model, params: dict[str, Any], image_shape: tuple[int, int, int]) -> tuple:
    """The latent shape of one image of `image_shape` (so a decoder needs only H, W and C)."""
    from aecompress.preprocessing import padded_size

    fixed = tuple(model.input_shape[1:3])
    if None not in fixed and fixed != tuple(image_shape[:2]):
        raise ValueError(
            f"this model codes {fixed[0]}x{fixed[1]} images only, not {image_shape[0]}x{image_shape[1]}"
        )
    if model.input_shape[3] != image_shape[2]:
        raise ValueError(
            f"this model codes {model.input_shape[3]}-channel images, not {image_shape[2]}-channel ones"
        )
    height, width = padded_size(image_shape[0], image_shape[1], model.get_layer("pad").multiple)
    return tuple(model.get_layer("encoder").compute_output_shape((1, height, width, image_shape[2]))[1:])
