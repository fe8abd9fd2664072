"""Rate-distortion: every method with a real bitstream on one rate axis, BD-rates against JPEG,
what the header costs on small images, what the papers' nominal ratio costs in bits, and the
same image from each method at equal rate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aecompress.report.page import Plot, Section, Table, Text, figure
from aecompress.report.results import (
    Run,
    beside_summary,
    displayable,
    load_samples,
    middle_rate_point,
    panel_inches,
)

# Images smaller than this (pixels per side) get their rates shown with and without the header.
SMALL_IMAGE = 32


def section(run: Run) -> Section:
    group = Section(
        "Rate-distortion",
        "Bits per pixel are 8 x file size / pixels of real files (container header included), for "
        "every method alike: compressive autoencoders range-code their latents with their learned "
        "entropy models, the other autoencoders quantize their latent and range-code it with a prior "
        "counted on training latents (`evaluation.latent_coding`), PCA codes quantized block "
        "coefficients the same way, the classical codecs are Pillow's. Metrics are of the decoded files.",
    )
    # Each test set's rate-distortion plot opens the report (key_results); this group goes deeper.
    group.subsections = [
        bd_rates(run),
        learning_curve(run),
        header_share(run),
        nominal_section(run),
        equal_target_section(run),
        equal_rate_section(run),
        matched_rate_section(run),
    ]
    return group


def rd_figure(run: Run, dataset: str, subset: pd.DataFrame):
    """PSNR and MS-SSIM against real bpp on one test set, published curves beneath where known."""
    from aecompress import references as published

    fig = figure(11, 4)
    axes = fig.subplots(1, 2)
    folder = run.manifest["references"].get(dataset)
    for ax, metric, label in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ms_ssim", "MS-SSIM")):
        if folder:
            reference = published.load_reference_curves(folder, metric)
            published.plot_reference_curves(reference, ax, max_bpp=max(2.0, 1.2 * subset["bpp"].max()))
        plot_rate_distortion(subset, ax, metric, label)
    fig.suptitle(f"{dataset}: test split ({int(subset['n_images'].max())} images)")
    return fig


def collapsed_note(subset: pd.DataFrame) -> Text | None:
    if not subset["collapsed"].any():
        return None
    names = ", ".join(f"`{m}`" for m in subset.loc[subset["collapsed"], "method"])
    return Text(
        f"Hollow markers: collapsed rate points ({names}), no better than predicting the "
        "training mean for every image; they are in neither their curves nor the BD-rate table."
    )


def plot_rate_distortion(results: pd.DataFrame, ax, metric: str, label: str) -> None:
    """One line per experiment or baseline (its rate points sorted by bpp), bpp on the x axis.
    A collapsed rate point (collapse.py) is drawn hollow and left out of the line."""
    drawn = False
    for name, group in sorted(results.groupby("curve"), key=lambda item: item[0]):
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


def bd_rates(run: Run) -> Section:
    out = Section(
        "BD-rate against JPEG",
        "Average rate difference at equal quality (negative: fewer bits than JPEG), and average quality "
        "difference at equal rate, over the overlapping range (bjontegaard package, pchip). `reliable` "
        "is false when the curves overlap on less than half the narrower quality range or have fewer "
        "than 4 points. `ci95`: the 95% interval of the BD-rate over per-image bootstrap resamples of "
        "the test images (config `report.bd_bootstrap_resamples`); none with fewer than 2 images.",
        missing="no JPEG baseline on a test set with other coded methods",
    )
    table = run.bd_table()
    if not table.empty:
        out.add(Table(table, "BD-rate and BD-quality of every curve"))
    return out


def learning_curve(run: Run) -> Section:
    out = Section(
        "Learning curve (benchmark)",
        "How the learned codec's Kodak rate-distortion changes with training steps on this project's "
        "recipe, from `benchmarks/learning_curve.py` (config `report.learning_curve`).",
        missing="no result named in config `report.learning_curve`",
    )
    curve_file = (run.config.get("report") or {}).get("learning_curve")
    if not curve_file:
        return out
    if not Path(curve_file).is_file():
        return out.add(
            Text(f"_`{curve_file}` (config `report.learning_curve`) does not exist: run the benchmark._")
        )
    fig = figure(15, 3.8)
    plot_learning_curve(json.loads(Path(curve_file).read_text()), fig.subplots(1, 3))
    caption = f"RD cost and PSNR over JPEG against training steps; three lambdas against JPEG ({curve_file})."
    return out.add(Plot(fig, "learning-curve", caption))


def plot_learning_curve(result: dict[str, Any], axes) -> None:
    """benchmarks/learning_curve.py's result: RD cost (first axes) and PSNR minus JPEG's at the
    same bpp (second) against training steps, log-scaled, the three-lambda models as markers;
    with a third axes, the three-lambda models' PSNR against bpp beside JPEG's mean curve, and the
    variable-rate model's curve at its latest snapshot (the same total budget as the three)."""
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
        snapshots = (result.get("variable") or {}).get("snapshots") or []
        if snapshots:
            latest = snapshots[-1]
            ordered = pd.DataFrame(latest["rows"]).sort_values("bpp")
            bd = latest.get("bd_rate_vs_jpeg_psnr_%")
            note = "" if bd is None else f", BD-rate {bd:+.1f}%"
            label = f"one variable-rate model, {latest['step']} steps{note}"
            ax.plot(ordered["bpp"], ordered["psnr"], "^-", label=label)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel("PSNR (dB), mean over the test images")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # a result without a stage leaves its axes empty
            ax.legend(fontsize="x-small")


