"""Training one variant: seeded, thread-limited, with per-epoch validation saved as CSV."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aecompress.images import ImageSet, PreparedDataset
from aecompress.models import get_family
from aecompress.plan import Variant
from aecompress.preprocessing import Normalization, PatchSampler, crop_box, fit_normalization
from aecompress.runtime import atomic_path, derived_seed, import_tensorflow, seed_everything

OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}


def _epoch_logger(tf, epochs: int):
    class EpochLogger(tf.keras.callbacks.Callback):
        """One line per epoch in the job's log, so a long run shows progress."""

        def on_epoch_end(self, epoch, logs=None):
            values = " ".join(f"{k}={v:.6g}" for k, v in (logs or {}).items())
            print(f"epoch {epoch + 1}/{epochs} {values}", file=sys.stderr, flush=True)

    return EpochLogger()


def array_batches(tf, pixels: np.ndarray, batch_size: int, seed: int | None, normalization: Normalization):
    """A tf.data pipeline of normalized (x, x) float32 batches drawn from uint8 `pixels` (N, ...).

    Only indices are shuffled (seeded, reshuffled every epoch); each batch gathers its rows
    from `pixels` (which may be memory-mapped) and normalizes them, so no float copy of the
    whole split exists. Prefetching overlaps the gathering with the training step.
    """
    count, item_shape = len(pixels), pixels.shape[1:]

    def gather(indices):
        return pixels[np.sort(indices)]

    indices = tf.data.Dataset.range(count)
    if seed is not None:
        indices = indices.shuffle(count, seed=seed, reshuffle_each_iteration=True)

    def to_pair(batch_indices):
        x = tf.ensure_shape(tf.numpy_function(gather, [batch_indices], tf.uint8), [None, *item_shape])
        x = normalization.forward(x)
        return x, x

    return indices.batch(batch_size).map(to_pair).prefetch(tf.data.AUTOTUNE)


def patch_batches(
    tf,
    images: ImageSet,
    sampler: PatchSampler,
    batch_size: int,
    normalization: Normalization,
    fixed_epoch: int | None = None,
):
    """Normalized (x, x) batches of random patches, a fresh seeded draw every epoch.

    With `fixed_epoch` every pass draws the same patches (a stable validation set).
    """
    sampler.check(images)
    epochs = itertools.count()
    channels = images.images[0].shape[2]

    def generator():
        epoch = next(epochs) if fixed_epoch is None else fixed_epoch
        yield from sampler.epoch(images, epoch)

    spec = tf.TensorSpec((sampler.size, sampler.size, channels), tf.uint8)
    patches = tf.data.Dataset.from_generator(generator, output_signature=spec)

    def to_pair(x):
        x = normalization.forward(x)
        return x, x

    return patches.batch(batch_size).map(to_pair).prefetch(tf.data.AUTOTUNE)


def training_data(tf, family, variant: Variant, split: ImageSet, normalization, seed, batch_size, fixed):
    """The tf.data pipeline of one split for `variant`: patches when configured, else whole inputs."""
    patches = variant.preprocessing.get("patches")
    if patches:
        per_epoch = patches["per_epoch"] if not fixed else min(patches["per_epoch"], 64 * len(split))
        sampler = PatchSampler(patches["size"], per_epoch, patches["flips"] and not fixed, seed)
        return patch_batches(tf, split, sampler, batch_size, normalization, 0 if fixed else None)
    pixels = family.training_pixels(split, variant.params)
    return array_batches(tf, pixels, batch_size, None if fixed else seed, normalization)


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

    normalization = fit_normalization(variant.preprocessing["normalization"], train)
    model = family.build_model(variant.params, image_shape, normalization)
    settings = variant.training
    padding_multiple = (variant.preprocessing.get("padding") or {}).get("multiple")
    batches = training_data(
        tf, family, variant, train, normalization, job_seed, settings["batch_size"], False
    )
    val_batches = (
        training_data(tf, family, variant, val, normalization, job_seed + 1, 256, True) if len(val) else None
    )
    optimizer = getattr(tf.keras.optimizers, OPTIMIZERS[settings["optimizer"]])(
        learning_rate=settings["learning_rate"]
    )
    model.compile(optimizer=optimizer, loss="mse")
    history = model.fit(
        batches,
        epochs=settings["epochs"],
        validation_data=val_batches,
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
        "preprocessing": {
            **variant.preprocessing,
            "normalization": normalization.to_json(),
            # Images of different sizes are each padded and cropped back by the same rule.
            "crop_box": crop_box(*image_shape[:2], padding_multiple) if train.same_size else None,
        },
        "seed": job_seed,
        "image_shape": list(image_shape),
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
