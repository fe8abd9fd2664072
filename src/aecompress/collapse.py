"""Did a trained model learn anything, or did it collapse to one answer for every input?

An autoencoder stuck in the mean-image optimum (a sigmoid MNIST model whose latent saturates,
a compressive model at a lambda that sends no information) still produces an MSE, and a
report would plot it beside real results. This module names the trivial predictor a model
must beat, measures a model against it, and flags it:

- `collapsed` when its test MSE is within `MARGIN` (2%) of the trivial predictor's, or above
  it, or when its latent barely varies across test images (relative spread below
  `SPREAD_FLOOR`: the encoder says the same thing about every image).

The trivial predictor is the training split's mean image when the model sees whole images of
one size, and the per-channel mean otherwise (patch-trained models, images of several sizes):
what a network that ignores its input can at best output. MSE is on the [0, 1] pixel scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MARGIN = 0.02
SPREAD_FLOOR = 1e-3
MAX_FIT_IMAGES = 10_000  # the mean of a larger training split is taken over a seeded subset
MAX_STREAMED_IMAGES = 256  # a streamed corpus is decoded file by file: fewer of them
MAX_LATENT_IMAGES = 64  # test images whose latents are pooled for the spread


@dataclass(frozen=True)
class TrivialPredictor:
    """One prediction for every input: a mean image (H, W, C) or a per-channel mean (C,), in
    8-bit units."""

    prediction: np.ndarray
    description: str

    @classmethod
    def fit(cls, images, whole_images: bool, seed: int = 0) -> TrivialPredictor:
        """The mean of the training images (an ImageSet): the mean image when `whole_images` and
        they share one size, else the per-channel mean."""
        if not len(images):
            raise ValueError("the trivial predictor needs training images")
        order = np.arange(len(images))
        limit = MAX_FIT_IMAGES if images.files is None else MAX_STREAMED_IMAGES
        if len(order) > limit:
            order = np.sort(np.random.default_rng(seed).choice(order, limit, replace=False))
        if whole_images and images.same_size:
            total = np.zeros(images.images[0].shape, np.float64)
            for start in range(0, len(order), 1024):  # bands: no float copy of the whole split
                total += images.stacked()[order[start : start + 1024]].astype(np.float64).sum(axis=0)
            return cls(total / len(order), "the mean training image")
        sums, count = 0.0, 0
        for i in order:
            image = np.asarray(images.images[i], np.float64)
            sums = sums + image.reshape(-1, image.shape[-1]).sum(axis=0)
            count += image.shape[0] * image.shape[1]
        return cls(np.asarray(sums / count), "the per-channel mean of the training images")

    def mse(self, images: list[np.ndarray]) -> float | None:
        """Mean over images of the MSE ([0, 1] scale) of predicting every image by this one;
        None when a mean image does not fit the images' size."""
        if not len(images):
            return None
        values = []
        for image in images:
            if self.prediction.ndim == 3 and image.shape != self.prediction.shape:
                return None
            error = (np.asarray(image, np.float64) - self.prediction) / 255.0
            values.append(float(np.mean(error**2)))
        return float(np.mean(values))

    def to_json(self) -> dict[str, Any]:
        return {"description": self.description, "shape": list(self.prediction.shape)}


def latent_spread(latents: list[np.ndarray | None]) -> float | None:
    """How much the latent varies across images: sqrt(total variance / total mean square) of
    every channel's values pooled over images (and positions). 0: the same latent for every
    image. None without latents."""
    kept = [np.asarray(z, np.float64) for z in latents if z is not None]
    if not kept:
        return None
    channels = kept[0].shape[-1] if kept[0].ndim else 1
    values = np.concatenate([z.reshape(-1, channels) for z in kept])
    if len(values) < 2:
        return None
    variance = float(values.var(axis=0).sum())
    mean_square = float((values**2).mean(axis=0).sum())
    return float(np.sqrt(variance / (mean_square + 1e-12)))


def assess(model_mse: float | None, trivial_mse: float | None, spread: float | None) -> dict[str, Any]:
    """The verdict stored in a summary: `collapsed`, the reason, and the numbers behind it."""
    reasons = []
    ratio = None
    if model_mse is not None and trivial_mse:
        ratio = model_mse / trivial_mse
        if ratio >= 1 - MARGIN:
            reasons.append(
                f"test MSE {model_mse:.5g} is within {MARGIN:.0%} of, or above, the trivial predictor's "
                f"{trivial_mse:.5g}"
            )
    if spread is not None and spread < SPREAD_FLOOR:
        reasons.append(f"the latent barely varies across test images (relative spread {spread:.2g})")
    return {
        "collapsed": bool(reasons),
        "reason": "; ".join(reasons) or None,
        "mse_over_trivial": ratio,
        "latent_relative_spread": spread,
        "rule": (
            f"collapsed: test MSE >= {1 - MARGIN:g} x the trivial predictor's, or the latent's relative "
            f"spread across test images < {SPREAD_FLOOR:g}"
        ),
    }


def end_of_training_warning(
    final_mse: float | None, trivial_mse: float | None, split: str, scale: float = 1.0
) -> str | None:
    """A line for the training log when the last epoch's MSE is no better than the trivial
    predictor's (`scale` converts [0, 1] MSE into the units the model's metric uses)."""
    if final_mse is None or not trivial_mse:
        return None
    trivial = trivial_mse * scale
    if final_mse < (1 - MARGIN) * trivial:
        return None
    return (
        f"WARNING: the model may have collapsed: its final {split} MSE {final_mse:.5g} is within "
        f"{MARGIN:.0%} of, or above, what predicting the training mean for every input gives "
        f"({trivial:.5g}); it has learned (almost) nothing from its inputs"
    )


def sees_whole_images(params: dict[str, Any], preprocessing: dict[str, Any]) -> bool:
    """Whether a model's input is a whole image (so the mean image is its trivial predictor)
    rather than a patch or a block of one (then the per-channel mean is)."""
    return not preprocessing.get("patches") and not params.get("block_size")


def trivial_baseline(train, test_images: list[np.ndarray], params, preprocessing, seed: int = 0):
    """(predictor, its MSE on `test_images`): the mean image where it fits the test images'
    size, else the per-channel mean."""
    predictor = TrivialPredictor.fit(train, sees_whole_images(params, preprocessing), seed)
    trivial = predictor.mse(test_images)
    if trivial is None:  # a mean image of another size than the test images
        predictor = TrivialPredictor.fit(train, False, seed)
        trivial = predictor.mse(test_images)
    return predictor, trivial
