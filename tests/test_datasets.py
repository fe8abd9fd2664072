import numpy as np
import pytest

from aecompress.config import validate_config
from aecompress.datasets import BUNDLED_PHOTOS, prepare_dataset, split_indices


def _options(**extra):
    config = validate_config(
        {
            "datasets": {"d": extra},
            "experiments": [{"name": "e", "family": "dense", "dataset": "d", "params": {"block_size": 8}}],
        }
    )
    return config["datasets"]["d"]


def test_digits_are_scaled_to_8_bits_and_split_stratified():
    prepared = prepare_dataset(_options(source="sklearn-digits"), seed=3)
    sizes = {k: len(v) for k, v in prepared.splits.items()}
    assert sum(sizes.values()) == 1797
    assert sizes["test"] == round(0.2 * 1797) and sizes["val"] == round(0.1 * 1797)
    train = prepared.splits["train"].stacked()
    assert train.shape[1:] == (8, 8, 1) and train.dtype == np.uint8
    assert train.max() == 255 and train.min() == 0
    assert set(np.unique(train)) <= {round(v * 255 / 16) for v in range(17)}
    test_counts = np.bincount(prepared.splits["test"].labels, minlength=10)
    assert test_counts.min() >= 33 and test_counts.max() <= 38  # ~36 per class
    assert prepared.meta["class_names"] == [str(d) for d in range(10)]


def test_splits_are_disjoint_and_fixed_by_the_seed():
    labels = np.repeat(np.arange(4), 25)
    a = split_indices(100, labels, 0.2, 0.1, seed=5)
    b = split_indices(100, labels, 0.2, 0.1, seed=5)
    c = split_indices(100, labels, 0.2, 0.1, seed=6)
    assert all((a[k] == b[k]).all() for k in a)
    assert not (a["test"] == c["test"]).all()
    together = np.concatenate([a["train"], a["val"], a["test"]])
    assert sorted(together.tolist()) == list(range(100))


def test_bundled_photos_load_offline_as_rgb():
    prepared = prepare_dataset(
        _options(source="bundled-photos", images=["camera", "china", "astronaut"], val_fraction=0.0),
        seed=0,
    )
    images = [im for split in prepared.splits.values() for im in split.images]
    assert len(images) == 3
    assert all(im.shape[2] == 3 and im.dtype == np.uint8 and min(im.shape[:2]) >= 176 for im in images)
    assert prepared.splits["train"].labels is None


def test_every_bundled_photo_is_present():
    from aecompress.datasets import bundled_photo_path

    for name in BUNDLED_PHOTOS:
        assert bundled_photo_path(name).is_file(), name


def test_grey_conversion_option():
    prepared = prepare_dataset(_options(source="bundled-photos", images=["china", "coffee"], channels=1), 0)
    assert {im.shape[2] for s in prepared.splits.values() for im in s.images} == {1}


def test_too_few_images_for_the_fractions_fail():
    with pytest.raises(ValueError, match="none for training"):
        split_indices(3, None, 0.5, 0.49, seed=0)