def header_rates(results: pd.DataFrame, sizes: dict[str, int]) -> pd.DataFrame:
    """bpp with and without the container header, side by side, for the rate points whose test
    images are smaller than SMALL_IMAGE pixels a side (`sizes`: rate point -> its largest side)."""
    rows = results[
        results["bpp"].notna() & results["method"].map(lambda m: sizes.get(m, 10**9) < SMALL_IMAGE)
    ]
    if rows.empty:
        return pd.DataFrame()
    table = pd.DataFrame(
        {
            "method": rows["method"],
            "dataset": rows["dataset"],
            "bpp with header": rows["bpp"],
            "bpp without header": rows["bpp"] - rows["header_bpp"],
            "header bpp": rows["header_bpp"],
            "header share": rows["header_bpp"] / rows["bpp"],
        }
    )
    return table.sort_values(["dataset", "bpp with header"]).reset_index(drop=True)


def header_share(run: Run) -> Section:
    out = Section(
        "The header on small images",
        f"On images under {SMALL_IMAGE}x{SMALL_IMAGE} the container's header (16 bytes for a model's "
        "file: 0.125 bpp per byte on an 8x8 digit) is a visible part of the rate, so both are shown: "
        "with the header (what a file costs, and every other table's bpp) and without it (what the "
        "method's own bits cost).",
        missing=f"no test images under {SMALL_IMAGE}x{SMALL_IMAGE}",
    )
    sizes = {}
    for point, summary in zip(run.results["method"], run.results["summary"], strict=True):
        per_image = run.per_image(summary)
        sizes[point] = int(max(per_image["height"].max(), per_image["width"].max()))
    table = header_rates(run.results, sizes)
    if not table.empty:
        out.add(Table(table, "bpp with and without the header"))
    return out


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


def nominal_section(run: Run) -> Section:
    out = Section(
        "Nominal compression ratio vs real bits",
        "The papers behind the dense and convolutional autoencoders report a ratio of values; here is "
        "what their latents cost as real files. Real ratio = uncompressed bits (8 per pixel value) / "
        "coded bits, with and without the container header. The PSNR columns show what quantizing "
        "the latent costs: the float latent the papers decode, and the decoded file.",
        missing="no autoencoder with a quantized latent",
    )
    table = nominal_versus_real(run.results)
    if table.empty:
        return out
    results = run.results
    codings = {
        json.dumps(run.summaries[p]["coding"], sort_keys=True)
        for p in results.loc[results["float_latent_psnr"].notna(), "summary"]
    }
    for coding in sorted(codings):
        out.add(Text("\n".join(f"- **{k}**: {v}" for k, v in json.loads(coding).items())))
    return out.add(Table(table, "nominal and real compression of every quantized latent"))


