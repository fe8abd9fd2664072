"""Benchmark: training throughput of every model family at its documented size, on this machine.

Each case builds the family through the model registry, compiles it the way the training job
does, and times `train_on_batch` on a fixed random batch (after warm-up steps, which include
graph tracing), so the figure is the model's step time without the input pipeline.

    python benchmarks/train_throughput.py [--threads 2] [--seconds 20] [--only factorized-prior-bls2017]
        [--tfc-ms2020 PATH/TO/tensorflow-compression/models/ms2020.py]

With `--tfc-ms2020`, tensorflow-compression's reference ms2020 model (not shipped with the pip
package: take `models/ms2020.py` from its repository) is timed in the same run at the same
sizes, beside aecompress's ms2020, as the row `ms2020-tfc-reference` (its inputs on 0..255, as
it expects).

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

# The reference's defaults (tfc models/ms2020.py): its batch 8 of 256x256 patches below.
MS2020 = {"lmbda": 0.01, "num_filters": 192, "latent_depth": 320, "hyperprior_depth": 192,
          "hyper_filters": 256, "slice_filters": [224, 128], "num_slices": 10, "max_support_slices": 5,
          "num_scales": 64, "scale_min": 0.11, "scale_max": 256.0}  # fmt: skip

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
    ("ms2020-minnen-singh", "ms2020", MS2020, {}, (256, 256, 3), 8),
    ("slimcae-thesis", "slimcae",
     {"widths": [192, 144, 96, 72, 48], "lambdas": [2048, 1024, 512, 256, 128], "distortion": "ms_ssim"},
     {}, (240, 240, 3), 8),
]  # fmt: skip


def run_case(tf, case, family_name, params, preprocessing, shape, batch, seconds):
    from aecompress.losses import reconstruction_loss
    from aecompress.models import get_family
    from aecompress.preprocessing import Normalization

    family = get_family(family_name)
    normalization = Normalization(preprocessing.get("normalization", "unit"))
    model = family.build_model(params, shape, normalization, preprocessing)
    loss = None if family.compressive else reconstruction_loss(tf, {"loss": "mse"}, normalization, shape)
    family.compile_model(model, tf.keras.optimizers.Adam(1e-4), loss, [])
    x = normalization.forward(np.random.default_rng(0).integers(0, 256, (batch, *shape), dtype=np.uint8))
    return timed_row(case, family_name, model, x, seconds)


def timed_row(case: str, family: str, model, x, seconds: float) -> dict:
    for _ in range(2):  # warm-up: tracing and first allocations
        model.train_on_batch(x, x)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or steps < 3:
        model.train_on_batch(x, x)
        steps += 1
    elapsed = time.perf_counter() - start
    return {
        "case": case,
        "family": family,
        "input": "x".join(map(str, x.shape[1:])),
        "batch": len(x),
        "parameters": int(model.count_params()),
        "steps": steps,
        "s_per_step": elapsed / steps,
        "images_per_s": steps * len(x) / elapsed,
    }


def run_tfc_reference(tf, path: str, seconds: float) -> dict:
    """tfc's MS2020Model at the MS2020 sizes, compiled as its script compiles it."""
    import importlib.util
    import sys
    import types

    sys.modules.setdefault(
        "tensorflow_datasets", types.ModuleType("tensorflow_datasets")
    )  # data loading only
    spec = importlib.util.spec_from_file_location("tfc_ms2020_reference", path)
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    p = MS2020
    model = reference.MS2020Model(
        p["lmbda"], p["num_filters"], p["latent_depth"], p["hyperprior_depth"], p["num_slices"],
        p["max_support_slices"], p["num_scales"], p["scale_min"], p["scale_max"],
    )  # fmt: skip
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=1e-4))
    x = np.random.default_rng(0).integers(0, 256, (8, 256, 256, 3), dtype=np.uint8).astype(np.float32)
    return timed_row("ms2020-tfc-reference", "tfc models/ms2020.py", model, x, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="timed seconds per case (at least 3 steps)"
    )
    parser.add_argument("--only", nargs="*", help="case names to run")
    parser.add_argument("--tfc-ms2020", help="tfc's models/ms2020.py, timed beside aecompress's ms2020")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "train_throughput.json"))
    args = parser.parse_args()

    from aecompress.runtime import import_tensorflow

    tf = import_tensorflow(args.threads)
    rows = []
    runs = [(case[0], lambda case=case: run_case(tf, *case, args.seconds)) for case in CASES]
    if args.tfc_ms2020:
        runs.insert(
            [name for name, _ in runs].index("ms2020-minnen-singh") + 1,
            ("ms2020-tfc-reference", lambda: run_tfc_reference(tf, args.tfc_ms2020, args.seconds)),
        )
    for name, run in runs:
        if args.only and name not in args.only:
            continue
        rows.append(run())
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
