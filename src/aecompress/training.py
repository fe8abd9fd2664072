"""Training one variant: seeded, thread-limited, with per-epoch validation saved as CSV."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aecompress.distributed import Placement, launch_workers, learning_rate_factor, make_distribution
from aecompress.images import ImageSet, PreparedDataset
from aecompress.losses import reconstruction_loss
from aecompress.models import get_family
from aecompress.plan import Variant
from aecompress.preprocessing import (
    Normalization,
    PatchSampler,
    crop_box,
    fit_normalization,
    model_input_shape,
)
from aecompress.runtime import (
    atomic_path,
    claim_state_folder,
    derived_seed,
    grow_gpu_memory,
    import_tensorflow,
    job_output,
    seed_everything,
)

OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}


def _epoch_logger(tf, epochs: int):
    class EpochLogger(tf.keras.callbacks.Callback):
        """One line per epoch in the job's log, so a long run shows progress."""

        def on_epoch_end(self, epoch, logs=None):
            values = " ".join(f"{k}={v:.6g}" for k, v in (logs or {}).items())
            print(f"epoch {epoch + 1}/{epochs} {values}", file=sys.stderr, flush=True)

    return EpochLogger()


class EpochCounter:
    """The epoch Keras is running, as its callbacks see it (restored epochs included)."""

    def __init__(self) -> None:
        self.epoch = 0

    def callback(self, tf):
        counter = self

        class Track(tf.keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                counter.epoch = epoch

        return Track()


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
    epoch_of=None,
):
    """Normalized (x, x) batches of random patches: epoch e draws `sampler.epoch(images, e)`.

    `epoch_of()` says which epoch is starting (an EpochCounter, so a run resumed at epoch
    e draws what an uninterrupted run would have); None draws epoch 0 every pass (a stable
    validation set). Patches are drawn lazily, after Keras has announced the epoch: the
    generator starts, and the prefetch behind it fills, only when the epoch's first batch is
    asked for (tests/test_training.py checks it), so prefetching overlaps drawing patches with
    training without drawing the wrong epoch.
    """
    sampler.check(images)
    channels = images.images[0].shape[2]

    def generator():
        yield from sampler.epoch(images, epoch_of() if epoch_of else 0)

    spec = tf.TensorSpec((sampler.size, sampler.size, channels), tf.uint8)
    patches = tf.data.Dataset.from_generator(generator, output_signature=spec)

    def to_pair(x):
        x = normalization.forward(x)
        return x, x

    return patches.batch(batch_size).map(to_pair).prefetch(tf.data.AUTOTUNE)


