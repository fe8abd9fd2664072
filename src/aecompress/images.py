"""Images as uint8 arrays: decoding rules, the prepared-dataset file format, padding and blocks.

Every image in aecompress is a uint8 array of shape (H, W, C) with C in {1, 3}. Models see
floats in [0, 1] (`to_unit_float`); metrics are computed after rounding back to 8 bits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aecompress.runtime import atomic_path

SPLITS = ("train", "val", "test")
FORMAT_VERSION = 1

# ITU-R BT.601 luma weights: the conversion JPEG and Pillow use for RGB -> grey.
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


class ImageDecodeError(ValueError):
    """An image file could not be decoded; the message names the file."""


class DatasetFileError(ValueError):
    """A prepared dataset file is missing, foreign or inconsistent; the message names it."""


def convert_channels(image: np.ndarray, channels: int | None) -> np.ndarray:
    """Return `image` (H, W, C) with `channels` channels (None keeps it).

    Rules: RGB -> grey by BT.601 luma, rounded; grey -> RGB by replicating the plane.
    """
    if image.ndim == 2:
        image = image[:, :, None]
    have = image.shape[2]
    if channels is None or channels == have:
        return image
    if have == 3 and channels == 1:
        luma = image.astype(np.float64) @ _LUMA_WEIGHTS
        return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[:, :, None]
    if have == 1 and channels == 3:
        return np.repeat(image, 3, axis=2)
    raise ValueError(f"cannot convert an image with {have} channels to {channels}")


def decode_image(path: str | Path, channels: int | None = None) -> np.ndarray:
    """Decode an image file to uint8 (H, W, C), C in {1, 3}.

    Rules, applied before `convert_channels`: palette images are expanded; an alpha
    channel is composited over white (what a viewer shows); 16-bit samples are scaled to 8
    bits by rounding x / 257; CMYK and other modes are converted to RGB by Pillow.
    A corrupt or truncated file raises ImageDecodeError naming `path`.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode == "P":
                img = img.convert("RGBA" if "transparency" in img.info else "RGB")
                mode = img.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(img, dtype=np.float64)
                if array.max(initial=0) > 65535 or array.min(initial=0) < 0:
                    raise ImageDecodeError(f"{path}: 32-bit integer samples are not supported")
                array = np.rint(array / 257.0).astype(np.uint8)
            elif mode in ("LA", "RGBA", "PA"):
                rgba = img.convert("LA" if mode == "LA" else "RGBA")
                array = np.asarray(rgba, dtype=np.float64)
                alpha = array[..., -1:] / 255.0
                array = np.rint(array[..., :-1] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
            elif mode == "L":
                array = np.asarray(img, dtype=np.uint8)
            elif mode == "1":
                array = np.asarray(img.convert("L"), dtype=np.uint8)
            else:
                array = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, SyntaxError) as err:
        raise ImageDecodeError(f"{path}: cannot decode image ({err})") from err
    return convert_channels(array, channels)


@dataclass
class ImageSet:
    """A list of uint8 (H, W, C) images with optional integer labels and a name each."""

    images: list[np.ndarray]
    labels: np.ndarray | None = None
    names: list[str] = field(default_factory=list)
    class_names: list[str] | None = None  # set by sources whose classes are found at load time

    def __post_init__(self) -> None:
        if not self.names:
            self.names = [f"{i:06d}" for i in range(len(self.images))]
        if len(self.names) != len(self.images):
            raise ValueError("ImageSet: one name per image is required")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError("ImageSet: one label per image is required")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def same_size(self) -> bool:
        return len({im.shape for im in self.images}) <= 1

    def stacked(self) -> np.ndarray:
        """All images as one (N, H, W, C) array; they must share one shape."""
        if not self.same_size:
            shapes = sorted({im.shape for im in self.images})
            raise ValueError(f"images have different shapes {shapes[:3]}...; they cannot be stacked")
        return np.stack(self.images)


