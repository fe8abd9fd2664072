"""Tables and figures of the HTML report, and rendering the report notebook.

The notebook (workflow/notebooks/report.py, jupytext percent format) stays a thin script of
calls into this module, so the report's logic is importable and unit-tested.
"""

from __future__ import annotations

import json
import os
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPORTED_PACKAGES = (
    "aecompress", "tensorflow", "tensorflow-compression", "keras", "numpy", "scikit-learn",
    "scikit-image", "snakemake", "papermill", "pillow", "wrapt",
)  # fmt: skip


def _displayable(image: np.ndarray) -> np.ndarray:
    return image[..., 0] if image.shape[2] == 1 else image


def load_summaries(summary_paths: list[str]) -> pd.DataFrame:
    """One row per evaluated variant: identifiers, operating point, mean metrics."""
    rows = []
    for path in summary_paths:
        summary = json.loads(Path(path).read_text())
        row = {
            "method": summary["method"],
            "experiment": summary["experiment"],
            "family": summary["family"],
            "dataset": summary["dataset"],
            "n_images": summary["n_images"],
            "kind": summary.get("kind", "learned"),
            "nominal_ratio": summary["nominal_compression_ratio"],
            "bpp": summary.get("bpp"),
            "raw_bpp": summary.get("raw_bpp"),
            "header_bpp": summary.get("header_bpp"),
            "real_over_estimated": summary.get("real_over_estimated_bits"),
            "parameters": summary["parameter_count"],
            "summary": path,
            **{f"param_{k}": v for k, v in summary["params"].items()},
            # The rate point within the model (a SlimCAE width) is one of its settings too.
            **{f"param_{k}": v for k, v in (summary.get("operating_point") or {}).items()},
            **summary["metrics"],
        }
        for name, value in (summary.get("unquantized_metrics") or {}).items():
            row[f"float_latent_{name}"] = value
        for name, value in (summary.get("train_metrics") or {}).items():
            row[f"train_{name}"] = value
        preprocessing = summary.get("preprocessing") or {}
        row["normalization"] = (preprocessing.get("normalization") or {}).get("kind")
        collapse = summary.get("collapse") or {}
        row["collapsed"] = bool(collapse.get("collapsed"))
        row["trivial_mse"] = collapse.get("trivial_mse")
        row["collapse_reason"] = collapse.get("reason")
        classification = summary.get("classification") or {}
        row["accuracy"] = classification.get("accuracy_reconstructed")
        row["accuracy_original"] = classification.get("accuracy_original")
        row["accuracy_ratio"] = classification.get("accuracy_ratio")
        rows.append(row)
    return pd.DataFrame(rows)


def show_figure(fig, name: str, caption: str, figures_dir: str | Path | None) -> None:
    """Show a figure with its caption, and save it for Snakemake's provenance report.

    The saved PNG (figures_dir/<name>.png) is the same image the HTML report embeds, so the
    `snakemake --report` page links each figure to the report rule, its params and its log.
    """
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    if figures_dir is not None:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")
        fig.savefig(Path(figures_dir) / f"{slug}.png", bbox_inches="tight")
    plt.show()
    display(Markdown(f"*Figure: {caption}*"))


def plot_rate_distortion(results: pd.DataFrame, ax, metric: str, label: str) -> None:
    """One line per experiment or baseline (its rate points sorted by bpp), bpp on the x axis.
    A collapsed rate point (collapse.py) is drawn hollow and left out of the line."""
    drawn = False
    for name, group in sorted(results.groupby("experiment"), key=lambda item: item[0]):
        group = group.dropna(subset=[metric]).sort_values("bpp")
        if group.empty:
            continue
        collapsed = group["collapsed"].astype(bool) if "collapsed" in group else group["bpp"] < 0
        kept = group[~collapsed]
        style = "--" if group["kind"].iloc[0] == "classical" else "-"
        (line,) = ax.plot(kept["bpp"], kept[metric], style, marker="o", markersize=3, label=name)
        if collapsed.any():
            ax.plot(group.loc[collapsed, "bpp"], group.loc[collapsed, metric], "o", markersize=6,
                    markerfacecolor="none", color=line.get_color(), label=f"{name} (collapsed)")  # fmt: skip
        drawn = True
    ax.set_xlabel("bits per pixel (real files)")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(fontsize="x-small")
    else:
        ax.text(0.5, 0.5, f"{label}: undefined for these images", ha="center", transform=ax.transAxes)


