"""Minnen & Singh 2020, "Channel-wise autoregressive entropy models for learned image
compression" (ICIP 2020; tfc's `models/ms2020.py`): the hyperprior's latent coded slice by
slice, each slice's Gaussian conditioned on the slices before it, plus latent residual
prediction. The network is `ms2020_network.ChannelwiseAutoregressive`.
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
    params_from_yaml,
    unit_normalization_required,
)
from aecompress.models.hyperprior import LatentRows, SideAnalysis, side_rows_needed, side_window

# Latent rows of context of a slice transform (its 5x5, 5x5 and 3x3 convolutions see +-5 rows).
SLICE_HALO = 5


def slice_supports(model) -> list[int]:
    """How many slices (the first ones) condition each slice, from a live or a reloaded model."""
    return [int(v) for v in model.slice_supports().numpy()]


class SliceWavefront:
    """ms2020's channel-wise autoregression on stripes of latent rows, one range coder per slice,
    so that neither the latent nor its slices are ever whole in memory.

    Slice k's stripe of rows a..b is coded once the hyper-synthesis's means and scales and the
    decoded slices that condition it (y_hat of the first `slice_support(k)` slices) reach
    SLICE_HALO rows below b; its rows become final (the latent residual prediction added) once
    its own quantized values reach SLICE_HALO rows below b. Each slice lags the ones that
    condition it by about two stripes, a wavefront down the image; every window is cut from the
    same stripes on both sides, so the encoder and the decoder compute the same tables to the
    bit. `source(k, first, end, table, mean, unit)` gives the symbols of slice k's rows (the
    encoder's from y, the decoder's from its range decoder); `finals` are the slices whose final
    rows are kept (every slice when decoding; only the conditioning ones when encoding)."""

    def __init__(
        self, family, model, stripes: list[tuple[int, int]], rows: int, width: int, finals: int, source
    ):
        self.family, self.model, self.stripes, self.rows, self.width = family, model, stripes, rows, width
        self.source, self.finals = source, finals
        self.support = slice_supports(model)
        self.slices = len(self.support)
        self.means, self.scales = LatentRows(), LatentRows()
        self.quantized = [LatentRows() for _ in range(self.slices)]
        self.final = [LatentRows() for _ in range(self.slices)]
        self.arrived = rows  # the rows `source` can give (the encoder's rows of y so far)
        self.hyper = 0  # stripes through the hyper-synthesis
        self.coded = [0] * self.slices
        self.finalized = [0] * self.slices
        self.emitted = 0  # the decoder's rows handed on

    def window(self, first: int, end: int) -> tuple[int, int]:
        return max(0, first - SLICE_HALO), min(self.rows, end + SLICE_HALO)

    def advance(self, z_hat: np.ndarray | None, past: int | None = None) -> None:
        """Runs every stage as far as its inputs allow, or until every slice has made rows final
        beyond row `past` (the decoder's: it hands them on and lets them go): the hyper-synthesis
        while z_hat (None: not yet any) covers a stripe's window, then each slice a stripe at a
        time, in turn."""
        import tensorflow as tf

        progress = True
        while progress and not (past is not None and self.ready() > past):
            progress = False
            if z_hat is not None and self.hyper < len(self.stripes):
                first, end = self.stripes[self.hyper]
                if z_hat.shape[1] >= side_rows_needed(self.family, self.rows, end):
                    window, lead = side_window(self.family, z_hat, first, end)
                    means, scales = self.model.hyper_stripe(
                        tf.constant(window), tf.constant(lead), tf.constant([end - first, self.width])
                    )
                    self.means.append(means.numpy())
                    self.scales.append(scales.numpy())
                    self.hyper += 1
                    progress = True
            for k in range(self.slices):
                progress |= self._code(k) | self._finalize(k)
            self.release()

    def ready(self) -> int:
        """The rows that every slice has made final."""
        return min(final.end for final in self.final)

    def _support(self, k: int, top: int, bottom: int) -> np.ndarray | None:
        """The decoded slices that condition slice k on rows top..bottom (None: not there yet)."""
        if any(self.final[j].end < bottom for j in range(self.support[k])):
            return None
        parts = [self.final[j].window(top, bottom) for j in range(self.support[k])]
        return np.concatenate(parts, -1) if parts else np.zeros((1, bottom - top, self.width, 0), np.float32)

    def _code(self, k: int) -> bool:
        import tensorflow as tf

        if self.coded[k] == len(self.stripes):
            return False
        first, end = self.stripes[self.coded[k]]
        top, bottom = self.window(first, end)
        support = self._support(k, top, bottom)
        if support is None or self.means.end < bottom or self.arrived < end:
            return False
        tables = getattr(self.model, f"slice_tables_{k}")
        table, mean, unit = tables(
            tf.constant(self.means.window(top, bottom)), tf.constant(self.scales.window(top, bottom)),
            tf.constant(support), tf.constant(first - top), tf.constant(end - first),
        )  # fmt: skip
        symbols = self.source(k, first, end, table, mean, unit)
        if k < self.finals:  # its quantized values make its final rows
            self.quantized[k].append(self.model.slice_values(symbols, table, mean, unit).numpy())
        self.coded[k] += 1
        return True

    def _finalize(self, k: int) -> bool:
        import tensorflow as tf

        if k >= self.finals or self.finalized[k] == self.coded[k]:
            return False
        first, end = self.stripes[self.finalized[k]]
        top, bottom = self.window(first, end)
        if self.quantized[k].end < bottom:
            return False
        residual = getattr(self.model, f"slice_residual_{k}")
        windows = (self.means.window(top, bottom), self._support(k, top, bottom))
        y_hat = residual(
            *(tf.constant(w) for w in windows), tf.constant(self.quantized[k].window(top, bottom)),
            tf.constant(first - top), tf.constant(end - first),
        )  # fmt: skip
        self.final[k].append(y_hat.numpy())
        self.finalized[k] += 1
        return True

    def first_needed(self, k: int) -> int:
        """The first row that slice k's next stripes (to code or to make final) still read."""
        pending = [self.coded[k]] + ([self.finalized[k]] if k < self.finals else [])
        return min(self.window(*self.stripes[s])[0] if s < len(self.stripes) else self.rows for s in pending)

    def release(self) -> None:
        """Lets go of every row no stage still reads, nor the decoder's output (`emitted`)."""
        needed = [self.first_needed(k) for k in range(self.slices)]
        self.means.release(min(needed))
        self.scales.release(min(needed))
        for k in range(self.slices):
            self.quantized[k].release(needed[k])
            readers = [needed[j] for j in range(self.slices) if k < self.support[j]]
            self.final[k].release(min([self.emitted if self.finals == self.slices else self.rows, *readers]))


class MinnenSingh2020(CompressiveFamily):
    name = "ms2020"
    description = (
        "Compressive AE with a channel-wise autoregressive entropy model and latent residual "
        "prediction (Minnen & Singh 2020; tfc's ms2020): y coded in slices, each conditioned on "
        "the hyperprior and the slices before it."
    )
    params_schema = params_from_yaml(
        """
        lmbda:
          type: number
          exclusiveMinimum: 0
          default: 0.01
          description: loss = bits per pixel (slices + side information) + lmbda * MSE on the 0..255 scale.
        num_filters:
          type: integer
          minimum: 1
          default: 192
          description: Filters of the analysis and synthesis transforms (the reference uses 192).
        latent_depth:
          type: integer
          minimum: 1
          default: 320
          description: Channels of the latent y; a multiple of num_slices (the reference uses 320).
        hyperprior_depth:
          type: integer
          minimum: 1
          default: 192
          description: Channels of the hyper-latent z (the reference uses 192).
        hyper_filters:
          type: integer
          minimum: 1
          default: 256
          description: Middle width of the hyper-analysis and both hyper-synthesis transforms (reference 256).
        slice_filters:
          type: array
          minItems: 2
          maxItems: 2
          items: {type: integer, minimum: 1}
          default: [224, 128]
          description: Widths of the two hidden layers of every slice transform (mean, scale, LRP).
        num_slices:
          type: integer
          minimum: 1
          maximum: 31
          default: 10
          description: Channel slices of y, each coded after and conditioned on the ones before it.
        max_support_slices:
          type: integer
          minimum: -1
          default: 5
          description: At most this many earlier slices condition a slice (-1 = all; the reference uses 5).
    """,
        GAUSSIAN_SCALES,
        VARIABLE_RATE,
    )
    method_id, variable_rate_method_id = 10, 18
    hyper_downsampling = 4
    stripe_halo = 16  # as the hyperprior's: its hyper-transforms have the same shape

    def check(self, params: dict[str, Any], preprocessing: dict[str, Any], source) -> list[str]:
        problems = super().check(params, preprocessing, source)
        if params["latent_depth"] % params["num_slices"]:
            problems.append(
                f"params.num_slices: {params['num_slices']} does not divide latent_depth "
                f"{params['latent_depth']} into equal slices"
            )
        return problems

    def latent_channels(self, params: dict[str, Any]) -> int:
        return params["latent_depth"]

    def build_model(self, params, image_shape, normalization, preprocessing=None):
        from aecompress.models.ms2020_network import ChannelwiseAutoregressive

        unit_normalization_required(normalization, self.name)
        params = self.with_defaults(params)
        return ChannelwiseAutoregressive(
            params["lmbda"], params["num_filters"], params["latent_depth"], params["hyperprior_depth"],
            params["num_slices"], params["max_support_slices"], params["hyper_filters"],
            params["slice_filters"], params["num_scales"], params["scale_min"], params["scale_max"],
            image_shape[2], params["lambda_range"], params["rate_anchors"],
        )  # fmt: skip

    # Tiled coding: its latent in stripes (ChannelwiseAutoregressive.export_slice_stripes)

    stripe_functions = (
        "hyper_analysis_tile",
        "compress_side",
        "quantize_side",
        "decompress_side",
        "slice_supports",
        "hyper_stripe",
        "slice_tables_0",
        "slice_residual_0",
        "slice_symbols",
        "slice_values",
        "range_coding_table",
    )

    def compress_latent(self, model, bands, rows, point, tile):
        """As CompressiveFamily's, for the channel-wise autoregression: the hyper-analysis of each
        stripe as its rows of y arrive (hyperprior.SideAnalysis), then each slice's stripes on
        its own range encoder (SliceWavefront) as far as z_hat and the slices that condition it
        allow. Only the rows of y that a stage still needs are held."""
        if not self.can_stripe(model, point):
            return super().compress_latent(model, bands, rows, point, tile)
        import tensorflow as tf
        import tensorflow_compression as tfc

        self.set_point(model, point)
        stripes = self.stripes(tile, rows)
        y, side = LatentRows(), SideAnalysis(self, model, stripes, rows)
        cdf = model.range_coding_table()[0]
        supports = slice_supports(model)
        handles = [tfc.create_range_encoder([1], cdf) for _ in supports]
        depth, wave = None, None

        def encode(k, first, end, table, mean, unit):
            symbols = model.slice_symbols(
                tf.constant(y.window(first, end)[..., k * depth : (k + 1) * depth]), table, mean, unit
            )
            handles[k] = tfc.entropy_encode_index(handles[k], table, symbols)
            return symbols

        for band in itertools.chain(bands, [None]):  # None: every band has arrived
            if band is not None:
                y.append(band)
            if wave is None:
                depth = y.array.shape[3] // len(supports)
                wave = SliceWavefront(self, model, stripes, rows, y.width, max(supports), encode)
            side.advance(y)
            wave.arrived = y.end
            wave.advance(side.z_hat() if side.z_hat_rows else None)
            y.release(
                min(
                    side.first_needed(),
                    *(wave.stripes[c][0] if c < len(stripes) else rows for c in wave.coded),
                )
            )
        strings = [tfc.entropy_encode_finalize(handle).numpy()[0] for handle in handles]
        side_string, z_shape = side.finish()
        return [*strings, side_string], [np.array([rows, y.width], np.int32), z_shape]

    def latent_stripes(self, model, strings, shapes, point, tile):
        if not self.can_stripe(model, point):
            yield from super().latent_stripes(model, strings, shapes, point, tile)
            return
        import tensorflow as tf
        import tensorflow_compression as tfc

        self.set_point(model, point)
        (rows, width), z_shape = (int(v) for v in np.asarray(shapes[0])), shapes[1]
        z_hat = model.decompress_side(strings[-1], z_shape).numpy()
        cdf = model.range_coding_table()[0]
        handles = [tfc.create_range_decoder(string, cdf) for string in strings[:-1]]

        def decode(k, first, end, table, mean, unit):
            handles[k], symbols = tfc.entropy_decode_index(handles[k], table, tf.shape(table)[1:], tf.int32)
            return symbols

        wave = SliceWavefront(self, model, self.stripes(tile, rows), rows, width, len(handles), decode)
        while wave.emitted < rows:
            first = wave.emitted
            wave.advance(z_hat, past=first)
            if wave.ready() == first:
                raise AssertionError(f"{self.name}: the slices' wavefront stopped at latent row {first}")
            wave.emitted = wave.ready()
            yield first, np.concatenate([final.window(first, wave.emitted) for final in wave.final], -1)
        for handle in handles:
            self.check_decoded(tfc.entropy_decode_finalize(handle), rows, width)

    def payloads(self, model, params, point, height, width) -> list[Payload]:
        _, y, z = self.coded_shapes(params, height, width)
        slice_depth = params["latent_depth"] // params["num_slices"]
        slices = [Payload(model.entropy_model, y[0] * y[1], slice_depth)] * params["num_slices"]
        return [*slices, Payload(model.side_entropy_model, z[0] * z[1], None)]


FAMILY = MinnenSingh2020()
