"""Rate-study CAE (the CIFAR-10 paper's family): the spatial rate is the number of 2x stages.

rate R = 2^s: s x [3x3 conv + ReLU, 2x2 max-pool] -> 3x3 conv to `latent_channels` (ReLU) ->
s x [nearest-neighbour 2x upsampling, 3x3 conv + ReLU] -> 3x3 conv to the image channels.
On 32x32 CIFAR-10, rates 2, 4, 8, 16 give 16x16, 8x8, 4x4 and 2x2 latents.
"""

from __future__ import annotations

import math
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
    return int(params["rate"])


def build_model(
    params: dict[str, Any],
    image_shape: tuple[int, int, int],
    normalization: Normalization,
    preprocessing: dict[str, Any],
) -> tf.keras.Model:
    channels, stages, width = image_shape[2], int(math.log2(params["rate"])), params["filters"]
    encoder = tf.keras.Sequential([tf.keras.Input(shape=(None, None, channels))], name="encoder")
    for i in range(stages):
        encoder.add(conv(width, activation="relu", name=f"conv_{i}"))
        encoder.add(tf.keras.layers.MaxPool2D(2, name=f"pool_{i}"))
    encoder.add(conv(params["latent_channels"], activation="relu", name="latent"))

    decoder = tf.keras.Sequential(
        [tf.keras.Input(shape=(None, None, params["latent_channels"]))], name="decoder"
    )
    for i in range(stages):
        decoder.add(tf.keras.layers.UpSampling2D(2, interpolation="nearest", name=f"upsample_{i}"))
        decoder.add(conv(width, activation="relu", name=f"up_{i}"))
    decoder.add(conv(channels, activation=normalization.output_activation, name="output"))

    multiple, mode = padding_of(preprocessing, downsampling_factor(params))
    return padded_autoencoder(encoder, decoder, channels, multiple, mode, name="rate_cae")


def latent_shape(params: dict[str, Any], image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    rate = params["rate"]
    return -(-image_shape[0] // rate), -(-image_shape[1] // rate), params["latent_channels"]


def nominal_ratio(params: dict[str, Any], image_shape: tuple[int, int, int]) -> float:
    """Input values / latent values. The paper's own 'compression rate' is the spatial rate R."""
    return float(np.prod(image_shape)) / float(np.prod(latent_shape(params, image_shape)))
