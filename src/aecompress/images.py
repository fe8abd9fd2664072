"""Images as uint8 arrays: decoding rules, the prepared-dataset file format, padding and blocks.

Every image in aecompress is a uint8 array of shape (H, W, C) with C in {1, 3}. Models see
floats in [0, 1] (`to_unit_float`); metrics are computed after rounding back to 8 bits.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aecompress.runtime import atomic_path

SPLITS = ("train", "val", "test")
FORMAT_VERSION = 2

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


# Pillow's own decompression-bomb threshold (PIL.Image.MAX_IMAGE_PIXELS): about 89.5 million
# pixels, a 9459 x 9459 image. Every decoder here (image files and .aec files) refuses more
# unless told otherwise (`datasets.<name>.max_image_pixels`, the CLI's --max-pixels).
DEFAULT_MAX_PIXELS = int(1024 * 1024 * 1024 // 4 // 3)

# Rows composited at a time: bounds the scratch memory of alpha compositing (uint32 per sample).
_COMPOSITE_CHUNK_PIXELS = 1 << 20


def decode_image(
    path: str | Path, channels: int | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode an image file to uint8 (H, W, C), C in {1, 3}.

    Rules, applied before `convert_channels`: palette images are expanded; 16-bit samples
    are scaled to 8 bits by rounding x / 257 (PNG and TIFF alike: 16-bit colour PNGs are
    decoded at 16 bits by TensorFlow, TIFFs by imageio's tifffile plugin, because Pillow
    keeps only their high byte); an alpha channel is then composited over white (what a
    viewer shows); CMYK and other modes are converted to RGB by Pillow. An image of more
    than `max_pixels` pixels is refused from its header, before any pixel is decoded.
    A corrupt, truncated, oversized or unsupported file raises ImageDecodeError naming `path`.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if max_pixels is None or max_pixels > (Image.MAX_IMAGE_PIXELS or 0):
        Image.MAX_IMAGE_PIXELS = max_pixels  # a limit raised on purpose is not overruled by Pillow's
    try:
        if _is_tiff(path):
            array = _decode_tiff(path, max_pixels)
        else:
            with Image.open(path) as img:
                _check_pixels(path, img.size, max_pixels)
                if img.format == "PNG" and _is_16_bit_colour_png(img):
                    array = _decode_png_16(path)
                else:
                    array = _decode_with_pillow(path, img)
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as err:  # Pillow's own limit, if it is below ours
        raise ImageDecodeError(f"{path}: refused as a decompression bomb ({err})") from err
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
        raise ImageDecodeError(f"{path}: cannot decode image ({err})") from err
    return convert_channels(_composite_alpha(array), channels)


def _check_pixels(path: Path, size: tuple[int, int], max_pixels: int | None) -> None:
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageDecodeError(
            f"{path}: {width}x{height} = {width * height:,} pixels, more than the limit of "
            f"{max_pixels:,} (max_image_pixels / --max-pixels); refused before decoding"
        )


def _decode_with_pillow(path: Path, img) -> np.ndarray:
    """8-bit samples, with the alpha channel (if any) still attached."""
    img.load()
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(img)
        if array.max(initial=0) > 65535 or array.min(initial=0) < 0:
            raise ImageDecodeError(f"{path}: 32-bit integer samples are not supported")
        return _from_16_bit(array)
    if mode in ("LA", "La"):
        return np.asarray(img.convert("LA"), dtype=np.uint8)
    if mode in ("L", "1"):
        return np.asarray(img.convert("L"), dtype=np.uint8)
    if "A" in mode or "a" in mode:  # RGBA, RGBa, PA: colour with alpha
        return np.asarray(img.convert("RGBA"), dtype=np.uint8)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _is_16_bit_colour_png(img) -> bool:
    """A PNG whose colour (or grey + alpha) samples are 16-bit: Pillow reduces those to the
    high byte. (16-bit grey without alpha reaches Python at 16 bits as mode I;16.)"""
    rawmode = img.tile[0][3] if img.tile and len(img.tile[0]) > 3 else None
    rawmode = rawmode[0] if isinstance(rawmode, tuple) else rawmode
    return isinstance(rawmode, str) and rawmode in ("RGB;16B", "RGBA;16B", "LA;16B")


def _decode_png_16(path: Path) -> np.ndarray:
    from aecompress.runtime import import_tensorflow

    tf = import_tensorflow(1)
    array = tf.io.decode_png(tf.io.read_file(str(path)), dtype=tf.uint16).numpy()
    return _from_16_bit(array)


def _is_tiff(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")  # classic and BigTIFF


def _decode_tiff(path: Path, max_pixels: int | None) -> np.ndarray:
    """The first page of a TIFF through imageio's tifffile plugin (Pillow keeps only the high
    byte of 16-bit colour TIFFs): 8- and 16-bit unsigned samples; the size is checked first."""
    import imageio.v3 as iio

    shape = iio.improps(path, plugin="tifffile", index=0).shape
    planar = len(shape) == 3 and shape[0] in (3, 4) and shape[2] not in (1, 2, 3, 4)
    height, width = shape[1:3] if planar else shape[:2]
    _check_pixels(path, (width, height), max_pixels)
    array = iio.imread(path, plugin="tifffile", index=0)
    if planar:
        array = np.moveaxis(array, 0, -1)  # planar (C, H, W) storage
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise ImageDecodeError(f"{path}: TIFF of shape {array.shape} is not a grey, RGB or RGBA image")
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return _from_16_bit(array)
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    raise ImageDecodeError(f"{path}: TIFF samples of type {array.dtype} are not supported (uint8, uint16)")


def _from_16_bit(array: np.ndarray) -> np.ndarray:
    """16-bit samples -> 8 bits by round(x / 257), in integers (x / 257 never ends in .5)."""
    return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _composite_alpha(array: np.ndarray) -> np.ndarray:
    """(H, W, C + 1) with alpha last -> (H, W, C) over white; (H, W[, C]) without alpha as it is.

    round(c * a / 255 + 255 * (1 - a / 255)) in integer arithmetic, a band of rows at a time,
    so a large image needs no float copy of itself.
    """
    if array.ndim == 2 or array.shape[2] not in (2, 4):
        return array
    height, width, samples = array.shape
    out = np.empty((height, width, samples - 1), np.uint8)
    rows = max(1, _COMPOSITE_CHUNK_PIXELS // max(1, width))
    for top in range(0, height, rows):
        band = array[top : top + rows].astype(np.uint32)
        alpha = band[..., -1:]
        numerator = band[..., :-1] * alpha + 255 * (255 - alpha)
        out[top : top + rows] = ((numerator + 127) // 255).astype(np.uint8)  # n / 255 never ends in .5
    return out


@dataclass(frozen=True)
class IndexedFile:
    """One image of a streamed split: its file, and what indexing it found (nothing decoded)."""

    path: str  # absolute; relative to the prepared folder in its index file
    shape: tuple[int, int, int]  # (H, W, C) as decoded, after the dataset's channel rule
    size: int  # bytes: a file that changed since it was indexed is refused
    sha256: str

    def to_json(self, path: str) -> dict[str, Any]:
        return {"path": path, "shape": list(self.shape), "size": self.size, "sha256": self.sha256}


class LazyImages(Sequence):
    """The images of a streamed split, each decoded from its file when it is accessed.

    A file whose size differs from its index entry (changed since the dataset was prepared) or
    that decodes to another shape raises ImageDecodeError naming it.
    """

    def __init__(self, files: list[IndexedFile]):
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index):
        if isinstance(index, slice):  # still lazy: a slice of a corpus is never decoded at once
            return LazyImages(self.files[index])
        entry = self.files[index]
        path = Path(entry.path)
        try:
            size = path.stat().st_size
        except OSError as err:
            raise ImageDecodeError(f"{path}: cannot read the indexed image ({err})") from err
        if size != entry.size:
            raise ImageDecodeError(
                f"{path}: {size} bytes, the dataset's index says {entry.size}: the file changed after "
                "the dataset was prepared; re-run prepare_dataset"
            )
        height, width, channels = entry.shape
        image = decode_image(path, channels, max_pixels=height * width)
        if image.shape != tuple(entry.shape):
            raise ImageDecodeError(f"{path}: decoded {image.shape}, the index says {tuple(entry.shape)}")
        return image


@dataclass
class ImageSet:
    """A list of uint8 (H, W, C) images with optional integer labels and a name each.

    `stack` is set when the images are views of one (N, H, W, C) array (for example a
    memory-mapped prepared split): `stacked()` then returns it without copying.
    """

    images: list[np.ndarray]
    labels: np.ndarray | None = None
    names: list[str] = field(default_factory=list)
    class_names: list[str] | None = None  # set by sources whose classes are found at load time
    stack: np.ndarray | None = field(default=None, repr=False)
    # A streamed split (corpus.IndexedFile per image): `images` then decodes each file when it
    # is accessed, and nothing of the split is held in memory.
    files: list | None = field(default=None, repr=False)

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
    def shapes(self) -> list[tuple[int, ...]]:
        """Each image's (H, W, C), from the file index for a streamed split (nothing decoded)."""
        if self.files is not None:
            return [tuple(f.shape) for f in self.files]
        if self.stack is not None:
            return [tuple(self.stack.shape[1:])] * len(self)
        return [im.shape for im in self.images]

    @property
    def same_size(self) -> bool:
        return self.stack is not None or len(set(self.shapes)) <= 1

    def stacked(self) -> np.ndarray:
        """All images as one (N, H, W, C) array; they must share one shape."""
        if self.stack is not None:
            return self.stack
        if self.files is not None:
            raise ValueError(
                "a streamed split (read from its files as needed) is not held in memory as one array; "
                "only patch-trained families train on it"
            )
        if not self.same_size:
            shapes = sorted({im.shape for im in self.images})
            raise ValueError(f"images have different shapes {shapes[:3]}...; they cannot be stacked")
        return np.stack(self.images)