def nominal_versus_real(results: pd.DataFrame) -> pd.DataFrame:
    """What the papers' "compression ratio" costs in bits: nominal ratio next to the real file's.

    For the autoencoders trained without a rate, whose latents were quantized and range-coded:
    real ratio = uncompressed bits (8 per value) / coded bits, and the PSNR lost to quantizing
    the latent (float latent vs decoded file).
    """
    rows = results[results["nominal_ratio"].notna() & results["bpp"].notna()]
    if rows.empty or "float_latent_psnr" not in rows:
        return pd.DataFrame()
    rows = rows[rows["float_latent_psnr"].notna()]
    table = pd.DataFrame(
        {
            "method": rows["method"],
            "dataset": rows["dataset"],
            "nominal ratio (values)": rows["nominal_ratio"],
            "real bpp": rows["bpp"],
            "of which header": rows["header_bpp"],
            "real ratio (bits)": rows["raw_bpp"] / rows["bpp"],
            "real ratio without header": rows["raw_bpp"] / (rows["bpp"] - rows["header_bpp"]),
            "PSNR float latent": rows["float_latent_psnr"],
            "PSNR decoded file": rows["psnr"],
            "real / estimated bits": rows["real_over_estimated"],
        }
    )
    return table.sort_values(["dataset", "nominal ratio (values)"], ascending=[True, False]).reset_index(
        drop=True
    )


def accuracy_table(results: pd.DataFrame) -> pd.DataFrame:
    """Classifier accuracy on each method's reconstructions, with its rate and ratio to originals."""
    rows = results[results["accuracy"].notna()] if "accuracy" in results else results.iloc[:0]
    columns = ["method", "dataset", "kind", "nominal_ratio", "bpp", "psnr", "accuracy_original", "accuracy",
               "accuracy_ratio"]  # fmt: skip
    return rows[columns].sort_values(["dataset", "bpp"]).reset_index(drop=True)


def per_class_accuracy(summary_paths: list[str]) -> pd.DataFrame:
    """Rows: methods (plus 'original'); columns: classes; values: classifier accuracy."""
    rows = {}
    for path in summary_paths:
        summary = json.loads(Path(path).read_text())
        classification = summary.get("classification")
        if classification:
            rows.setdefault(f"original ({summary['dataset']})", classification["per_class_accuracy_original"])
            rows[summary["method"]] = classification["per_class_accuracy_reconstructed"]
    return pd.DataFrame.from_dict(rows, orient="index")


def plot_equal_rate(summary_path: str, fig, codec: str = "jpeg") -> None:
    """The first test image: original | the method | JPEG at equal bpp | JPEG at equal PSNR.

    JPEG is searched over every quality on this very image (comparisons.equal_rate_or_quality).
    """
    from aecompress.comparisons import equal_rate_or_quality

    summary = json.loads(Path(summary_path).read_text())
    folder = Path(summary_path).parent
    names, originals, reconstructions = load_samples(str(folder / "samples.npz"))
    row = pd.read_csv(folder / "per_image.csv").iloc[0]
    original = originals[0]
    at_rate = equal_rate_or_quality(original, float(row["bpp"]), "bpp", codec)
    at_quality = equal_rate_or_quality(original, float(row["psnr"]), "psnr", codec)
    panels = [
        ("original", original),
        (f"{summary['method']}\n{row['bpp']:.3f} bpp, {row['psnr']:.2f} dB", reconstructions[0]),
        (f"{codec} q={at_rate['quality']} (equal rate)\n{at_rate['bpp']:.3f} bpp, {at_rate['psnr']:.2f} dB",
         at_rate["reconstruction"]),
        (f"{codec} q={at_quality['quality']} (equal PSNR)\n{at_quality['bpp']:.3f} bpp, "
         f"{at_quality['psnr']:.2f} dB", at_quality["reconstruction"]),
    ]  # fmt: skip
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (label, image) in zip(axes, panels, strict=True):
        ax.imshow(_displayable(image), cmap="gray", vmin=0, vmax=255)
        ax.set_title(label, fontsize="x-small")
        ax.axis("off")
    fig.suptitle(f"{summary['dataset']}: test image {names[0]}", fontsize="small")


