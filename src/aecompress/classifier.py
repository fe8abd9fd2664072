"""Classifier accuracy on reconstructions (the CIFAR-10 paper's test of what compression keeps).

A LeNet-5 style CNN (conv-pool-conv-pool-dense-dense-dense) is trained once per labelled dataset
on its original training images; every method's reconstructions of the test split are then
classified by it. A method that keeps what matters for recognition keeps the accuracy:
accuracy ratio = accuracy on reconstructions / accuracy on the originals.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aecompress.images import PreparedDataset, to_unit_float
from aecompress.runtime import atomic_path, derived_seed, import_tensorflow, job_output, seed_everything


def build_lenet5(tf, image_shape: tuple[int, int, int], classes: int):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling: 6 and 16 5x5 convs, 120-84-classes.

    'same' padding keeps it valid for small inputs (8x8 digits) as well as 32x32 and 96x96.
    """
    layers = tf.keras.layers
    return tf.keras.Sequential(
        [
            tf.keras.Input(shape=image_shape),
            layers.Conv2D(6, 5, padding="same", activation="relu", name="conv_1"),
            layers.MaxPool2D(2, name="pool_1"),
            layers.Conv2D(16, 5, padding="same", activation="relu", name="conv_2"),
            layers.MaxPool2D(2, name="pool_2"),
            layers.Flatten(name="flatten"),
            layers.Dense(120, activation="relu", name="dense_1"),
            layers.Dense(84, activation="relu", name="dense_2"),
            layers.Dense(classes, name="logits"),
        ],
        name="lenet5",
    )


def _labelled(dataset: PreparedDataset, split: str, source: str):
    images = dataset.splits[split]
    if images.labels is None or len(images) == 0:
        raise ValueError(f"{source}: the {split} split has no labelled images; a classifier needs labels")
    return images.stacked(), np.asarray(images.labels)


def train_classifier(
    dataset: PreparedDataset,
    dataset_name: str,
    options: dict[str, Any],
    seed: int,
    threads: int,
    out_dir: str | Path,
) -> dict[str, Any]:
    """Train on the training split (validation split monitored), write `model/` and classifier.json."""
    tf = import_tensorflow(threads)
    seed_everything(tf, derived_seed(seed, "classifier", dataset_name))
    x_train, y_train = _labelled(dataset, "train", dataset_name)
    class_names = dataset.meta.get("class_names") or [str(c) for c in range(int(y_train.max()) + 1)]
    model = build_lenet5(tf, x_train.shape[1:], len(class_names))
    model.compile(
        optimizer=tf.keras.optimizers.Adam(options["learning_rate"]),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    validation = None
    if dataset.splits["val"].labels is not None and len(dataset.splits["val"]):
        x_val, y_val = _labelled(dataset, "val", dataset_name)
        validation = (to_unit_float(x_val), y_val)
    started = time.perf_counter()
    history = model.fit(
        to_unit_float(x_train), y_train, batch_size=options["batch_size"], epochs=options["epochs"],
        validation_data=validation, verbose=2,
    )  # fmt: skip
    x_test, y_test = _labelled(dataset, "test", dataset_name)
    scores = accuracy_scores(predict(model, x_test), y_test, class_names)
    out_dir = Path(out_dir)
    with atomic_path(out_dir / "model") as tmp:
        model.save(tmp)
    card = {
        "dataset": dataset_name,
        "architecture": "LeNet-5: conv5x5(6)-pool-conv5x5(16)-pool-dense(120)-dense(84)-dense(classes), ReLU",
        "options": options,
        "class_names": class_names,
        "train_images": int(len(y_train)),
        "epochs": options["epochs"],
        "final_train_accuracy": float(history.history["accuracy"][-1]),
        "final_val_accuracy": float(history.history["val_accuracy"][-1]) if validation else None,
        "training_seconds": time.perf_counter() - started,
        "test_accuracy": scores["accuracy"],
        "test_per_class_accuracy": scores["per_class_accuracy"],
    }
    with job_output(out_dir / "classifier.json") as tmp:
        tmp.write_text(json.dumps(card, indent=2))
    return card


def predict(model, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Predicted class of each uint8 image (N, H, W, C)."""
    logits = model.predict(to_unit_float(np.asarray(images)), batch_size=batch_size, verbose=0)
    return np.argmax(logits, axis=1)


def accuracy_scores(predicted: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    correct = np.asarray(predicted) == np.asarray(labels)
    per_class = pd.Series(correct).groupby(np.asarray(labels)).mean()
    return {
        "accuracy": float(correct.mean()),
        "per_class_accuracy": {class_names[int(c)]: float(v) for c, v in per_class.items()},
    }


def score_reconstructions(
    tf, classifier_dir: str | Path, originals: list[np.ndarray], reconstructions: list[np.ndarray], labels
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Accuracy on originals and on reconstructions, their ratio, per class; and the predictions."""
    classifier_dir = Path(classifier_dir)
    card = json.loads((classifier_dir.parent / "classifier.json").read_text())
    model = tf.keras.models.load_model(classifier_dir, compile=False)
    on_originals = predict(model, np.stack(originals))
    on_reconstructions = predict(model, np.stack(reconstructions))
    original = accuracy_scores(on_originals, labels, card["class_names"])
    reconstructed = accuracy_scores(on_reconstructions, labels, card["class_names"])
    ratio = reconstructed["accuracy"] / original["accuracy"] if original["accuracy"] > 0 else None
    summary = {
        "classifier": "LeNet-5 trained on the original training images of " + card["dataset"],
        "accuracy_original": original["accuracy"],
        "accuracy_reconstructed": reconstructed["accuracy"],
        "accuracy_ratio": ratio,
        "per_class_accuracy_original": original["per_class_accuracy"],
        "per_class_accuracy_reconstructed": reconstructed["per_class_accuracy"],
    }
    return summary, on_originals, on_reconstructions