@dataclass
class PreparedDataset:
    """The one on-disk format every model reads: a folder of uint8 .npy files + manifest.json.

    Per split: `<split>.pixels.npy` is (N, H, W, C) when all images share a shape, else the
    images' pixels concatenated, cut by `<split>.shapes.npy`; `<split>.labels.npy` and
    `<split>.names.npy` when present. Loading memory-maps the pixels, so a dataset larger
    than memory is read only as far as it is used. No file holds pickled objects.

    A streamed split (a photo corpus) holds no pixels: `<split>.files.json` indexes its image
    files (path, shape, size, SHA-256); files unpacked from a downloaded archive live in the
    folder's `files/` (moved there from `staging`), a user's own folder is referenced in place.
    """

    splits: dict[str, ImageSet]
    meta: dict[str, Any]
    # Cross-validation fold (0..K-1) of each training image, when the config asks for K folds.
    folds: np.ndarray | None = None
    # SHA-256 of the content (see content_digest), read from the manifest when loaded.
    digest: str | None = field(default=None, compare=False)
    # Where a streamed split's unpacked files wait until `save` moves them into the folder.
    staging: Path | None = field(default=None, compare=False)

    def content_digest(self) -> str:
        """SHA-256 of every split's pixels, shapes, names and labels, and of the folds.

        What a resumable job (a training checkpoint, a tuner's state) records as the data it
        was run on, so that state written on other data is never resumed. Computed when the
        dataset is saved and kept in its manifest.
        """
        if self.digest is None:
            digest = hashlib.sha256()
            for split in sorted(self.splits):
                images = self.splits[split]
                digest.update(f"{split}:{len(images)}\0".encode())
                if images.files is not None:  # streamed: the files' own digests stand for their pixels
                    for name, entry in zip(images.names, images.files, strict=True):
                        digest.update(f"{name}:{tuple(entry.shape)}:{entry.sha256}\0".encode())
                else:
                    for name, image in zip(images.names, images.images, strict=True):
                        digest.update(f"{name}:{image.shape}\0".encode())
                        digest.update(np.ascontiguousarray(image, dtype=np.uint8).tobytes())
                if images.labels is not None:
                    digest.update(np.asarray(images.labels, dtype=np.int64).tobytes())
            if self.folds is not None:
                digest.update(b"folds\0" + np.asarray(self.folds, dtype=np.int64).tobytes())
            self.digest = digest.hexdigest()
        return self.digest

    def save(self, folder: str | Path) -> None:
        with atomic_path(folder) as tmp:
            tmp.mkdir()
            layout = {
                split: _write_file_index(tmp, split, images, self.staging)
                if images.files is not None
                else _write_split(tmp, split, images)
                for split, images in self.splits.items()
            }
            if self.folds is not None:
                if len(self.folds) != len(self.splits["train"]):
                    raise ValueError("PreparedDataset: one fold id per training image is required")
                np.save(tmp / "train.folds.npy", np.asarray(self.folds, dtype=np.int64))
            manifest = {
                "format_version": FORMAT_VERSION,
                "content_sha256": self.content_digest(),
                "splits": layout,
                "folds": None if self.folds is None else int(self.folds.max()) + 1,
                "meta": self.meta,
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))

    @classmethod
    def load(cls, folder: str | Path) -> PreparedDataset:
        folder = Path(folder)
        manifest_path = folder / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text())
        except FileNotFoundError as err:
            raise DatasetFileError(f"{manifest_path}: prepared dataset not found") from err
        except (ValueError, OSError) as err:
            raise DatasetFileError(f"{manifest_path}: not a prepared aecompress dataset ({err})") from err
        if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
            version = manifest.get("format_version") if isinstance(manifest, dict) else None
            raise DatasetFileError(
                f"{manifest_path}: prepared-dataset format {version}, expected {FORMAT_VERSION}; "
                "re-run the prepare_dataset rule"
            )
        splits = {split: _read_split(folder, split, info) for split, info in manifest["splits"].items()}
        folds = None
        if manifest.get("folds"):
            try:
                folds = np.load(folder / "train.folds.npy", allow_pickle=False)
            except (OSError, ValueError) as err:
                raise DatasetFileError(f"{folder}/train.folds.npy: cannot be read ({err})") from err
            if len(folds) != len(splits["train"]):
                raise DatasetFileError(
                    f"{folder}/train.folds.npy: {len(folds)} fold ids for "
                    f"{len(splits['train'])} training images"
                )
        return cls(splits=splits, meta=manifest["meta"], folds=folds, digest=manifest.get("content_sha256"))


