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


class LatentRows:
    """Rows first..end of a (1, rows, w, C) latent that a stage still needs: appended below as
    they arrive, let go above once no stage needs them."""

    def __init__(self):
        self.array: np.ndarray | None = None
        self.first = 0

    @property
    def end(self) -> int:
        return self.first + (0 if self.array is None else self.array.shape[1])

    @property
    def width(self) -> int:
        return self.array.shape[2]

    def append(self, rows: np.ndarray) -> None:
        self.array = rows if self.array is None else np.concatenate([self.array, rows], 1)

    def window(self, start: int, end: int) -> np.ndarray:
        if start < self.first or end > self.end:
            raise AssertionError(f"rows {start}..{end} of a latent that holds {self.first}..{self.end}")
        return self.array[:, start - self.first : end - self.first]

    def release(self, before: int) -> None:
        if self.array is not None and before > self.first:
            self.array = self.array[:, before - self.first :].copy()
            self.first = before


def side_window(family: CompressiveFamily, z_hat: np.ndarray, first: int, end: int) -> tuple[np.ndarray, int]:
    """The rows of z_hat whose hyper-synthesis covers y's rows first..end with `stripe_halo` rows
    of y each side, and y's row `first` counted from the window's first row x 4."""
    d, halo = family.hyper_downsampling, family.stripe_halo
    top = max(0, first - halo) // d
    return z_hat[:, top : ceil_div(end + halo, d)], first - top * d


def side_rows_needed(family: CompressiveFamily, rows: int, end: int) -> int:
    """How many rows of z_hat the hyper-synthesis of y's rows ..end reads (side_window)."""
    d = family.hyper_downsampling
    return min(ceil_div(rows, d), ceil_div(end + family.stripe_halo, d))


class SideAnalysis:
    """The hyper-analysis of a latent that arrives in rows (LatentRows), a stripe at a time once
    `stripe_halo` rows of y below the stripe have arrived: z and z_hat in rows, top to bottom.
    z is held whole (1/16 of y's positions) and coded last."""

    def __init__(self, family: CompressiveFamily, model, stripes: list[tuple[int, int]], rows: int):
        self.family, self.model, self.stripes, self.rows = family, model, stripes, rows
        self.z: list[np.ndarray] = []
        self.z_hat_rows: list[np.ndarray] = []
        self.analysed = 0  # stripes through the hyper-analysis

    def advance(self, y: LatentRows) -> None:
        """Analyses every stripe whose window of y has arrived."""
        import tensorflow as tf

        d, halo = self.family.hyper_downsampling, self.family.stripe_halo
        while self.analysed < len(self.stripes) and y.end >= min(
            self.rows, self.stripes[self.analysed][1] + halo
        ):
            first, end = self.stripes[self.analysed]
            top = max(0, first - halo)
            part = self.model.hyper_analysis_tile(tf.constant(y.window(top, min(y.end, end + halo))))
            lead = (first - top) // d
            self.z.append(part.numpy()[:, lead : lead + ceil_div(end - first, d)])
            self.z_hat_rows.append(self.model.quantize_side(tf.constant(self.z[-1])).numpy())
            self.analysed += 1

    def covers(self, end: int) -> bool:
        """Whether z_hat reaches the rows that the hyper-synthesis of y's rows ..end needs."""
        z_rows = sum(part.shape[1] for part in self.z_hat_rows)
        return z_rows >= side_rows_needed(self.family, self.rows, end)

    def z_hat(self) -> np.ndarray:
        return np.concatenate(self.z_hat_rows, 1)

    def first_needed(self) -> int:
        """The first row of y that the hyper-analysis still needs."""
        if self.analysed == len(self.stripes):
            return self.rows
        return max(0, self.stripes[self.analysed][0] - self.family.stripe_halo)

    def finish(self) -> tuple[bytes, np.ndarray]:
        """The side string and z's shape, once every stripe is analysed."""
        import tensorflow as tf

        z = np.concatenate(self.z, 1)
        return self.model.compress_side(tf.constant(z)).numpy()[0], np.array(z.shape[1:3], np.int32)


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
        the arriving bands: the hyper-analysis of each stripe (SideAnalysis) gives its rows of z;
        each stripe's symbols go on one range encoder once the z rows of its window have, under
        the tables that the hyper-synthesis of that window of z_hat selects. Only the rows of y
        that a stage still needs are held; z (1/16 of y's positions) is held whole, and its
        string is made last."""
        if not self.can_stripe(model, point):
            return super().compress_latent(model, bands, rows, point, tile)
        import tensorflow as tf
        import tensorflow_compression as tfc

        self.set_point(model, point)
        stripes = self.stripes(tile, rows)
        y, side = LatentRows(), SideAnalysis(self, model, stripes, rows)
        coded = 0  # stripes on the range coder
        handle = tfc.create_range_encoder([1], model.range_coding_table()[0])
        for band in itertools.chain(bands, [None]):  # None: every band has arrived
            if band is not None:
                y.append(band)
            side.advance(y)
            while coded < side.analysed and side.covers(stripes[coded][1]):
                first, end = stripes[coded]
                indexes = self._stripe_indexes(model, side.z_hat(), first, end, y.width)
                symbols = model.stripe_symbols(tf.constant(y.window(first, end)), indexes)
                handle = tfc.entropy_encode_index(handle, indexes, symbols)
                coded += 1
            y.release(min(side.first_needed(), stripes[coded][0] if coded < len(stripes) else rows))
        string = tfc.entropy_encode_finalize(handle).numpy()[0]
        side_string, z_shape = side.finish()
        return [string, side_string], [np.array([rows, y.width], np.int32), z_shape]

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
        z_hat (side_window)."""
        import tensorflow as tf

        window, lead = side_window(self, z_hat, first, end)
        return model.stripe_indexes(tf.constant(window), tf.constant(lead), tf.constant([end - first, width]))

    def payloads(self, model, params, point, height, width) -> list[Payload]:
        _, y, z = self.coded_shapes(params, height, width)
        return [
            Payload(model.entropy_model, y[0] * y[1], params["latent_filters"]),
            Payload(model.side_entropy_model, z[0] * z[1], None),
        ]


FAMILY = HyperpriorFamily()
