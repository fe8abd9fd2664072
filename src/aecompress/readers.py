"""Readers for the datasets' published file formats, each validating what it reads.

Every reader checks the header or record size against the file's length and raises
DatasetFileError naming the file and what was expected; none unpickles anything.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from aecompress.images import (
    DEFAULT_MAX_PIXELS,
    DatasetFileError,
    ImageDecodeError,
    ImageSet,
    decode_image,
)

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
CIFAR10_RECORD = 1 + 32 * 32 * 3
STL10_IMAGE = 96 * 96 * 3
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError) as err:
        raise DatasetFileError(f"{path}: cannot read ({err})") from err


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An IDX file (MNIST, Fashion-MNIST), gzipped or not, as an array of its declared shape."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise DatasetFileError(f"{path}: not an IDX file (magic bytes {data[:4].hex()}, expected 0000TTNN)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DatasetFileError(f"{path}: IDX header declares {ndim} dimensions but the file is too short")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise DatasetFileError(
            f"{path}: IDX header declares shape {shape} ({expected} bytes of data), "
            f"the file holds {len(data) - header}"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def read_cifar10_binary(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """A CIFAR-10 binary batch: records of 1 label byte + 1024 R, 1024 G, 1024 B bytes."""
    path = Path(path)
    data = np.frombuffer(_read_bytes(path), dtype=np.uint8)
    if data.size == 0 or data.size % CIFAR10_RECORD:
        raise DatasetFileError(
            f"{path}: {data.size} bytes is not a whole number of {CIFAR10_RECORD}-byte CIFAR-10 records"
        )
    records = data.reshape(-1, CIFAR10_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DatasetFileError(f"{path}: label {labels.max()} found, CIFAR-10 labels are 0..9")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def read_stl10_binary(
    images_path: str | os.PathLike, labels_path: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """STL-10 binary images (3x96x96, column-major planes) and optional labels 1..10 -> 0..9.

    An uncompressed file is memory-mapped and the images are returned as (N, 96, 96, 3)
    views of it, so the 2.8 GB unlabelled split is never read into memory at once.
    """
    images_path = Path(images_path)
    if images_path.suffix == ".gz":
        data = np.frombuffer(_read_bytes(images_path), dtype=np.uint8)
    else:
        size = images_path.stat().st_size if images_path.exists() else 0
        data = np.memmap(images_path, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
    if data.size == 0 or data.size % STL10_IMAGE:
        raise DatasetFileError(
            f"{images_path}: {data.size} bytes is not a whole number of {STL10_IMAGE}-byte STL-10 images"
        )
    images = data.reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1)
    if labels_path is None:
        return images, None
    labels_path = Path(labels_path)
    labels = np.frombuffer(_read_bytes(labels_path), dtype=np.uint8).astype(np.int64)
    if len(labels) != len(images):
        raise DatasetFileError(
            f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}"
        )
    if labels.min(initial=1) < 1 or labels.max(initial=1) > 10:
        raise DatasetFileError(f"{labels_path}: labels must be 1..10, found {labels.min()}..{labels.max()}")
    return images, labels - 1


def image_files(folder: Path) -> list[Path]:
    """Every PNG/JPEG/BMP/TIFF file below `folder`, sorted by path."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def read_image_folder(
    folder: str | os.PathLike,
    channels: int | None = None,
    skip_corrupt: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    stream: bool = False,
) -> tuple[ImageSet, list[str], list[str]]:
    """Every PNG/JPEG/BMP/TIFF below `folder`, sorted by path.

    Labels come from the first-level sub-folder names when every image lies in one and there
    are at least two (else no labels). A corrupt image, or one of more than `max_pixels` pixels, raises
    ImageDecodeError naming it, unless `skip_corrupt`, in which case it is left out and
    returned in the list of skipped paths. With `stream`, nothing is decoded: the images are
    indexed from their headers and bytes (corpus.index_files) and decoded when used, and a
    corrupt header is what counts as corrupt.
    Returns (images, class names, skipped paths).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetFileError(f"{folder}: image folder not found")
    files = image_files(folder)
    if not files:
        raise DatasetFileError(f"{folder}: no .png/.jpg/.jpeg/.bmp/.tif/.tiff images found")
    if stream:
        from aecompress.corpus import index_files

        images, skipped = index_files(
            files, channels, skip_corrupt, max_pixels, name_of=lambda p: str(p.relative_to(folder))
        )
        kept = [folder / name for name in images.names]
    else:
        decoded, names, skipped, kept = [], [], [], []
        for path in files:
            try:
                decoded.append(decode_image(path, channels, max_pixels))
            except ImageDecodeError:
                if not skip_corrupt:
                    raise
                skipped.append(str(path))
                continue
            kept.append(path)
            names.append(str(path.relative_to(folder)))
        images = ImageSet(images=decoded, labels=None, names=names)
    if not len(images):
        raise DatasetFileError(f"{folder}: every image failed to decode ({len(skipped)} skipped)")
    # Sub-folders are classes when every image lies in one and there are two or more (an archive's
    # single top-level folder is not a class).
    labelled = all(len(p.relative_to(folder).parts) == 2 for p in kept)
    class_names = sorted({p.relative_to(folder).parts[0] for p in kept}) if labelled else []
    if len(class_names) < 2:
        labelled, class_names = False, []
    if labelled:
        images.labels = np.array([class_names.index(p.relative_to(folder).parts[0]) for p in kept])
    return images, class_names, skipped