def _write_split(folder: Path, split: str, images: ImageSet) -> dict[str, Any]:
    """Write one split image by image through a file handle; return its layout.

    Streaming the bytes (instead of filling a memory-mapped output) keeps the written
    pixels out of this process's resident memory: preparing a dataset needs about one
    copy of it in memory at most, whatever its size.
    """
    shapes = np.array([im.shape for im in images.images], dtype=np.int64).reshape(-1, 3)
    stacked = len(images) > 0 and images.same_size
    total = int(shapes.prod(axis=1).sum())
    out_shape = (len(images), *(int(v) for v in shapes[0])) if stacked else (total,)
    with open(folder / f"{split}.pixels.npy", "wb") as fh:
        header = {"descr": "|u1", "fortran_order": False, "shape": out_shape}
        np.lib.format.write_array_header_1_0(fh, header)
        for image in images.images:
            fh.write(np.ascontiguousarray(image, dtype=np.uint8).tobytes())
    np.save(folder / f"{split}.shapes.npy", shapes)
    np.save(folder / f"{split}.names.npy", np.array(images.names, dtype=str))
    if images.labels is not None:
        np.save(folder / f"{split}.labels.npy", np.asarray(images.labels, dtype=np.int64))
    return {
        "count": len(images),
        "layout": "stacked" if stacked else "ragged",
        "labelled": images.labels is not None,
    }