def ratio_label(ratio: float) -> str:
    return f"{ratio:g}x"


def mse_by_ratio_and_bias(results: pd.DataFrame) -> pd.DataFrame:
    """The MNIST paper's Table 1: test MSE by nominal compression ratio (rows) and bias (columns).

    The paper decodes the float latent, so its MSE is used (`float_latent_mse`) where evaluated.
    """
    dense = results[results["family"] == "dense"].copy()
    if dense.empty:
        return pd.DataFrame()
    # Only experiments that compare both settings of bias belong in this table.
    both = dense.groupby("experiment")["param_use_bias"].transform("nunique") == 2
    dense = dense[both]
    if dense.empty:
        return pd.DataFrame()
    dense["bias"] = dense["param_use_bias"].map({True: "with bias", False: "without bias"})
    dense["param_latent_units"] = dense["param_latent_units"].astype(int)  # NaN-free here, so int again
    column = "float_latent_mse" if "float_latent_mse" in dense else "mse"
    # A collapsed model's MSE is not a result: it is shown, marked, not as a number to compare.
    dense["shown"] = [
        f"{value:.5f}" + (" (collapsed)" if collapsed else "")
        for value, collapsed in zip(
            dense[column], dense["collapsed"] if "collapsed" in dense else [False] * len(dense), strict=True
        )
    ]
    table = dense.pivot_table(
        index=["dataset", "param_latent_units", "nominal_ratio"],
        columns="bias",
        values="shown",
        aggfunc="first",
    )
    table = table.sort_index(level=["dataset", "nominal_ratio"], ascending=[True, False])
    table.index = [f"{d}: {ratio_label(r)} (h={h})" for d, h, r in table.index]
    table.index.name = "compression ratio (latent units)"
    table.columns.name = None
    return table


def plot_learning_curve(result: dict[str, Any], axes) -> None:
    """benchmarks/learning_curve.py's result: RD cost (first axes) and PSNR minus JPEG's at the
    same bpp (second) against training steps, log-scaled, the three-lambda models as markers;
    with a third axes, the three-lambda models' PSNR against bpp beside JPEG's mean curve."""
    curve = pd.DataFrame(result.get("curve") or [])
    lambdas = result.get("lambdas") or {}
    points = pd.DataFrame(lambdas.get("rows") or [])
    if not curve.empty:
        label = f"{curve['family'].iloc[0]}, lambda {curve['lmbda'].iloc[0]:g}"
        axes[0].plot(curve["step"], curve["rd_cost"], "o-", label=label)
        axes[1].plot(curve["step"], curve["psnr_over_jpeg_db"], "o-", label=label)
    for _, row in points.iterrows():
        axes[1].plot(
            row["step"],
            row["psnr_over_jpeg_db"],
            "s",
            label=f"lambda {row['lmbda']:g} ({row['bpp']:.2f} bpp)"
            + (", the curve's snapshot" if isinstance(row.get("stand_in"), str) else ""),
        )
    axes[0].set_ylabel("RD cost: bpp + lambda 255^2 MSE")
    axes[1].set_ylabel("PSNR - JPEG's at the same bpp (dB)")
    axes[1].axhline(0, color="grey", lw=0.8)
    for ax in axes[:2]:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("training steps")
    if len(axes) > 2:
        ax = axes[2]
        jpeg = lambdas.get("jpeg")
        if jpeg:
            ax.plot(jpeg["bpp"], jpeg["psnr"], "k.--", label="JPEG 4:2:0 (q 5..95)")
        if not points.empty:
            ordered = points.sort_values("bpp")
            steps = int(ordered["step"].iloc[0])
            bd = lambdas.get("bd_rate_vs_jpeg_psnr_%")
            note = "" if bd is None else f", BD-rate {bd:+.1f}%"
            ax.plot(ordered["bpp"], ordered["psnr"], "s-", label=f"learned, {steps} steps{note}")
            ax.set_xlim(0, max(1.0, 1.5 * float(ordered["bpp"].max())))  # the learned points' range
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel("PSNR (dB), mean over the test images")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small")


