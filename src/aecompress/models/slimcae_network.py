"""The network of the slimmable compressive autoencoder (SlimCAE, Yang et al. 2021; the Zagreb
thesis), in TF2.

One network of the bls2017 shape (9x9/4 - 5x5/2 - 5x5/2, GDN; mirrored with IGDN) whose
conv kernels are shared: width w uses kernel[..., :w_in, :w_out], the leading slice of the
widest layer. Each width has its own GDN parameters (switchable GDN) and its own entropy
model. Training sums over the widths: loss = sum_k lambda_k * D_k + R_k, with D = 1 - MS-SSIM
(the thesis) or the MSE, both on [0, 1] pixels, and R in bits per pixel; the thesis's lambdas
are [2048, 1024, 512, 256, 128] for widths [192, 144, 96, 72, 48] with MS-SSIM.
Every width exports its own `compress_<w>` / `decompress_<w>` and is evaluated as a rate point.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_compression as tfc

from aecompress.losses import ms_ssim
from aecompress.models.compressive import ChannelEntropyModel, CompressiveAutoencoder

# (kernel, stride) of the three analysis layers; synthesis mirrors them.
LAYERS = ((9, 4), (5, 2), (5, 2))
DOWNSAMPLING = 16


class SlimConv(tf.keras.layers.Layer):
    """A conv (or transposed conv) whose kernel is sliced to the requested input/output widths."""

    def __init__(
        self, kernel: int, stride: int, max_in: int, max_out: int, transpose: bool, use_bias=True, **kw
    ):
        super().__init__(**kw)
        self.stride, self.transpose, self.use_bias = stride, transpose, use_bias
        shape = (kernel, kernel, max_out, max_in) if transpose else (kernel, kernel, max_in, max_out)
        self.kernel = self.add_weight("kernel", shape, initializer="glorot_uniform")
        self.bias = self.add_weight("bias", (max_out,), initializer="zeros") if use_bias else None

    def call(self, x, width_out: int):
        width_in = x.shape[-1]
        if self.transpose:
            kernel = self.kernel[:, :, :width_out, :width_in]
            shape = tf.shape(x)
            output_shape = tf.stack([shape[0], shape[1] * self.stride, shape[2] * self.stride, width_out])
            y = tf.nn.conv2d_transpose(x, kernel, output_shape, self.stride, padding="SAME")
        else:
            y = tf.nn.conv2d(x, self.kernel[:, :, :width_in, :width_out], self.stride, padding="SAME")
        return y + self.bias[:width_out] if self.use_bias else y


class SwitchableGDN(tfc.GDN):
    """tfc's GDN; one instance per width. Its fixed alpha and epsilon read as Python numbers, so
    the model (whose call uses it outside a Sequential) can be traced for saving."""

    @property
    def alpha(self):
        fixed = self.alpha_parameter
        return float(fixed.numpy()) if fixed is not None and not callable(fixed) else super().alpha

    @property
    def epsilon(self):
        fixed = self.epsilon_parameter
        return float(fixed.numpy()) if fixed is not None and not callable(fixed) else super().epsilon


class SlimCAE(CompressiveAutoencoder):
    def __init__(
        self,
        widths: list[int],
        lambdas: list[float],
        distortion: str,
        channels: int = 3,
        ms_ssim_scales_: int = 3,
        **kwargs,
    ):
        super().__init__(lmbda=0.0, channels=channels, name="slimcae", **kwargs)
        self.widths = [int(w) for w in widths]
        self.lambdas = [float(v) for v in lambdas]
        self.distortion = distortion
        self.scales = int(ms_ssim_scales_)
        top = max(self.widths)
        self.analysis_layers = [
            SlimConv(k, s, channels if i == 0 else top, top, False, use_bias=i < 2, name=f"analysis_{i}")
            for i, (k, s) in enumerate(LAYERS)
        ]
        self.synthesis_layers = [
            SlimConv(k, s, top, channels if i == 2 else top, True, name=f"synthesis_{i}")
            for i, (k, s) in enumerate(reversed(LAYERS))
        ]
        # Per-width parts, keyed by str(width) (a SavedModel needs string keys).
        self.gdn = {str(w): [SwitchableGDN(name=f"gdn_{i}_w{w}") for i in range(2)] for w in self.widths}
        self.igdn = {
            str(w): [SwitchableGDN(inverse=True, name=f"igdn_{i}_w{w}") for i in range(2)]
            for w in self.widths
        }
        self.priors = {
            str(w): tfc.NoisyDeepFactorized(batch_shape=(w,), name=f"prior_w{w}") for w in self.widths
        }
        self.width_trackers = {
            str(w): [tf.keras.metrics.Mean(name=f"{m}_w{w}") for m in ("bpp", "mse", "distortion")]
            for w in self.widths
        }
        # Built by an eager call: Keras's symbolic build() cannot trace GDN outside a Sequential.
        side = -(-11 * 2 ** (self.scales - 1) // DOWNSAMPLING) * DOWNSAMPLING  # room for the MS-SSIM scales
        self(tf.zeros((1, side, side, channels)), training=False)
        for w in self.widths:
            self._export(w)

    @property
    def metrics(self):
        return super().metrics + [t for w in self.widths for t in self.width_trackers[str(w)]]

    def analysis(self, x, width: int):
        for i, layer in enumerate(self.analysis_layers):
            x = layer(x, width)
            if i < 2:
                x = self.gdn[str(width)][i](x)
        return x

    def synthesis(self, y, width: int):
        for i, layer in enumerate(self.synthesis_layers):
            y = layer(y, self.channels if i == 2 else width)
            if i < 2:
                y = self.igdn[str(width)][i](y)
        return y

    def distortion_of(self, x, x_hat):
        if self.distortion == "ms_ssim":
            return 1.0 - tf.reduce_mean(ms_ssim(tf, x, tf.clip_by_value(x_hat, 0.0, 1.0), self.scales))
        return tf.reduce_mean(tf.math.squared_difference(x, x_hat))

    def width_losses(self, x, training):
        """Per width: (lambda_k * D_k + R_k, bpp, mse, D)."""
        out = []
        pixels = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
        for width, lmbda in zip(self.widths, self.lambdas, strict=True):
            entropy_model = tfc.ContinuousBatchedEntropyModel(
                self.priors[str(width)], coding_rank=3, compression=False
            )
            y_hat, bits = entropy_model(self.analysis(x, width), training=training)
            x_hat = self.synthesis(y_hat, width)[:, : tf.shape(x)[1], : tf.shape(x)[2], :]
            bpp = tf.reduce_sum(bits) / pixels
            distortion = self.distortion_of(x, x_hat)
            mse = tf.reduce_mean(tf.math.squared_difference(x, x_hat))
            out.append((lmbda * distortion + bpp, bpp, mse, distortion))
        return out

    def call(self, x, training):
        """(summed loss, (widths, 3) tensor of bpp, MSE and distortion per width)."""
        per_width = self.width_losses(x, training)
        loss = tf.add_n([p[0] for p in per_width])
        return loss, tf.stack([tf.stack(p[1:]) for p in per_width])

    def _record(self, loss, stats):
        # The summary metrics follow the widest width; every width is logged as well.
        results = self._step_metrics(loss, stats[0, 0], stats[0, 1])
        for i, width in enumerate(self.widths):
            for j, tracker in enumerate(self.width_trackers[str(width)]):
                tracker.update_state(stats[i, j])
                results[tracker.name] = tracker.result()
        return results

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            loss, stats = self(x, training=True)
        self.minimize(tape, loss)
        return self._record(loss, stats)

    def test_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        return self._record(*self(x, training=False))

    def prepare_for_compression(self) -> None:
        self.entropy_models = {
            str(w): ChannelEntropyModel(self.priors[str(w)], coding_rank=3, compression=True)
            for w in self.widths
        }

    def quantized_reconstruction(self, image_uint8, width: int):
        x = self.to_unit(image_uint8)
        y_hat = self.entropy_models[str(width)].quantize(self.analysis(x, width))
        return self.to_uint8(self.synthesis(y_hat, width), tf.shape(x)[1:-1])

    def _export(self, width: int) -> None:
        """compress_<w> / decompress_<w> / estimate_bits_<w> / analyze_<w>: tf.functions with fixed
        signatures, saved with the model."""

        def compress(image):
            x = self.to_unit(image)
            y = self.analysis(x, width)
            return self.entropy_models[str(width)].compress(y), tf.shape(x)[1:-1], tf.shape(y)[1:-1]

        def decompress(string, x_shape, y_shape):
            y_hat = self.entropy_models[str(width)].decompress(string, y_shape)
            return self.to_uint8(self.synthesis(y_hat, width), x_shape)

        def estimate_bits(image):
            x = self.to_unit(image)
            entropy_model = tfc.ContinuousBatchedEntropyModel(
                self.priors[str(width)], coding_rank=3, compression=False
            )
            _, bits = entropy_model(self.analysis(x, width), training=False)
            return tf.reduce_sum(bits)

        def analyze(image):  # the float latent, drawn by the report
            return self.analysis(self.to_unit(image), width)[0]

        def compress_y(y):
            return self.entropy_models[str(width)].compress(y), tf.shape(y)[1:-1]

        def decompress_y(string, y_shape):
            return self.entropy_models[str(width)].decompress(string, y_shape)

        self.export_tiles(
            width, strings=1, latent_shapes=1, suffix=f"_{width}", analysis=lambda x: self.analysis(x, width),
            synthesis=lambda y: self.synthesis(y, width), compress_y=compress_y, decompress_y=decompress_y,
        )  # fmt: skip
        self.export_channel_stripes(width, f"_{width}", lambda: self.entropy_models[str(width)])
        image_spec = tf.TensorSpec(shape=(None, None, self.channels), dtype=tf.uint8)
        setattr(self, f"analyze_{width}", tf.function(analyze, input_signature=[image_spec]))
        setattr(self, f"estimate_bits_{width}", tf.function(estimate_bits, input_signature=[image_spec]))
        shape_spec = tf.TensorSpec(shape=(2,), dtype=tf.int32)
        setattr(self, f"compress_{width}", tf.function(compress, input_signature=[image_spec]))
        setattr(
            self,
            f"decompress_{width}",
            tf.function(
                decompress,
                input_signature=[tf.TensorSpec(shape=(1,), dtype=tf.string), shape_spec, shape_spec],
            ),
        )
