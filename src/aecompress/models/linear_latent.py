"""Linear-latent CAE (the STL-10 notebook's family): conv stages, then a dense latent vector.

Per stage: 3x3 conv + ReLU, then a stride-2 3x3 conv + ReLU (48 -> 96 -> 192 -> 384 channels
at 96x96 leaves 6x6x384), optional spatial dropout; flatten -> dense latent (200 units,
linear); the decoder mirrors it with dense -> reshape -> stride-2 transposed convs. Xavier
(Glorot uniform) initialisation. The dense layers fix the image size, so every image of the
dataset must share one size (padded to 2^stages when needed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aecompress.models.family import LatentFamily, params_from_yaml
from aecompress.preprocessing import padded_size

INIT = "glorot_uniform"


class LinearLatentCAE(LatentFamily):
    name = "linear-latent-cae"
    description = (
        "Linear-latent CAE (the STL-10 notebook): stride-2 conv stages, a dense latent vector, "
        "transposed-conv decoder, optional spatial dropout."
    )
    params_schema = params_from_yaml("""
        stage_filters:
          type: array
          minItems: 1
          maxItems: 6
          items: {type: integer, minimum: 1}
          default: [48, 96, 192, 384]
          description: Channels of each stride-2 stage (two 3x3 convs each).
        latent_units:
          type: integer
          minimum: 1
          default: 200
          description: Size of the dense (linear) latent vector.
        dropout:
          type: number
          minimum: 0
          exclusiveMaximum: 1
          default: 0.0
          description: >
            Spatial dropout rate after every encoder and decoder stage (the notebook uses 0.2); 0 = off.
    """)

    def check(self, params: dict[str, Any], preprocessing: dict[str, Any], source) -> list[str]:
        problems = []
        if source.fixed_size is False:
            problems.append(
                f"family linear-latent-cae: its dense latent fixes the image size, but source "
                f"'{source.name}' has images of different sizes"
            )
        if preprocessing.get("patches"):
            problems.append("preprocessing.patches: linear-latent-cae trains on whole images of one size")
        return problems

    def downsampling_factor(self, params: dict[str, Any]) -> int:
        return 2 ** len(params["stage_filters"])

    def latent_shape(self, params: dict[str, Any], image_shape: tuple[int, int, int]) -> tuple[int, ...]:
        return (params["latent_units"],)

    def build_model(self, params, image_shape, normalization, preprocessing=None):
        import tensorflow as tf

        from aecompress.models.layers import CropToReference, PadToMultiple, conv, padding_of

        height, width, channels = image_shape
        multiple, mode = padding_of(preprocessing or {}, self.downsampling_factor(params))
        padded_h, padded_w = padded_size(height, width, multiple)
        factor = self.downsampling_factor(params)
        grid = (padded_h // factor, padded_w // factor, params["stage_filters"][-1])
        dropout = params["dropout"]

        encoder = tf.keras.Sequential([tf.keras.Input(shape=(padded_h, padded_w, channels))], name="encoder")
        for i, filters in enumerate(params["stage_filters"]):
            encoder.add(conv(filters, activation="relu", initializer=INIT, name=f"conv_{i}"))
            encoder.add(conv(filters, activation="relu", strides=2, initializer=INIT, name=f"down_{i}"))
            if dropout:
                encoder.add(tf.keras.layers.SpatialDropout2D(dropout, name=f"dropout_{i}"))
        encoder.add(tf.keras.layers.Flatten(name="flatten"))
        encoder.add(tf.keras.layers.Dense(params["latent_units"], kernel_initializer=INIT, name="latent"))

        decoder = tf.keras.Sequential([tf.keras.Input(shape=(params["latent_units"],))], name="decoder")
        decoder.add(tf.keras.layers.Dense(int(np.prod(grid)), activation="relu", kernel_initializer=INIT))
        decoder.add(tf.keras.layers.Reshape(grid))
        for i in reversed(range(len(params["stage_filters"]))):
            below = params["stage_filters"][max(i - 1, 0)]
            decoder.add(
                tf.keras.layers.Conv2DTranspose(
                    below,
                    3,
                    strides=2,
                    padding="same",
                    activation="relu",
                    kernel_initializer=INIT,
                    name=f"up_{i}",
                )
            )
            decoder.add(conv(below, activation="relu", initializer=INIT, name=f"conv_{i}"))
            if dropout:
                decoder.add(tf.keras.layers.SpatialDropout2D(dropout, name=f"dropout_{i}"))
        decoder.add(
            conv(channels, activation=normalization.output_activation, initializer=INIT, name="output")
        )

        inputs = tf.keras.Input(shape=(height, width, channels))
        padded = PadToMultiple(multiple, mode, name="pad")(inputs)
        outputs = CropToReference(name="crop")([decoder(encoder(padded)), inputs])
        return tf.keras.Model(inputs, outputs, name="linear_latent_cae")


FAMILY = LinearLatentCAE()
