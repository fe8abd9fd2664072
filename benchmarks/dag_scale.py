"""Benchmark: how long Snakemake takes to build the DAG of a study with many model variants.

Writes a config whose dense experiment expands to N variants (a latent-size x bias grid on
the embedded digits; each variant is trained, gets a latent coder and is evaluated) plus a
JPEG baseline, and times `snakemake -n` (a dry run: config validation, planning, DAG, job
listing; no TensorFlow import) in a fresh process. Target (issue 7): under 20 s for 1,000
variants.

    python benchmarks/dag_scale.py [--variants 1000 250] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def study_config(variants: int) -> dict:
    """A dense study of exactly `variants` models: latent sizes 1..N/2 x {bias, no bias}."""
    if variants % 2:
        raise SystemExit(f"--variants {variants}: use an even number (latent sizes x 2 bias settings)")
    return {
        "datasets": {"digits": {"source": "sklearn-digits"}},
        "experiments": [
            {
                "name": "dense-study",
                "family": "dense",
                "dataset": "digits",
                "grid": {"latent_units": list(range(1, variants // 2 + 1)), "use_bias": [True, False]},
                "training": {"epochs": 1},
            }
        ],
        "baselines": [{"name": "jpeg-digits", "codec": "jpeg", "dataset": "digits"}],
    }


def job_count(stats: str) -> int:
    """The `total` line of Snakemake's job-stats table."""
    for line in stats.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == "total":
            return int(fields[1])
    raise SystemExit(f"no job stats in Snakemake's output:\n{stats[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, nargs="+", default=[1000, 250])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/dag_scale.json")
    args = parser.parse_args()
    rows = []
    for variants in args.variants:
        with tempfile.TemporaryDirectory() as folder:
            config = Path(folder) / "config.yaml"
            config.write_text(yaml.safe_dump(study_config(variants)))
            seconds, jobs = [], None
            for _ in range(args.repeat):
                started = time.perf_counter()
                result = subprocess.run(
                    [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--snakefile",
                     str(REPO / "Snakefile"), "--directory", folder, "--configfile", str(config)],
                    capture_output=True, text=True,
                )  # fmt: skip
                seconds.append(time.perf_counter() - started)
                if result.returncode:
                    raise SystemExit(result.stderr[-3000:])
                jobs = job_count(result.stdout + result.stderr)
        rows.append({"variants": variants, "jobs": jobs, "median_s": statistics.median(seconds),
                     "min_s": min(seconds), "max_s": max(seconds)})  # fmt: skip
    print(f"{'variants':>8} {'jobs':>6} {'median s':>9} {'min s':>7} {'max s':>7}")
    for row in rows:
        seconds = f"{row['median_s']:>9.2f} {row['min_s']:>7.2f} {row['max_s']:>7.2f}"
        print(f"{row['variants']:>8} {row['jobs']:>6} {seconds}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
                                    "rows": rows}, indent=2))  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