@dataclass
class PreparedDataset:
    """The one on-disk format every model reads: train/val/test ImageSets plus metadata."""

    splits: dict[str, ImageSet]
    meta: dict[str, Any]

    def save(self, path: str | Path) -> None:
        arrays: dict[str, np.ndarray] = {}
        for split in SPLITS:
            images = self.splits[split]
            shapes = np.array([im.shape for im in images.images], dtype=np.int64).reshape(-1, 3)
            arrays[f"{split}.shapes"] = shapes
            arrays[f"{split}.pixels"] = (
                np.concatenate([im.reshape(-1) for im in images.images])
                if len(images)
                else np.zeros(0, np.uint8)
            )
            arrays[f"{split}.names"] = np.array(images.names, dtype=str)
            if images.labels is not None:
                arrays[f"{split}.labels"] = np.asarray(images.labels, dtype=np.int64)
        meta = {**self.meta, "format_version": FORMAT_VERSION}
        arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> PreparedDataset:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("format_version") != FORMAT_VERSION:
                    raise DatasetFileError(
                        f"{path}: prepared-dataset format {meta.get('format_version')}, "
                        f"expected {FORMAT_VERSION}; re-run the prepare rule"
                    )
                splits = {split: _read_split(data, split, path) for split in SPLITS}
        except FileNotFoundError as err:
            raise DatasetFileError(f"{path}: prepared dataset not found") from err
        except (KeyError, ValueError, OSError) as err:
            if isinstance(err, DatasetFileError):
                raise
            raise DatasetFileError(f"{path}: not a prepared aecompress dataset ({err})") from err
        return cls(splits=splits, meta=meta)


def _read_split(data, split: str, path: Path) -> ImageSet:
    shapes = data[f"{split}.shapes"]
    pixels = data[f"{split}.pixels"]
    sizes = shapes.prod(axis=1)
    if sizes.sum() != pixels.size:
        raise DatasetFileError(
            f"{path}: split '{split}' holds {pixels.size} pixels, its shapes need {sizes.sum()}"
        )
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    images = [pixels[a:b].reshape(s) for a, b, s in zip(offsets[:-1], offsets[1:], shapes, strict=True)]
    labels = data.get(f"{split}.labels")
    return ImageSet(images=images, labels=labels, names=[str(n) for n in data[f"{split}.names"]])


def to_unit_float(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [0, 1]."""
    return images.astype(np.float32) / 255.0


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 [0, 255], rounded to nearest and clipped (what a decoder outputs)."""
    return np.clip(np.rint(np.asarray(images, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def pad_to_multiple(image: np.ndarray, multiple: int, mode: str = "edge") -> np.ndarray:
    """Pad (H, W, C) at the bottom and right so H and W are multiples of `multiple`.

    mode "edge" replicates border pixels, "constant" pads zeros; `crop` undoes it.
    """
    height, width = image.shape[:2]
    pad_h, pad_w = -height % multiple, -width % multiple
    if not pad_h and not pad_w:
        return image
    return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode)


def crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    return image[:height, :width]


def image_to_blocks(image: np.ndarray, block: int) -> np.ndarray:
    """(H, W, C) -> (rows * cols, block, block, C), row-major, after edge padding."""
    padded = pad_to_multiple(image, block)
    rows, cols = padded.shape[0] // block, padded.shape[1] // block
    channels = padded.shape[2]
    blocks = padded.reshape(rows, block, cols, block, channels).transpose(0, 2, 1, 3, 4)
    return blocks.reshape(rows * cols, block, block, channels)


def blocks_to_image(blocks: np.ndarray, height: int, width: int) -> np.ndarray:
    """Inverse of `image_to_blocks`: reassemble and crop back to (height, width)."""
    block, channels = blocks.shape[1], blocks.shape[3]
    rows, cols = -(-height // block), -(-width // block)
    if blocks.shape[0] != rows * cols:
        raise ValueError(f"{blocks.shape[0]} blocks cannot tile a {height}x{width} image")
    image = blocks.reshape(rows, cols, block, block, channels).transpose(0, 2, 1, 3, 4)
    return crop(image.reshape(rows * block, cols * block, channels), height, width)
