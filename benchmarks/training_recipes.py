"""Benchmark: the cpu-budget preset's training recipe against tfc's plain bls2017 recipe, same steps.

Runs presets/cpu-budget.yaml through Snakemake twice in scratch folders: once as shipped (the
project's recipe) and once with the reference recipe of tensorflow-compression's bls2017
example (Adam 1e-4, constant, no warm-up or clipping), at the same steps, patches and lambdas.
Prints bpp and PSNR per lambda on Kodak for both, the bpp span of the lambdas, and BD-rate
against JPEG (PSNR) for both; writes benchmarks/results/training_recipes.json.

    python benchmarks/training_recipes.py [--steps 2000] [--lambdas 0.0025 0.01 0.04] [--kodak-images 24]
        [--recipes project reference] [--workdir /tmp/recipes]

On the 2-core development machine each lambda trains for about 10 minutes at 2,000 steps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
REFERENCE = {"learning_rate": 1e-4, "warmup_steps": 0, "decay": "none", "clip_global_norm": None}


def recipe_config(name: str, steps: int, lambdas: list[float], kodak_images: int | None) -> dict:
    config = yaml.safe_load((REPO / "presets/cpu-budget.yaml").read_text())
    experiment = config["experiments"][0]
    if name == "reference":
        experiment["training"].update(REFERENCE)
    steps_per_epoch = (
        experiment["preprocessing"]["patches"]["per_epoch"] // experiment["training"]["batch_size"]
    )
    experiment["training"]["epochs"] = max(1, steps // steps_per_epoch)
    experiment["grid"]["lmbda"] = lambdas
    experiment["name"] = f"bls2017-{name}"
    config["baselines"] = [b for b in config["baselines"] if b["codec"] == "jpeg"]  # the BD anchor only
    kodak = config["datasets"]["kodak"]
    kodak["mirror"] = (
        str((REPO / kodak["mirror"]).resolve()) if "://" not in kodak["mirror"] else kodak["mirror"]
    )
    if kodak_images:
        kodak["subset"] = kodak_images
    return config


def run(name: str, config: dict, workdir: Path) -> tuple[pd.DataFrame, float]:
    folder = workdir / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    started = time.perf_counter()
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(folder),
        "--configfile", str(folder / "config.yaml"), "--cores", "all", "--quiet",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"{name}: the workflow failed:\n{result.stderr[-3000:]}")
    from aecompress.report import load_summaries

    summaries = sorted(str(p) for p in (folder / "results/evaluation").glob("*/summary.json"))
    return load_summaries(summaries), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.0025, 0.01, 0.04])
    parser.add_argument(
        "--kodak-images", type=int, default=None, help="the first N Kodak images (default all 24)"
    )
    parser.add_argument(
        "--recipes", nargs="+", default=["project", "reference"], choices=["project", "reference"]
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/aecompress-recipes"))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/training_recipes.json")
    args = parser.parse_args()

    from aecompress.comparisons import bd_metrics

    rows, curves, seconds = [], {}, {}
    for name in args.recipes:
        results, seconds[name] = run(
            name, recipe_config(name, args.steps, args.lambdas, args.kodak_images), args.workdir
        )
        learned = results[results["kind"] == "learned"].sort_values("param_lmbda")
        jpeg = results[results["family"] == "jpeg"]
        bd = bd_metrics(jpeg, learned, "psnr")
        curves[name] = {
            "points": learned[["param_lmbda", "bpp", "psnr", "ms_ssim"]].to_dict("records"),
            "bpp_span": float(learned["bpp"].max() / learned["bpp"].min()),
            "bd_rate_vs_jpeg_psnr_%": bd["bd_rate"],
            "bd_overlap": bd["overlap"],
            "workflow_seconds": seconds[name],
        }
        for point in curves[name]["points"]:
            rows.append({"recipe": name, **point})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for name, curve in curves.items():
        bd_rate = curve["bd_rate_vs_jpeg_psnr_%"]
        print(
            f"{name}: bpp span {curve['bpp_span']:.2f}x, BD-rate vs JPEG (PSNR) {bd_rate} %, "
            f"overlap {curve['bd_overlap']}, workflow {curve['workflow_seconds']:.0f} s"
        )
    result = {
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "steps": args.steps,
        "lambdas": args.lambdas,
        "kodak_images": args.kodak_images or 24,
        "reference_recipe": REFERENCE,
        "project_recipe": yaml.safe_load((REPO / "presets/cpu-budget.yaml").read_text())["experiments"][0][
            "training"
        ],
        "recipes": curves,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