def equal_target_table(coded: pd.DataFrame) -> pd.DataFrame:
    """One row per curve for one test set and target: how often it met the target, what it
    reached on average, and on how many images it was the best method (a bpp budget: the highest
    PSNR among the curves within it; a quality: the fewest bits among those reaching it)."""
    rate = coded["target"].iloc[0] == "bpp"
    met = coded[coded["met"]]
    by_image = met.groupby("image")
    best = met.loc[by_image["psnr"].idxmax() if rate else by_image["bpp"].idxmin()]
    table = coded.groupby("curve").agg(
        images=("image", "size"), met=("met", "sum"), bpp=("bpp", "mean"), psnr=("psnr", "mean"),
        ms_ssim=("ms_ssim", "mean"), encodes=("encodes", "mean"),
    )  # fmt: skip
    table["best on images"] = best["curve"].value_counts().reindex(table.index, fill_value=0)
    table = table.sort_values(["met", "psnr" if rate else "bpp"], ascending=[False, not rate])
    return table.reset_index().round({"bpp": 4, "psnr": 2, "ms_ssim": 4, "encodes": 1})


def equal_target_section(run: Run) -> Section:
    out = Section(
        "Every method at equal targets",
        "Each test image coded by every experiment (its models, or a SlimCAE's widths, as one set of "
        "points) and every baseline (its whole quality scale) at the targets of `evaluation.targets`: "
        "a bpp budget takes each method's best point within it, a PSNR or MS-SSIM floor its cheapest "
        "point that reaches it (a bisection, at most 10 encodes per image). Unlike the curves above, "
        "nothing is interpolated: every number is a real file of that image. `met`: images on which "
        "the method reached the target (otherwise its nearest point is counted); `best on images`: "
        "images on which it beat every other method that met the target.",
        missing="no `evaluation.targets`",
    )
    coded = run.equal_targets
    if coded.empty:
        return out
    for (dataset, target, value), subset in coded.groupby(["dataset", "target", "target_value"], sort=False):
        label = f"bpp <= {value:g}" if target == "bpp" else f"{target} >= {value:g}"
        out.add(Table(equal_target_table(subset), f"`{dataset}` at {label}"))
    return out


def equal_rate_section(run: Run) -> Section:
    out = Section(
        "Equal rate and equal quality against JPEG",
        "For one rate point of every learned experiment (its median bpp) and the first test image: the "
        "method's decoded image next to JPEG at the same bpp and at the same PSNR, each found among "
        "every JPEG quality on that image.",
        missing="no learned method with a bitstream",
    )
    results = run.results
    learned = results[(results["kind"] == "learned") & results["bpp"].notna()]
    trials: dict[str, list[dict[str, Any]]] = {}  # every JPEG quality, once per test image
    for _, curve in learned.groupby("curve"):
        chosen = middle_rate_point(curve)
        fig = figure(11, 3.4)
        plot_equal_rate(run, chosen["summary"], fig, trials=trials)
        out.add(
            Plot(
                fig,
                f"equal-rate-{chosen['method']}",
                f"`{chosen['method']}` on the first test image of `{chosen['dataset']}`, next to JPEG at "
                "the same bpp and at the same PSNR.",
            )
        )
    return out


def plot_equal_rate(
    run: Run, summary_path: str, fig, codec: str = "jpeg", trials: dict | None = None
) -> None:
    """The first test image: original | the method | JPEG at equal bpp | JPEG at equal PSNR.

    JPEG is searched over every quality on this very image (comparisons.codec_trials); `trials`
    keeps each image's search for the next method shown on it."""
    from aecompress.comparisons import closest_trial, codec_trials

    summary = run.summaries[summary_path]
    names, originals, reconstructions = load_samples(beside_summary(summary_path, "samples.npz"))
    row = run.per_image(summary_path).iloc[0]
    original = originals[0]
    key = f"{summary['dataset']}/{names[0]}/{codec}"
    trials = {} if trials is None else trials
    if key not in trials:
        trials[key] = codec_trials(original, codec)
    at_rate = closest_trial(trials[key], float(row["bpp"]), "bpp")
    at_quality = closest_trial(trials[key], float(row["psnr"]), "psnr")
    panels = [
        ("original", original),
        (f"{summary['id']}\n{row['bpp']:.3f} bpp, {row['psnr']:.2f} dB", reconstructions[0]),
        (f"{codec} q={at_rate['quality']} (equal rate)\n{at_rate['bpp']:.3f} bpp, {at_rate['psnr']:.2f} dB",
         at_rate["reconstruction"]),
        (f"{codec} q={at_quality['quality']} (equal PSNR)\n{at_quality['bpp']:.3f} bpp, "
         f"{at_quality['psnr']:.2f} dB", at_quality["reconstruction"]),
    ]  # fmt: skip
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (label, image) in zip(axes, panels, strict=True):
        ax.imshow(displayable(image), cmap="gray", vmin=0, vmax=255)
        ax.set_title(label, fontsize="x-small")
        ax.axis("off")
    fig.suptitle(f"{summary['dataset']}: test image {names[0]}", fontsize="small")


