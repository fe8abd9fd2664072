"""Deep convolutional autoencoder (the coursework's family).

pad to 2^blocks -> blocks x [3x3 conv, LeakyReLU, downsample (2x2 max-pool or stride-2 conv),
BatchNorm] -> linear 3x3 bottleneck conv with F filters (the latent) -> mirrored blocks of
[upsample (nearest resize + 3x3 conv, or stride-2 transposed conv), BatchNorm, LeakyReLU] ->
3x3 conv to the image channels with the normalization's output activation -> crop back.
He initialisation throughout. Its reported best model: filters [64, 32], bottleneck 32.
"""

from __future__ import annotations

from typing import Any

from aecompress.models.family import LatentFamily, ceil_div, params_from_yaml


class DeepCAE(LatentFamily):
    name = "deep-cae"
    description = (
        "Deep CAE (the coursework): pad to 2^k, conv + max-pool/strided blocks with BatchNorm and "
        "LeakyReLU, linear bottleneck conv, resize-convolution decoder, crop back."
    )
    params_schema = params_from_yaml("""
        filters:
          type: array
          minItems: 1
          maxItems: 3
          items: {type: integer, minimum: 1}
          default: [64, 32]
          description: Filters of each down/up block (1-3 blocks; the downsampling factor is 2^blocks).
        bottleneck_filters:
          type: integer
          minimum: 1
          default: 32
          description: >
            Filters F of the linear bottleneck conv (the latent); the coursework compares 8, 16, 32.
        downsampling:
          enum: [pool, strided]
          default: pool
          description: 2x2 max-pooling after each block's conv, or a stride-2 3x3 conv.
        upsampling:
          enum: [resize, transposed]
          default: resize
          description: Nearest 2x resize + 3x3 conv (resize-convolution), or a stride-2 transposed conv.
    """)

    def downsampling_factor(self, params: dict[str, Any]) -> int:
        return 2 ** len(params["filters"])

    def latent_shape(self, params: dict[str, Any], image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """The latent of the padded image."""
        factor = self.downsampling_factor(params)
        return (
            ceil_div(image_shape[0], factor),
            ceil_div(image_shape[1], factor),
            params["bottleneck_filters"],
        )

    def build_model(self, params, image_shape, normalization, preprocessing=None):
        import tensorflow as tf

        from aecompress.models.layers import conv, padded_autoencoder, padding_of

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

        multiple, mode = padding_of(preprocessing or {}, self.downsampling_factor(params))
        return padded_autoencoder(encoder, decoder, channels, multiple, mode, name="deep_cae")


FAMILY = DeepCAE()