def _write_file_index(folder: Path, split: str, images: ImageSet, staging: Path | None) -> dict[str, Any]:
    """Index a streamed split; move its staged (unpacked) files into `folder/files/`."""
    entries = []
    for name, entry in zip(images.names, images.files, strict=True):
        path = Path(entry.path)
        if staging is not None and path.is_relative_to(staging):
            relative = Path("files") / path.relative_to(staging)
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, folder / relative)
            entries.append({"name": name, **entry.to_json(str(relative))})
        else:
            entries.append({"name": name, **entry.to_json(str(path.resolve()))})
    (folder / f"{split}.files.json").write_text(json.dumps(entries))
    if images.labels is not None:
        np.save(folder / f"{split}.labels.npy", np.asarray(images.labels, dtype=np.int64))
    return {"count": len(images), "layout": "files", "labelled": images.labels is not None}


def _read_file_index(folder: Path, split: str, info: dict[str, Any]) -> ImageSet:
    try:
        entries = json.loads((folder / f"{split}.files.json").read_text())
        labels = np.load(folder / f"{split}.labels.npy", allow_pickle=False) if info["labelled"] else None
        files = [
            IndexedFile(str(folder / e["path"]) if not os.path.isabs(e["path"]) else e["path"],
                        tuple(e["shape"]), int(e["size"]), e["sha256"])
            for e in entries
        ]  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DatasetFileError(f"{folder}: the file index of split '{split}' cannot be read ({err})") from err
    if len(files) != info["count"]:
        raise DatasetFileError(
            f"{folder}: split '{split}' should index {info['count']} files, found {len(files)}"
        )
    return ImageSet(LazyImages(files), labels, [e["name"] for e in entries], files=files)


