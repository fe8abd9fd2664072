"""Collapse detection: the trivial predictor, the verdict, and where they appear (training log,
evaluation summary)."""

import json
from dataclasses import replace

import numpy as np
import pytest

from aecompress.collapse import (
    MARGIN,
    TrivialPredictor,
    assess,
    end_of_training_warning,
    latent_spread,
    sees_whole_images,
    trivial_baseline,
)
from aecompress.images import ImageSet

RNG = np.random.default_rng(0)


def test_the_trivial_predictor_is_the_mean_image_or_the_per_channel_mean():
    images = ImageSet([np.full((4, 5, 3), v, np.uint8) for v in (0, 100, 200)])
    whole = TrivialPredictor.fit(images, whole_images=True)
    assert whole.description == "the mean training image" and whole.prediction.shape == (4, 5, 3)
    assert whole.prediction[0, 0, 0] == pytest.approx(100)
    assert whole.mse([np.full((4, 5, 3), 100, np.uint8)]) == 0
    assert whole.mse([np.full((3, 3, 3), 100, np.uint8)]) is None  # another size: no mean image
    sizes = ImageSet([np.zeros((2, 2, 3), np.uint8), np.full((6, 1, 3), 90, np.uint8)])
    channel = TrivialPredictor.fit(sizes, whole_images=True)
    assert channel.prediction.shape == (3,) and channel.prediction[0] == pytest.approx(540 / 10)
    assert channel.mse([np.full((7, 7, 3), 54, np.uint8)]) == pytest.approx(0)


def test_patch_and_block_models_get_the_per_channel_mean():
    assert sees_whole_images({"latent_units": 4}, {})
    assert not sees_whole_images({"block_size": 8}, {})
    assert not sees_whole_images({}, {"patches": {"size": 64}})
    train = ImageSet([RNG.integers(0, 256, (8, 8, 1), dtype=np.uint8) for _ in range(20)])
    predictor, trivial = trivial_baseline(train, train.images, {}, {"patches": {"size": 4}})
    assert predictor.prediction.shape == (1,) and trivial > 0


def test_a_model_no_better_than_the_mean_or_with_a_constant_latent_is_collapsed():
    trivial = 0.0675
    assert assess(0.0676, trivial, 0.5)["collapsed"]  # the MNIST h=14 case of the issue
    assert assess(trivial * (1 - MARGIN) + 1e-6, trivial, 0.5)["collapsed"]
    good = assess(0.02, trivial, 0.5)
    assert (
        not good["collapsed"]
        and good["reason"] is None
        and good["mse_over_trivial"] == pytest.approx(0.02 / trivial)
    )
    constant = assess(0.01, trivial, 1e-5)
    assert constant["collapsed"] and "latent barely varies" in constant["reason"]
    assert assess(0.01, None, None)["collapsed"] is False


def test_latent_spread_is_zero_for_a_latent_that_ignores_its_input():
    same = [np.array([0.2, 0.9, 0.5])] * 10
    assert latent_spread(same) == pytest.approx(0, abs=1e-9)
    assert latent_spread([np.zeros((3, 3, 4))] * 5) == pytest.approx(0)
    varied = [RNG.normal(size=(3, 3, 4)) for _ in range(5)]
    assert latent_spread(varied) > 0.5
    assert latent_spread([None, None]) is None


def test_the_end_of_training_warning_uses_the_models_units():
    assert end_of_training_warning(0.0670, 0.0675, "validation") is not None
    assert end_of_training_warning(0.02, 0.0675, "validation") is None
    # symmetric normalization: values in [-1, 1], so MSEs are 4x those on [0, 1]
    assert end_of_training_warning(0.08, 0.0675, "validation", scale=4.0) is None
    assert "collapsed" in end_of_training_warning(0.27, 0.0675, "validation", scale=4.0)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from aecompress.config import validate_config
    from aecompress.datasets import prepare_dataset
    from aecompress.plan import all_variants

    config = validate_config(
        {
            "datasets": {"digits": {"source": "sklearn-digits"}},
            "experiments": [
                {"name": "d", "family": "dense", "dataset": "digits", "grid": {"latent_units": [8]},
                 "training": {"epochs": 8, "batch_size": 32, "learning_rate": 0.01},
                 "params": {"initializer": "he_uniform"}}
            ],
        }
    )  # fmt: skip
    return next(iter(all_variants(config).values())), prepare_dataset(config["datasets"]["digits"], 0)


def _train_and_evaluate(variant, dataset, out):
    from conftest import evaluate_trained

    from aecompress.training import train_variant

    card = train_variant(variant, dataset, seed=0, threads=2, out_dir=out)
    coding = {"bits": 8, "step": None, "fit_images": 500, "smoothing": 0.5}
    summary, _ = evaluate_trained(out / "model", dataset, out / "eval", 1, coding, name="point")
    return card, summary


def test_a_learning_model_passes_and_a_frozen_one_is_flagged_in_log_card_and_summary(digits, tmp_path, capfd):
    variant, dataset = digits
    card, summary = _train_and_evaluate(variant, dataset, tmp_path / "learns")
    verdict = summary["collapse"]
    assert verdict["trivial_predictor"] == "the mean training image"
    assert not verdict["collapsed"] and verdict["mse_over_trivial"] < 0.9
    assert card["trivial_predictor"]["warning"] is None and card["trivial_predictor"]["split"] == "validation"
    assert "may have collapsed" not in capfd.readouterr().err

    # A learning rate of ~0 leaves the random initial network: it knows nothing of the images.
    frozen = replace(
        variant, id="frozen", training={**variant.training, "optimizer": "sgd", "learning_rate": 1e-9}
    )
    card, summary = _train_and_evaluate(frozen, dataset, tmp_path / "frozen")
    assert summary["collapse"]["collapsed"] and "trivial predictor" in summary["collapse"]["reason"]
    assert "may have collapsed" in card["trivial_predictor"]["warning"]
    assert "frozen: WARNING: the model may have collapsed" in capfd.readouterr().err
    written = json.loads((tmp_path / "frozen" / "eval" / "point" / "summary.json").read_text())
    assert written["collapse"]["collapsed"]
