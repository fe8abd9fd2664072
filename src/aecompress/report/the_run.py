"""The run: what ran (facts, jobs and their durations), the data it ran on, every rate point's
numbers in one table, the models that learned nothing, and the configuration and software."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

import pandas as pd
import yaml

from aecompress.report.page import Plot, Section, Table, Text, figure
from aecompress.report.results import Run

REPORTED_PACKAGES = (
    "aecompress", "tensorflow", "tensorflow-compression", "keras", "numpy", "scikit-learn",
    "scikit-image", "snakemake", "papermill", "pillow", "wrapt",
)  # fmt: skip
RESULT_COLUMNS = ("method", "dataset", "nominal_ratio", "bpp", "parameters", "mse", "psnr", "ssim", "ms_ssim",
                  "accuracy")  # fmt: skip


def section(run: Run) -> Section:
    group = Section("The run")
    group.subsections = [
        facts_section(run),
        results_section(run),
        collapse_section(run),
        datasets_section(run),
        jobs_section(run),
        software_section(run),
    ]
    return group


def facts(run: Run) -> pd.DataFrame:
    manifest, bench = run.manifest, run.benchmarks
    out: dict[str, Any] = {
        "evaluated rate points": len(manifest["variants"]),
        "trained models": len({c["variant"] for c in run.cards.values()}),
        "datasets": ", ".join(sorted(manifest["datasets"])),
        "jobs (by rule)": ", ".join(f"{rule}: {n}" for rule, n in sorted(manifest["jobs"].items())),
        "seed": run.config.get("seed"),
        **{f"hardware: {k}": v for k, v in hardware().items()},
    }
    if not bench.empty:
        out["summed job wall time (s)"] = round(bench["wall_s"].sum(), 1)
        out["summed job CPU time (s)"] = round(bench["cpu_s"].sum(), 1)
    return pd.DataFrame({"value": out})


def facts_section(run: Run) -> Section:
    return Section("What ran").add(Table(facts(run), "the run in numbers", fold=False))


def results_section(run: Run) -> Section:
    from aecompress.metrics import METRIC_RULES

    out = Section(
        "Test-set results of every rate point",
        'Nominal ratio is the papers\' "compression ratio": input values per vector divided by latent '
        "units, counting each float latent as one value; it is not a bit count. bpp is measured from real "
        "files for every method. Metrics are of the decoded files.",
    )
    results = run.results
    columns = [c for c in RESULT_COLUMNS if c in results]
    table = results[columns].sort_values(["dataset", "nominal_ratio"], ascending=[True, False])
    out.add(Table(table.reset_index(drop=True), "every rate point"))
    return out.add(Text("\n".join(f"- **{k}**: {v}" for k, v in METRIC_RULES.items())))


def collapsed_models(results: pd.DataFrame) -> pd.DataFrame:
    """The rate points flagged as collapsed (collapse.py), with the reason and the trivial MSE."""
    if "collapsed" not in results:
        return pd.DataFrame()
    rows = results[results["collapsed"].astype(bool)]
    return rows[["method", "dataset", "mse", "trivial_mse", "collapse_reason"]].reset_index(drop=True)


def collapse_section(run: Run) -> Section:
    out = Section("Models that learned nothing")
    collapsed = collapsed_models(run.results)
    if collapsed.empty:
        return out.add(
            Text(
                "**No model in this run collapsed**: every learned rate point beats predicting the training "
                "mean for every image (test MSE below 98% of that predictor's)."
            )
        )
    return out.add(
        Text(
            f"**{len(collapsed)} collapsed rate point(s)**: no better than predicting the training mean for "
            "every image, or a latent that does not vary. They are drawn hollow, marked in the tables, and "
            "left out of BD-rate fits and the paper comparisons' claims."
        ),
        Table(collapsed, "collapsed rate points"),
    )


def datasets_section(run: Run) -> Section:
    from aecompress.images import PreparedDataset

    out = Section(
        "Datasets",
        "Split sizes, class balance and sample images of every prepared dataset. Models see pixels scaled to "
        "[0, 1]; metrics are computed on reconstructions rounded back to 8 bits.",
    )
    for name, path in sorted(run.manifest["datasets"].items()):
        prepared = PreparedDataset.load(path)
        meta = prepared.meta
        out.add(
            Text(
                f"**{name}**: `{meta['source']}`. {meta['description']}  \n"
                f"Licence: {meta['licence']}. Citation: {meta['citation']}"
            )
        )
        sizes = {split: len(s) for split, s in prepared.splits.items()}
        shapes = sorted({shape for s in prepared.splits.values() for shape in s.shapes})  # no decoding
        listed = ", ".join("x".join(map(str, s)) for s in shapes[:4]) + (" ..." if len(shapes) > 4 else "")
        out.add(Table(pd.DataFrame({"images": sizes}).T.assign(image_shapes=listed), f"{name}: splits"))
        # Show the training split, or the test split of a test-only set (e.g. Kodak).
        train = next(s for s in (prepared.splits["train"], prepared.splits["test"]) if len(s))
        if train.labels is not None and meta.get("class_names"):
            counts = pd.DataFrame(
                {
                    split: pd.Series(s.labels).value_counts().sort_index()
                    for split, s in prepared.splits.items()
                    if s.labels is not None
                }
            ).fillna(0).astype(int)  # fmt: skip
            counts.index = [meta["class_names"][i] for i in counts.index]
            fig = figure(7, 2.5)
            ax = fig.subplots()
            counts.plot.bar(ax=ax, stacked=True)
            ax.set_xlabel("class")
            ax.set_ylabel("images")
            ax.set_title(f"{name}: class distribution per split")
            caption = f"class counts per split of dataset `{name}` (config `datasets.{name}`)."
            out.add(Plot(fig, f"dataset-{name}-classes", caption))
        shown = train.images[:10]
        fig = figure(1.2 * len(shown), 1.4)
        axes = fig.subplots(1, len(shown), squeeze=False)
        for ax, image, label in zip(axes[0], shown, train.names[:10], strict=False):
            ax.imshow(image[..., 0] if image.shape[2] == 1 else image, cmap="gray", vmin=0, vmax=255)
            ax.set_title(label, fontsize="x-small")
            ax.axis("off")
        split = "training" if len(prepared.splits["train"]) else "test"
        caption = f"the first images of the {split} split of dataset `{name}`, as prepared."
        out.add(Plot(fig, f"dataset-{name}-samples", caption))
    return out


def jobs_section(run: Run) -> Section:
    out = Section(
        "Job durations",
        "From Snakemake's benchmark files (wall-clock and CPU seconds, peak memory).",
        missing="no benchmark files",
    )
    bench = run.benchmarks
    if bench.empty:
        return out
    by_rule = bench.groupby("rule")[["wall_s", "cpu_s"]].agg(["count", "sum", "mean", "max"]).round(2)
    return out.add(
        Table(by_rule, "by rule", fold=False),
        Table(bench.sort_values(["rule", "job"]).reset_index(drop=True).round(2), "every job"),
    )


def software_section(run: Run) -> Section:
    return Section("Configuration and software").add(
        Text("```yaml\n" + yaml.safe_dump(run.config, sort_keys=False) + "```"),
        Table(package_versions(), "package versions", fold=False),
    )


def package_versions() -> pd.DataFrame:
    versions = {}
    for name in REPORTED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return pd.DataFrame({"version": versions})


def hardware() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
