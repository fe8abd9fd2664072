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
