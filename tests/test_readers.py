"""Readers on the real files of the offline mirror, and on damaged copies of them."""

import gzip

import numpy as np
import pytest
from conftest import MIRROR
from PIL import Image

from aecompress.downloads import extract
from aecompress.images import DatasetFileError, ImageDecodeError
from aecompress.readers import read_cifar10_binary, read_idx, read_image_folder, read_stl10_binary

needs_mirror = pytest.mark.usefixtures("mirror")


@needs_mirror
@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_idx_readers_on_the_official_files(dataset):
    images = read_idx(MIRROR / dataset / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(MIRROR / dataset / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
    assert np.bincount(labels).min() >= 892  # MNIST's rarest test class (5) has 892 images
    assert images.max() == 255 and images[:, 0, 0].mean() < 1  # objects on a black background


def test_idx_damage_is_reported_with_the_file(tmp_path):
    labels = np.random.default_rng(0).integers(0, 10, 10000).astype(np.uint8)
    data = bytes([0, 0, 0x08, 1]) + (10000).to_bytes(4, "big") + labels.tobytes()  # a labels file
    (tmp_path / "ok.idx").write_bytes(data)
    assert (read_idx(tmp_path / "ok.idx") == labels).all()
    (tmp_path / "short.idx").write_bytes(data[:-10])
    with pytest.raises(DatasetFileError, match=r"short\.idx: IDX header declares shape \(10000,\)"):
        read_idx(tmp_path / "short.idx")
    (tmp_path / "magic.idx").write_bytes(b"\x01\x02" + data[2:])
    with pytest.raises(DatasetFileError, match=r"magic\.idx: not an IDX file"):
        read_idx(tmp_path / "magic.idx")
    (tmp_path / "trunc.gz").write_bytes(gzip.compress(data)[:100])
    with pytest.raises(DatasetFileError, match=r"trunc\.gz: cannot read"):
        read_idx(tmp_path / "trunc.gz")


@pytest.fixture(scope="module")
def cifar(tmp_path_factory, mirror):
    return extract(
        mirror / "cifar-10-sample" / "cifar-10-binary.tar.gz", tmp_path_factory.mktemp("c") / "x", 2**28
    )


def test_cifar10_binary_reader(cifar, tmp_path):
    images, labels = read_cifar10_binary(cifar / "cifar-10-batches-bin" / "test_batch.bin")
    assert images.shape == (2000, 32, 32, 3) and labels.shape == (2000,)
    assert set(np.unique(labels)) == set(range(10))
    # colour planes land in the right channel: photos are not all grey
    assert np.abs(images[..., 0].astype(int) - images[..., 2]).mean() > 5
    (tmp_path / "bad.bin").write_bytes(
        (cifar / "cifar-10-batches-bin" / "test_batch.bin").read_bytes()[:5000]
    )
    with pytest.raises(DatasetFileError, match=r"bad\.bin: 5000 bytes is not a whole number of 3073-byte"):
        read_cifar10_binary(tmp_path / "bad.bin")


@needs_mirror
def test_stl10_binary_reader(tmp_path):
    root = extract(MIRROR / "stl10-sample" / "stl10_binary.tar.gz", tmp_path / "s", 2**28) / "stl10_binary"
    images, labels = read_stl10_binary(root / "train_X.bin", root / "train_y.bin")
    assert images.shape == (63, 96, 96, 3) and labels.min() >= 0 and labels.max() <= 9
    unlabeled, none = read_stl10_binary(root / "unlabeled_X.bin")
    assert len(unlabeled) == 141 and none is None
    # column-major storage: neighbouring pixels along a row are similar in a natural image
    row_diff = np.abs(np.diff(images.astype(int), axis=2)).mean()
    col_jump = np.abs(images[:, :, :48].astype(int) - images[:, :, 48:]).mean()
    assert row_diff < col_jump
    with pytest.raises(DatasetFileError, match="labels for 141 images"):
        read_stl10_binary(root / "unlabeled_X.bin", root / "train_y.bin")


def test_image_folder_with_labels_and_a_corrupt_file(tmp_path):
    for label in ("cats", "dogs"):
        (tmp_path / label).mkdir()
        for i in range(2):
            Image.fromarray(np.full((20, 30, 3), 40 * i, np.uint8)).save(tmp_path / label / f"{i}.png")
    images, classes, skipped = read_image_folder(tmp_path)
    assert classes == ["cats", "dogs"] and images.labels.tolist() == [0, 0, 1, 1] and skipped == []
    (tmp_path / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(ImageDecodeError, match=r"broken\.jpg"):
        read_image_folder(tmp_path)
    images, _, skipped = read_image_folder(tmp_path, skip_corrupt=True)
    assert len(images) == 4 and skipped == [str(tmp_path / "dogs" / "broken.jpg")]


@needs_mirror
def test_kodak_images_decode_at_their_published_size():
    images, classes, _ = read_image_folder(MIRROR / "kodak")
    assert len(images) == 24 and classes == []
    shapes = sorted({im.shape for im in images.images})
    assert shapes == [(512, 768, 3), (768, 512, 3)]
