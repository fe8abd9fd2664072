"""Training one variant: seeded, thread-limited, with per-epoch validation saved as CSV."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aecompress.images import PreparedDataset
from aecompress.models import get_family
from aecompress.plan import Variant
from aecompress.runtime import atomic_path, derived_seed, import_tensorflow, seed_everything

OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}


def _epoch_logger(tf, epochs: int):
    class EpochLogger(tf.keras.callbacks.Callback):
        """One line per epoch in the job's log, so a long run shows progress."""

        def on_epoch_end(self, epoch, logs=None):
            values = " ".join(f"{k}={v:.6g}" for k, v in (logs or {}).items())
            print(f"epoch {epoch + 1}/{epochs} {values}", file=sys.stderr, flush=True)

    return EpochLogger()


def autoencoder_batches(tf, vectors: np.ndarray, batch_size: int, seed: int | None):
    """A tf.data pipeline of (x, x) float32 batches in [0, 1] drawn from uint8 `vectors`.

    Only indices are shuffled (seeded, reshuffled every epoch); each batch gathers its rows
    from `vectors` (which may be memory-mapped) and scales them, so no float copy of the
    whole split exists. Prefetching overlaps the gathering with the training step.
    """
    count, width = vectors.shape

    def gather(indices):
        return vectors[np.sort(indices)].astype(np.float32) / np.float32(255.0)

    indices = tf.data.Dataset.range(count)
    if seed is not None:
        indices = indices.shuffle(count, seed=seed, reshuffle_each_iteration=True)

    def to_pair(batch_indices):
        x = tf.numpy_function(gather, [batch_indices], tf.float32)
        x = tf.ensure_shape(x, [None, width])
        return x, x

    return indices.batch(batch_size).map(to_pair).prefetch(tf.data.AUTOTUNE)


def train_variant(
    variant: Variant, dataset: PreparedDataset, seed: int, threads: int, out_dir: str | Path
) -> dict[str, Any]:
    """Train `variant` and write model.keras, history.csv and model.json into `out_dir`.

    Each file appears only once it is complete. Returns the model card (model.json).
    """
    tf = import_tensorflow(threads)
    job_seed = derived_seed(seed, "train", variant.id)
    seed_everything(tf, job_seed)
    family = get_family(variant.family).implementation()
    train, val = dataset.splits["train"], dataset.splits["val"]
    image_shape = tuple(int(s) for s in train.images[0].shape)

    x_train = family.training_vectors(train, variant.params)
    x_val = family.training_vectors(val, variant.params) if len(val) else None
    model = family.build_model(variant.params, image_shape)
    settings = variant.training
    optimizer = getattr(tf.keras.optimizers, OPTIMIZERS[settings["optimizer"]])(
        learning_rate=settings["learning_rate"]
    )
    model.compile(optimizer=optimizer, loss="mse")
    history = model.fit(
        autoencoder_batches(tf, x_train, settings["batch_size"], seed=job_seed),
        epochs=settings["epochs"],
        validation_data=None if x_val is None else autoencoder_batches(tf, x_val, 4096, seed=None),
        callbacks=[tf.keras.callbacks.TerminateOnNaN(), _epoch_logger(tf, settings["epochs"])],
        verbose=0,
    )
    if len(history.epoch) < settings["epochs"]:
        raise RuntimeError(f"{variant.id}: training stopped at epoch {len(history.epoch)} (loss became NaN)")

    table = pd.DataFrame(history.history)
    table.insert(0, "epoch", [e + 1 for e in history.epoch])
    table = table.rename(columns={"loss": "train_mse", "val_loss": "val_mse"})
    card = {
        "variant": variant.id,
        "experiment": variant.experiment,
        "family": variant.family,
        "dataset": variant.dataset,
        "params": variant.params,
        "grid_values": variant.grid_values,
        "training": settings,
        "seed": job_seed,
        "image_shape": list(image_shape),
        "training_vectors": int(len(x_train)),
        "parameter_count": int(model.count_params()),
        "nominal_compression_ratio": family.nominal_ratio(variant.params, image_shape),
        "final_train_mse": float(table["train_mse"].iloc[-1]),
        "final_val_mse": float(table["val_mse"].iloc[-1]) if "val_mse" in table else None,
    }
    out_dir = Path(out_dir)
    with atomic_path(out_dir / "history.csv") as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out_dir / "model.json") as tmp:
        tmp.write_text(json.dumps(card, indent=2, sort_keys=True))
    with atomic_path(out_dir / "model.keras") as tmp:
        model.save(tmp)
    return card
