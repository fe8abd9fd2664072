"""The network of Minnen & Singh 2020: a channel-wise autoregressive entropy model with latent
residual prediction (tfc's `models/ms2020.py` is the reference; the family is `ms2020.py`).

Analysis and synthesis are four 5x5/2 GDN layers each way (bmshj2018's shape). The latent y is
split into `num_slices` channel slices. A hyperprior z (factorized prior) gives two latent
tensors, for the means and the scales; slice k is coded with a Gaussian whose mean and scale
index are predicted from them and from the decoded slices before it (at most
`max_support_slices`), and after decoding a residual 0.5 tanh(LRP(...)) predicted from the same
support and the slice itself is added (latent residual prediction). Training rounds y around its
predicted mean and z outright with straight-through gradients for the synthesis ("mixed
quantization"), and uses uniform noise for the rates, as the reference does.

At the default sizes the layers are the reference's (num_filters 192, latent_depth 320,
hyperprior_depth 192, hyper_filters 256, slice_filters [224, 128], 10 slices, 5 support slices);
one deliberate difference: the hyper-synthesis outputs are cropped to y's size before they enter
the slice transforms, so images whose sides are not multiples of 64 code too (the reference
fails to concatenate them with the decoded slices).

Inputs are [0, 1] pixels and the loss is bpp + lambda * MSE on the 0..255 scale (tfc's units).
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_compression as tfc

from aecompress.models.compressive import (
    ChannelEntropyModel,
    CompressiveAutoencoder,
    GaussianScales,
    bits_estimator,
    signal_conv,
)


def _transform(name: str, layers) -> tf.keras.Sequential:
    return tf.keras.Sequential(layers, name=name)


def _variable_conv(filters, kernel, name, up=1, activation=None):
    """The hyper-synthesis and slice transforms' convolutions (kernels as plain variables, as in
    the reference: they are not spectrally parameterised)."""
    return tfc.SignalConv2D(
        filters, (kernel, kernel), name=name, corr=False, strides_up=up, padding="same_zeros", use_bias=True,
        kernel_parameter="variable", activation=activation,
    )  # fmt: skip


class ChannelwiseAutoregressive(GaussianScales, CompressiveAutoencoder):
    estimate_bits = bits_estimator()

    def __init__(
        self,
        lmbda: float,
        num_filters: int,
        latent_depth: int,
        hyperprior_depth: int,
        num_slices: int,
        max_support_slices: int,
        hyper_filters: int,
        slice_filters: list[int],
        num_scales: int = 64,
        scale_min: float = 0.11,
        scale_max: float = 256.0,
        channels: int = 3,
        lambda_range=None,
        rate_anchors: int = 4,
        **kwargs,
    ):
        super().__init__(lmbda, channels, lambda_range, rate_anchors, latent_depth, name="ms2020", **kwargs)
        if latent_depth % num_slices:
            raise ValueError(f"latent_depth {latent_depth} is not a multiple of num_slices {num_slices}")
        self.num_slices, self.max_support_slices = int(num_slices), int(max_support_slices)
        self.init_scales(num_scales, scale_min, scale_max)
        slice_depth = latent_depth // num_slices
        gdn = [f"gdn_{i}" for i in range(3)]
        self.analysis_transform = _transform(
            "analysis",
            [
                signal_conv(num_filters, 5, f"layer_{i}", down=2, activation=tfc.GDN(name=gdn[i]))
                for i in range(3)
            ]
            + [signal_conv(latent_depth, 5, "layer_3", down=2)],
        )
        self.synthesis_transform = _transform(
            "synthesis",
            [
                signal_conv(
                    num_filters, 5, f"layer_{i}", up=2, activation=tfc.GDN(name=f"igdn_{i}", inverse=True)
                )
                for i in range(3)
            ]
            + [signal_conv(channels, 5, "layer_3", up=2)],
        )
        self.hyper_analysis_transform = _transform(
            "hyper_analysis",
            [
                signal_conv(latent_depth, 3, "layer_0", down=1, activation=tf.nn.relu),
                signal_conv(hyper_filters, 5, "layer_1", down=2, activation=tf.nn.relu),
                signal_conv(hyperprior_depth, 5, "layer_2", down=2, use_bias=False),
            ],
        )

        def hyper_synthesis(name):
            # The output is still latent (it is not a mean or a scale): ReLU, as in the reference.
            return _transform(
                name,
                [
                    _variable_conv(num_filters, 5, "layer_0", up=2, activation=tf.nn.relu),
                    _variable_conv(hyper_filters, 5, "layer_1", up=2, activation=tf.nn.relu),
                    _variable_conv(latent_depth, 3, "layer_2", activation=tf.nn.relu),
                ],
            )

        def slice_transform(name):
            return _transform(
                name,
                [
                    _variable_conv(slice_filters[0], 5, "layer_0", activation=tf.nn.relu),
                    _variable_conv(slice_filters[1], 5, "layer_1", activation=tf.nn.relu),
                    _variable_conv(slice_depth, 3, "layer_2"),
                ],
            )

        self.hyper_synthesis_mean_transform = hyper_synthesis("hyper_synthesis_mean")
        self.hyper_synthesis_scale_transform = hyper_synthesis("hyper_synthesis_scale")
        self.cc_mean_transforms = [slice_transform(f"cc_mean_{i}") for i in range(num_slices)]
        self.cc_scale_transforms = [slice_transform(f"cc_scale_{i}") for i in range(num_slices)]
        self.lrp_transforms = [slice_transform(f"lrp_{i}") for i in range(num_slices)]
        self.hyperprior = tfc.NoisyDeepFactorized(batch_shape=(hyperprior_depth,))
        self.build((None, None, None, channels))
        # decompress takes one string per slice and one for z: its signature follows num_slices.
        shape = tf.TensorSpec(shape=(2,), dtype=tf.int32)
        string = tf.TensorSpec(shape=(1,), dtype=tf.string)
        self.decompress = tf.function(
            self._decompress, input_signature=[string] * (num_slices + 1) + [shape] * 3
        )
        self.export_tiles(latent_depth, strings=num_slices + 1, latent_shapes=2)
        self.export_side_functions(hyperprior_depth, latent_depth, lambda y: self.hyper_analysis_transform(y))
        self.export_slice_stripes(hyperprior_depth, latent_depth)

    def slice_support(self, k: int) -> int:
        """How many slices (the first ones) condition slice k."""
        return k if self.max_support_slices < 0 else min(k, self.max_support_slices)

    def export_slice_stripes(self, side_channels: int, latent_channels: int) -> None:
        """compress_y and decompress_y in pieces that a coder runs on windows of latent rows, one
        range coder per slice (models.ms2020.SliceWavefront): the hyper-synthesis of a window of
        z_hat (`hyper_stripe`); per slice k, its tables and mean from windows of the hyper-synthesis
        and of the decoded slices that condition it (`slice_tables_k`), and its latent residual
        prediction (`slice_residual_k`); the symbols and back (`slice_symbols`, `slice_values`,
        given the slice's quantization steps, ones at a fixed rate). Each computes what compress_y
        computes for those elements, with the same operations in the same order, on the CPU."""
        slice_depth = latent_channels // self.num_slices
        latent = tf.TensorSpec(shape=(1, None, None, latent_channels), dtype=tf.float32)
        side = tf.TensorSpec(shape=(1, None, None, side_channels), dtype=tf.float32)
        a_slice = tf.TensorSpec(shape=(1, None, None, slice_depth), dtype=tf.float32)
        indexes = tf.TensorSpec(shape=(1, None, None, slice_depth), dtype=tf.int32)
        steps = tf.TensorSpec(shape=(slice_depth,), dtype=tf.float32)
        scalar, shape = tf.TensorSpec(shape=(), dtype=tf.int32), tf.TensorSpec(shape=(2,), dtype=tf.int32)

        def hyper_stripe(z_hat, first_row, stripe_shape):
            """The hyper-synthesis's means and scales of y's rows first_row.. (counted from
            z_hat's first row x 4)."""
            rows = slice(first_row, first_row + stripe_shape[0])
            with tf.device("/CPU:0"):
                means = self.hyper_synthesis_mean_transform(z_hat)[:, rows, : stripe_shape[1], :]
                scales = self.hyper_synthesis_scale_transform(z_hat)[:, rows, : stripe_shape[1], :]
                return means, scales

        def slice_tables(k):
            def tables(latent_means, latent_scales, support, first_row, rows):
                """Slice k's range-coding tables, its mean and its steps on rows first_row..
                of the windows, clipped and truncated as tfc's compress does."""
                crop = slice(first_row, first_row + rows)
                slice_steps = self.slice_steps(self.coding_steps())[k]
                with tf.device("/CPU:0"):
                    mean = self.cc_mean_transforms[k](tf.concat([latent_means, support], axis=-1))
                    scale_indexes = self.cc_scale_transforms[k](tf.concat([latent_scales, support], axis=-1))
                    _, scale_indexes, mean = self.slice_arguments(
                        None, scale_indexes[:, crop], mean[:, crop], slice_steps
                    )
                    table = tf.cast(tf.clip_by_value(scale_indexes, 0.0, self.num_scales - 1.0), tf.int32)
                    unit = tf.ones((slice_depth,)) if slice_steps is None else slice_steps
                    return table, mean, unit

            return tables

        def slice_residual(k):
            def residual(latent_means, support, quantized, first_row, rows):
                """Slice k's y_hat on rows first_row.. of the windows: its quantized values plus
                the latent residual prediction."""
                with tf.device("/CPU:0"):
                    mean_support = tf.concat([latent_means, support], axis=-1)
                    lrp = self.lrp_transforms[k](tf.concat([mean_support, quantized], axis=-1))
                    return (quantized + 0.5 * tf.math.tanh(lrp))[:, first_row : first_row + rows]

            return residual

        def slice_symbols(y_slice, table, mean, unit):
            symbols = tf.cast(tf.round(y_slice / unit - mean), tf.int32)
            return symbols - tf.gather(self.entropy_model.cdf_offset, table)

        def slice_values(symbols, table, mean, unit):
            values = tf.cast(symbols + tf.gather(self.entropy_model.cdf_offset, table), tf.float32)
            return (values + mean) * unit

        supports = [self.slice_support(k) for k in range(self.num_slices)]
        functions = {
            "slice_supports": (lambda: tf.constant(supports, tf.int32), []),
            "hyper_stripe": (hyper_stripe, [side, scalar, shape]),
            "slice_symbols": (slice_symbols, [a_slice, indexes, a_slice, steps]),
            "slice_values": (slice_values, [indexes, indexes, a_slice, steps]),
            "range_coding_table": (lambda: (self.entropy_model.cdf, self.entropy_model.cdf_offset), []),
        }
        for k in range(self.num_slices):
            support = tf.TensorSpec(
                shape=(1, None, None, self.slice_support(k) * slice_depth), dtype=tf.float32
            )
            functions[f"slice_tables_{k}"] = (slice_tables(k), [latent, latent, support, scalar, scalar])
            functions[f"slice_residual_{k}"] = (slice_residual(k), [latent, support, a_slice, scalar, scalar])
        self.export_functions(functions)

    def _entropy_models(self, compression: bool):
        side = ChannelEntropyModel(
            self.hyperprior, coding_rank=3, compression=compression, offset_heuristic=False
        )
        return self.indexed_entropy_model(compression), side

    def prepare_for_compression(self) -> None:
        self.entropy_model, self.side_entropy_model = self._entropy_models(compression=True)

    def slice_steps(self, steps):
        """Each slice's quantization steps (None for a fixed-rate model)."""
        return [None] * self.num_slices if steps is None else tf.split(steps, self.num_slices)

    def slice_arguments(self, y_slice, scale_indexes, mean, steps):
        """A slice, its scale indexes and its mean in units of its quantization steps."""
        y_slice = None if y_slice is None else self.scaled(y_slice, steps)
        return y_slice, self.scaled_indexes(scale_indexes, steps), self.scaled(mean, steps)

    def decode_slices(self, z_hat, y_shape, code_slice):
        """The channel-wise autoregression, shared by training, coding and decoding: for each
        slice, the mean and the scale indexes from the hyperprior and the slices decoded before
        it; `code_slice(k, scale_indexes, mean)` returns the slice's quantized values; then the
        latent residual prediction. Returns y_hat."""
        latent_means = self.hyper_synthesis_mean_transform(z_hat)[:, : y_shape[0], : y_shape[1], :]
        latent_scales = self.hyper_synthesis_scale_transform(z_hat)[:, : y_shape[0], : y_shape[1], :]
        y_hat_slices = []
        for k in range(self.num_slices):
            support = y_hat_slices if self.max_support_slices < 0 else y_hat_slices[: self.max_support_slices]
            mean_support = tf.concat([latent_means, *support], axis=-1)
            mean = self.cc_mean_transforms[k](mean_support)
            scale_indexes = self.cc_scale_transforms[k](tf.concat([latent_scales, *support], axis=-1))
            y_hat_slice = code_slice(k, scale_indexes, mean)
            residual = self.lrp_transforms[k](tf.concat([mean_support, y_hat_slice], axis=-1))
            y_hat_slices.append(y_hat_slice + 0.5 * tf.math.tanh(residual))
        return tf.concat(y_hat_slices, axis=-1)

    def call(self, x, training):
        entropy_model, side_entropy_model = self._entropy_models(compression=False)
        lmbda, steps = self.rate_point(training)
        steps = self.slice_steps(steps)
        y = self.analysis_transform(x)
        z = self.hyper_analysis_transform(y)
        _, side_bits = side_entropy_model(z, training=training)
        z_hat = side_entropy_model.quantize(z)  # rounded, straight-through (the reference's choice)
        y_slices = tf.split(y, self.num_slices, axis=-1)
        slice_bits = []

        def code_slice(k, scale_indexes, mean):
            y_slice, indexes, loc = self.slice_arguments(y_slices[k], scale_indexes, mean, steps[k])
            _, bits = entropy_model(y_slice, indexes, loc=loc, training=training)
            slice_bits.append(tf.reduce_sum(bits))
            return self.unscaled(entropy_model.quantize(y_slice, loc=loc), steps[k])

        y_hat = self.decode_slices(z_hat, tf.shape(y)[1:-1], code_slice)
        x_hat = self.synthesis_transform(y_hat)
        return self.rate_distortion(x, x_hat, tf.add_n(slice_bits) + tf.reduce_sum(side_bits), lmbda)

    def quantized_reconstruction(self, image_uint8):
        """What the decoder makes of the rounded latents, without coding them (for checks)."""
        x = self.to_unit(image_uint8)
        y = self.analysis_transform(x)
        z_hat = self.side_entropy_model.quantize(self.hyper_analysis_transform(y))
        y_slices, steps = tf.split(y, self.num_slices, axis=-1), self.slice_steps(self.coding_steps())

        def code_slice(k, scale_indexes, mean):
            y_slice, _, loc = self.slice_arguments(y_slices[k], scale_indexes, mean, steps[k])
            return self.unscaled(self.entropy_model.quantize(y_slice, loc=loc), steps[k])

        y_hat = self.decode_slices(z_hat, tf.shape(y)[1:-1], code_slice)
        return self.to_uint8(self.synthesis_transform(y_hat), tf.shape(x)[1:-1])

    def compress_y(self, y):
        """Strings (slice 0 .. slice K-1, then z) and the shapes y, z. The entropy parameters are
        computed on the CPU on both sides, from decoded values only, so that a file encoded on a
        GPU decodes on a CPU (see compressive.ScaleHyperprior._coding_indexes)."""
        z = self.hyper_analysis_transform(y)
        y_shape, z_shape = tf.shape(y)[1:-1], tf.shape(z)[1:-1]
        side_string = self.side_entropy_model.compress(z)
        y_slices, steps = tf.split(y, self.num_slices, axis=-1), self.slice_steps(self.coding_steps())
        strings = []

        def code_slice(k, scale_indexes, mean):
            y_slice, indexes, loc = self.slice_arguments(y_slices[k], scale_indexes, mean, steps[k])
            strings.append(self.entropy_model.compress(y_slice, indexes, loc=loc))
            return self.unscaled(self.entropy_model.decompress(strings[-1], indexes, loc=loc), steps[k])

        with tf.device("/CPU:0"):
            self.decode_slices(self.side_entropy_model.decompress(side_string, z_shape), y_shape, code_slice)
        return (*strings, side_string, y_shape, z_shape)

    def decompress_y(self, *arguments):
        *strings, side_string, y_shape, z_shape = arguments
        steps = self.slice_steps(self.coding_steps())

        def code_slice(k, scale_indexes, mean):
            _, indexes, loc = self.slice_arguments(None, scale_indexes, mean, steps[k])
            return self.unscaled(self.entropy_model.decompress(strings[k], indexes, loc=loc), steps[k])

        with tf.device("/CPU:0"):
            z_hat = self.side_entropy_model.decompress(side_string, z_shape)
            return self.decode_slices(z_hat, y_shape, code_slice)

    @tf.function(input_signature=[tf.TensorSpec(shape=(None, None, None), dtype=tf.uint8)])
    def compress(self, image):
        """Strings (slice 0 .. slice K-1, then z) and the shapes x, y, z."""
        x = self.to_unit(image)
        *strings, side_string, y_shape, z_shape = self.compress_y(self.analysis_transform(x))
        return (*strings, side_string, tf.shape(x)[1:-1], y_shape, z_shape)

    def _decompress(self, *arguments):
        *strings, side_string, x_shape, y_shape, z_shape = arguments
        return self.to_uint8(
            self.synthesis_transform(self.decompress_y(*strings, side_string, y_shape, z_shape)), x_shape
        )