def collapsed_models(results: pd.DataFrame) -> pd.DataFrame:
    """The rate points flagged as collapsed (collapse.py), with the reason and the trivial MSE."""
    if "collapsed" not in results:
        return pd.DataFrame()
    rows = results[results["collapsed"].astype(bool)]
    return rows[["method", "dataset", "mse", "trivial_mse", "collapse_reason"]].reset_index(drop=True)


def preprocessing_table(cards: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """What each trained model saw: its input scaling, padding, patches and crop (from model.json)."""
    rows = {}
    for variant, card in sorted(cards.items()):
        seen = card.get("preprocessing") or {}
        padding, patches, box = seen.get("padding"), seen.get("patches"), seen.get("crop_box")
        rows[card.get("variant", variant)] = {
            "trained on": card["dataset"],
            "tested on": card.get("test_dataset") or card["dataset"],
            "input": "x".join(map(str, card.get("input_shape") or [])) or "whole images",
            "normalization": (seen.get("normalization") or {}).get("rule", "x / 255"),
            "padding": (
                f"{padding.get('mode', 'replicate')} to a multiple of {padding['multiple']}"
                if padding
                else "the family's default (conv: replicate to its 2^k; others: none)"
            ),
            "padded and cropped back": (
                f"{'x'.join(map(str, box['input']))} -> {'x'.join(map(str, box['padded']))} -> crop"
                if box and box["padded"] != box["input"]
                else "no"
            ),
            "patches": f"{patches['size']} px, {patches['per_epoch']} per epoch"
            if patches
            else "whole images",
        }
    return pd.DataFrame.from_dict(rows, orient="index")


GRID_METRICS = ("nominal_ratio", "bpp", "mse", "psnr", "ms_ssim")


def grid_comparisons(results: pd.DataFrame, cards: dict[str, dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """Test metrics of each experiment by its grid settings (bottleneck size, loss, padding, ...).

    One table per experiment whose grid varies something: rows are the grid points, so a study
    of zero vs replicate padding, MSE vs Huber vs SSIM losses, or normalization x dropout reads
    as one table.
    """
    keys_by_experiment: dict[str, list[str]] = {}
    for card in cards.values():
        keys = [k for k in card.get("grid_values") or {} if f"param_{k}" in results]
        if keys:
            keys_by_experiment.setdefault(card["experiment"], keys)
    tables = {}
    for experiment, keys in sorted(keys_by_experiment.items()):
        rows = results[results["experiment"] == experiment]
        columns = [f"param_{k}" for k in keys] + [
            m for m in GRID_METRICS if m in rows and rows[m].notna().any()
        ]
        table = rows[columns].rename(columns={f"param_{k}": k for k in keys})
        for key in keys:  # a key other experiments lack became float: back to int where it was
            values = table[key]
            if values.dtype.kind == "f" and values.notna().all() and (values % 1 == 0).all():
                table[key] = values.astype(int)
        tables[experiment] = table.sort_values(keys).set_index(keys)
    return tables


def train_versus_test(results: pd.DataFrame) -> pd.DataFrame:
    """Mean metrics on the training split next to the test split (the SlimCAE thesis, Tables
    4.1/4.2), for the rate points evaluated with `evaluation.train_split_images`."""
    if "train_images" not in results:
        return pd.DataFrame()
    rows = results[results["train_images"].notna()].sort_values(["experiment", "bpp"])
    if rows.empty:
        return pd.DataFrame()
    columns = {}
    for metric in ("bpp", "mse", "psnr", "ms_ssim"):
        columns[(metric, "train")] = rows[f"train_{metric}"].to_numpy()
        columns[(metric, "test")] = rows[metric].to_numpy()
    table = pd.DataFrame(columns, index=rows["method"])
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    table.insert(0, ("images", "train"), rows["train_images"].astype(int).to_numpy())
    table.insert(1, ("images", "test"), rows["n_images"].to_numpy())
    return table


def _settings(card: dict[str, Any]) -> dict[str, Any]:
    """A model's choices, flattened: its params, loss, input scaling and padding."""
    seen = card.get("preprocessing") or {}
    padding = seen.get("padding") or {}
    flat = {k: (tuple(v) if isinstance(v, list) else v) for k, v in (card.get("params") or {}).items()}
    flat["loss"] = (card.get("training") or {}).get("loss", "mse")
    flat["normalization"] = (seen.get("normalization") or {}).get("kind", "unit")
    flat["padding"] = padding.get("mode", "default") if padding else "default"
    return flat


def setting_differences(results: pd.DataFrame, cards: dict[str, dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """Experiments of one family on one test set side by side, by the settings that differ between
    them: zero vs replicate padding, MSE vs Huber vs SSIM loss, pooling vs strides (coursework)."""
    learned = results[results["method"].isin(cards)]
    tables = {}
    for (family, dataset), group in learned.groupby(["family", "dataset"]):
        if group["experiment"].nunique() < 2:
            continue
        settings = pd.DataFrame([_settings(cards[m]) for m in group["method"]], index=group["method"])
        varying = [c for c in settings if settings[c].astype(str).nunique() > 1]
        if not varying:
            continue
        metrics = [m for m in GRID_METRICS if m in group and group[m].notna().any()]
        table = pd.concat([group.set_index("method")[["experiment"]], settings[varying].astype(str),
                           group.set_index("method")[metrics]], axis=1)  # fmt: skip
        tables[f"{family} on {dataset}"] = table.sort_values(["experiment", *varying])
    return tables


def plot_grid_comparison(table: pd.DataFrame, ax, metric: str = "mse") -> None:
    """Bars of a test metric per grid point, each labelled with its nominal ratio (coursework Fig. 7)."""
    labels = [", ".join(map(str, i if isinstance(i, tuple) else (i,))) for i in table.index]
    bars = ax.bar(range(len(table)), table[metric])
    ax.set_xticks(range(len(table)), labels, rotation=30, ha="right", fontsize="small")
    ax.set_xlabel(", ".join(table.index.names))
    ax.set_ylabel(f"test {metric}")
    if "nominal_ratio" in table:
        ax.bar_label(
            bars, [ratio_label(r) if pd.notna(r) else "" for r in table["nominal_ratio"]], fontsize="x-small"
        )


def tuning_overview(study: dict[str, Any], selection: dict[str, Any]) -> pd.DataFrame:
    """What a tuning study searched and chose: its settings, the selected configuration, its scores."""
    hyperband = study["hyperband"]
    facts = {
        "outer folds (K_outer)": selection["outer_folds"],
        "inner folds (K_inner)": study["inner_folds"],
        "Hyperband": f"factor {hyperband['factor']}, max_epochs {hyperband['max_epochs']}, "
        f"iterations {hyperband['iterations']}",
        "search space": "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in study["search_space"].items()),
        "objective": f"{study['objective']} on [0, 1] pixels"
        + (f" + {study['rate_penalty']:g} x latent/input values" if study["rate_penalty"] else ""),
        "selection rule": selection["rule"],
        "selected configuration": ", ".join(f"{k}={v}" for k, v in selection["configuration"].items()),
        "chosen by outer folds": f"{selection['votes']} of {selection['outer_folds']} "
        f"({', '.join(map(str, selection['chosen_by_folds']))})",
        "outer-fold score (mean +- sd)": _mean_sd(selection, "outer_score"),
        "outer-fold loss (mean +- sd)": _mean_sd(selection, "outer_loss"),
    }
    return pd.DataFrame({"value": facts})


def _mean_sd(selection: dict[str, Any], name: str) -> str:
    return f"{selection[name + '_mean']:.4g} +- {selection[name + '_std']:.2g}"


def best_trials(trials: pd.DataFrame, count: int = 10) -> pd.DataFrame:
    """The `count` lowest-scoring finished trials of all outer folds, with their configuration."""
    finished = trials[trials["status"] == "COMPLETED"]
    hidden = {"status", "inner_loss"} | {c for c in trials if c.startswith("inner_loss_")}
    columns = ["outer_fold", "trial_id", "epochs", "score"] + [
        c for c in trials.columns if c not in hidden | {"outer_fold", "trial_id", "epochs", "score"}
    ]
    best = finished.sort_values(["score", "outer_fold", "trial_id"]).head(count)
    return best[columns].set_index(["outer_fold", "trial_id"])


def plot_trials(trials: pd.DataFrame, ax) -> None:
    """Every trial's score against the epochs Hyperband gave it, one colour per outer fold."""
    finished = trials[trials["status"] == "COMPLETED"]
    folds = sorted(finished["outer_fold"].unique())
    for fold in folds:
        subset = finished[finished["outer_fold"] == fold]
        jitter = (fold - (len(folds) - 1) / 2) * 0.06
        ax.scatter(
            subset["epochs"] * (1 + jitter), subset["score"], s=14, alpha=0.7, label=f"outer fold {fold}"
        )
    ax.set_xscale("log")
    ax.set_xlabel("epochs trained (Hyperband budget)")
    ax.set_ylabel("score (mean inner-fold objective)")
    ax.legend(fontsize="x-small", ncol=2)


def per_image_outliers(per_image_path: str, metric: str = "mse") -> tuple[pd.Series, pd.DataFrame, float]:
    """Per-image values of a metric and the images beyond Tukey's upper fence (Q3 + 1.5 IQR).

    The coursework's Fig. 4: a few images (textured, saturated) dominate the mean loss.
    """
    per_image = pd.read_csv(per_image_path)
    values = per_image.set_index("image")[metric]
    q1, q3 = values.quantile([0.25, 0.75])
    fence = q3 + 1.5 * (q3 - q1)
    outliers = per_image[per_image[metric] > fence].sort_values(metric, ascending=False)
    return values, outliers[["image", metric, "psnr", "bpp"]].reset_index(drop=True), float(fence)


def plot_training_curves(histories: dict[str, pd.DataFrame], ax, test_values: dict[str, float]) -> None:
    """Training (solid) and validation (dashed) loss per epoch, and the test loss as a final marker.

    The STL-10 notebook's loss curves; with MSE-trained models the loss is the MSE.
    """
    for index, (name, history) in enumerate(sorted(histories.items())):
        color = f"C{index % 10}"
        if "train_loss" in history:
            ax.plot(history["epoch"], history["train_loss"], "-", color=color, label=f"{name} train")
        if "val_loss" in history:
            ax.plot(history["epoch"], history["val_loss"], "--", color=color, label=f"{name} val")
        if name in test_values and pd.notna(test_values[name]):
            ax.plot(history["epoch"].iloc[-1], test_values[name], "*", color=color, markersize=9)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend(fontsize="xx-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))


def read_history(path: str) -> pd.DataFrame:
    return pd.read_csv(path)


def per_class_mse(summary_paths: list[str]) -> pd.DataFrame:
    """Rows: variants with labelled test data; columns: classes."""
    rows, ratios = {}, {}
    for path in summary_paths:
        summary = json.loads(Path(path).read_text())
        if summary.get("per_class_mse"):
            rows[summary["method"]] = summary["per_class_mse"]
            ratios[summary["method"]] = summary["nominal_compression_ratio"]
    # Models by falling nominal ratio, then the baselines (which have none) by name.
    order = sorted(rows, key=lambda m: (ratios[m] is None, -(ratios[m] or 0), m))
    return pd.DataFrame.from_dict(rows, orient="index").reindex(order)


def in_rate_order(curve: pd.DataFrame) -> pd.DataFrame:
    """An experiment's rate points by real bpp where each has one, else by nominal ratio."""
    return curve.sort_values("bpp" if curve["bpp"].notna().all() else "nominal_ratio")


def middle_rate_point(curve: pd.DataFrame) -> pd.Series:
    """The rate point an experiment is shown by where one suffices: its median in rate order."""
    return in_rate_order(curve).iloc[(len(curve) - 1) // 2]


def panel_inches(samples_path: str, small: float, large: float) -> float:
    """Figure inches per image panel: `small` for tiny images (up to 64 px a side), else `large`."""
    _, originals, _ = load_samples(samples_path)
    return small if max(originals[0].shape[:2]) <= 64 else large


def load_samples(path: str) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    with np.load(path, allow_pickle=False) as data:
        names = [str(n) for n in data["names"]]
        originals = [data[f"original_{i}"] for i in range(len(names))]
        reconstructions = [data[f"reconstruction_{i}"] for i in range(len(names))]
    return names, originals, reconstructions


def load_latent(path: str, index: int = 0) -> np.ndarray | None:
    """The float latent of sample `index` (None for codecs without one, or older evaluations)."""
    with np.load(path, allow_pickle=False) as data:
        key = f"latent_{index}"
        return data[key].astype(np.float32) if key in data else None


def latent_heatmap(latent: np.ndarray, height: int, width: int) -> np.ndarray:
    """Mean absolute latent over channels, stretched to the image (nearest): where the code is spent."""
    energy = np.abs(latent).mean(axis=-1)
    rows = np.minimum(np.arange(height) * energy.shape[0] // height, energy.shape[0] - 1)
    cols = np.minimum(np.arange(width) * energy.shape[1] // width, energy.shape[1] - 1)
    return energy[np.ix_(rows, cols)]


def plot_inside_model(points: dict[str, str], fig, channels: int = 4) -> None:
    """Per rate point (row): original, latent energy over the image, the most active latent
    channels, reconstruction (the CIFAR-10 paper's Figs. 5-8; the coursework's Fig. 2 heatmaps)."""
    rows = [(label, path, load_latent(path)) for label, path in points.items()]
    rows = [(label, path, z) for label, path, z in rows if z is not None]
    columns = 3 + channels
    axes = fig.subplots(len(rows), columns, squeeze=False)
    for r, (label, path, latent) in enumerate(rows):
        names, originals, reconstructions = load_samples(path)
        original, reconstruction = originals[0], reconstructions[0]
        for ax in axes[r]:
            ax.axis("off")
        axes[r][0].imshow(_displayable(original), cmap="gray", vmin=0, vmax=255)
        axes[r][0].set_title(f"{label}\n{names[0]}", fontsize="xx-small", loc="left")
        if latent.ndim == 3:
            axes[r][1].imshow(_displayable(original), cmap="gray", vmin=0, vmax=255)
            heat = latent_heatmap(latent, *original.shape[:2])
            axes[r][1].imshow(heat, cmap="inferno", alpha=0.55)
            axes[r][1].set_title("latent energy", fontsize="xx-small")
            order = np.argsort(-np.abs(latent).mean(axis=(0, 1)))[:channels]
            for c, channel in enumerate(order):
                axes[r][2 + c].imshow(latent[..., channel], cmap="coolwarm")
                axes[r][2 + c].set_title(
                    f"channel {channel} ({latent.shape[0]}x{latent.shape[1]})", fontsize="xx-small"
                )
        else:  # a dense code: one value per unit
            axes[r][1].axis("on")
            axes[r][1].bar(range(latent.size), latent.ravel(), width=1.0)
            axes[r][1].set_title(f"latent ({latent.size} units)", fontsize="xx-small")
            axes[r][1].tick_params(labelsize="xx-small")
        axes[r][-1].imshow(_displayable(reconstruction), cmap="gray", vmin=0, vmax=255)
        axes[r][-1].set_title("reconstruction", fontsize="xx-small")


def beside_summary(summary_path: str, name: str) -> str:
    """Another output of the same evaluation (per_image.csv, samples.npz)."""
    return str(Path(summary_path).with_name(name))


def matched_rate_points(results: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """For one dataset: a target rate (the median bpp of the learned rate points on the first test
    image) and, per experiment or baseline, the rate point closest to it on that image."""
    rows = []
    for row in results[results["bpp"].notna()].itertuples():
        first = pd.read_csv(beside_summary(row.summary, "per_image.csv")).iloc[0]
        rows.append(
            {"experiment": row.experiment, "method": row.method, "kind": row.kind, "summary": row.summary,
             "bpp": float(first["bpp"]), "psnr": float(first["psnr"])}
        )  # fmt: skip
    points = pd.DataFrame(rows)
    if points.empty:
        return float("nan"), points
    learned = points[points["kind"] == "learned"]
    target = float((learned if not learned.empty else points)["bpp"].median())
    points["distance"] = (np.log(points["bpp"]) - np.log(target)).abs()
    chosen = points.sort_values("distance").groupby("experiment", sort=True).head(1)
    return target, chosen.sort_values(["kind", "experiment"]).reset_index(drop=True)


def plot_matched_rate_grid(chosen: pd.DataFrame, fig) -> None:
    """The first test image and each chosen rate point's reconstruction, bpp and PSNR underneath."""
    names, originals, _ = load_samples(beside_summary(chosen["summary"].iloc[0], "samples.npz"))
    axes = fig.subplots(1, len(chosen) + 1, squeeze=False)[0]
    axes[0].imshow(_displayable(originals[0]), cmap="gray", vmin=0, vmax=255)
    axes[0].set_xlabel(f"original\n{names[0]}", fontsize="x-small")
    for ax, row in zip(axes[1:], chosen.itertuples(), strict=True):
        _, _, reconstructions = load_samples(beside_summary(row.summary, "samples.npz"))
        ax.imshow(_displayable(reconstructions[0]), cmap="gray", vmin=0, vmax=255)
        ax.set_xlabel(f"{row.method}\n{row.bpp:.3f} bpp, {row.psnr:.2f} dB", fontsize="x-small")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])


def plot_reconstruction_grid(sample_paths: dict[str, str], fig, max_images: int = 8) -> None:
    """First row: originals; then one row per variant (same test images in every row)."""
    variants = list(sample_paths)
    names, originals, _ = load_samples(sample_paths[variants[0]])
    columns = min(max_images, len(names))
    axes = fig.subplots(len(variants) + 1, columns, squeeze=False)
    rows = [("original", originals)] + [(v, load_samples(sample_paths[v])[2]) for v in variants]
    for r, (label, images) in enumerate(rows):
        for c in range(columns):
            ax = axes[r][c]
            image = images[c]
            ax.imshow(_displayable(image), cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize="small")


def benchmark_table(benchmark_paths: list[str]) -> pd.DataFrame:
    """Wall and CPU seconds per job, from Snakemake's benchmark files."""
    rows = []
    for path in benchmark_paths:
        path = Path(path)
        if not path.exists():
            continue
        bench = pd.read_csv(path, sep="\t")
        rows.append(
            {
                "rule": path.parent.name,
                "job": path.stem,
                "wall_s": float(bench["s"].iloc[0]),
                "cpu_s": float(bench["cpu_time"].iloc[0]) if "cpu_time" in bench else np.nan,
                "max_rss_mb": float(bench["max_rss"].iloc[0]) if "max_rss" in bench else np.nan,
            }
        )
    return pd.DataFrame(rows)


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


def render_report(
    notebook: str | Path,
    html_path: str | Path,
    executed_path: str | Path,
    parameters: dict[str, Any],
) -> None:
    """Execute the jupytext notebook with papermill and write standalone HTML (images embedded).

    A failing cell raises papermill's PapermillExecutionError, which carries the cell's
    error, so the Snakemake job fails with it in the log and no HTML is left behind.
    """
    import jupytext
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    from aecompress.runtime import job_output

    source = jupytext.read(notebook)
    source.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    with job_output(executed_path) as executed_tmp:
        input_path = Path(executed_tmp).with_suffix(".source.ipynb")
        nbformat.write(source, input_path)
        papermill.execute_notebook(
            str(input_path), str(executed_tmp), parameters=parameters, kernel_name="python3",
            progress_bar=False, log_output=True, cwd=str(Path.cwd()),
        )  # fmt: skip
        input_path.unlink()
    executed = nbformat.read(executed_path, as_version=4)
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
        template_file=str(Path(__file__).parent / "templates/standalone.html.j2"),
    )  # fmt: skip
    exporter.embed_images = True
    title = parameters.get("title") or "aecompress report"
    body, _ = exporter.from_notebook_node(executed, resources={"metadata": {"name": title}})
    with job_output(html_path) as tmp:
        Path(tmp).write_text(body, encoding="utf-8")
