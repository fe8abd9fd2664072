"""Image-quality metrics on 8-bit images, computed with tf.image.

Every metric takes uint8 originals and uint8 reconstructions (already cropped to the
original size), so no [0, 1] vs [0, 255] mix-up can slip in: MSE is reported on the
[0, 1] pixel scale (the MNIST paper's unit), PSNR in dB with a peak of 255.

Window rules, for images smaller than the standard 11-pixel window:
- SSIM uses a Gaussian window (sigma 1.5) of min(11, H, W) pixels.
- MS-SSIM uses k = min(5, floor(log2(min(H, W) / 11)) + 1) scales, i.e. every scale whose
  image is still at least 11 pixels wide, with the first k standard weights renormalised
  to sum to one; it is undefined (NaN) below 11 pixels. 5 scales need 176 px per side.
"""

from __future__ import annotations

import math

import numpy as np

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_WINDOW = 11
PSNR_CAP_DB = 100.0  # a lossless reconstruction would be +inf dB; capped so that means stay finite
METRIC_RULES = {
    "mse": "mean squared error on the [0, 1] pixel scale, after rounding the reconstruction to 8 bits",
    "psnr": f"10*log10(255^2 / MSE_8bit) in dB per image (capped at {PSNR_CAP_DB:g} dB), mean over images",
    "ssim": f"tf.image.ssim, Gaussian window of min({SSIM_WINDOW}, H, W) px, sigma 1.5, averaged over images",
    "ms_ssim": (
        "tf.image.ssim_multiscale with k = min(5, floor(log2(min(H, W)/11)) + 1) scales and the first k "
        "standard weights renormalised; undefined for images under 11 px"
    ),
}


def ms_ssim_scales(height: int, width: int) -> int:
    """How many MS-SSIM scales an image supports (0: none)."""
    side = min(height, width)
    if side < SSIM_WINDOW:
        return 0
    return min(len(MS_SSIM_WEIGHTS), int(math.floor(math.log2(side / SSIM_WINDOW))) + 1)


def mse(original: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """Per-image MSE on the [0, 1] scale for batches (N, H, W, C) of uint8 images."""
    diff = (original.astype(np.float64) - reconstruction.astype(np.float64)) / 255.0
    return np.mean(diff**2, axis=(1, 2, 3))


def image_quality(tf, original: np.ndarray, reconstruction: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image metrics for a batch (N, H, W, C) of same-size uint8 images."""
    if original.shape != reconstruction.shape:
        raise ValueError(f"shape mismatch: original {original.shape}, reconstruction {reconstruction.shape}")
    if original.dtype != np.uint8 or reconstruction.dtype != np.uint8:
        raise TypeError("metrics take uint8 images; round reconstructions to 8 bits first")
    height, width = original.shape[1:3]
    a = tf.constant(original, dtype=tf.float32)
    b = tf.constant(reconstruction, dtype=tf.float32)
    psnr = np.minimum(tf.image.psnr(a, b, max_val=255.0).numpy().astype(np.float64), PSNR_CAP_DB)
    window = min(SSIM_WINDOW, height, width)
    ssim = tf.image.ssim(a, b, max_val=255.0, filter_size=window, filter_sigma=1.5).numpy()
    scales = ms_ssim_scales(height, width)
    if scales:
        weights = np.array(MS_SSIM_WEIGHTS[:scales]) / sum(MS_SSIM_WEIGHTS[:scales])
        ms_ssim = tf.image.ssim_multiscale(
            a, b, max_val=255.0, power_factors=tuple(weights), filter_size=SSIM_WINDOW
        ).numpy()
    else:
        ms_ssim = np.full(len(original), np.nan)
    return {
        "mse": mse(original, reconstruction),
        "psnr": psnr,
        "ssim": ssim.astype(np.float64),
        "ms_ssim": np.asarray(ms_ssim, dtype=np.float64),
        "ms_ssim_scales": np.full(len(original), scales),
    }