def matched_rate_points(
    results: pd.DataFrame, per_image, target: float | None = None
) -> tuple[float, pd.DataFrame]:
    """For one dataset: a target rate (by default the median bpp of the learned rate points on the
    first test image) and, per experiment or baseline, the rate point closest to it on that image.
    `per_image`: a rate point's per-image table by its summary path (Run.per_image)."""
    rows = []
    for row in results[results["bpp"].notna()].itertuples():
        first = per_image(row.summary).iloc[0]
        rows.append(
            {"curve": row.curve, "method": row.method, "kind": row.kind, "summary": row.summary,
             "bpp": float(first["bpp"]), "psnr": float(first["psnr"])}
        )  # fmt: skip
    points = pd.DataFrame(rows)
    if points.empty:
        return float("nan"), points
    if target is None:
        learned = points[points["kind"] == "learned"]
        target = float((learned if not learned.empty else points)["bpp"].median())
    points["distance"] = (np.log(points["bpp"]) - np.log(target)).abs()
    chosen = points.sort_values("distance").groupby("curve", sort=True).head(1)
    return target, chosen.sort_values(["kind", "curve"]).reset_index(drop=True)


def plot_matched_rate_grid(chosen: pd.DataFrame, fig) -> None:
    """The first test image and each chosen rate point's reconstruction, bpp and PSNR underneath."""
    names, originals, _ = load_samples(beside_summary(chosen["summary"].iloc[0], "samples.npz"))
    axes = fig.subplots(1, len(chosen) + 1, squeeze=False)[0]
    axes[0].imshow(displayable(originals[0]), cmap="gray", vmin=0, vmax=255)
    axes[0].set_xlabel(f"original\n{names[0]}", fontsize="x-small")
    for ax, row in zip(axes[1:], chosen.itertuples(), strict=True):
        _, _, reconstructions = load_samples(beside_summary(row.summary, "samples.npz"))
        ax.imshow(displayable(reconstructions[0]), cmap="gray", vmin=0, vmax=255)
        ax.set_xlabel(f"{row.method}\n{row.bpp:.3f} bpp, {row.psnr:.2f} dB", fontsize="x-small")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])


def matched_rate_figure(chosen: pd.DataFrame):
    size = panel_inches(beside_summary(chosen["summary"].iloc[0], "samples.npz"), 1.5, 2.0)
    fig = figure(size * (len(chosen) + 1), size + 0.8, layout="constrained")
    plot_matched_rate_grid(chosen, fig)
    return fig


def matched_rate_section(run: Run) -> Section:
    out = Section(
        "Reconstructions at matched bpp",
        "Per test set, the first test image decoded by every experiment and baseline at its rate point "
        "closest (in log bpp, on that image) to the median rate of the learned methods, with the "
        "image's own bpp and PSNR under each.",
        missing="fewer than two methods with a bitstream on any test set",
    )
    for dataset, subset in run.results[run.results["bpp"].notna()].groupby("dataset"):
        target, chosen = matched_rate_points(subset, run.per_image)
        if len(chosen) < 2:
            continue
        fig = matched_rate_figure(chosen)
        fig.suptitle(f"{dataset}: every method near {target:.3f} bpp", fontsize="small")
        out.add(
            Plot(
                fig,
                f"matched-bpp-{dataset}",
                f"the first test image of `{dataset}` from each experiment and baseline at its rate point "
                f"nearest {target:.3f} bpp (the median rate of the learned methods on this image).",
            )
        )
    return out
