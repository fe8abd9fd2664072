"""Photo corpora streamed from their files: an index instead of a decoded copy, patches on the fly.

A corpus of thousands of 2K photos (CLIC, DIV2K, your own folder with `stream: true`) is
prepared as an index of its files (name, shape, size, SHA-256; images.IndexedFile), read from
headers and bytes without decoding a pixel. Training draws random patches from the files
through tf.data: a seeded order of files per epoch, files decoded in parallel, several crops
from each decoded image, crops of different images interleaved into each batch, prefetched.
Memory stays at a few decoded images whatever the corpus size. Epoch e's patches are a
function of (seed, e) alone, so a resumed run draws what an uninterrupted one would have.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from aecompress.images import (
    DEFAULT_MAX_PIXELS,
    ImageDecodeError,
    ImageSet,
    IndexedFile,
    LazyImages,
)

# Pillow modes whose decoded image has one channel (decode_image's rules); every other mode has three.
_GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F"}


def image_header(path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[int, int, int]:
    """(H, W, native channels) of an image file, from its header alone; ImageDecodeError if it
    cannot be read or is larger than `max_pixels`."""
    from PIL import Image, UnidentifiedImageError

    from aecompress.images import _decode_tiff, _is_tiff

    try:
        if _is_tiff(path):  # Pillow cannot read every TIFF's header: decode it (small for corpora)
            return tuple(_decode_tiff(path, max_pixels).shape[:2]) + (3,)  # type: ignore[return-value]
        with Image.open(path) as img:
            width, height = img.size
            mode = img.mode
            if mode == "P":
                mode = "RGBA" if "transparency" in img.info else "RGB"
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ImageDecodeError(f"{path}: cannot read the image header ({err})") from err
    if max_pixels is not None and width * height > max_pixels:
        raise ImageDecodeError(
            f"{path}: {width}x{height} = {width * height:,} pixels, more than the limit of {max_pixels:,} "
            "(max_image_pixels)"
        )
    return height, width, 1 if mode in _GREY_MODES else 3


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def index_files(
    paths: list[Path],
    channels: int | None,
    skip_corrupt: bool,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    name_of: Callable[[Path], str] = str,
) -> tuple[ImageSet, list[str]]:
    """A streamed ImageSet of `paths` (headers read, bytes hashed, nothing decoded) and the
    paths skipped as unreadable (with `skip_corrupt`; otherwise the first one raises)."""
    files, names, skipped = [], [], []
    for path in paths:
        try:
            height, width, native = image_header(path, max_pixels)
        except ImageDecodeError:
            if not skip_corrupt:
                raise
            skipped.append(str(path))
            continue
        shape = (height, width, channels or native)
        files.append(IndexedFile(str(path.resolve()), shape, path.stat().st_size, file_sha256(path)))
        names.append(name_of(path))
    return ImageSet(LazyImages(files), None, names, files=files), skipped


def stream_patches(
    tf,
    images: ImageSet,
    size: int,
    per_epoch: int,
    flips: bool,
    seed: int,
    batch_size: int,
    epoch_of: Callable[[], int] | None,
    crops_per_image: int = 8,
    parallel: int | None = None,
):
    """uint8 batches of `per_epoch` random size x size patches of a streamed split, per epoch.

    `epoch_of()` says which epoch is starting (training.EpochCounter); it is read when the
    epoch's first batch is asked for, after Keras has announced the epoch, so a resumed run
    draws what an uninterrupted run would have. None draws the fixed epoch -1 every pass
    (validation). Each file decoded gives `crops_per_image` crops; the crops of `batch_size`
    files are interleaved, so a batch holds patches of different photos.
    """
    files = images.files
    if files is None:
        raise ValueError("stream_patches needs a streamed split (an index of files)")
    for name, entry in zip(images.names, files, strict=True):
        if entry.shape[0] < size or entry.shape[1] < size:
            raise ValueError(
                f"patches.size: {size}x{size} patches do not fit image '{name}' "
                f"({entry.shape[0]}x{entry.shape[1]}); lower patches.size"
            )
    channels = files[0].shape[2]
    count = len(files)
    per_file = min(crops_per_image, per_epoch)
    decodes = -(-per_epoch // per_file)
    group = max(1, min(batch_size, decodes))
    decodes = -(-decodes // group) * group  # whole groups; the surplus crops are dropped
    lazy = LazyImages(files)

    def decode(index):
        return lazy[int(index)]

    def crops(epoch, slot, index):
        image = tf.numpy_function(decode, [index], tf.uint8)
        image = tf.ensure_shape(image, [None, None, channels])
        key = tf.stack([tf.cast(seed, tf.int64) * 1_000_003 + epoch, slot])
        shape = tf.shape(image, out_type=tf.int64)
        limits = tf.stack([shape[0] - size + 1, shape[1] - size + 1])
        corners = tf.random.stateless_uniform([per_file, 2], seed=key, maxval=tf.int64.max, dtype=tf.int64)
        corners = corners % limits
        mirrored = tf.random.stateless_uniform([per_file], seed=key + 1) < (0.5 if flips else 0.0)

        def one(args):
            corner, flip = args
            patch = image[corner[0] : corner[0] + size, corner[1] : corner[1] + size]
            return tf.cond(flip, lambda: patch[:, ::-1], lambda: patch)

        return tf.map_fn(
            one, (corners, mirrored), fn_output_signature=tf.TensorSpec([size, size, channels], tf.uint8)
        )

    def epoch_patches(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count, dtype=tf.int64), seed=tf.stack([tf.cast(seed, tf.int64), epoch])
        )
        picks = tf.gather(order, tf.range(decodes, dtype=tf.int64) % count)
        slots = tf.data.Dataset.from_tensor_slices(
            (tf.fill([decodes], epoch), tf.range(decodes, dtype=tf.int64), picks)
        )
        patches = slots.map(crops, num_parallel_calls=parallel or tf.data.AUTOTUNE, deterministic=True)
        # (group, crops) -> crops of `group` different photos side by side
        patches = patches.batch(group).map(lambda p: tf.reshape(tf.transpose(p, [1, 0, 2, 3, 4]),
                                                                [-1, size, size, channels]))  # fmt: skip
        return patches.unbatch().take(per_epoch).batch(batch_size)

    def current_epoch():
        yield np.int64(epoch_of() if epoch_of is not None else -1)

    epochs = tf.data.Dataset.from_generator(current_epoch, output_signature=tf.TensorSpec((), tf.int64))
    return epochs.flat_map(epoch_patches).prefetch(tf.data.AUTOTUNE)
