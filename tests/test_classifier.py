"""LeNet-5 accuracy on reconstructions (the CIFAR-10 paper's test), on the embedded digits."""

import json

import numpy as np
import pandas as pd
import pytest

from aecompress.classifier import accuracy_scores, score_reconstructions, train_classifier
from aecompress.datasets import prepare_dataset

ACCURACY_FLOOR = 0.90  # LeNet-5 on the 8x8 digits after 30 epochs; published CNNs reach about 0.98


@pytest.fixture(scope="module")
def digits_classifier(tmp_path_factory):
    dataset = prepare_dataset({"source": "sklearn-digits", "test_fraction": 0.2, "val_fraction": 0.1}, seed=0)
    out = tmp_path_factory.mktemp("classifier")
    options = {"epochs": 30, "batch_size": 32, "learning_rate": 0.001}
    card = train_classifier(dataset, "digits", options, seed=0, threads=2, out_dir=out)
    return dataset, out, card


def test_lenet5_on_original_digits_is_above_the_floor(digits_classifier):
    _, out, card = digits_classifier
    assert card["test_accuracy"] >= ACCURACY_FLOOR
    assert set(card["test_per_class_accuracy"]) == {str(d) for d in range(10)}
    assert json.loads((out / "classifier.json").read_text()) == card
    assert (out / "model" / "saved_model.pb").exists()


def test_accuracy_ratio_is_one_for_originals_and_falls_for_destroyed_images(tf, digits_classifier):
    dataset, out, card = digits_classifier
    test = dataset.splits["test"]
    same, _, predicted = score_reconstructions(tf, out / "model", test.images, test.images, test.labels)
    assert same["accuracy_ratio"] == 1.0 and same["accuracy_original"] == pytest.approx(card["test_accuracy"])
    grey = [np.full_like(image, 128) for image in test.images]
    destroyed, _, on_grey = score_reconstructions(tf, out / "model", test.images, grey, test.labels)
    assert destroyed["accuracy_ratio"] < 0.3 and len(set(on_grey)) == 1  # one class for every grey image
    assert destroyed["per_class_accuracy_reconstructed"][str(int(on_grey[0]))] == 1.0


def test_accuracy_scores_by_hand():
    scores = accuracy_scores(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), ["a", "b", "c"])
    assert scores == {"accuracy": 0.75, "per_class_accuracy": {"a": 1.0, "b": 1.0, "c": 0.5}}


def test_evaluation_scores_a_variant_with_the_classifier(tf, digits_classifier, tmp_path):
    """A PCA baseline's evaluation job: accuracy, ratio and predictions per image."""
    from dataclasses import asdict

    from aecompress.codecs.pca import fit_pca
    from aecompress.config import validate_config
    from aecompress.evaluation import evaluate_job
    from aecompress.plan import evaluation_jobs

    dataset, out, card = digits_classifier
    fit_pca(
        "pca-digits", "digits", dataset.splits["train"], 8, 12, [16.0], 10000, 0.5, 0, tmp_path / "pca.npz"
    )
    baseline = {"name": "pca-digits", "codec": "pca", "dataset": "digits", "pca": {"steps": [16.0]}}
    config = validate_config(
        {"datasets": {"digits": {"source": "sklearn-digits"}}, "baselines": [baseline],
         "experiments": [{"name": "d", "family": "dense", "dataset": "digits"}],
         "classifiers": [{"dataset": "digits"}]}
    )  # fmt: skip
    job = evaluation_jobs(config)["pca-digits"]
    assert job.evaluations[0].classifier == "results/classifiers/digits/model"
    (summary,) = evaluate_job(
        asdict(job), {"digits": dataset}, 2, tmp_path / "eval", 2, classifiers={"digits": out / "model"},
        fitted=tmp_path / "pca.npz", baseline=config["baselines"][0],
    )  # fmt: skip
    classification = summary["classification"]
    assert classification["accuracy_original"] == pytest.approx(card["test_accuracy"])
    assert 0.5 < classification["accuracy_ratio"] <= 1.05 and summary["bpp"] > 0
    per_image = pd.read_csv(tmp_path / "eval" / "pca-digits_step-16" / "per_image.csv")
    assert classification["accuracy_reconstructed"] == pytest.approx(
        (per_image["predicted"] == per_image["label"]).mean()
    )
    assert summary["id"] == "pca-digits_step-16" and summary["trained_on"] == "digits"
    assert (summary["curve"], summary["kind"], summary["codec"]) == ("pca-digits", "classical", "pca")
