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
  epoch log): the steady step between an epoch's first and last batch, and apart from it what
  each epoch boundary costs (the checkpoint above all).

Target: the job's fit step within 10% of the bare step.

Each path is timed in wall-clock seconds and in this process's CPU seconds (all its threads). On a
small VM the wall clock has a second, slower mode (CPU steal, neighbours) that lands on whichever
path runs at that moment; CPU time does not count time the process was not running, so it
measures the work each path adds. Paths run in rounds, in a new seeded order each round, and
each path's cost relative to the bare step is the median over rounds of its ratio to the same
round's bare step, with a 95% bootstrap interval: slow drifts cancel within a round.

    python benchmarks/step_overhead.py [--steps 20] [--rounds 8] [--filters 128] [--threads 2]

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

    family = get_family("factorized-prior")
    model = family.build_model(
        {"num_filters": filters, "lmbda": 0.01}, (size, size, 3), Normalization("unit"), {}
    )
    family.compile_model(model, tf.keras.optimizers.Adam(1e-4))
    return model


def timed(run, steps: int) -> tuple[float, float]:
    """Wall-clock and process-CPU seconds per step."""
    run(2)  # warm-up: tracing and first allocations
    started, started_cpu = time.perf_counter(), time.process_time()
    run(steps)
    return (time.perf_counter() - started) / steps, (time.process_time() - started_cpu) / steps


def paired_ratio(values, bare, seed: int = 0) -> tuple[float, float, float]:
    """Median over rounds of a path's cost over the same round's bare step, and its 95% bootstrap
    interval (2,000 resamples of the rounds)."""
    ratios = np.asarray(values) / np.asarray(bare)
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(ratios, (2000, len(ratios))), axis=1)
    return float(np.median(ratios)), float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))


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


def pipeline_alone(dataset, steps: int) -> float:
    """Seconds per batch of an input pipeline on its own (what it adds if nothing overlaps it)."""
    iterator = iter(dataset.repeat())
    next(iterator)
    started = time.perf_counter()
    for _ in range(steps):
        next(iterator)
    return (time.perf_counter() - started) / steps


