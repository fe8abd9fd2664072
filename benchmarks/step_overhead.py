"""Benchmark: where a training job's step time goes, beyond the model's own step.

Builds tfc's bls2017 through the model registry (factorized prior, N = 128, lambda 0.01), 256x256
patches, batch 8, compiled as the training job compiles it, and times, in one process:

- ``bare``: `tf.function(model.train_step)` on a fixed batch: the model's step and nothing else;
- ``train_on_batch``: Keras's per-call path on the same batch;
- ``fit, fixed batch``: `model.fit` over a dataset that repeats the batch (Keras's loop alone);
- ``fit, job pipeline``: `model.fit` over the training job's own input pipeline
  (`training.training_data`: random patches of in-memory photos, normalized on the fly), and
  ``fit, streamed``: the same over a corpus streamed from PNG files (`corpus.stream_patches`);
- ``training job``: `training.train_variant` itself (its callbacks: backup, NaN stop, CSV log,
  epoch log), timed by a callback at epoch boundaries: the second epoch's time per step.

Target: the job's fit step within 10% of the bare step.

    python benchmarks/step_overhead.py [--steps 30] [--filters 128] [--threads 2]

Prints a table and writes benchmarks/results/step_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def build(tf, filters: int, size: int):
    from aecompress.models import get_family
    from aecompress.preprocessing import Normalization

    family = get_family("factorized-prior").implementation()
    model = family.build_model(
        {"num_filters": filters, "lmbda": 0.01}, (size, size, 3), Normalization("unit"), {}
    )
    family.compile_model(model, tf.keras.optimizers.Adam(1e-4))
    return model


def timed(run, steps: int) -> float:
    run(2)  # warm-up: tracing and first allocations
    started = time.perf_counter()
    run(steps)
    return (time.perf_counter() - started) / steps


def photos(count: int, size: int = 512):
    from aecompress.images import ImageSet

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size]
    images = []
    for _ in range(count):
        f = rng.uniform(0.01, 0.05, 3)
        planes = [127 + 100 * np.sin(x * f[c] + c) * np.cos(y * f[(c + 1) % 3]) for c in range(3)]
        images.append(
            np.clip(np.stack(planes, -1) + rng.normal(0, 5, (size, size, 3)), 0, 255).astype(np.uint8)
        )
    return ImageSet(images)


def time_training_job(tf, variant, images, args) -> float:
    """Seconds per step of the second epoch of `train_variant` (the first traces and warms up)."""
    import dataclasses

    from aecompress.images import ImageSet, PreparedDataset
    from aecompress.training import train_variant

    class EpochTimer(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    job = dataclasses.replace(
        variant,
        training={**variant.training, "epochs": 2},
        preprocessing={
            **variant.preprocessing,
            "patches": {**variant.preprocessing["patches"], "per_epoch": args.batch * args.steps},
        },
    )
    data = PreparedDataset({"train": images, "val": ImageSet([]), "test": ImageSet([])}, {"channels": 3})
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as folder:
        train_variant(
            job, data, seed=0, threads=args.threads, out_dir=Path(folder) / "model", callbacks=[timer]
        )
    return timer.seconds[1] / args.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--filters", type=int, default=128)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/step_overhead.json")
    args = parser.parse_args()

    from aecompress.config import training_defaults
    from aecompress.corpus import index_files
    from aecompress.plan import Variant
    from aecompress.preprocessing import Normalization
    from aecompress.runtime import import_tensorflow
    from aecompress.training import EpochCounter, training_data

    tf = import_tensorflow(args.threads)
    tf.keras.utils.set_random_seed(0)
    model = build(tf, args.filters, args.size)
    x = tf.constant(np.random.default_rng(0).random((args.batch, args.size, args.size, 3)), tf.float32)
    step = tf.function(model.train_step)

    def bare(n):
        for _ in range(n):
            logs = step((x, x))
        logs["loss"].numpy()  # wait for the last step

    def on_batch(n):
        for _ in range(n):
            model.train_on_batch(x, x)

    def fit_over(dataset):
        return lambda n: model.fit(dataset, epochs=1, steps_per_epoch=n, verbose=0)

    per_epoch = args.batch * (args.steps + 2)
    variant = Variant(
        id="overhead",
        experiment="overhead",
        family="factorized-prior",
        dataset="d",
        params={"num_filters": args.filters, "lmbda": 0.01},
        test_dataset="d",
        training={**training_defaults(), "batch_size": args.batch},
        preprocessing={
            "normalization": "unit",
            "padding": None,
            "patches": {"size": args.size, "per_epoch": per_epoch, "flips": True, "crops_per_image": 8},
        },
        grid_values={},
    )
    images = photos(16)
    counter = EpochCounter()

    def job_pipeline():
        return training_data(
            tf, None, variant, images, Normalization("unit"), 0, args.batch, lambda: counter.epoch
        )

    rows = {"bare": timed(bare, args.steps), "train_on_batch": timed(on_batch, args.steps)}
    rows["fit, fixed batch"] = timed(fit_over(tf.data.Dataset.from_tensors((x, x)).repeat()), args.steps)
    rows["fit, job pipeline"] = timed(fit_over(job_pipeline().repeat()), args.steps)
    with tempfile.TemporaryDirectory() as folder:
        from PIL import Image

        paths = []
        for i, image in enumerate(images.images):
            paths.append(Path(folder) / f"{i}.png")
            Image.fromarray(image).save(paths[-1])
        streamed, _ = index_files(paths, None, skip_corrupt=False)
        pipeline = training_data(tf, None, variant, streamed, Normalization("unit"), 0, args.batch, lambda: 0)
        rows["fit, streamed"] = timed(fit_over(pipeline.repeat()), args.steps)
    rows["training job"] = time_training_job(tf, variant, images, args)
    bare_s = rows["bare"]
    print(f"{'path':<20} {'s/step':>8} {'vs bare':>8}")
    for name, seconds in rows.items():
        print(f"{name:<20} {seconds:>8.3f} {100 * (seconds / bare_s - 1):>+7.1f}%")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"machine": platform.machine(), "tensorflow": tf.__version__, "threads": args.threads}
    args.out.write_text(
        json.dumps({"machine": machine, "s_per_step": rows, **vars(args), "out": str(args.out)}, indent=2)
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
