"""What a model sees of the uint8 pixels: normalization, padding to a multiple of 2^k, patches.

Prepared datasets stay uint8 on disk. These steps run batch by batch in the training
pipeline and are undone at evaluation (denormalize, crop, round to 8 bits), so no float copy
of a dataset ever exists and every method is scored on 8-bit images of the original size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from aecompress.images import ImageSet

NORMALIZATIONS = {
    "unit": "x / 255, in [0, 1] (sigmoid output)",
    "symmetric": "x / 127.5 - 1, in [-1, 1] (tanh output)",
    "standardize": "(x - mean_c) / std_c per channel, statistics of the training split (linear output)",
}
OUTPUT_ACTIVATIONS = {"unit": "sigmoid", "symmetric": "tanh", "standardize": None}
PAD_MODES = ("zero", "replicate", "reflect")


@dataclass(frozen=True)
class Normalization:
    """x_normalized = x_uint8 * scale_c + offset_c, per channel c; invertible."""

    kind: str
    mean: tuple[float, ...] | None = None  # standardize only: per-channel statistics in [0, 255]
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in NORMALIZATIONS:
            raise ValueError(
                f"normalization '{self.kind}' unknown (expected one of {', '.join(NORMALIZATIONS)})"
            )
        if (self.kind == "standardize") != (self.mean is not None and self.std is not None):
            raise ValueError("normalization: mean and std are given exactly for 'standardize'")

    @property
    def scale(self) -> np.ndarray:
        if self.kind == "unit":
            return np.float32([1 / 255])
        if self.kind == "symmetric":
            return np.float32([1 / 127.5])
        return (1 / np.asarray(self.std, dtype=np.float64)).astype(np.float32)

    @property
    def offset(self) -> np.ndarray:
        if self.kind == "unit":
            return np.float32([0.0])
        if self.kind == "symmetric":
            return np.float32([-1.0])
        return (-np.asarray(self.mean, dtype=np.float64) / np.asarray(self.std)).astype(np.float32)

    @property
    def output_activation(self) -> str | None:
        return OUTPUT_ACTIVATIONS[self.kind]

    def forward(self, pixels):
        """uint8 (or float in [0, 255]) pixels, channels last -> normalized float32 (numpy or tf)."""
        return _as_float32(pixels) * self.scale + self.offset

    def inverse(self, normalized) -> np.ndarray:
        """Normalized values -> uint8 pixels (rounded to nearest, clipped): what a decoder outputs."""
        pixels = (np.asarray(normalized, dtype=np.float64) - self.offset) / self.scale
        return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "mean": self.mean, "std": self.std, "rule": NORMALIZATIONS[self.kind]}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Normalization:
        mean, std = record.get("mean"), record.get("std")
        return cls(record["kind"], None if mean is None else tuple(mean), None if std is None else tuple(std))


def _as_float32(pixels):
    if isinstance(pixels, np.ndarray):
        return pixels.astype(np.float32)
    import tensorflow as tf

    return tf.cast(pixels, tf.float32)


def channel_statistics(images: ImageSet) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images, one image at a time.

    Sums are accumulated in float64 per image, so memory stays one image's size whatever
    the split holds; a constant channel gets std 1 (so standardizing never divides by 0).
    """
    if not len(images):
        raise ValueError("channel statistics need at least one training image")
    channels = images.images[0].shape[2]
    total = np.zeros(channels)
    squares = np.zeros(channels)
    count = 0
    for image in images.images:
        values = image.reshape(-1, channels).astype(np.float64)
        total += values.sum(axis=0)
        squares += (values**2).sum(axis=0)
        count += len(values)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    std[std < 1e-6] = 1.0
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def fit_normalization(kind: str, train: ImageSet) -> Normalization:
    if kind == "standardize":
        mean, std = channel_statistics(train)
        return Normalization(kind, mean, std)
    return Normalization(kind)


def model_input_shape(variant, images: ImageSet) -> tuple[int, int, int]:
    """The (H, W, C) a model of `variant` is built for: its training patch, else the images' size."""
    patches = variant.preprocessing.get("patches")
    shape = tuple(int(s) for s in images.shapes[0])
    return (patches["size"], patches["size"], shape[2]) if patches else shape


def padded_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    return height + (-height % multiple), width + (-width % multiple)


def crop_box(height: int, width: int, multiple: int | None) -> dict[str, Any]:
    """What padding does to an image of this size: the padded size and the box cropped back."""
    multiple = multiple or 1
    padded = padded_size(height, width, multiple)
    return {"input": [height, width], "padded": list(padded), "crop": [0, 0, height, width]}


def pad_tensor(tf, images, multiple: int, mode: str):
    """Pad a (N, H, W, C) tensor at the bottom and right to multiples of `multiple`.

    zero: zeros (in the normalized scale); replicate: the last row/column repeated;
    reflect: mirrored without repeating the edge (needs the pad smaller than the side).
    Works for any H and W known only at run time, so one saved model takes any size.
    """
    if mode not in PAD_MODES:
        raise ValueError(f"padding mode '{mode}' unknown (expected one of {', '.join(PAD_MODES)})")
    shape = tf.shape(images)
    pad_h = (-shape[1]) % multiple
    pad_w = (-shape[2]) % multiple
    if mode == "replicate":
        images = tf.concat([images, tf.repeat(images[:, -1:], pad_h, axis=1)], axis=1)
        return tf.concat([images, tf.repeat(images[:, :, -1:], pad_w, axis=2)], axis=2)
    paddings = [[0, 0], [0, pad_h], [0, pad_w], [0, 0]]
    return tf.pad(images, paddings, mode="CONSTANT" if mode == "zero" else "REFLECT")


@dataclass(frozen=True)
class PatchSampler:
    """Random square crops for codec training, freshly drawn every epoch (seeded).

    Each patch picks an image uniformly, then a uniform position inside it, then (with
    `flips`) a horizontal flip with probability 1/2. Epoch e uses the generator seeded by
    (seed, e), so a run is reproducible and a resumed run draws what it would have drawn.
    """

    size: int
    per_epoch: int
    flips: bool
    seed: int

    def check(self, images: ImageSet) -> None:
        for name, image in zip(images.names, images.images, strict=True):
            if image.shape[0] < self.size or image.shape[1] < self.size:
                raise ValueError(
                    f"patches.size: {self.size}x{self.size} patches do not fit image '{name}' "
                    f"({image.shape[0]}x{image.shape[1]}); lower patches.size"
                )

    def epoch(self, images: ImageSet, epoch: int) -> Iterator[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        which = rng.integers(0, len(images), self.per_epoch)
        tops = rng.random(self.per_epoch)
        lefts = rng.random(self.per_epoch)
        flips = rng.random(self.per_epoch) < 0.5 if self.flips else np.zeros(self.per_epoch, bool)
        for i, top, left, flip in zip(which, tops, lefts, flips, strict=True):
            image = images.images[i]
            y = int(top * (image.shape[0] - self.size + 1))
            x = int(left * (image.shape[1] - self.size + 1))
            patch = image[y : y + self.size, x : x + self.size]
            yield np.ascontiguousarray(patch[:, ::-1] if flip else patch)