def time_training_job(tf, variant, images, args) -> tuple[list[float], list[float], list[float]]:
    """`train_variant` itself, epochs of `--steps` steps: each later epoch's wall and CPU seconds
    per step between its first and last batch (the steady step), and the wall seconds each epoch
    boundary costs beyond one such step (checkpoint, CSV and log lines, the next epoch's first
    draw)."""
    import dataclasses

    from aecompress.images import ImageSet, PreparedDataset
    from aecompress.training import train_variant

    class BatchTimer(tf.keras.callbacks.Callback):
        # The job's TerminateOnNaN and BackupAndRestore already have batch hooks, so Keras calls
        # them every step anyway: this hook adds two clock reads, not a new sync point.
        def __init__(self):
            super().__init__()
            self.ends: list[list[float]] = []  # wall clock at each batch's end, per epoch
            self.cpu_ends: list[list[float]] = []  # process CPU time at the same moments

        def on_epoch_begin(self, epoch, logs=None):
            self.ends.append([])
            self.cpu_ends.append([])

        def on_train_batch_end(self, batch, logs=None):
            self.ends[-1].append(time.perf_counter())
            self.cpu_ends[-1].append(time.process_time())

    job = dataclasses.replace(
        variant,
        training={**variant.training, "epochs": 1 + args.rounds},
        preprocessing={
            **variant.preprocessing,
            "patches": {**variant.preprocessing["patches"], "per_epoch": args.batch * args.steps},
        },
    )
    data = PreparedDataset({"train": images, "val": ImageSet([]), "test": ImageSet([])}, {"channels": 3})
    timer = BatchTimer()
    with tempfile.TemporaryDirectory() as folder:
        train_variant(
            job, data, seed=0, threads=args.threads, out_dir=Path(folder) / "model", callbacks=[timer]
        )
    steady = [(ends[-1] - ends[0]) / (len(ends) - 1) for ends in timer.ends[1:]]
    steady_cpu = [(ends[-1] - ends[0]) / (len(ends) - 1) for ends in timer.cpu_ends[1:]]
    boundary = [
        later[0] - earlier[-1] - step
        for earlier, later, step in zip(timer.ends[:-1], timer.ends[1:], steady, strict=True)
    ]
    return steady, steady_cpu, boundary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="steps timed per path and round")
    parser.add_argument("--rounds", type=int, default=8)
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
        training={**training_defaults(), "learning_rate": 1e-4, "batch_size": args.batch},  # tfc's
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

    with tempfile.TemporaryDirectory() as folder:
        from PIL import Image

        paths = []
        for i, image in enumerate(images.images):
            paths.append(Path(folder) / f"{i}.png")
            Image.fromarray(image).save(paths[-1])
        streamed, _ = index_files(paths, None, skip_corrupt=False)
        runs = {
            "bare": bare,
            "train_on_batch": on_batch,
            "fit, fixed batch": fit_over(tf.data.Dataset.from_tensors((x, x)).repeat()),
            "fit, job pipeline": fit_over(job_pipeline().repeat()),
            "fit, streamed": fit_over(
                training_data(
                    tf, None, variant, streamed, Normalization("unit"), 0, args.batch, lambda: 0
                ).repeat()
            ),
        }
        # Rounds, each timing every path once in a new order: a slow start or a noisy neighbour
        # shows as spread between rounds instead of biasing whichever path ran first.
        order = np.random.default_rng(0)
        samples = {name: [] for name in runs}
        cpu = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name in order.permutation(list(runs)):
                wall_s, cpu_s = timed(runs[name], args.steps)
                samples[name].append(wall_s)
                cpu[name].append(cpu_s)
        alone = {
            "job pipeline alone": pipeline_alone(job_pipeline(), args.steps),
            "streamed pipeline alone": pipeline_alone(
                training_data(tf, None, variant, streamed, Normalization("unit"), 0, args.batch, lambda: 0),
                args.steps,
            ),
        }
    job_wall, job_cpu, boundaries = time_training_job(tf, variant, images, args)
    # The job runs after the rounds, so it has no same-round bare step: its ratios are to the
    # bare step's median.
    samples["training job"] = job_wall
    cpu["training job"] = job_cpu
    paired = {"wall": {}, "cpu": {}}
    for clock, values in (("wall", samples), ("cpu", cpu)):
        for name, seconds in values.items():
            bare = values["bare"] if name != "training job" else [np.median(values["bare"])] * len(seconds)
            paired[clock][name] = paired_ratio(seconds, bare)
    rows = {name: float(np.min(values)) for name, values in samples.items()}
    medians = {name: float(np.median(values)) for name, values in samples.items()}
    cpu_medians = {name: float(np.median(values)) for name, values in cpu.items()}
    print(
        f"{'path':<24} {'wall s':>7} {'fastest':>7} {'vs bare (95% CI)':>22} "
        f"{'CPU s':>7} {'vs bare (95% CI)':>22}"
    )

    def interval(ratio):
        middle, low, high = (100 * (r - 1) for r in ratio)
        return f"{middle:+6.1f}% [{low:+5.1f}, {high:+5.1f}]"

    for name in samples:
        print(
            f"{name:<24} {medians[name]:>7.3f} {rows[name]:>7.3f} {interval(paired['wall'][name]):>22} "
            f"{cpu_medians[name]:>7.3f} {interval(paired['cpu'][name]):>22}"
        )
    for name, seconds in alone.items():
        print(f"{name:<24} {seconds:>7.3f}  (s/batch, no training)")
    boundary = float(np.median(boundaries))
    print(f"{'job epoch boundary':<24} {boundary:>7.3f}  (s per epoch end, beyond one step; median)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"machine": platform.machine(), "tensorflow": tf.__version__, "threads": args.threads}
    args.out.write_text(
        json.dumps(
            {
                "machine": machine,
                "s_per_step": rows,
                "median_s_per_step": medians,
                "rounds_s_per_step": samples,
                "median_cpu_s_per_step": cpu_medians,
                "rounds_cpu_s_per_step": cpu,
                "ratio_to_bare_median_low_high": paired,
                "pipeline_alone_s_per_batch": alone,
                "job_epoch_boundary_s": boundaries,
                **vars(args),
                "out": str(args.out),
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
