import numpy as np
import pytest
from PIL import Image

from aecompress.images import (
    DatasetFileError,
    ImageDecodeError,
    ImageSet,
    PreparedDataset,
    blocks_to_image,
    convert_channels,
    decode_image,
    image_to_blocks,
    pad_to_multiple,
    to_uint8,
)
from aecompress.runtime import atomic_path


def test_pad_replicates_edges_and_crop_restores():
    image = np.arange(5 * 7 * 1, dtype=np.uint8).reshape(5, 7, 1)
    padded = pad_to_multiple(image, 4)
    assert padded.shape == (8, 8, 1)
    assert (padded[5:, :7, 0] == image[4, :, 0]).all()  # bottom rows copy the last row
    assert (padded[:5, 7, 0] == image[:, 6, 0]).all()
    assert pad_to_multiple(image, 4, mode="constant")[5:].max() == 0


@pytest.mark.parametrize("shape", [(8, 8, 1), (13, 21, 3), (1, 9, 3)])
def test_blocks_round_trip_for_any_size(shape):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=shape, dtype=np.uint8)
    blocks = image_to_blocks(image, 4)
    assert blocks.shape[1:] == (4, 4, shape[2])
    assert blocks.shape[0] == -(-shape[0] // 4) * -(-shape[1] // 4)
    np.testing.assert_array_equal(blocks_to_image(blocks, *shape[:2]), image)


def test_block_order_is_row_major():
    image = np.zeros((4, 8, 1), np.uint8)
    image[:, 4:] = 200
    blocks = image_to_blocks(image, 4)
    assert blocks[0].max() == 0 and blocks[1].min() == 200


def test_channel_rules():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    grey = convert_channels(rgb, 1)
    assert grey[0, :, 0].tolist() == [76, 150, 29]  # BT.601: 0.299, 0.587, 0.114 of 255
    assert convert_channels(grey, 3)[0, 0].tolist() == [76, 76, 76]


def test_to_uint8_rounds_and_clips():
    assert to_uint8(np.array([-0.1, 0.0, 0.5, 1.0, 1.2])).tolist() == [0, 0, 128, 255, 255]


def test_decode_rules(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 0  # fully transparent -> white
    rgba[0, 0, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    decoded = decode_image(tmp_path / "a.png")
    assert decoded.shape == (4, 4, 3)
    assert decoded[0, 0].tolist() == [200, 0, 0] and decoded[1, 1].tolist() == [255, 255, 255]

    sixteen = np.full((3, 3), 65535, np.uint16)
    sixteen[0, 0] = 257 * 10
    Image.fromarray(sixteen).save(tmp_path / "b.png")
    decoded = decode_image(tmp_path / "b.png")
    assert decoded.shape == (3, 3, 1) and decoded[0, 0, 0] == 10 and decoded[1, 1, 0] == 255


def test_truncated_image_fails_with_its_path(tmp_path):
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "c.jpg")
    data = (tmp_path / "c.jpg").read_bytes()
    (tmp_path / "c.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError, match="c.jpg"):
        decode_image(tmp_path / "c.jpg")
    (tmp_path / "d.png").write_text("not an image")
    with pytest.raises(ImageDecodeError, match="d.png"):
        decode_image(tmp_path / "d.png")


def _dataset():
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(5, 6), (7, 3), (2, 2)]]
    return PreparedDataset(
        splits={
            "train": ImageSet(images[:2], labels=np.array([1, 0]), names=["a", "b"]),
            "val": ImageSet([], labels=np.zeros(0, np.int64)),
            "test": ImageSet(images[2:], labels=np.array([1]), names=["c"]),
        },
        meta={"source": "x"},
    )


def test_prepared_dataset_round_trip_with_mixed_sizes(tmp_path):
    original = _dataset()
    original.save(tmp_path / "d")
    loaded = PreparedDataset.load(tmp_path / "d")
    assert loaded.meta["source"] == "x"
    for split in ("train", "val", "test"):
        assert loaded.splits[split].names == original.splits[split].names
        for a, b in zip(loaded.splits[split].images, original.splits[split].images, strict=True):
            np.testing.assert_array_equal(a, b)
    assert loaded.splits["train"].labels.tolist() == [1, 0]
    assert not loaded.splits["train"].same_size


def test_foreign_or_missing_dataset_file_is_named(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "manifest.json").write_text("garbage")
    with pytest.raises(DatasetFileError, match="x/manifest.json"):
        PreparedDataset.load(tmp_path / "x")
    with pytest.raises(DatasetFileError, match="not found"):
        PreparedDataset.load(tmp_path / "y")
    _dataset().save(tmp_path / "z")
    (tmp_path / "z" / "train.pixels.npy").write_bytes(b"truncated")
    with pytest.raises(DatasetFileError, match="split 'train' cannot be read"):
        PreparedDataset.load(tmp_path / "z")


def test_same_size_splits_are_memory_mapped_stacks(tmp_path):
    images = [np.full((4, 5, 1), i, np.uint8) for i in range(6)]
    PreparedDataset(
        splits={"train": ImageSet(images), "val": ImageSet([]), "test": ImageSet(images[:2])}, meta={}
    ).save(tmp_path / "p")
    loaded = PreparedDataset.load(tmp_path / "p")
    stack = loaded.splits["train"].stacked()
    assert isinstance(stack, np.memmap) and stack.shape == (6, 4, 5, 1) and stack[5, 0, 0, 0] == 5
    assert loaded.splits["train"].labels is None and len(loaded.splits["val"]) == 0


def test_atomic_path_leaves_nothing_when_the_writer_fails(tmp_path):
    final = tmp_path / "out" / "model.json"
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert not final.exists()
    assert list((tmp_path / "out").iterdir()) == []
    with atomic_path(final) as tmp:
        tmp.write_text("done")
    assert final.read_text() == "done"


def test_atomic_path_never_removes_a_folder_and_replaces_a_file_only_when_told(tmp_path):
    folder = tmp_path / "Pictures"
    folder.mkdir()
    (folder / "keep.jpg").write_bytes(b"precious")
    (tmp_path / "empty").mkdir()
    for target, writer in ((folder, "write"), (tmp_path / "empty", "mkdir")):
        for replace in (False, True):
            with pytest.raises(IsADirectoryError), atomic_path(target, replace=replace) as tmp:
                getattr(tmp, writer)(*([b"x"] if writer == "write" else []))
    assert (folder / "keep.jpg").read_bytes() == b"precious" and (tmp_path / "empty").is_dir()
    existing = tmp_path / "out.bin"
    existing.write_bytes(b"old")
    with pytest.raises(FileExistsError), atomic_path(existing) as tmp:
        tmp.write_bytes(b"new")
    assert existing.read_bytes() == b"old"
    with atomic_path(existing, replace=True) as tmp:
        tmp.write_bytes(b"new")
    assert existing.read_bytes() == b"new"
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "no" / "x.bin", make_parents=False) as tmp:
        tmp.write_bytes(b"x")
    assert not (tmp_path / "no").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Pictures", "empty", "out.bin"]  # no temporaries


