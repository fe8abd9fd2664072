"""Benchmark: the cpu-budget preset's training recipe against tfc's plain bls2017 recipe, and its ablations.

Runs presets/cpu-budget.yaml through Snakemake once, in a scratch folder, with one experiment
per recipe (same model, patches, batch, steps and test images):

- ``project``: the preset as shipped, at every lambda;
- ``reference``: tensorflow-compression's bls2017 example (Adam 1e-4, constant, no warm-up or
  clipping), at every lambda;
- the ablations, at the middle lambda: the project recipe with one choice changed (peak rate,
  warm-up, decay, clipping), and the reference recipe at the project's peak rate.

Prints bpp, PSNR and the rate-distortion cost the model was trained to minimise
(bpp + lambda * 255^2 * MSE, lower is better) on Kodak per recipe and lambda; the bpp span of
the lambdas and BD-rate against JPEG (PSNR) for the full curves; writes
benchmarks/results/training_recipes.json.

    python benchmarks/training_recipes.py [--steps 2000] [--lambdas 0.0025 0.01 0.04]
        [--ablation-lambda 0.01] [--kodak-images 24] [--recipes project reference ...] [--reuse]

On the 2-core development machine each model trains for about 4.5 minutes at 2,000 steps.
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
# name -> (training keys changed from the preset, whether it runs at every lambda)
RECIPES = {
    "project": ({}, True),
    "reference": (REFERENCE, True),
    "reference-peak-3e-3": ({**REFERENCE, "learning_rate": 3e-3}, False),
    "peak-1e-3": ({"learning_rate": 1e-3}, False),
    "peak-1e-2": ({"learning_rate": 1e-2}, False),
    "no-warmup": ({"warmup_steps": 0}, False),
    "no-decay": ({"decay": "none"}, False),
    "no-clip": ({"clip_global_norm": None}, False),
}


def recipes_config(
    names: list[str], steps: int, lambdas: list[float], ablation_lambda: float, kodak_images: int | None
) -> dict:
    """The preset with its one experiment replaced by one experiment per recipe."""
    config = yaml.safe_load((REPO / "presets/cpu-budget.yaml").read_text())
    (template,) = config["experiments"]
    steps_per_epoch = template["preprocessing"]["patches"]["per_epoch"] // template["training"]["batch_size"]
    config["experiments"] = []
    for name in names:
        changes, full_curve = RECIPES[name]
        experiment = json.loads(json.dumps(template))
        experiment["name"] = f"bls2017-{name}"
        experiment["training"].update(changes, epochs=max(1, steps // steps_per_epoch))
        experiment["grid"]["lmbda"] = lambdas if full_curve else [ablation_lambda]
        config["experiments"].append(experiment)
    config["baselines"] = [b for b in config["baselines"] if b["codec"] == "jpeg"]  # the BD anchor only
    kodak = config["datasets"]["kodak"]
    if "://" not in kodak["mirror"]:
        kodak["mirror"] = str((REPO / kodak["mirror"]).resolve())
    if kodak_images:
        kodak["subset"] = kodak_images
    return config


def run_workflow(config: dict, folder: Path, reuse: bool = False) -> tuple[pd.DataFrame, float]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    started = time.perf_counter()
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(folder),
        "--configfile", str(folder / "config.yaml"), "--cores", "all", "--quiet",
        *(["--rerun-triggers", "mtime"] if reuse else []),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"the workflow in {folder} failed:\n{result.stderr[-3000:]}")
    from aecompress.report.results import load_summaries

    summaries = sorted(str(p) for p in (folder / "results/evaluation").glob("*/*/summary.json"))
    return load_summaries(summaries), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.0025, 0.01, 0.04])
    parser.add_argument("--ablation-lambda", type=float, default=0.01)
    parser.add_argument(
        "--kodak-images", type=int, default=None, help="the first N Kodak images (default all 24)"
    )
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/aecompress-recipes"))
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the models and evaluations already in --workdir when only code or params changed "
        "(Snakemake's mtime trigger); the default re-runs what changed",
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/training_recipes.json")
    args = parser.parse_args()

    from aecompress.comparisons import bd_metrics

    config = recipes_config(args.recipes, args.steps, args.lambdas, args.ablation_lambda, args.kodak_images)
    results, seconds = run_workflow(config, args.workdir, args.reuse)
    learned = results[results["kind"] == "learned"].copy()
    learned["recipe"] = learned["curve"].str.removeprefix("bls2017-")
    learned["rd_cost"] = learned["bpp"] + learned["param_lmbda"] * 255.0**2 * learned["mse"]
    jpeg = results[results["codec"] == "jpeg"]
    table = learned.sort_values(["param_lmbda", "rd_cost"])[
        ["recipe", "param_lmbda", "bpp", "psnr", "ms_ssim", "rd_cost"]
    ]
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    curves = {}
    for name, group in learned.groupby("recipe"):
        group = group.sort_values("param_lmbda")
        curve = {"training": RECIPES[name][0], "points": group[table.columns[1:]].to_dict("records")}
        if len(group) > 1:
            bd = bd_metrics(jpeg, group, "psnr")
            curve |= {
                "bpp_span": float(group["bpp"].max() / group["bpp"].min()),
                "bd_rate_vs_jpeg_psnr_%": bd["bd_rate"],
                "bd_overlap": bd["overlap"],
            }
            print(
                f"{name}: bpp span {curve['bpp_span']:.2f}x, BD-rate vs JPEG (PSNR) {bd['bd_rate']} %, "
                f"overlap {bd['overlap']}"
            )
        curves[name] = curve
    print(f"workflow: {seconds / 60:.1f} min")
    result = {
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "steps": args.steps,
        "lambdas": args.lambdas,
        "ablation_lambda": args.ablation_lambda,
        "kodak_images": args.kodak_images or 24,
        "project_recipe": next(
            (e["training"] for e in config["experiments"] if e["name"] == "bls2017-project"), None
        ),
        "workflow_seconds": seconds,
        "recipes": curves,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
