"""Benchmark: training throughput of every model family at its documented size, on this machine.

Each case builds the family through the model registry, compiles it the way the training job
does, and times `train_on_batch` on a fixed random batch (after warm-up steps, which include
graph tracing), so the figure is the model's step time without the input pipeline.

    python benchmarks/train_throughput.py [--threads 2] [--seconds 20] [--only factorized-prior-bls2017]

Prints a table and writes benchmarks/results/train_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

# (case, family, params, preprocessing, input shape, batch): the sizes each seed documents.
CASES = [
    ("dense-mnist", "dense", {"latent_units": 56, "use_bias": True, "block_size": None}, {},
     (28, 28, 1), 128),
    ("deep-cae-coursework", "deep-cae",
     {"filters": [64, 32], "bottleneck_filters": 32, "downsampling": "pool", "upsampling": "resize"},
     {"normalization": "symmetric", "padding": {"multiple": 8, "mode": "replicate"}}, (150, 225, 3), 16),
    ("linear-latent-stl10", "linear-latent-cae",
     {"stage_filters": [48, 96, 192, 384], "latent_units": 200, "dropout": 0.2}, {},
     (96, 96, 3), 64),
    ("rate-cae-cifar10-r4", "rate-cae", {"rate": 4, "filters": 64, "latent_channels": 3}, {},
     (32, 32, 3), 128),
    ("factorized-prior-bls2017", "factorized-prior", {"num_filters": 128, "lmbda": 0.01}, {},
     (256, 256, 3), 8),
    ("hyperprior-bmshj2018", "hyperprior",
     {"num_filters": 128, "latent_filters": 192, "lmbda": 0.01, "num_scales": 64, "scale_min": 0.11,
      "scale_max": 256.0}, {}, (256, 256, 3), 8),
    ("slimcae-thesis", "slimcae",
     {"widths": [192, 144, 96, 72, 48], "lambdas": [2048, 1024, 512, 256, 128], "distortion": "ms_ssim"},
     {}, (240, 240, 3), 8),
]  # fmt: skip


def run_case(tf, case, family_name, params, preprocessing, shape, batch, seconds):
    from aecompress.losses import reconstruction_loss
    from aecompress.models import get_family
    from aecompress.preprocessing import Normalization

    family = get_family(family_name).implementation()
    normalization = Normalization(preprocessing.get("normalization", "unit"))
    model = family.build_model(params, shape, normalization, preprocessing)
    optimizer = tf.keras.optimizers.Adam(1e-4)
    if hasattr(family, "compile_model"):
        family.compile_model(model, optimizer)
    else:
        model.compile(
            optimizer=optimizer, loss=reconstruction_loss(tf, {"loss": "mse"}, normalization, shape)
        )
    x = normalization.forward(np.random.default_rng(0).integers(0, 256, (batch, *shape), dtype=np.uint8))
    for _ in range(2):  # warm-up: tracing and first allocations
        model.train_on_batch(x, x)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or steps < 3:
        model.train_on_batch(x, x)
        steps += 1
    elapsed = time.perf_counter() - start
    return {
        "case": case,
        "family": family_name,
        "input": "x".join(map(str, shape)),
        "batch": batch,
        "parameters": int(model.count_params()),
        "steps": steps,
        "s_per_step": elapsed / steps,
        "images_per_s": steps * batch / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="timed seconds per case (at least 3 steps)"
    )
    parser.add_argument("--only", nargs="*", help="case names to run")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "train_throughput.json"))
    args = parser.parse_args()

    from aecompress.runtime import import_tensorflow

    tf = import_tensorflow(args.threads)
    rows = []
    for case in CASES:
        if args.only and case[0] not in args.only:
            continue
        rows.append(run_case(tf, *case, args.seconds))
        row = rows[-1]
        print(
            f"{row['case']:<26} {row['input']:>11} batch {row['batch']:>3}  {row['parameters']:>10,} params  "
            f"{row['s_per_step']:8.3f} s/step  {row['images_per_s']:8.1f} images/s",
            flush=True,
        )
    result = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "threads": args.threads,
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "tensorflow": tf.__version__,
        },
        "cases": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
