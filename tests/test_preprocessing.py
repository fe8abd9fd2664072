"""Normalization, padding, patches and folds: what a model sees, and that it is undone exactly."""

import numpy as np
import pytest

from aecompress.config import ConfigError, validate_config
from aecompress.datasets import fold_assignment, prepare_dataset
from aecompress.images import ImageSet, PreparedDataset
from aecompress.preprocessing import (
    Normalization,
    PatchSampler,
    channel_statistics,
    crop_box,
    fit_normalization,
    pad_tensor,
)

RNG = np.random.default_rng(0)
IMAGES = ImageSet([RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8) for _ in range(4)])


@pytest.mark.parametrize("kind", ["unit", "symmetric", "standardize"])
def test_normalization_round_trips_every_8_bit_value(kind):
    normalization = fit_normalization(kind, IMAGES)
    pixels = np.broadcast_to(np.arange(256, dtype=np.uint8)[:, None], (256, 3)).copy()
    assert np.array_equal(normalization.inverse(normalization.forward(pixels)), pixels)
    assert Normalization.from_json(normalization.to_json()) == normalization


def test_normalization_ranges():
    pixels = np.array([[0, 255, 128]], np.uint8).reshape(1, 1, 3)
    assert Normalization("unit").forward(pixels).ravel().tolist() == pytest.approx([0, 1, 128 / 255])
    assert Normalization("symmetric").forward(pixels).ravel().tolist() == pytest.approx(
        [-1, 1, 128 / 127.5 - 1], abs=1e-6
    )
    standardized = fit_normalization("standardize", IMAGES)
    values = np.concatenate([standardized.forward(im).reshape(-1, 3) for im in IMAGES.images])
    assert values.mean(axis=0) == pytest.approx([0, 0, 0], abs=1e-5)
    assert values.std(axis=0) == pytest.approx([1, 1, 1], abs=1e-5)


def test_channel_statistics_match_numpy_and_survive_a_constant_channel():
    stacked = IMAGES.stacked().reshape(-1, 3).astype(np.float64)
    mean, std = channel_statistics(IMAGES)
    assert mean == pytest.approx(stacked.mean(axis=0)) and std == pytest.approx(stacked.std(axis=0))
    flat = ImageSet([np.full((4, 4, 1), 9, np.uint8)])
    assert channel_statistics(flat) == ((9.0,), (1.0,))
    with pytest.raises(ValueError, match="mean and std"):
        Normalization("unit", mean=(1.0,), std=(1.0,))


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("zero", lambda a, ph, pw: np.pad(a, ((0, 0), (0, ph), (0, pw), (0, 0)))),
        ("replicate", lambda a, ph, pw: np.pad(a, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")),
        ("reflect", lambda a, ph, pw: np.pad(a, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="reflect")),
    ],
)
def test_padding_to_a_multiple_matches_numpy(tf, mode, expected):
    image = RNG.normal(size=(2, 150, 225, 3)).astype(np.float32)
    padded = pad_tensor(tf, tf.constant(image), 8, mode).numpy()
    assert padded.shape == (2, 152, 232, 3)  # the coursework's 150x225 -> 152x232
    np.testing.assert_array_equal(padded, expected(image, 2, 7))
    assert np.array_equal(pad_tensor(tf, tf.constant(image[:, :8, :16]), 8, mode).numpy(), image[:, :8, :16])
    assert crop_box(150, 225, 8) == {"input": [150, 225], "padded": [152, 232], "crop": [0, 0, 150, 225]}


def test_patches_are_seeded_crops_redrawn_every_epoch():
    sampler = PatchSampler(size=8, per_epoch=20, flips=False, seed=3)
    first = list(sampler.epoch(IMAGES, 0))
    assert all(p.shape == (8, 8, 3) and p.dtype == np.uint8 for p in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, sampler.epoch(IMAGES, 0), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, sampler.epoch(IMAGES, 1), strict=True))

    def is_crop(patch):
        for image in IMAGES.images:
            windows = np.lib.stride_tricks.sliding_window_view(image, (8, 8, 3))
            if (windows == patch).all(axis=(-3, -2, -1)).any():
                return True
        return False

    assert all(is_crop(p) for p in first)
    flipped = PatchSampler(size=8, per_epoch=20, flips=True, seed=3)
    assert sum(is_crop(p) for p in flipped.epoch(IMAGES, 0)) < 20  # some are mirrored
    with pytest.raises(ValueError, match=r"patches do not fit image '000000' \(20x30\)"):
        PatchSampler(size=24, per_epoch=1, flips=False, seed=0).check(IMAGES)


def test_patch_pipeline_follows_the_epoch_keras_announces(tf):
    from aecompress.training import patch_batches

    sampler = PatchSampler(size=8, per_epoch=10, flips=True, seed=1)
    epoch = [0]
    batches = patch_batches(tf, IMAGES, sampler, 4, Normalization("symmetric"), lambda: epoch[0])

    def draw():
        return np.concatenate([x.numpy() for x, _ in batches])

    first = draw()
    assert first.shape == (10, 8, 8, 3) and first.min() >= -1 and first.max() <= 1
    assert np.array_equal(first, draw())  # the same epoch draws the same patches (a resumed run)
    epoch[0] = 1
    assert not np.array_equal(first, draw())
    expected = np.stack(list(sampler.epoch(IMAGES, 1)))
    np.testing.assert_array_equal(Normalization("symmetric").inverse(draw()), expected)


def test_folds_are_seeded_balanced_and_stratified():
    labels = np.repeat(np.arange(5), 12)
    folds = fold_assignment(len(labels), labels, 4, seed=0)
    assert np.array_equal(folds, fold_assignment(len(labels), labels, 4, seed=0))
    assert np.bincount(folds).tolist() == [15, 15, 15, 15]
    for fold in range(4):
        assert np.bincount(labels[folds == fold]).tolist() == [3, 3, 3, 3, 3]
    assert sorted(np.bincount(fold_assignment(10, None, 3, seed=0))) == [3, 3, 4]
    with pytest.raises(ValueError, match="3 folds need at least 3 training images"):
        fold_assignment(2, None, 3, seed=0)


def test_prepared_folds_are_saved_and_loaded(tmp_path):
    config = validate_config(
        {
            "datasets": {"digits": {"source": "sklearn-digits", "folds": 3, "subset": 90}},
            "experiments": [{"name": "e", "family": "dense", "dataset": "digits"}],
        }
    )
    prepared = prepare_dataset(config["datasets"]["digits"], seed=0)
    prepared.save(tmp_path / "p")
    loaded = PreparedDataset.load(tmp_path / "p")
    assert np.array_equal(loaded.folds, prepared.folds) and set(loaded.folds) == {0, 1, 2}
    assert len(loaded.folds) == len(loaded.splits["train"]) == 90


def test_family_options_are_checked_against_the_family(minimal_config):
    minimal_config["experiments"][0]["preprocessing"] = {"padding": {"multiple": 8}}
    with pytest.raises(ConfigError, match=r"preprocessing.padding: not used by the dense family"):
        validate_config(minimal_config)
    minimal_config["experiments"][0]["preprocessing"] = {"padding": {"multiple": 6}}
    with pytest.raises(ConfigError, match=r"experiments\[0\].preprocessing.padding.multiple"):
        validate_config(minimal_config)
    minimal_config["experiments"][0]["preprocessing"] = {"normalization": "standardize"}
    assert validate_config(minimal_config)["experiments"][0]["preprocessing"] == {
        "normalization": "standardize",
        "padding": None,
        "patches": None,
    }
