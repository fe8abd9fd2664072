"""Deep convolutional autoencoder (the coursework's family).

pad to 2^blocks -> blocks x [3x3 conv, LeakyReLU, downsample (2x2 max-pool or stride-2 conv),
BatchNorm] -> linear 3x3 bottleneck conv with F filters (the latent) -> mirrored blocks of
[upsample (nearest resize + 3x3 conv, or stride-2 transposed conv), BatchNorm, LeakyReLU] ->
3x3 conv to the image channels with the normalization's output activation -> crop back.
He initialisation throughout. Its reported best model: filters [64, 32], bottleneck 32.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from aecompress.models.layers import (  # noqa: F401
    coded_shape,
    conv,
    decode_latents,
    encode_latents,
    padded_autoencoder,
    padding_of,
)
from aecompress.models.layers import reconstruct_images as reconstruct  # noqa: F401  (the family interface)
from aecompress.models.layers import whole_images as training_pixels  # noqa: F401
from aecompress.preprocessing import Normalization


def downsampling_factor(params: dict[str, Any]) -> int:
    return 2 ** len(params["filters"])


def build_model(
    params: dict[str, Any],
    image_shape: tuple[int, int, int],
    normalization: Normalization,
    preprocessing: dict[str, Any],
) -> tf.keras.Model:
    channels = image_shape[2]
    filters = params["filters"]
    encoder = tf.keras.Sequential([tf.keras.Input(shape=(None, None, channels))], name="encoder")
    for i, width in enumerate(filters):
        encoder.add(conv(width, name=f"conv_{i}"))
        encoder.add(tf.keras.layers.LeakyReLU(name=f"act_{i}"))
        if params["downsampling"] == "pool":
            encoder.add(tf.keras.layers.MaxPool2D(2, name=f"pool_{i}"))
        else:
            encoder.add(conv(width, strides=2, name=f"down_{i}"))
        encoder.add(tf.keras.layers.BatchNormalization(name=f"bn_down_{i}"))
    encoder.add(conv(params["bottleneck_filters"], name="bottleneck"))

    decoder = tf.keras.Sequential(
        [tf.keras.Input(shape=(None, None, params["bottleneck_filters"]))], name="decoder"
    )
    for i, width in reversed(list(enumerate(filters))):
        if params["upsampling"] == "resize":
            decoder.add(tf.keras.layers.UpSampling2D(2, interpolation="nearest", name=f"resize_{i}"))
            decoder.add(conv(width, name=f"up_{i}"))
        else:
            decoder.add(
                tf.keras.layers.Conv2DTranspose(
                    width, 3, strides=2, padding="same", kernel_initializer="he_normal", name=f"up_{i}"
                )
            )
        decoder.add(tf.keras.layers.BatchNormalization(name=f"bn_up_{i}"))
        decoder.add(tf.keras.layers.LeakyReLU(name=f"up_act_{i}"))
    decoder.add(conv(channels, activation=normalization.output_activation, name="output"))

    multiple, mode = padding_of(preprocessing, downsampling_factor(params))
    return padded_autoencoder(encoder, decoder, channels, multiple, mode, name="deep_cae")


def latent_shape(params: dict[str, Any], image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    factor = downsampling_factor(params)
    height, width = (-(-side // factor) for side in image_shape[:2])
    return height, width, params["bottleneck_filters"]


def nominal_ratio(params: dict[str, Any], image_shape: tuple[int, int, int]) -> float:
    """Input values / latent values (the latent of the padded image; one float = one value)."""
    return float(np.prod(image_shape)) / float(np.prod(latent_shape(params, image_shape)))
