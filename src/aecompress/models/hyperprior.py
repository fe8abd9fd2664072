"""Scale-hyperprior compressive autoencoder (Balle, Minnen, Singh, Hwang, Johnston 2018; tfc's
bmshj2018).

The network is `compressive.ScaleHyperprior`: four 5x5/2 layers each way, a hyper-analysis of
|y| whose side information z (factorized prior) predicts a Gaussian scale per element of y.
"""

from __future__ import annotations

import itertools
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

    # Tiled coding: its latent in stripes (ScaleHyperprior.export_stripes)

    stripe_functions = (
        "hyper_analysis_tile",
        "compress_side",
        "quantize_side",
        "decompress_side",
        "stripe_indexes",
        "stripe_symbols",
        "stripe_values",
        "range_coding_table",
    )

    def compress_latent(self, model, bands, rows, point, tile):
        """As CompressiveFamily's, for a latent with side information, in two stages that trail
        the arriving bands: the hyper-analysis of each stripe once `stripe_halo` rows of y below
        it have arrived gives its rows of z; each stripe's symbols go on one range encoder once
        the z rows of its window have, under the tables that the hyper-synthesis of that window
        of z_hat selects. Only the rows of y that a stage still needs are held; z (1/16 of y's
        positions) is held whole, and its string is made last."""
        if not self.can_stripe(model, point):
            return super().compress_latent(model, bands, rows, point, tile)
        import tensorflow as tf
        import tensorflow_compression as tfc

        self.set_point(model, point)
        d, halo, stripes = self.hyper_downsampling, self.stripe_halo, self.stripes(tile, rows)
        held, first_held = None, 0  # the rows of y from first_held that a stage still needs
        z, z_hat = [], []
        analysed = coded = 0  # stripes through each stage
        handle = tfc.create_range_encoder([1], model.range_coding_table()[0])
        for band in itertools.chain(bands, [None]):  # None: every band has arrived
            if band is not None:
                held = band if held is None else np.concatenate([held, band], 1)
            arrived = first_held + held.shape[1]
            while analysed < len(stripes) and arrived >= min(rows, stripes[analysed][1] + halo):
                first, end = stripes[analysed]
                top = max(0, first - halo)
                part = model.hyper_analysis_tile(
                    tf.constant(held[:, top - first_held : end + halo - first_held])
                )
                lead = (first - top) // d
                z.append(part.numpy()[:, lead : lead + ceil_div(end - first, d)])
                z_hat.append(model.quantize_side(tf.constant(z[-1])).numpy())
                analysed += 1
            z_rows = sum(part.shape[1] for part in z_hat)
            while coded < analysed and z_rows >= min(
                ceil_div(rows, d), ceil_div(stripes[coded][1] + halo, d)
            ):
                first, end = stripes[coded]
                width = held.shape[2]
                indexes = self._stripe_indexes(model, np.concatenate(z_hat, 1), first, end, width)
                symbols = model.stripe_symbols(
                    tf.constant(held[:, first - first_held : end - first_held]), indexes
                )
                handle = tfc.entropy_encode_index(handle, indexes, symbols)
                coded += 1
            needed = min(
                max(0, stripes[analysed][0] - halo) if analysed < len(stripes) else rows,
                stripes[coded][0] if coded < len(stripes) else rows,
            )
            held, first_held = held[:, needed - first_held :], needed
        z = np.concatenate(z, 1)
        string = tfc.entropy_encode_finalize(handle).numpy()[0]
        side_string = model.compress_side(tf.constant(z)).numpy()[0]
        return [string, side_string], [np.array([rows, width], np.int32), np.array(z.shape[1:3], np.int32)]

    def latent_stripes(self, model, strings, shapes, point, tile):
        if not self.can_stripe(model, point):
            yield from super().latent_stripes(model, strings, shapes, point, tile)
            return
        import tensorflow as tf
        import tensorflow_compression as tfc

        self.set_point(model, point)
        (rows, width), z_shape = (int(v) for v in np.asarray(shapes[0])), shapes[1]
        z_hat = model.decompress_side(strings[1], z_shape).numpy()
        handle = tfc.create_range_decoder(strings[0], model.range_coding_table()[0])
        for first, end in self.stripes(tile, rows):
            indexes = self._stripe_indexes(model, z_hat, first, end, width)
            handle, symbols = tfc.entropy_decode_index(handle, indexes, tf.shape(indexes)[1:], tf.int32)
            yield first, model.stripe_values(symbols, indexes).numpy()
        self.check_decoded(tfc.entropy_decode_finalize(handle), rows, width)

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
