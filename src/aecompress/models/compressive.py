"""Compressive autoencoders with tensorflow-compression: Balle et al. 2017 and 2018.

Factorized prior (Balle, Laparra, Simoncelli 2017, tfc's bls2017 example): analysis
9x9/4 - GDN - 5x5/2 - GDN - 5x5/2, synthesis mirrored with IGDN, latent y coded with a
NoisyDeepFactorized prior per channel. Scale hyperprior (Balle et al. 2018, tfc's bmshj2018
example): four 5x5/2 layers each way, a hyper-analysis of |y| whose side information z
(factorized prior) predicts the scale of a Gaussian for every element of y.

Training minimises rate + lambda * distortion: rate in bits per pixel from the entropy model's
likelihoods (additive uniform noise stands in for rounding), distortion the MSE on the 0..255
scale, so lambda has the units of tfc's examples (bls2017: 0.01). After training the entropy
models are rebuilt with range-coding tables, and the saved model exports `compress` (uint8
image -> strings and shapes) and `decompress` (the inverse), as tfc's examples do.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc


def signal_conv(filters, kernel, name, down=None, up=None, activation=None, use_bias=True):
    return tfc.SignalConv2D(
        filters,
        (kernel, kernel),
        name=name,
        corr=down is not None,
        strides_down=down or 1,
        strides_up=up or 1,
        padding="same_zeros",
        use_bias=use_bias,
        activation=activation,
    )


def factorized_analysis(filters: int) -> tf.keras.Sequential:
    return tf.keras.Sequential(
        [
            signal_conv(filters, 9, "layer_0", down=4, activation=tfc.GDN(name="gdn_0")),
            signal_conv(filters, 5, "layer_1", down=2, activation=tfc.GDN(name="gdn_1")),
            signal_conv(filters, 5, "layer_2", down=2, use_bias=False),
        ],
        name="analysis",
    )


def factorized_synthesis(filters: int, channels: int) -> tf.keras.Sequential:
    return tf.keras.Sequential(
        [
            signal_conv(filters, 5, "layer_0", up=2, activation=tfc.GDN(name="igdn_0", inverse=True)),
            signal_conv(filters, 5, "layer_1", up=2, activation=tfc.GDN(name="igdn_1", inverse=True)),
            signal_conv(channels, 9, "layer_2", up=4),
        ],
        name="synthesis",
    )


def hyperprior_analysis(filters: int, latent: int) -> tf.keras.Sequential:
    layers = [
        signal_conv(filters, 5, f"layer_{i}", down=2, activation=tfc.GDN(name=f"gdn_{i}")) for i in range(3)
    ]
    return tf.keras.Sequential(
        [*layers, signal_conv(latent, 5, "layer_3", down=2, use_bias=False)], name="analysis"
    )


def hyperprior_synthesis(filters: int, channels: int) -> tf.keras.Sequential:
    layers = [
        signal_conv(filters, 5, f"layer_{i}", up=2, activation=tfc.GDN(name=f"igdn_{i}", inverse=True))
        for i in range(3)
    ]
    return tf.keras.Sequential([*layers, signal_conv(channels, 5, "layer_3", up=2)], name="synthesis")


def hyper_analysis(filters: int) -> tf.keras.Sequential:
    return tf.keras.Sequential(
        [
            signal_conv(filters, 3, "layer_0", down=1, activation=tf.nn.relu),
            signal_conv(filters, 5, "layer_1", down=2, activation=tf.nn.relu),
            signal_conv(filters, 5, "layer_2", down=2, use_bias=False),
        ],
        name="hyper_analysis",
    )


def hyper_synthesis(filters: int, latent: int) -> tf.keras.Sequential:
    return tf.keras.Sequential(
        [
            signal_conv(filters, 5, "layer_0", up=2, activation=tf.nn.relu),
            signal_conv(filters, 5, "layer_1", up=2, activation=tf.nn.relu),
            signal_conv(latent, 3, "layer_2", up=1),
        ],
        name="hyper_synthesis",
    )


class LatentSteps(tf.keras.layers.Layer):
    """The quantization step of each latent channel as a function of lambda: what makes one
    model code at every rate. The latent is divided by the step before rounding and multiplied
    back after, so a smaller step spends more bits on a finer latent (CompressAI's variable-rate
    models scale a quantization step the same way; Cui et al. 2021's gain units are its inverse).
    log(step) is learned at `anchors` lambdas log-spaced over the range and interpolated linearly
    in log-lambda between them (Cui's exponential interpolation); it starts at (lambda / the
    range's geometric middle) ** -1/2, the high-rate optimum for an MSE distortion."""

    def __init__(self, channels: int, lambda_min: float, lambda_max: float, anchors: int, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.anchors = int(channels), int(anchors)
        self.log_min, self.log_max = float(np.log(lambda_min)), float(np.log(lambda_max))
        middle = (self.log_min + self.log_max) / 2
        start = -0.5 * (np.linspace(self.log_min, self.log_max, self.anchors) - middle)
        self.log_steps = self.add_weight(
            name="log_steps",
            shape=(self.anchors, self.channels),
            initializer=tf.keras.initializers.Constant(np.repeat(start[:, None], self.channels, axis=1)),
        )

    def call(self, lmbda):
        """(C,) steps at the scalar `lmbda` (held to the range)."""
        position = (tf.math.log(tf.cast(lmbda, tf.float32)) - self.log_min) / (self.log_max - self.log_min)
        position = tf.clip_by_value(position * (self.anchors - 1), 0.0, self.anchors - 1.0)
        below = tf.minimum(tf.floor(position), self.anchors - 2.0)
        weight = position - below
        below = tf.cast(below, tf.int32)
        log_step = (1.0 - weight) * self.log_steps[below] + weight * self.log_steps[below + 1]
        return tf.exp(log_step)

    def get_config(self):
        config = super().get_config()
        lambdas = {"lambda_min": float(np.exp(self.log_min)), "lambda_max": float(np.exp(self.log_max))}
        return {**config, "channels": self.channels, "anchors": self.anchors, **lambdas}


class CompressiveAutoencoder(tf.keras.Model):
    """Shared training and bookkeeping: rate-distortion loss, metrics, pixel scaling, and the
    variable-rate option (`lambda_range`): training draws lambda per batch, log-uniformly from
    the range; evaluation and coding use the lambda in `rate_lambda` (set by the codec, through
    models.family.CompressiveFamily.set_point), and the latent is quantized with the steps
    `latent_steps(lambda)`."""

    def __init__(
        self,
        lmbda: float,
        channels: int,
        lambda_range=None,
        rate_anchors: int = 4,
        latent_channels: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.lmbda = float(lmbda)
        self.channels = int(channels)
        self.lambda_range = None if lambda_range is None else tuple(float(v) for v in lambda_range)
        if self.lambda_range is not None:
            self.latent_steps = LatentSteps(
                latent_channels, *self.lambda_range, rate_anchors, name="latent_steps"
            )
            middle = float(np.sqrt(self.lambda_range[0] * self.lambda_range[1]))
            self.rate_lambda = tf.Variable(middle, trainable=False, dtype=tf.float32, name="rate_lambda")
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.bpp_tracker = tf.keras.metrics.Mean(name="bpp")
        self.mse_tracker = tf.keras.metrics.Mean(name="mse")

    @property
    def metrics(self):
        return [self.loss_tracker, self.bpp_tracker, self.mse_tracker]

    def rate_point(self, training):
        """(lambda, steps) of this pass: steps None for a fixed-lambda model; with a lambda range,
        a lambda drawn log-uniformly while training, else `rate_lambda`."""
        if self.lambda_range is None:
            return self.lmbda, None
        if training:
            low, high = (float(np.log(v)) for v in self.lambda_range)
            lmbda = tf.exp(tf.random.uniform((), low, high))
        else:
            lmbda = tf.identity(self.rate_lambda)
        return lmbda, self.latent_steps(lmbda)

    def coding_steps(self):
        """The steps at `rate_lambda`, on the CPU: they select range-coding tables (see
        ScaleHyperprior._coding_indexes), so both sides must compute them alike. None: fixed rate."""
        if self.lambda_range is None:
            return None
        with tf.device("/CPU:0"):
            return self.latent_steps(self.rate_lambda)

    @staticmethod
    def scaled(values, steps):
        """The latent in units of its quantization steps (unchanged for a fixed-rate model)."""
        return values if steps is None else values / steps

    @staticmethod
    def unscaled(values, steps):
        return values if steps is None else values * steps

    def rate_distortion(self, x, x_hat, bits, lmbda=None):
        """(loss, bpp, mse on [0, 1]) for unit-scaled x; the loss uses MSE on 0..255 (tfc's lambda units)."""
        pixels = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), bits.dtype)
        bpp = tf.reduce_sum(bits) / pixels
        mse = tf.reduce_mean(tf.math.squared_difference(x, x_hat))
        loss = bpp + (self.lmbda if lmbda is None else lmbda) * mse * 255.0**2
        return loss, bpp, mse

    def _step_metrics(self, loss, bpp, mse):
        trackers = (self.loss_tracker, self.bpp_tracker, self.mse_tracker)
        for tracker, value in zip(trackers, (loss, bpp, mse), strict=True):
            tracker.update_state(value)
        return {m.name: m.result() for m in trackers}

    def minimize(self, tape, loss) -> None:
        """One optimizer step on a loss averaged over this replica's share of the batch.

        A tf.distribute strategy sums the replicas' gradients, so each is divided by their count:
        N replicas then step as one device does on the whole global batch (Keras's compiled
        losses are scaled the same way).
        """
        variables = self.trainable_variables
        gradients = tape.gradient(loss, variables)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            gradients = [g / replicas for g in gradients]
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            loss, bpp, mse = self(x, training=True)
        self.minimize(tape, loss)
        return self._step_metrics(loss, bpp, mse)

    def test_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        return self._step_metrics(*self(x, training=False))

    @staticmethod
    def to_unit(image_uint8):
        return tf.cast(tf.expand_dims(image_uint8, 0), tf.float32) / 255.0

    @staticmethod
    def to_uint8(x_hat, x_shape):
        x_hat = x_hat[0, : x_shape[0], : x_shape[1], :]
        return tf.saturate_cast(tf.round(x_hat * 255.0), tf.uint8)

    def export_functions(self, functions: dict, suffix: str = "") -> None:
        """Each {name: (function, input signature)} as a tf.function attribute `name + suffix`,
        which the SavedModel keeps."""
        for name, (function, signature) in functions.items():
            setattr(self, name + suffix, tf.function(function, input_signature=signature))

    def export_tiles(self, latent_channels: int, strings: int, latent_shapes: int, suffix: str = "", **parts):
        """`analysis_tile`, `compress_latent`, `decompress_latent`, `synthesis_tile` (+ suffix):
        compress and decompress cut where a tiled coder cuts them (models.family.CompressiveFamily
        .compress): the transforms run on one tile at a time, the entropy coder on the whole latent.
        `parts` replace the network's analysis, synthesis, compress_y and decompress_y (SlimCAE's
        widths)."""
        analysis = parts.get("analysis") or self.analysis_transform
        synthesis = parts.get("synthesis") or self.synthesis_transform

        def analysis_tile(image):
            return analysis(self.to_unit(image))

        def synthesis_tile(y_hat):
            return tf.saturate_cast(tf.round(synthesis(y_hat)[0] * 255.0), tf.uint8)

        image = tf.TensorSpec(shape=(None, None, self.channels), dtype=tf.uint8)
        latent = tf.TensorSpec(shape=(1, None, None, latent_channels), dtype=tf.float32)
        string, shape = tf.TensorSpec(shape=(1,), dtype=tf.string), tf.TensorSpec(shape=(2,), dtype=tf.int32)
        functions = {
            "analysis_tile": (analysis_tile, [image]),
            "synthesis_tile": (synthesis_tile, [latent]),
            "compress_latent": (parts.get("compress_y") or self.compress_y, [latent]),
            "decompress_latent": (
                parts.get("decompress_y") or self.decompress_y,
                [string] * strings + [shape] * latent_shapes,
            ),
        }
        self.export_functions(functions, suffix)

    def export_channel_stripes(self, latent_channels: int, suffix: str = "", entropy_model=None) -> None:
        """`stripe_symbols`, `stripe_values`, `range_coding_table` (+ suffix): compress_y and
        decompress_y of a latent coded with one table per channel (tfc's
        ContinuousBatchedEntropyModel), in pieces that a coder runs on stripes of latent rows
        around one range coder (models.family.CompressiveFamily.compress_latent). Each computes
        what the entropy model's compress and decompress compute, in the same order.
        `entropy_model`: a callable giving the model's (SlimCAE: one per width)."""
        model_of = entropy_model or (lambda: self.entropy_model)
        latent = tf.TensorSpec(shape=(1, None, None, latent_channels), dtype=tf.float32)
        symbols = tf.TensorSpec(shape=(1, None, None, latent_channels), dtype=tf.int32)

        def stripe_symbols(y):
            model, y = model_of(), self.scaled(y, self.coding_steps())
            if model.quantization_offset is not None:
                y -= model.quantization_offset
            return tf.cast(tf.round(y), tf.int32) - model.cdf_offset

        def stripe_values(stripe):
            model = model_of()
            values = tf.cast(stripe + model.cdf_offset, tf.float32)
            if model.quantization_offset is not None:
                values += model.quantization_offset
            return self.unscaled(values, self.coding_steps())

        def range_coding_table():
            return model_of().cdf, model_of().cdf_offset

        functions = {
            "stripe_symbols": (stripe_symbols, [latent]),
            "stripe_values": (stripe_values, [symbols]),
            "range_coding_table": (range_coding_table, []),
        }
        self.export_functions(functions, suffix)

    def export_side_functions(self, side_channels: int, latent_channels: int, hyper_analysis) -> None:
        """`hyper_analysis_tile`, `compress_side`, `quantize_side`, `decompress_side`: the side
        information's part of compress_y and decompress_y, for a coder that makes z from stripes
        of y's rows (models.hyperprior.SideAnalysis) and codes it whole."""
        latent = tf.TensorSpec(shape=(1, None, None, latent_channels), dtype=tf.float32)
        side = tf.TensorSpec(shape=(1, None, None, side_channels), dtype=tf.float32)
        string, shape = tf.TensorSpec(shape=(1,), dtype=tf.string), tf.TensorSpec(shape=(2,), dtype=tf.int32)
        functions = {
            "hyper_analysis_tile": (hyper_analysis, [latent]),
            "compress_side": (lambda z: self.side_entropy_model.compress(z), [side]),
            "quantize_side": (lambda z: self.side_entropy_model.quantize(z), [side]),
            "decompress_side": (
                lambda s, z_shape: self.side_entropy_model.decompress(s, z_shape),
                [string, shape],
            ),
        }
        self.export_functions(functions)


def bits_estimator():
    @tf.function(input_signature=[tf.TensorSpec(shape=(None, None, None), dtype=tf.uint8)])
    def estimate_bits(self, image):
        """The entropy model's estimate of the coded bits of one image (latents rounded, no noise)."""
        _, bpp, _ = self(self.to_unit(image), training=False)
        return bpp * tf.cast(tf.reduce_prod(tf.shape(image)[:2]), bpp.dtype)

    return estimate_bits


class FactorizedPrior(CompressiveAutoencoder):
    estimate_bits = bits_estimator()

    def __init__(
        self, lmbda: float, num_filters: int, channels: int = 3, lambda_range=None, rate_anchors=4, **kwargs
    ):
        super().__init__(
            lmbda, channels, lambda_range, rate_anchors, num_filters, name="factorized_prior", **kwargs
        )
        self.analysis_transform = factorized_analysis(num_filters)
        self.synthesis_transform = factorized_synthesis(num_filters, channels)
        self.prior = tfc.NoisyDeepFactorized(batch_shape=(num_filters,))
        self.build((None, None, None, channels))
        self.export_tiles(num_filters, strings=1, latent_shapes=1)
        self.export_channel_stripes(num_filters)

    def call(self, x, training):
        entropy_model = tfc.ContinuousBatchedEntropyModel(self.prior, coding_rank=3, compression=False)
        lmbda, steps = self.rate_point(training)
        y = self.analysis_transform(x)
        y_hat, bits = entropy_model(self.scaled(y, steps), training=training)
        x_hat = self.synthesis_transform(self.unscaled(y_hat, steps))
        return self.rate_distortion(x, x_hat, bits, lmbda)

    def prepare_for_compression(self) -> None:
        """Fix the range-coding tables of the trained prior (exported with the model)."""
        self.entropy_model = ChannelEntropyModel(self.prior, coding_rank=3, compression=True)

    def quantized_reconstruction(self, image_uint8):
        """What the decoder makes of the rounded latent, without coding it (for checks)."""
        x = self.to_unit(image_uint8)
        steps = self.coding_steps()
        y_hat = self.unscaled(
            self.entropy_model.quantize(self.scaled(self.analysis_transform(x), steps)), steps
        )
        return self.to_uint8(self.synthesis_transform(y_hat), tf.shape(x)[1:-1])

    def compress_y(self, y):
        return self.entropy_model.compress(self.scaled(y, self.coding_steps())), tf.shape(y)[1:-1]

    def decompress_y(self, string, y_shape):
        return self.unscaled(self.entropy_model.decompress(string, y_shape), self.coding_steps())

    @tf.function(input_signature=[tf.TensorSpec(shape=(None, None, None), dtype=tf.uint8)])
    def compress(self, image):
        x = self.to_unit(image)
        string, y_shape = self.compress_y(self.analysis_transform(x))
        return string, tf.shape(x)[1:-1], y_shape

    @tf.function(
        input_signature=[
            tf.TensorSpec(shape=(1,), dtype=tf.string),
            tf.TensorSpec(shape=(2,), dtype=tf.int32),
            tf.TensorSpec(shape=(2,), dtype=tf.int32),
        ]
    )
    def decompress(self, string, x_shape, y_shape):
        return self.to_uint8(self.synthesis_transform(self.decompress_y(string, y_shape)), x_shape)


class TracedTables:
    """Mixin for tfc's entropy models: the range-coding tables built in one traced graph.

    Executed eagerly, tfc builds them op by op in Python loops (Adam steps towards each prior's
    tails, then one table per channel): 7-14 s for a test-size model, and every training job pays
    it before saving. Traced once, the same ops give the same tables, bit for bit, in about a
    second (tests/test_compressive.py). tfc 2.14.1, the last release, is pinned."""

    def _build_tables(self, prior, precision, offset=None):
        build = super()._build_tables
        return tf.function(lambda: build(prior, precision, offset))()


class ChannelEntropyModel(TracedTables, tfc.ContinuousBatchedEntropyModel):
    """tfc's ContinuousBatchedEntropyModel (a density per channel), its tables built traced."""


class IndexedEntropyModel(TracedTables, tfc.LocationScaleIndexedEntropyModel):
    """tfc's LocationScaleIndexedEntropyModel (a table per scale), its tables built traced."""


class GaussianScales:
    """The indexed Gaussian entropy model of the hyperprior networks (bmshj2018, ms2020): a
    range-coding table per scale, `num_scales` scales log-spaced from scale_min to scale_max,
    chosen per latent element by a predicted index."""

    def init_scales(self, num_scales: int, scale_min: float, scale_max: float) -> None:
        self.num_scales = int(num_scales)
        self.scale_offset = float(np.log(scale_min))
        self.scale_factor = float((np.log(scale_max) - np.log(scale_min)) / (num_scales - 1))

    def scaled_indexes(self, indexes, steps):
        """The scale indexes of the latent divided by `steps`: its scales divided by them."""
        return indexes if steps is None else indexes - tf.math.log(steps) / self.scale_factor

    def scale_fn(self, index):
        return tf.math.exp(self.scale_offset + self.scale_factor * index)

    def indexed_entropy_model(self, compression: bool):
        return IndexedEntropyModel(
            tfc.NoisyNormal, self.num_scales, self.scale_fn, coding_rank=3, compression=compression
        )


class ScaleHyperprior(GaussianScales, CompressiveAutoencoder):
    estimate_bits = bits_estimator()

    def __init__(
        self,
        lmbda: float,
        num_filters: int,
        latent_filters: int,
        num_scales: int = 64,
        scale_min: float = 0.11,
        scale_max: float = 256.0,
        channels: int = 3,
        lambda_range=None,
        rate_anchors: int = 4,
        **kwargs,
    ):
        super().__init__(
            lmbda, channels, lambda_range, rate_anchors, latent_filters, name="scale_hyperprior", **kwargs
        )
        self.init_scales(num_scales, scale_min, scale_max)
        self.analysis_transform = hyperprior_analysis(num_filters, latent_filters)
        self.synthesis_transform = hyperprior_synthesis(num_filters, channels)
        self.hyper_analysis_transform = hyper_analysis(num_filters)
        self.hyper_synthesis_transform = hyper_synthesis(num_filters, latent_filters)
        self.hyperprior = tfc.NoisyDeepFactorized(batch_shape=(num_filters,))
        self.build((None, None, None, channels))
        self.export_tiles(latent_filters, strings=2, latent_shapes=2)
        self.export_stripes(num_filters, latent_filters)

    def export_stripes(self, side_channels: int, latent_channels: int) -> None:
        """compress_y and decompress_y in pieces, so that a coder can run them on stripes of latent
        rows around one range coder (models.hyperprior.HyperpriorFamily; export_channel_stripes
        is the factorized prior's counterpart): the hyper-analysis of a
        window of y, the side information's coding, a stripe's table indexes from a window of
        z_hat, its symbols and back, and the range-coding table. Each computes what compress_y
        computes for those elements, with the same operations in the same order."""
        latent = tf.TensorSpec(shape=(1, None, None, latent_channels), dtype=tf.float32)
        side = tf.TensorSpec(shape=(1, None, None, side_channels), dtype=tf.float32)
        table_indexes = tf.TensorSpec(shape=(1, None, None, latent_channels), dtype=tf.int32)
        scalar, shape = tf.TensorSpec(shape=(), dtype=tf.int32), tf.TensorSpec(shape=(2,), dtype=tf.int32)

        self.export_side_functions(
            side_channels, latent_channels, lambda y: self.hyper_analysis_transform(abs(y))
        )

        def stripe_indexes(z_hat, first_row, stripe_shape):
            """The tables of y's rows first_row.. (counted from z_hat's first row x 4), as the range
            coder takes them: clipped to the tables and truncated, as tfc's compress does."""
            steps = self.coding_steps()
            with tf.device("/CPU:0"):
                indexes = self.hyper_synthesis_transform(z_hat)
                indexes = indexes[:, first_row : first_row + stripe_shape[0], : stripe_shape[1], :]
                indexes = self.scaled_indexes(indexes, steps)
                return tf.cast(tf.clip_by_value(indexes, 0.0, self.num_scales - 1.0), tf.int32)

        def stripe_symbols(y, indexes):
            symbols = tf.cast(tf.round(self.scaled(y, self.coding_steps())), tf.int32)
            return symbols - tf.gather(self.entropy_model.cdf_offset, indexes)

        def stripe_values(symbols, indexes):
            y_hat = tf.cast(symbols + tf.gather(self.entropy_model.cdf_offset, indexes), tf.float32)
            return self.unscaled(y_hat, self.coding_steps())

        functions = {
            "stripe_indexes": (stripe_indexes, [side, scalar, shape]),
            "stripe_symbols": (stripe_symbols, [latent, table_indexes]),
            "stripe_values": (stripe_values, [table_indexes, table_indexes]),
            "range_coding_table": (lambda: (self.entropy_model.cdf, self.entropy_model.cdf_offset), []),
        }
        self.export_functions(functions)

    def _entropy_models(self, compression: bool):
        side = ChannelEntropyModel(self.hyperprior, coding_rank=3, compression=compression)
        return self.indexed_entropy_model(compression), side

    def call(self, x, training):
        entropy_model, side_entropy_model = self._entropy_models(compression=False)
        lmbda, steps = self.rate_point(training)
        y = self.analysis_transform(x)
        z = self.hyper_analysis_transform(abs(y))
        z_hat, side_bits = side_entropy_model(z, training=training)
        indexes = self.scaled_indexes(self._indexes(z_hat, tf.shape(y)[1:-1]), steps)
        y_hat, bits = entropy_model(self.scaled(y, steps), indexes, training=training)
        x_hat = self.synthesis_transform(self.unscaled(y_hat, steps))
        return self.rate_distortion(x, x_hat, tf.reduce_sum(bits) + tf.reduce_sum(side_bits), lmbda)

    def prepare_for_compression(self) -> None:
        self.entropy_model, self.side_entropy_model = self._entropy_models(compression=True)

    def _indexes(self, z_hat, y_shape):
        return self.hyper_synthesis_transform(z_hat)[:, : y_shape[0], : y_shape[1], :]

    def _coding_indexes(self, z_hat, y_shape):
        """The scale indexes the encoder and decoder must agree on to the last bit: each selects a
        range-coding table, and an index rounded the other way on the other side desynchronises
        the decoder (the most reported failure of learned codecs: a file encoded on a GPU that does
        not decode on a CPU). Computed on the CPU on both sides, from z_hat, which is integer-valued
        and so identical on every device; the GPU's cuDNN/TF32 convolutions never enter them."""
        steps = self.coding_steps()
        with tf.device("/CPU:0"):
            return self.scaled_indexes(self._indexes(z_hat, y_shape), steps)

    def quantized_reconstruction(self, image_uint8):
        x = self.to_unit(image_uint8)
        steps = self.coding_steps()
        y = self.scaled(self.analysis_transform(x), steps)
        y_hat = self.unscaled(self.entropy_model.quantize(y), steps)  # location 0: plain rounding
        return self.to_uint8(self.synthesis_transform(y_hat), tf.shape(x)[1:-1])

    def compress_y(self, y):
        z = self.hyper_analysis_transform(abs(y))
        y_shape, z_shape = tf.shape(y)[1:-1], tf.shape(z)[1:-1]
        z_hat = self.side_entropy_model.quantize(z)
        side_string = self.side_entropy_model.compress(z)
        indexes = self._coding_indexes(z_hat, y_shape)
        string = self.entropy_model.compress(self.scaled(y, self.coding_steps()), indexes)
        return string, side_string, y_shape, z_shape

    def decompress_y(self, string, side_string, y_shape, z_shape):
        z_hat = self.side_entropy_model.decompress(side_string, z_shape)
        y_hat = self.entropy_model.decompress(string, self._coding_indexes(z_hat, y_shape))
        return self.unscaled(y_hat, self.coding_steps())

    @tf.function(input_signature=[tf.TensorSpec(shape=(None, None, None), dtype=tf.uint8)])
    def compress(self, image):
        x = self.to_unit(image)
        string, side_string, y_shape, z_shape = self.compress_y(self.analysis_transform(x))
        return string, side_string, tf.shape(x)[1:-1], y_shape, z_shape

    @tf.function(
        input_signature=[
            tf.TensorSpec(shape=(1,), dtype=tf.string),
            tf.TensorSpec(shape=(1,), dtype=tf.string),
            tf.TensorSpec(shape=(2,), dtype=tf.int32),
            tf.TensorSpec(shape=(2,), dtype=tf.int32),
            tf.TensorSpec(shape=(2,), dtype=tf.int32),
        ]
    )
    def decompress(self, string, side_string, x_shape, y_shape, z_shape):
        return self.to_uint8(
            self.synthesis_transform(self.decompress_y(string, side_string, y_shape, z_shape)), x_shape
        )