def training_data(tf, family, variant: Variant, split: ImageSet, normalization, seed, batch_size, epoch_of):
    """The tf.data pipeline of one split: patches when configured, else whole inputs.

    epoch_of None marks validation data: not shuffled, and one fixed draw of patches.
    """
    patches = variant.preprocessing.get("patches")
    validation = epoch_of is None
    if patches:
        per_epoch = min(patches["per_epoch"], 64 * len(split)) if validation else patches["per_epoch"]
        flips = patches["flips"] and not validation
        if split.files is not None:  # a streamed corpus: patches cut from the files as they are read
            from aecompress.corpus import stream_patches

            batches = stream_patches(
                tf, split, patches["size"], per_epoch, flips, seed, batch_size, epoch_of,
                crops_per_image=patches["crops_per_image"],
            ).map(lambda x: (normalization.forward(x),) * 2)  # fmt: skip
        else:
            sampler = PatchSampler(patches["size"], per_epoch, flips, seed)
            batches = patch_batches(tf, split, sampler, batch_size, normalization, epoch_of)
        # The batch count is known: stated, Keras neither probes for the end of every first epoch
        # (one extra call of the training function) nor mistakes the stream for an endless one.
        return batches.apply(tf.data.experimental.assert_cardinality(-(-per_epoch // batch_size)))
    pixels = family.training_pixels(split, variant.params)
    return array_batches(tf, pixels, batch_size, None if validation else seed, normalization)


def compiled_model(tf, family, variant: Variant, input_shape, normalization, optimizer, metrics=None):
    """A new model of the variant, compiled for training: the one place training, tuning and the
    benchmarks build and compile. The reconstruction loss comes from the training settings;
    `metrics` default to the MSE (compressive families report rate and distortion themselves)."""
    model = family.build_model(variant.params, input_shape, normalization, variant.preprocessing)
    loss = (
        None if family.compressive else reconstruction_loss(tf, variant.training, normalization, input_shape)
    )
    metrics = metrics if metrics is not None else [tf.keras.metrics.MeanSquaredError(name="mse")]
    family.compile_model(model, optimizer, loss, metrics)
    return model


def steps_per_epoch(tf, batches, variant: Variant, batch_size: int) -> int:
    """Optimizer steps in one epoch: the pipeline's length, or per_epoch patches / batch size."""
    cardinality = int(batches.cardinality().numpy())
    if cardinality > 0:
        return cardinality
    return -(-variant.preprocessing["patches"]["per_epoch"] // batch_size)


def learning_rate_schedule(tf, settings: dict[str, Any], total_steps: int, factor: float = 1.0):
    """The configured learning rate (times `factor`, the replica scaling): constant, or linear
    warm-up then constant or cosine decay.

    The decay spans the whole step budget, so a short CPU run ends as annealed as a long
    cluster run (a fixed rate that suits 1M steps barely moves a 2,000-step run).
    """
    peak, warmup = settings["learning_rate"] * factor, settings["warmup_steps"]
    if not warmup and settings["decay"] == "none":
        return peak
    alpha = settings["final_learning_rate_fraction"] if settings["decay"] == "cosine" else 1.0
    return tf.keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else peak,
        decay_steps=max(1, total_steps - warmup),
        alpha=alpha,
        warmup_target=peak if warmup else None,
        warmup_steps=warmup,
    )


def _history_table(csv_path: Path) -> pd.DataFrame:
    """Keras's CSV log (appended across resumed runs) -> one row per epoch, 1-based, named columns."""
    table = pd.read_csv(csv_path).drop_duplicates("epoch", keep="last").sort_values("epoch")
    table = table.dropna(axis=1, how="all")  # Keras logs val_* as NA when there is no validation split
    table["epoch"] = table["epoch"] + 1
    renamed = {c: f"train_{c}" for c in table.columns if c != "epoch" and not c.startswith("val_")}
    return table.rename(columns=renamed).reset_index(drop=True)


def train_variant(
    variant: Variant,
    dataset: PreparedDataset,
    seed: int,
    threads: int,
    out_dir: str | Path,
    checkpoint_dir: str | Path | None = None,
    callbacks: list | None = None,
    placement: Placement | None = None,
) -> dict[str, Any] | None:
    """Train `variant`; write model/ (a SavedModel), history.csv and model.json into `out_dir`.

    Each output appears only once it is complete. With `checkpoint_dir`, the state after every
    epoch is kept there (Keras BackupAndRestore), so a killed job re-run with the same
    checkpoint_dir continues from its last finished epoch; the folder is removed on success.
    `callbacks` are extra Keras callbacks (e.g. a benchmark's snapshots). `placement` spreads the
    job over devices or workers (distributed.py); only the chief writes outputs. Returns the model
    card (model.json), or None in a worker that is not the chief.
    """
    placement = placement or Placement()
    tf = import_tensorflow(threads)
    grow_gpu_memory(tf)
    distribution = make_distribution(tf, placement)
    settings = variant.training
    if settings["mixed_precision"]:
        tf.keras.mixed_precision.set_global_policy("mixed_float16")
    job_seed = derived_seed(seed, "train", variant.id)
    seed_everything(tf, job_seed)
    family = get_family(variant.family)
    train, val = dataset.splits["train"], dataset.splits["val"]
    data_shape = tuple(int(s) for s in train.shapes[0])  # from the index, for a streamed split
    input_shape = model_input_shape(variant, train)

    normalization = fit_normalization(variant.preprocessing["normalization"], train)
    global_batch = settings["batch_size"] * distribution.replicas
    counter = EpochCounter()
    batches = training_data(
        tf, family, variant, train, normalization, job_seed, global_batch, lambda: counter.epoch
    )
    total_steps = settings["epochs"] * steps_per_epoch(tf, batches, variant, global_batch)
    with distribution.strategy.scope():
        factor = learning_rate_factor(settings["replica_learning_rate_scaling"], distribution.replicas)
        optimizer = getattr(tf.keras.optimizers, OPTIMIZERS[settings["optimizer"]])(
            learning_rate=learning_rate_schedule(tf, settings, total_steps, factor),
            global_clipnorm=settings["clip_global_norm"],
        )
        model = compiled_model(tf, family, variant, input_shape, normalization, optimizer)

    # Whole small images validate 256 at a time; patches at the training batch size, so that
    # validation needs no more memory than training (256 patches of 256x256 would take gigabytes).
    val_batch = global_batch if variant.preprocessing.get("patches") else 256
    val_batches = (
        training_data(tf, family, variant, val, normalization, job_seed + 1, val_batch, None)
        if len(val)
        else None
    )

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if checkpoint_dir:
        work = Path(checkpoint_dir)
        if not distribution.multi_worker:  # a multi-worker job's launcher claimed it (train_job)
            claim_state_folder(
                work,
                training_fingerprint(variant, job_seed, dataset, placement),
                CHECKPOINT_ENTRIES,
                _log_line,
            )
    elif distribution.multi_worker:
        raise ValueError("a multi-worker training job needs a checkpoint folder all its workers share")
    else:
        work = Path(tempfile.mkdtemp(prefix=".train.", dir=out_dir))
    # Every worker keeps the backup (Keras gives the others private folders inside it); the
    # chief alone logs epochs and writes the history.
    chief_only = [
        tf.keras.callbacks.CSVLogger(str(work / "history.csv"), append=True),
        _epoch_logger(tf, settings["epochs"]),
    ]
    callbacks = [
        counter.callback(tf),
        tf.keras.callbacks.BackupAndRestore(str(work / "backup")),
        tf.keras.callbacks.TerminateOnNaN(),
        *(chief_only if distribution.chief else []),
        *(callbacks or []),
    ]
    if settings["early_stopping_patience"]:
        callbacks.append(
            tf.keras.callbacks.EarlyStopping(
                monitor="val_loss" if val_batches is not None else "loss",
                patience=settings["early_stopping_patience"],
                restore_best_weights=True,
            )
        )
    started = time.perf_counter()
    model.fit(
        distribution.prepare(batches),
        epochs=settings["epochs"],
        validation_data=distribution.prepare(val_batches),
        callbacks=callbacks,
        verbose=0,
    )
    seconds = time.perf_counter() - started
    # Read on every worker: the metrics' totals are summed over the workers as they are read (a
    # collective), which a worker that had already left would leave the chief waiting on.
    weights = model.get_weights()
    if not distribution.chief:
        return None
    table = _history_table(work / "history.csv")
    if (
        not np.isfinite(table.drop(columns="epoch").to_numpy(dtype=float)).all()
        or not np.isfinite([w.sum() for w in weights]).all()
    ):
        if not distribution.multi_worker:
            shutil.rmtree(work, ignore_errors=True)
        raise TrainingDiverged(
            f"{variant.id}: the loss became NaN or infinite at epoch {int(table['epoch'].iloc[-1])}; "
            "no model was written (lower training.learning_rate?)"
        )

    trivial = _collapse_check(variant, normalization, train, val, table)

    # Ratios and latent shapes are stated for the dataset's image size (the patch size if it varies).
    card_shape = data_shape if train.same_size else input_shape
    steps = int(model.optimizer.iterations.numpy())
    if distribution.kind != "default":
        # Exported from a plain copy: the SavedModel and the range-coding tables are then those
        # of a model trained on one device (no distributed variables, no collectives).
        model = plain_copy(tf, variant, input_shape, normalization, weights)
    family.prepare_for_coding(model)
    card = {
        "variant": variant.id,
        "experiment": variant.experiment,
        "family": variant.family,
        "dataset": variant.dataset,
        "test_dataset": variant.test_dataset,
        "params": variant.params,
        "grid_values": variant.grid_values,
        "training": settings,
        "preprocessing": {
            **variant.preprocessing,
            "normalization": normalization.to_json(),
            # Images of different sizes are each padded and cropped back by the same rule.
            "crop_box": crop_box(*data_shape[:2], _pad_multiple(family, variant))
            if train.same_size
            else None,
        },
        "seed": job_seed,
        "image_shape": list(data_shape) if train.same_size else None,
        "input_shape": list(input_shape),
        "parameter_count": int(model.count_params()),
        "nominal_compression_ratio": family.nominal_ratio(variant.params, card_shape),
        "latent_shape": list(family.latent_shape(variant.params, card_shape)),
        "steps": steps,
        "distribution": {**distribution.describe(), "global_batch_size": global_batch},
        "epochs_run": int(table["epoch"].iloc[-1]),
        "training_seconds": round(seconds, 3),
        "hardware": _hardware(tf),
        "final_train_loss": float(table["train_loss"].iloc[-1]),
        "final_train_mse": float(table["train_mse"].iloc[-1]),
        "final_val_mse": float(table["val_mse"].iloc[-1]) if "val_mse" in table else None,
        "final_train_bpp": float(table["train_bpp"].iloc[-1]) if "train_bpp" in table else None,
        "trivial_predictor": trivial,
    }
    with job_output(out_dir / "history.csv") as tmp:
        table.to_csv(tmp, index=False)
    with job_output(out_dir / "model.json") as tmp:
        tmp.write_text(json.dumps(card, indent=2, sort_keys=True))
    with atomic_path(out_dir / "model") as tmp:
        save_model(model, tmp)
    if not distribution.multi_worker:  # the launcher removes it once every worker has stopped
        shutil.rmtree(work, ignore_errors=True)
    return card


# What a training job keeps in its checkpoint folder (besides runtime.FINGERPRINT_FILE).
WORKERS_SPEC = "workers.json"
CHECKPOINT_ENTRIES = {"backup", "history.csv", WORKERS_SPEC}


def train_job(
    variant: Variant,
    dataset_path: str | Path,
    seed: int,
    threads: int,
    out_dir: str | Path,
    checkpoint_dir: str | Path,
    placement: Placement,
) -> dict[str, Any]:
    """A workflow training job: trained here, or, when `placement` asks for several workers, by
    that many SLURM tasks of this job (srun), which share `checkpoint_dir`. Returns the card."""
    dataset = PreparedDataset.load(dataset_path)
    if placement.workers == 1:
        return train_variant(variant, dataset, seed, threads, out_dir, checkpoint_dir, placement=placement)
    work = Path(checkpoint_dir)
    fingerprint = training_fingerprint(variant, derived_seed(seed, "train", variant.id), dataset, placement)
    claim_state_folder(work, fingerprint, CHECKPOINT_ENTRIES, _log_line)
    spec = {
        "variant": dataclasses.asdict(variant),
        "dataset": str(Path(dataset_path).resolve()),
        "seed": seed,
        "threads": threads,
        "out_dir": str(Path(out_dir).resolve()),
        "checkpoint_dir": str(work.resolve()),
        "placement": dataclasses.asdict(placement),
    }
    launch_workers(spec, placement, threads, work / WORKERS_SPEC)
    card = json.loads((Path(out_dir) / "model.json").read_text())
    shutil.rmtree(work, ignore_errors=True)
    return card


def training_fingerprint(
    variant: Variant, job_seed: int, dataset: PreparedDataset, placement: Placement
) -> dict[str, Any]:
    """Everything that defines a training run: the variant (family, params, training settings,
    preprocessing, dataset name, grid point), its seed, the data it sees, and its replicas (they
    set the global batch). A checkpoint recorded under another fingerprint is discarded rather
    than resumed."""
    return {
        "variant": dataclasses.asdict(variant),
        "seed": job_seed,
        "dataset": {"content_sha256": dataset.content_digest(), "channels": dataset.meta.get("channels")},
        "placement": dataclasses.asdict(placement),
    }


def _log_line(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf; nothing was written."""


def _collapse_check(variant: Variant, normalization, train, val, table) -> dict[str, Any]:
    """Compare the last epoch's MSE with predicting the training mean for every input; warn in
    the log when the model has learned (almost) nothing (collapse.end_of_training_warning)."""
    from aecompress.collapse import (
        MAX_FIT_IMAGES,
        MAX_STREAMED_IMAGES,
        end_of_training_warning,
        trivial_baseline,
    )

    split, images, column = ("validation", val, "val_mse") if len(val) else ("training", train, "train_mse")
    limit = MAX_FIT_IMAGES if images.files is None else MAX_STREAMED_IMAGES
    predictor, trivial = trivial_baseline(train, images.images[:limit], variant.params, variant.preprocessing)
    # The models' `mse` metric is on their normalized values; the compressive families' on [0, 1].
    compressive = get_family(variant.family).compressive
    scale = 1.0 if compressive else float(np.mean((255.0 * normalization.scale) ** 2))
    final = float(table[column].iloc[-1]) if column in table else None
    warning = end_of_training_warning(final, trivial, split, scale)
    if warning:
        print(f"{variant.id}: {warning}", file=sys.stderr, flush=True)
    return {"description": predictor.description, "split": split, "mse": trivial, "warning": warning}


def _pad_multiple(family, variant: Variant) -> int | None:
    padding = variant.preprocessing.get("padding") or {}
    if padding.get("multiple"):
        return padding["multiple"]
    return family.downsampling_factor(variant.params)


def _hardware(tf) -> dict[str, Any]:
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "gpus": [gpu.name for gpu in gpus],
        "tensorflow": tf.__version__,
    }


def plain_copy(tf, variant: Variant, input_shape, normalization: Normalization, weights):
    """A fresh, built model of `variant` holding `weights`: what is exported when the trained
    model itself should not be (a distributed one, or one still training)."""
    model = get_family(variant.family).build_model(
        variant.params, input_shape, normalization, variant.preprocessing
    )
    model.set_weights(weights)
    # Keras saves a model only once it has been called (that fixes its input signature).
    model(tf.zeros([1, *(d or 64 for d in input_shape)]), training=False)
    return model


def save_model(model, path: str | Path) -> None:
    """A trained variant's SavedModel, as load_model reads it: the weights, the config and every
    exported function (a compressive model's coder), without Keras's traces of each layer's call,
    which load_model does not need (it rebuilds the layers from their config, all registered):
    half the time to save and a third of it to load (a tiny hyperprior: 15.5 -> 8 s, 5.7 -> 2.3 s)."""
    model.save(path, include_optimizer=False, save_traces=False)


def load_model(tf, path: str | Path):
    """A trained variant's model, ready for inference (custom layers are registered on import)."""
    import tensorflow_compression  # noqa: F401  (registers the range-coding ops compressive models use)

    import aecompress.models.layers  # noqa: F401  (registers the custom layers)

    return tf.keras.models.load_model(path, compile=False)
