"""Scale-hyperprior compressive autoencoder (Balle, Minnen, Singh, Hwang, Johnston 2018; tfc's
bmshj2018).

The network is `compressive.ScaleHyperprior`: four 5x5/2 layers each way, a hyper-analysis of
|y| whose side information z (factorized prior) predicts a Gaussian scale per element of y.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aecompress.models.family import (
    GAUSSIAN_SCALES,
    VARIABLE_RATE,
    CompressiveFamily,
    Payload,
    ceil_div,
    params_from_yaml,
    unit_normalization_required,
)

# What a model exports for coding its latent in stripes (models.compressive.ScaleHyperprior
# .export_stripes); models saved before them code the whole latent at once.
STRIPE_FUNCTIONS = (
    "hyper_analysis_tile",
    "compress_side",
    "decompress_side",
    "stripe_indexes",
    "stripe_symbols",
    "stripe_values",
    "range_coding_table",
)


class HyperpriorFamily(CompressiveFamily):
    name = "hyperprior"
    description = (
        "Compressive AE with a scale hyperprior (Balle et al. 2018; tfc's bmshj2018): side "
        "information predicts a Gaussian scale per latent element."
    )
    params_schema = params_from_yaml(
        """
        num_filters:
          type: integer
          minimum: 1
          default: 192
          description: Filters N of the transforms and hyper-transforms (Balle 2018 uses 128 or 192).
        latent_filters:
          type: integer
          minimum: 1
          default: 192
          description: Channels M of the latent y (Balle 2018 uses 192, or 320 at high rates).
        lmbda:
          type: number
          exclusiveMinimum: 0
          default: 0.01
          description: loss = bits per pixel (latent + side information) + lmbda * MSE on the 0..255 scale.
    """,
        GAUSSIAN_SCALES,
        VARIABLE_RATE,
    )
    method_id, variable_rate_method_id = 7, 17
    hyper_downsampling = 4
    # Latent rows of context around a stripe: wider than the hyper-analysis's receptive field
    # (+-7 rows of y) and the hyper-synthesis's (+-2 rows of z, 8 of y), a multiple of 4.
    stripe_halo = 16

    def latent_channels(self, params: dict[str, Any]) -> int:
        return params["latent_filters"]

    def build_model(self, params, image_shape, normalization, preprocessing=None):
        from aecompress.models.compressive import ScaleHyperprior

        unit_normalization_required(normalization, self.name)
        params = self.with_defaults(params)
        return ScaleHyperprior(
            params["lmbda"],
            params["num_filters"],
            params["latent_filters"],
            params["num_scales"],
            params["scale_min"],
            params["scale_max"],
            image_shape[2],
            params["lambda_range"],
            params["rate_anchors"],
        )

    # Tiled coding: the latent in stripes of rows, around one range coder

    def stripes(self, tile: int, rows: int):
        """(first, end) latent rows of each stripe: tile / 16 rows, a multiple of 4 (z's rows)."""
        height = max(self.hyper_downsampling, tile // self.downsampling // 4 * 4)
        return [(first, min(rows, first + height)) for first in range(0, rows, height)]

    def compress_latent(self, model, y, point, tile):
        """One string for y and one for z, equal to compress_latent's on the whole latent, made a
        stripe of rows at a time: the hyper-analysis of each stripe with `stripe_halo` rows of y
        around it, then, on one range encoder, each stripe's symbols under the tables that the
        hyper-synthesis of its window of z_hat selects. The latent's copies (its absolute value,
        indexes, symbols) follow the stripe, not the image."""
        if not all(hasattr(model, name) for name in STRIPE_FUNCTIONS):
            return super().compress_latent(model, y, point, tile)
        import tensorflow as tf
        import tensorflow_compression as tfc

        self.set_point(model, point)
        rows, width, halo = y.shape[1], y.shape[2], self.stripe_halo
        z = []
        for first, end in self.stripes(tile, rows):
            top = max(0, first - halo)
            part = model.hyper_analysis_tile(tf.constant(y[:, top : end + halo])).numpy()
            lead = (first - top) // self.hyper_downsampling
            z.append(part[:, lead : lead + ceil_div(end - first, self.hyper_downsampling)])
        z = np.concatenate(z, axis=1)
        side_string, z_hat = model.compress_side(tf.constant(z))
        handle = tfc.create_range_encoder([1], model.range_coding_table())
        for first, end in self.stripes(tile, rows):
            indexes = self._stripe_indexes(model, z_hat.numpy(), first, end, width)
            symbols = model.stripe_symbols(tf.constant(y[:, first:end]), indexes)
            handle = tfc.entropy_encode_index(handle, indexes, symbols)
        string = tfc.entropy_encode_finalize(handle).numpy()[0]
        shapes = [np.array([rows, width], np.int32), np.array(z.shape[1:3], np.int32)]
        return [string, side_string.numpy()[0]], shapes

    def decompress_latent(self, model, strings, shapes, point, tile):
        """y_hat of compress_latent's strings, a stripe at a time on one range decoder."""
        if not all(hasattr(model, name) for name in STRIPE_FUNCTIONS):
            return super().decompress_latent(model, strings, shapes, point, tile)
        import tensorflow as tf
        import tensorflow_compression as tfc

        self.set_point(model, point)
        (rows, width), z_shape = (int(v) for v in shapes[0].numpy()), shapes[1]
        z_hat = model.decompress_side(strings[1], z_shape).numpy()
        handle = tfc.create_range_decoder(strings[0], model.range_coding_table())
        y_hat = None
        for first, end in self.stripes(tile, rows):
            indexes = self._stripe_indexes(model, z_hat, first, end, width)
            handle, symbols = tfc.entropy_decode_index(handle, indexes, tf.shape(indexes)[1:], tf.int32)
            stripe = model.stripe_values(symbols, indexes).numpy()
            if y_hat is None:
                y_hat = np.empty((1, rows, width, stripe.shape[-1]), np.float32)
            y_hat[:, first:end] = stripe
        if not bool(tfc.entropy_decode_finalize(handle).numpy().all()):
            raise ValueError(
                f"{self.name}: the latent's string does not decode to a {rows}x{width} latent "
                "(corrupt, truncated, or from another model)"
            )
        return y_hat

    def _stripe_indexes(self, model, z_hat: np.ndarray, first: int, end: int, width: int):
        """The table indexes of y's rows first..end from the hyper-synthesis of their window of
        z_hat (`stripe_halo` rows of y each side)."""
        import tensorflow as tf

        d, halo = self.hyper_downsampling, self.stripe_halo
        top = max(0, first - halo) // d
        window = z_hat[:, top : ceil_div(end + halo, d)]
        return model.stripe_indexes(
            tf.constant(window), tf.constant(first - top * d), tf.constant([end - first, width])
        )

    def payloads(self, model, params, point, height, width) -> list[Payload]:
        _, y, z = self.coded_shapes(params, height, width)
        return [
            Payload(model.entropy_model, y[0] * y[1], params["latent_filters"]),
            Payload(model.side_entropy_model, z[0] * z[1], None),
        ]


FAMILY = HyperpriorFamily()