def _png_16(path, samples: np.ndarray, colour_type: int) -> None:
    """Write a 16-bit PNG by hand (Pillow cannot write 16-bit colour): rows of big-endian samples."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    height, width = samples.shape[:2]
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in samples)
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_16_bit_colour_png_and_tiff_follow_the_documented_rule(tmp_path):
    """round(x / 257) for every 16-bit sample; Pillow alone keeps the high byte of colour PNGs
    (65280 -> 255 instead of 254, 383 -> 1 either way)."""
    import tifffile

    samples = np.array([[[0, 383, 65535], [128, 65280, 32896]]], dtype=np.uint16)
    expected = [[[0, 1, 255], [0, 254, 128]]]
    _png_16(tmp_path / "rgb16.png", samples, colour_type=2)
    assert decode_image(tmp_path / "rgb16.png").tolist() == expected
    tifffile.imwrite(tmp_path / "rgb16.tif", samples, photometric="rgb")
    assert decode_image(tmp_path / "rgb16.tif").tolist() == expected
    rgba = np.concatenate([samples, np.array([[[65535], [0]]], np.uint16)], axis=-1)
    _png_16(tmp_path / "rgba16.png", rgba, colour_type=6)
    assert decode_image(tmp_path / "rgba16.png").tolist() == [[[0, 1, 255], [255, 255, 255]]]
    tifffile.imwrite(tmp_path / "float.tif", samples.astype(np.float32), photometric="rgb")
    with pytest.raises(ImageDecodeError, match=r"float\.tif: TIFF samples of type float32 are not supported"):
        decode_image(tmp_path / "float.tif")


def test_alpha_is_composited_in_bounded_chunks_exactly_as_the_float_rule(tmp_path, monkeypatch):
    import aecompress.images as images

    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (37, 29, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    monkeypatch.setattr(images, "_COMPOSITE_CHUNK_PIXELS", 100)  # several bands of rows
    alpha = rgba[..., 3:].astype(np.float64) / 255
    expected = np.rint(rgba[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    np.testing.assert_array_equal(decode_image(tmp_path / "a.png"), expected)


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path):
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(
        ImageDecodeError, match=r"big\.png: 50x40 = 2,000 pixels, more than the limit of 1,999"
    ):
        decode_image(tmp_path / "big.png", max_pixels=1999)
    assert decode_image(tmp_path / "big.png", max_pixels=2000).shape == (40, 50, 3)


def test_pillows_own_decompression_bomb_error_is_a_decode_error(tmp_path, monkeypatch):
    """A header declaring more than twice Pillow's MAX_IMAGE_PIXELS raises DecompressionBombError
    inside Image.open, which once escaped as a traceback and was not skipped by skip_corrupt."""
    from PIL import Image as PILImage

    from aecompress.readers import read_image_folder

    Image.fromarray(np.zeros((40, 50), np.uint8)).save(tmp_path / "bomb.png")
    Image.fromarray(np.zeros((4, 5), np.uint8)).save(tmp_path / "fine.png")
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 500)
    with pytest.raises(ImageDecodeError, match=r"bomb\.png: refused as a decompression bomb"):
        decode_image(tmp_path / "bomb.png", max_pixels=300)
    images, _, skipped = read_image_folder(tmp_path, skip_corrupt=True, max_pixels=300)
    assert images.names == ["fine.png"] and skipped == [str(tmp_path / "bomb.png")]


def test_the_content_digest_changes_with_any_pixel_label_or_fold(tmp_path):
    original = _dataset()
    original.save(tmp_path / "d")
    loaded = PreparedDataset.load(tmp_path / "d")
    assert loaded.digest == original.content_digest()  # kept in the manifest
    changed = _dataset()
    changed.splits["train"].images[0][0, 0, 0] ^= 1
    relabelled = _dataset()
    relabelled.splits["train"].labels[0] = 5
    folded = _dataset()
    folded.folds = np.array([0, 1])
    assert len({d.content_digest() for d in (original, changed, relabelled, folded)}) == 4