def _read_split(folder: Path, split: str, info: dict[str, Any]) -> ImageSet:
    if info["layout"] == "files":
        return _read_file_index(folder, split, info)
    try:
        pixels = np.load(folder / f"{split}.pixels.npy", mmap_mode="r", allow_pickle=False)
        shapes = np.load(folder / f"{split}.shapes.npy", allow_pickle=False)
        names = [str(n) for n in np.load(folder / f"{split}.names.npy", allow_pickle=False)]
        labels = np.load(folder / f"{split}.labels.npy", allow_pickle=False) if info["labelled"] else None
    except (OSError, ValueError) as err:
        raise DatasetFileError(f"{folder}: split '{split}' cannot be read ({err})") from err
    if len(shapes) != info["count"] or len(names) != info["count"]:
        raise DatasetFileError(
            f"{folder}: split '{split}' should hold {info['count']} images, found {len(shapes)}"
        )
    if info["layout"] == "stacked":
        if pixels.shape[0] != info["count"]:
            raise DatasetFileError(
                f"{folder}: {split}.pixels.npy holds {pixels.shape[0]} images, expected {info['count']}"
            )
        return ImageSet(images=list(pixels), labels=labels, names=names, stack=pixels)
    sizes = shapes.prod(axis=1)
    if sizes.sum() != pixels.size:
        raise DatasetFileError(
            f"{folder}: split '{split}' holds {pixels.size} pixels, its shapes need {sizes.sum()}"
        )
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    images = [pixels[a:b].reshape(s) for a, b, s in zip(offsets[:-1], offsets[1:], shapes, strict=True)]
    return ImageSet(images=images, labels=labels, names=names)


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
