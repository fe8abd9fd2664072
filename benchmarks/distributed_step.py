"""Benchmark: what tf.distribute's MirroredStrategy itself costs a training step, on this CPU.

One process splits the CPU into 2 logical devices and trains tfc's bls2017 (factorized prior,
N = 128, lambda 0.01; 256x256 patches, global batch 8) through the model registry, compiled as
the training job compiles it, with `model.fit` over a dataset repeating one batch:

- ``one device``: the default strategy, the whole batch of 8 on one device;
- ``2 replicas``: MirroredStrategy over the 2 logical CPU devices, 4 patches each, gradients
  all-reduced, the same global batch.

Both use the same cores: one device runs each op on both threads; the 2 replicas run side by
side with one thread each (distributed.make_distribution sizes the pools), as two GPUs would.
The difference is the strategy's own cost: splitting the batch, running the replicas, the
all-reduce and the merged update. Each timing runs in its own process. Target: the 2-replica
step within 10% of the one-device step. Rounds alternate the two, and the table shows the
fastest and the median of each (this VM's speed drifts).

    python benchmarks/distributed_step.py [--steps 20] [--rounds 3] [--filters 128] [--threads 2]

Prints a table and writes benchmarks/results/distributed_step.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def build(tf, strategy, args):
    from aecompress.config import validate_config
    from aecompress.models import get_family
    from aecompress.preprocessing import Normalization

    params = {"num_filters": args.filters, "lmbda": 0.01}
    if args.family == "hyperprior":
        params["latent_filters"] = args.latent_filters
    patches = {"patches": {"size": args.patch}}
    experiment = {
        "name": "b",
        "family": args.family,
        "dataset": "d",
        "params": params,
        "preprocessing": patches,
    }
    config = validate_config({"datasets": {"d": {"source": "bundled-photos"}}, "experiments": [experiment]})
    params = config["experiments"][0]["params"]  # with the family's defaults
    family = get_family(args.family)
    with strategy.scope():
        model = family.build_model(params, (args.patch, args.patch, 3), Normalization("unit"), {})
        family.compile_model(model, tf.keras.optimizers.Adam(1e-4))
    return model


def seconds_per_step(tf, model, batch, steps: int) -> float:
    data = tf.data.Dataset.from_tensors(batch).repeat()
    model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # tracing and first allocations
    started = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return (time.perf_counter() - started) / steps


def time_one_path(args) -> float:
    from aecompress.distributed import Placement, make_distribution
    from aecompress.runtime import import_tensorflow

    tf = import_tensorflow(args.threads)
    strategy = make_distribution(tf, Placement(cpu_replicas=args.replicas)).strategy
    tf.keras.utils.set_random_seed(0)
    batch = tf.constant(np.random.default_rng(0).random((args.batch, args.patch, args.patch, 3), np.float32))
    return seconds_per_step(tf, build(tf, strategy, args), batch, args.steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--family", choices=["factorized-prior", "hyperprior"], default="factorized-prior")
    parser.add_argument("--filters", type=int, default=128)
    parser.add_argument("--latent-filters", type=int, default=192, help="hyperprior only")
    parser.add_argument("--patch", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8, help="global batch")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/distributed_step.json")
    parser.add_argument(
        "--replicas", type=int, default=None, help=argparse.SUPPRESS
    )  # one timing, in-process
    args = parser.parse_args()
    if args.replicas:
        print(json.dumps(time_one_path(args)))
        return

    # Each timing in a fresh process: the 2-replica job sizes its thread pools for its replicas
    # (distributed.make_distribution), which must not change the one-device timing.
    times: dict[str, list[float]] = {"one device": [], "2 replicas": []}
    for _ in range(args.rounds):
        for name, replicas in (("one device", 1), ("2 replicas", 2)):
            command = [sys.executable, __file__, *sys.argv[1:], "--replicas", str(replicas)]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            times[name].append(json.loads(output.splitlines()[-1]))

    base_fastest, base_median = min(times["one device"]), statistics.median(times["one device"])
    rows = []
    for name, seconds in times.items():
        fastest, median = min(seconds), statistics.median(seconds)
        rows.append({
            "path": name,
            "fastest_s": round(fastest, 4),
            "median_s": round(median, 4),
            "overhead_fastest_pct": round(100 * (fastest / base_fastest - 1), 1),
            "overhead_median_pct": round(100 * (median / base_median - 1), 1),
            "rounds_s": [round(s, 4) for s in seconds],
        })  # fmt: skip
    print(f"{'path':<12} {'fastest s':>10} {'median s':>10} {'vs one (fastest)':>17} {'vs one (median)':>16}")
    for row in rows:
        print(
            f"{row['path']:<12} {row['fastest_s']:>10.4f} {row['median_s']:>10.4f} "
            f"{row['overhead_fastest_pct']:>16.1f}% {row['overhead_median_pct']:>15.1f}%"
        )
    result = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "threads": args.threads,
        },
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
