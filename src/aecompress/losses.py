"""Reconstruction losses of the non-compressive families (the coursework compares MSE/Huber/SSIM).

MSE and Huber act on the normalized values the model outputs. SSIM and MS-SSIM need pixels on
a known scale, so both images are mapped back to [0, 1] through the (affine) normalization
first; windows and scales follow the metric rules, so 8x8 digits and 32x32 CIFAR work too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aecompress.metrics import MS_SSIM_WEIGHTS, SSIM_WINDOW, ms_ssim_scales
from aecompress.preprocessing import Normalization


def reconstruction_loss(tf, training: dict[str, Any], normalization: Normalization, image_shape):
    """A Keras loss (y_true, y_pred) -> per-example loss for `training.loss`."""
    name = training["loss"]
    if name == "mse":
        return tf.keras.losses.MeanSquaredError(name="mse")
    if name == "huber":
        return tf.keras.losses.Huber(delta=training["huber_delta"], name="huber")
    scale = tf.constant(normalization.scale * 255.0)
    offset = tf.constant(normalization.offset)

    def to_unit(values):
        return (tf.cast(values, tf.float32) - offset) / scale

    height, width = image_shape[:2]
    if name == "ssim":
        window = min(SSIM_WINDOW, height, width)

        def ssim_loss(y_true, y_pred):
            return 1.0 - tf.image.ssim(to_unit(y_true), to_unit(y_pred), max_val=1.0, filter_size=window)

        return ssim_loss
    scales = ms_ssim_scales(height, width)
    if not scales:
        raise ValueError(
            f"training.loss: ms_ssim needs images of at least {SSIM_WINDOW} px, got {height}x{width}"
        )

    def ms_ssim_loss(y_true, y_pred):
        return 1.0 - ms_ssim(tf, to_unit(y_true), to_unit(y_pred), scales)

    return ms_ssim_loss


def ms_ssim(tf, x, y, scales: int):
    """MS-SSIM of [0, 1] images (N, H, W, C) with `scales` scales, safe to differentiate.

    The same quantity as tf.image.ssim_multiscale (Gaussian window 11, sigma 1.5, K1 0.01,
    K2 0.03, 2x2 average downsampling, ReLU on each term, first `scales` standard weights
    renormalised, mean over channels); tf.image raises each term to a fractional power and
    returns NaN gradients once a term reaches 0, which happens early in training, so here
    every term is floored at 1e-6 first. The evaluation metrics use tf.image itself.
    """
    weights = np.array(MS_SSIM_WEIGHTS[:scales]) / sum(MS_SSIM_WEIGHTS[:scales])
    channels = x.shape[-1]
    kernel = _gaussian_window(tf, SSIM_WINDOW, 1.5, channels)
    c1, c2 = 0.01**2, 0.03**2
    terms = []
    for scale in range(scales):

        def blur(image):
            return tf.nn.depthwise_conv2d(image, kernel, strides=[1, 1, 1, 1], padding="VALID")

        mu_x, mu_y = blur(x), blur(y)
        var_x = blur(x * x) - mu_x**2
        var_y = blur(y * y) - mu_y**2
        cov = blur(x * y) - mu_x * mu_y
        cs = (2 * cov + c2) / (var_x + var_y + c2)
        if scale < scales - 1:
            terms.append(tf.reduce_mean(cs, axis=[1, 2]))
            x, y = _halve(tf, x), _halve(tf, y)
        else:
            luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
            terms.append(tf.reduce_mean(luminance * cs, axis=[1, 2]))
    stacked = tf.maximum(tf.nn.relu(tf.stack(terms, axis=-1)), 1e-6)  # (N, C, scales)
    per_channel = tf.reduce_prod(stacked ** tf.constant(weights, stacked.dtype), axis=-1)
    return tf.reduce_mean(per_channel, axis=-1)


def _gaussian_window(tf, size: int, sigma: float, channels: int):
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(coords**2) / (2 * sigma**2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    return tf.constant(np.tile(window[:, :, None, None], (1, 1, channels, 1)), tf.float32)


def _halve(tf, images):
    """2x2 average pooling after symmetric padding of an odd side (as tf.image does)."""
    shape = tf.shape(images)
    pad = [[0, 0], [0, shape[1] % 2], [0, shape[2] % 2], [0, 0]]
    return tf.nn.avg_pool2d(tf.pad(images, pad, mode="SYMMETRIC"), 2, 2, padding="VALID")


def validation_objective(tf, name: str, huber_delta: float, normalization: Normalization, image_shape):
    """A Keras metric: the mean per-image `name` loss on [0, 1] pixels, whatever the normalization.

    A hyperparameter search scores every trial by it, so trials that train with different
    losses and normalizations are compared on one scale (1 - SSIM for ssim).
    """
    scale = tf.constant(normalization.scale * 255.0)
    offset = tf.constant(normalization.offset)
    window = min(SSIM_WINDOW, *image_shape[:2])

    def per_image(y_true, y_pred):
        x = (tf.cast(y_true, tf.float32) - offset) / scale
        y = (tf.cast(y_pred, tf.float32) - offset) / scale
        if name == "mse":
            return tf.reduce_mean(tf.square(x - y), axis=[1, 2, 3])
        if name == "huber":
            return tf.reduce_mean(tf.keras.losses.huber(x, y, delta=huber_delta), axis=[1, 2])
        if name == "ssim":
            return 1.0 - tf.image.ssim(x, y, max_val=1.0, filter_size=window)
        raise ValueError(f"objective: unknown loss '{name}' (expected mse, huber or ssim)")

    return tf.keras.metrics.MeanMetricWrapper(per_image, name="objective")
