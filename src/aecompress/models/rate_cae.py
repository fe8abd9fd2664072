"""Rate-study CAE (the CIFAR-10 paper's family): the spatial rate is the number of 2x stages.

rate R = 2^s: s x [3x3 conv + ReLU, 2x2 max-pool] -> 3x3 conv to `latent_channels` (ReLU) ->
s x [nearest-neighbour 2x upsampling, 3x3 conv + ReLU] -> 3x3 conv to the image channels.
On 32x32 CIFAR-10, rates 2, 4, 8, 16 give 16x16, 8x8, 4x4 and 2x2 latents.
"""

from __future__ import annotations

import math
from typing import Any

from aecompress.models.family import LatentFamily, ceil_div, params_from_yaml


class RateCAE(LatentFamily):
    name = "rate-cae"
    description = (
        "Rate-study CAE (the CIFAR-10 paper): log2(rate) conv + max-pool stages, ReLU, "
        "nearest-neighbour upsampling decoder."
    )
    params_schema = params_from_yaml("""
        rate:
          enum: [2, 4, 8, 16, 32]
          default: 4
          description: Spatial compression rate R = 2^stages (32x32 -> 32/R x 32/R latent).
        filters:
          type: integer
          minimum: 1
          default: 32
          description: Filters of every conv stage.
        latent_channels:
          type: integer
          minimum: 1
          default: 3
          description: Channels of the latent (3 keeps the image's channel count; values ratio R^2).
    """)

    def downsampling_factor(self, params: dict[str, Any]) -> int:
        return int(params["rate"])

    def latent_shape(self, params: dict[str, Any], image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """The paper's own 'compression rate' is the spatial rate R; the nominal ratio counts values."""
        rate = params["rate"]
        return ceil_div(image_shape[0], rate), ceil_div(image_shape[1], rate), params["latent_channels"]

    def build_model(self, params, image_shape, normalization, preprocessing=None):
        import tensorflow as tf

        from aecompress.models.layers import conv, padded_autoencoder, padding_of

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

        multiple, mode = padding_of(preprocessing or {}, self.downsampling_factor(params))
        return padded_autoencoder(encoder, decoder, channels, multiple, mode, name="rate_cae")


FAMILY = RateCAE()
