# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
# Filled in by the `report` rule (papermill); the defaults only make the notebook importable.
title = "aecompress report"
config = {}
datasets = {}  # dataset name -> prepared .npz
variants = []  # one dict per rate point: id, summary, per_image, samples (+ card, history for models)
benchmarks = {}  # rule -> Snakemake benchmark .tsv files
jobs = {}  # rule -> number of jobs
figures_dir = None  # where every figure is also saved as PNG (the rule's `figures` output)
references = {}  # dataset -> folder of published rate-distortion curves (resources/reference-results)
tuning = {}  # study name -> its selection.json, folds.csv and trials.csv
seed_results = {}  # seed study -> its published numbers (resources/seed-results/<name>.yaml)
seed_studies = {}  # seed study -> the experiments and tuning studies that reproduce it

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml
from IPython.display import HTML, Markdown, display

from aecompress import comparisons, report
from aecompress import references as published
from aecompress import seed_results as seed_tables
from aecompress.images import PreparedDataset
from aecompress.metrics import METRIC_RULES
from aecompress.tuning import read_trials

pd.set_option("display.precision", 4)
pd.set_option("display.max_colwidth", None)
plt.rcParams["figure.dpi"] = 90
display(Markdown(f"# {title}"))
if figures_dir is not None:
    Path(figures_dir).mkdir(parents=True, exist_ok=True)


def show(fig, name, caption):
    report.show_figure(fig, name, caption, figures_dir)


# %% [markdown]
# ## Run summary

# %%
cards = {v["id"]: json.loads(Path(v["card"]).read_text()) for v in variants if "card" in v}
summary_paths = [v["summary"] for v in variants]
results = report.load_summaries(summary_paths)
tested_on = dict(zip(results["method"], results["dataset"], strict=True))  # rate point -> its test set


def on_own_test_set(rate_point):
    """Not an evaluation on one of the experiment's `also_test_on` sets (a curve is drawn once)."""
    card = cards[rate_point]
    return tested_on.get(rate_point) == card.get("test_dataset", card["dataset"])


bench = report.benchmark_table([p for paths in benchmarks.values() for p in paths])
facts = {
    "evaluated rate points": len(variants),
    "trained models": len({c["variant"] for c in cards.values()}),
    "datasets": ", ".join(sorted(datasets)),
    "jobs (by rule)": ", ".join(f"{rule}: {n}" for rule, n in sorted(jobs.items())),
    "seed": config.get("seed"),
    **{f"hardware: {k}": v for k, v in report.hardware().items()},
}
if not bench.empty:
    facts["summed job wall time (s)"] = round(bench["wall_s"].sum(), 1)
    facts["summed job CPU time (s)"] = round(bench["cpu_s"].sum(), 1)
display(pd.DataFrame({"value": facts}))
collapsed = report.collapsed_models(results)
if collapsed.empty:
    display(Markdown("**No model in this run collapsed**: every learned rate point beats predicting the "
                     "training mean for every image (test MSE below 98% of that predictor's)."))  # fmt: skip
else:
    display(
        Markdown(
            f"**{len(collapsed)} collapsed rate point(s)**: no better than predicting the training mean "
            "for every image, or a latent that does not vary. They are drawn hollow, marked in the "
            "tables, and left out of BD-rate fits and the paper comparisons' claims."
        )
    )
    display(collapsed)

# %% [markdown]
# ## Paper vs this run
# Each seed study this run reproduces (config `reproduces`): every published number next to
# this run's value, the paper's claims checked against this run, and the settings that differ.
# The published numbers, their sources and units are in `resources/seed-results/`.

# %%
if not seed_results:
    display(Markdown("_No experiment of this run reproduces a seed study (config `reproduces`)._"))
for seed_name, seed_path in sorted(seed_results.items()):
    comparison = seed_tables.compare(
        seed_path, seed_studies.get(seed_name, []), results, list(cards.values()), config, datasets, tuning
    )
    seed = comparison.seed
    display(Markdown(f"### {seed.title}"))
    display(
        Markdown(f"Source: {seed.source['document']}, {seed.source['where']}.  \n{comparison.comparability}")
    )
    if not comparison.numbers.empty:
        display(comparison.numbers)
    for study, table in comparison.configurations.items():
        display(Markdown(f"Configuration selected by `{study}` next to the paper's:"))
        display(table)
    if not comparison.claims.empty:
        display(comparison.claims)
    display(Markdown("Settings, the paper's and this run's:"))
    display(comparison.settings)
    if seed.notes:
        display(Markdown("\n".join(f"- {note}" for note in seed.notes)))

# %% [markdown]
# ## Datasets
# Split sizes, class balance and sample images of every prepared dataset. Models see pixels
# scaled to [0, 1]; metrics are computed on reconstructions rounded back to 8 bits.

# %%
for name, path in sorted(datasets.items()):
    prepared = PreparedDataset.load(path)
    meta = prepared.meta
    display(
        Markdown(
            f"### {name}: `{meta['source']}`\n{meta['description']}  \n"
            f"Licence: {meta['licence']}. Citation: {meta['citation']}"
        )
    )
    sizes = {split: len(s) for split, s in prepared.splits.items()}
    shapes = sorted({shape for s in prepared.splits.values() for shape in s.shapes})  # no decoding
    display(
        pd.DataFrame({"images": sizes}).T.assign(
            image_shapes=", ".join("x".join(map(str, s)) for s in shapes[:4])
            + (" ..." if len(shapes) > 4 else "")
        )
    )
    # Show the training split, or the test split of a test-only set (e.g. Kodak).
    train = next(s for s in (prepared.splits["train"], prepared.splits["test"]) if len(s))
    if train.labels is not None and meta.get("class_names"):
        counts = (
            pd.DataFrame(
                {
                    split: pd.Series(s.labels).value_counts().sort_index()
                    for split, s in prepared.splits.items()
                    if s.labels is not None
                }
            )
            .fillna(0)
            .astype(int)
        )
        counts.index = [meta["class_names"][i] for i in counts.index]
        fig, ax = plt.subplots(figsize=(7, 2.5))
        counts.plot.bar(ax=ax, stacked=True)
        ax.set_xlabel("class")
        ax.set_ylabel("images")
        ax.set_title(f"{name}: class distribution per split")
        show(
            fig,
            f"dataset-{name}-classes",
            f"class counts per split of dataset `{name}` (config `datasets.{name}`).",
        )
    shown = train.images[:10]
    fig, axes = plt.subplots(1, len(shown), figsize=(1.2 * len(shown), 1.4), squeeze=False)
    for ax, image, label in zip(axes[0], shown, train.names[:10], strict=False):
        ax.imshow(image[..., 0] if image.shape[2] == 1 else image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(label, fontsize="x-small")
        ax.axis("off")
    split = "training" if len(prepared.splits["train"]) else "test"
    show(
        fig,
        f"dataset-{name}-samples",
        f"the first images of the {split} split of dataset `{name}`, as prepared.",
    )

# %% [markdown]
# ### What each model saw
# Input scaling, padding (to a multiple of 2^k before the encoder, cropped back after the
# decoder) and training patches of every trained model, from its model card (config
# `experiments[].preprocessing`).

# %%
seen = report.preprocessing_table(cards)
display(seen if not seen.empty else Markdown("_No trained model in this run._"))

# %% [markdown]
# ## Test-set results of every rate point
# Nominal ratio is the papers' "compression ratio": input values per vector divided by latent
# units, counting each float latent as one value. It is not a bit count. bpp is measured from
# real files for every method: compressive autoencoders range-code their latents with their
# learned entropy models; the other autoencoders quantize their latent and range-code it with a
# prior counted on training latents (`evaluation.latent_coding`); PCA codes quantized block
# coefficients the same way; JPEG/WebP are Pillow's. Metrics are of the decoded files.

# %%
columns = [
    "method",
    "dataset",
    "nominal_ratio",
    "bpp",
    "parameters",
    "mse",
    "psnr",
    "ssim",
    "ms_ssim",
    "accuracy",
]
display(
    results[columns].sort_values(["dataset", "nominal_ratio"], ascending=[True, False]).reset_index(drop=True)
)
display(Markdown("\n".join(f"- **{k}**: {v}" for k, v in METRIC_RULES.items())))

# %% [markdown]
# ## Rate-distortion: every method with a real bitstream, on one rate axis
# Bits per pixel are 8 x file size / pixels of the real files (container header included), for
# the compressive autoencoders (range-coded latents) and the classical codecs alike. On a
# dataset with published results (Kodak), the published curves are drawn dotted beneath this
# run's own, each labelled with its codec (sources: resources/reference-results/README.md).

# %%
coded = results[results["bpp"].notna()]
if coded.empty:
    display(Markdown("_No method with a bitstream in this run._"))
for dataset_name, subset in coded.groupby("dataset"):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric, label in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ms_ssim", "MS-SSIM")):
        if dataset_name in references:
            curves = published.load_reference_curves(references[dataset_name], metric)
            published.plot_reference_curves(curves, ax, max_bpp=max(2.0, 1.2 * subset["bpp"].max()))
        report.plot_rate_distortion(subset, ax, metric, label)
    fig.suptitle(f"{dataset_name}: test split ({int(subset['n_images'].max())} images)")
    show(
        fig,
        f"rate-distortion-{dataset_name}",
        f"bpp of real files vs PSNR and MS-SSIM on the test split of `{dataset_name}`, every "
        "experiment (config `experiments`) and baseline (config `baselines`) evaluated on it.",
    )
    if subset["collapsed"].any():
        names = ", ".join(f"`{m}`" for m in subset.loc[subset["collapsed"], "method"])
        display(
            Markdown(
                f"Hollow markers: collapsed rate points ({names}), no better than predicting the "
                "training mean for every image; they are not part of their curves or of the BD-rate table."
            )
        )
    if dataset_name in references:
        display(
            Markdown(
                "Dotted: published Kodak results of tensorflow-compression (commit dda8cb4c): "
                "Ballé et al., ICLR 2017 (factorized prior) and ICLR 2018 (scale hyperprior), "
                "JPEG 4:2:0, WebP, BPG 4:4:4."
            )
        )

# %% [markdown]
# ### Learning curve (benchmark)
# How the learned codec's Kodak rate-distortion changes with training steps on this project's
# recipe, from `benchmarks/learning_curve.py` (config `report.learning_curve`).

# %%
curve_file = config.get("report", {}).get("learning_curve")
if not curve_file:
    display(Markdown("_No learning-curve result named (config `report.learning_curve`)._"))
elif not Path(curve_file).is_file():
    display(Markdown(f"_`{curve_file}` (config `report.learning_curve`) does not exist: run the benchmark._"))
else:
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    report.plot_learning_curve(json.loads(Path(curve_file).read_text()), axes)
    show(
        fig,
        "learning-curve",
        "RD cost and PSNR over JPEG against training steps; the three-lambda models against JPEG "
        f"({curve_file}).",
    )

# %% [markdown]
# ### BD-rate against JPEG
# Average rate difference at equal quality (negative: fewer bits than JPEG), and average
# quality difference at equal rate, over the overlapping range (bjontegaard package, pchip).
# `reliable` is false when the curves overlap on less than half the narrower quality range or
# have fewer than 4 points.

# %%
bd = comparisons.bd_table(results)
if bd.empty:
    display(Markdown("_No JPEG baseline on a test set with other coded methods._"))
else:
    display(bd)

# %% [markdown]
# ## Nominal compression ratio vs real bits
# The papers behind the dense and convolutional autoencoders report a ratio of values; here is
# what their latents cost as real files. Real ratio = uncompressed bits (8 per pixel value) /
# coded bits, with and without the container header (which dominates on tiny images: on an 8x8
# digit each header byte is 0.125 bpp). The PSNR columns show what quantizing the latent costs:
# the float latent the papers decode, and the decoded file.

# %%
nominal = report.nominal_versus_real(results)
if nominal.empty:
    display(Markdown("_No autoencoder with a quantized latent in this run._"))
else:
    codings = {
        json.dumps(json.loads(Path(p).read_text())["coding"], sort_keys=True)
        for p in results.loc[results["float_latent_psnr"].notna(), "summary"]
    }
    for coding in sorted(codings):
        display(Markdown("\n".join(f"- **{k}**: {v}" for k, v in json.loads(coding).items())))
    display(nominal)

# %% [markdown]
# ## Classifier accuracy on reconstructions (CIFAR-10 paper, Fig. 4)
# A LeNet-5 trained on the original training images of the dataset (config `classifiers`)
# classifies the original test images and every method's decoded test images. Accuracy ratio =
# accuracy on reconstructions / accuracy on originals.

# %%
accuracy = report.accuracy_table(results)
if accuracy.empty:
    display(Markdown("_No classifier in this run (config key `classifiers`)._"))
else:
    for dataset_name, subset in accuracy.groupby("dataset"):
        fig, (by_rate, by_ratio) = plt.subplots(1, 2, figsize=(12, 3.6))
        for experiment, curve in results[results["method"].isin(subset["method"])].groupby("experiment"):
            curve = curve.sort_values("bpp")
            style = "--" if curve["kind"].iloc[0] == "classical" else "-"
            by_rate.plot(
                curve["bpp"], curve["accuracy_ratio"], style, marker="o", markersize=3, label=experiment
            )
            if curve["nominal_ratio"].notna().all():  # the paper's axis: the nominal compression rate
                curve = curve.sort_values("nominal_ratio")
                by_ratio.plot(
                    curve["nominal_ratio"],
                    curve["accuracy_ratio"],
                    marker="o",
                    markersize=3,
                    label=experiment,
                )
        by_rate.set_xlabel("bits per pixel (real files)")
        rates = results.loc[results["method"].isin(subset["method"]), "bpp"]
        if rates.max() > 10 * rates.min():  # a log axis only where the rates span a decade
            by_rate.set_xscale("log")
        by_ratio.set_xlabel("nominal compression rate (input values / latent values)")
        for ax in (by_rate, by_ratio):
            ax.set_ylabel("accuracy ratio")
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="x-small")
        fig.suptitle(f"{dataset_name}: classifier accuracy on reconstructions / on originals")
        show(
            fig,
            f"accuracy-ratio-{dataset_name}",
            f"LeNet-5 (config `classifiers`, dataset `{dataset_name}`) accuracy on each method's "
            "decoded test images over its accuracy on the originals, against real bpp (left) and "
            "against the autoencoders' nominal compression rate (right; the CIFAR-10 paper's Fig. 4).",
        )
    display(accuracy)
    display(report.per_class_accuracy(summary_paths))

# %% [markdown]
# ## Equal-rate and equal-quality comparisons against JPEG
# For one rate point of every learned experiment (its median bpp) and the first test image:
# the method's decoded image next to JPEG at the same bpp and at the same PSNR, each found by
# trying every JPEG quality on that image.

# %%
learned = results[(results["kind"] == "learned") & results["bpp"].notna()]
if learned.empty:
    display(Markdown("_No learned method with a bitstream in this run._"))
for _, curve in learned.groupby("experiment"):
    chosen = report.middle_rate_point(curve)
    fig = plt.figure(figsize=(11, 3.4))
    report.plot_equal_rate(chosen["summary"], fig)
    show(
        fig,
        f"equal-rate-{chosen['method']}",
        f"`{chosen['method']}` on the first test image of `{chosen['dataset']}`, next to JPEG at the "
        "same bpp and at the same PSNR.",
    )

# %% [markdown]
# ## Reconstructions at matched bpp
# Per dataset, the first test image decoded by every experiment and baseline at its rate point
# closest (in log bpp, on that image) to the median rate of the learned methods, with the
# image's own bpp and PSNR under each.

# %%
for dataset_name, subset in results[results["bpp"].notna()].groupby("dataset"):
    target, chosen = report.matched_rate_points(subset)
    if len(chosen) < 2:
        continue
    size = report.panel_inches(report.beside_summary(chosen["summary"].iloc[0], "samples.npz"), 1.5, 2.6)
    fig = plt.figure(figsize=(size * (len(chosen) + 1), size + 0.8))
    report.plot_matched_rate_grid(chosen, fig)
    fig.suptitle(f"{dataset_name}: every method near {target:.3f} bpp", fontsize="small")
    show(
        fig,
        f"matched-bpp-{dataset_name}",
        f"the first test image of `{dataset_name}` from each experiment and baseline at its rate point "
        f"nearest {target:.3f} bpp (the median rate of the learned methods on this image).",
    )

# %% [markdown]
# ## MSE by compression ratio and bias (MNIST paper, Table 1)
# Test MSE ([0, 1] scale) of the dense autoencoders, with and without trainable bias, decoding
# the float latent as the paper does (the decoded files' MSE is in the tables above).

# %%
table1 = report.mse_by_ratio_and_bias(results)
if table1.empty:
    display(Markdown("_No dense autoencoder in this run._"))
else:
    display(HTML(table1.to_html(float_format=lambda v: f"{v:.5f}", classes="table1")))

# %% [markdown]
# ## Training curves (MNIST paper, Fig. 5; STL-10 notebook)
# Training (solid) and validation (dashed) loss per epoch of every model of an experiment; the
# star is the test MSE of the decoded files, drawn only where the training loss is the MSE.

# %%
histories = {
    v["id"]: report.read_history(v["history"])
    for v in variants
    if "history" in v and on_own_test_set(v["id"])
}
by_method = results.set_index("method")
for experiment in sorted({c["experiment"] for c in cards.values()}):
    subset = {k: h for k, h in histories.items() if cards[k]["experiment"] == experiment}
    test_mse = {
        k: by_method.loc[k, "mse"]
        for k, h in subset.items()
        if k in by_method.index and "train_mse" in h and (h["train_loss"] - h["train_mse"]).abs().max() < 1e-6
    }
    fig, ax = plt.subplots(figsize=(8, 3.6))
    report.plot_training_curves(subset, ax, test_mse)
    card = next(c for k, c in cards.items() if k in subset)
    ax.set_title(
        f"{experiment}: trained on {card['dataset']}, tested on {card.get('test_dataset') or card['dataset']}"
    )
    show(
        fig,
        f"curves-{experiment}",
        f"loss per epoch of every model of experiment `{experiment}` (history.csv; config "
        "`experiments[].training`), training split solid, validation split dashed.",
    )

# %% [markdown]
# ## Grid studies: test metrics by setting (coursework Figs. 6-7)
# One table per experiment whose grid varies something (bottleneck size, loss, padding,
# downsampling, normalization, dropout): the test metrics of each grid point, and its test MSE
# as bars labelled with the nominal compression ratio.

# %%
studies = report.grid_comparisons(results, cards)
if not studies:
    display(Markdown("_No experiment with a grid in this run._"))
for experiment, table in studies.items():
    display(Markdown(f"### {experiment}"))
    display(table)
    if len(table) > 1:
        fig, ax = plt.subplots(figsize=(min(12, 1.0 * len(table) + 3), 3.2))
        report.plot_grid_comparison(table, ax)
        ax.set_title(f"{experiment}: test MSE by grid point")
        show(
            fig,
            f"grid-{experiment}",
            f"test MSE ([0, 1] scale, decoded files) of each grid point of `{experiment}` "
            "(config `experiments[].grid`), labelled with its nominal compression ratio.",
        )

# %% [markdown]
# ## Train vs test, and MS-SSIM per width (SlimCAE thesis, Tables 4.1/4.2)
# Mean metrics of the first `evaluation.train_split_images` training images next to the test
# split, coded through the same files; and, for models with several widths (SlimCAE), the
# distribution of the per-image test MS-SSIM of each width.

# %%
train_test = report.train_versus_test(results)
if train_test.empty:
    display(Markdown("_No train-split evaluation in this run (config `evaluation.train_split_images`)._"))
else:
    display(train_test)
widths = results[results["family"] == "slimcae"] if "param_width" in results else results.iloc[:0]
for experiment, curve in widths.groupby("experiment"):
    fig, ax = plt.subplots(figsize=(7, 3))
    for row in curve.sort_values("param_width", ascending=False).itertuples():
        values = pd.read_csv(report.beside_summary(row.summary, "per_image.csv"))["ms_ssim"].dropna()
        if len(values):
            ax.hist(values, bins=20, alpha=0.5, label=f"width {int(row.param_width)} ({row.bpp:.3f} bpp)")
    ax.set_xlabel("per-image test MS-SSIM")
    ax.set_ylabel("images")
    ax.legend(fontsize="x-small")
    ax.set_title(f"{experiment}: MS-SSIM per width on {curve['dataset'].iloc[0]}")
    show(
        fig,
        f"ms-ssim-per-width-{experiment}",
        f"per-image test MS-SSIM of each width of `{experiment}` (config `params.widths`).",
    )

# %% [markdown]
# ## Experiments side by side: padding, loss, downsampling (coursework Figs. 6-7)
# Experiments of the same family tested on the same data, with only the settings that differ
# between them (params, training loss, input normalization, padding mode) and their test metrics.

# %%
differences = report.setting_differences(results, cards)
if not differences:
    display(Markdown("_No two experiments of one family on one test set in this run._"))
for title, table in differences.items():
    display(Markdown(f"### {title}"))
    display(table)

# %% [markdown]
# ## Hyperparameter search: Hyperband in nested cross-validation (coursework Table 1)
# Each outer fold's KerasTuner Hyperband search saw only that fold's training images; a trial's
# score is its mean validation objective over the inner folds. The chosen configuration was
# retrained on the outer training split and scored on the held-out fold (the outer scores
# estimate how well the whole selection procedure generalises). The final model, trained with
# the selected configuration on the whole training split, is evaluated above like every model.

# %%
if not tuning:
    display(Markdown("_No tuning study in this run (config `tuning`)._"))
studies_by_name = {s["name"]: s for s in config.get("tuning", [])}
for name, files in tuning.items():
    selection = json.loads(Path(files["selection"]).read_text())
    display(Markdown(f"### {name}"))
    display(report.tuning_overview(studies_by_name[name], selection))
    display(Markdown("Per outer fold: the configuration it chose, and its inner and outer scores."))
    display(pd.read_csv(files["folds"]))
    if name in by_method.index:
        final = by_method.loc[name]
        display(
            Markdown(
                f"The final model `{name}` on the {final['dataset']} test split (in no fold): "
                f"{final['bpp']:.3f} bpp, PSNR {final['psnr']:.2f} dB, MSE {final['mse']:.4g}, "
                f"nominal ratio {final['nominal_ratio']:.3g}x; its row in every table above."
            )
        )
    trials = read_trials(files["trials"])
    display(Markdown(f"{len(trials)} trials in all; the best 10:"))
    display(report.best_trials(trials))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    report.plot_trials(trials, ax)
    ax.set_title(f"{name}: Hyperband trials")
    show(
        fig,
        f"tuning-{name}",
        f"score of every Hyperband trial of study `{name}` (results/tuning/{name}/trials.csv; config "
        "`tuning`) against the epochs it trained, one colour per outer fold.",
    )

# %% [markdown]
# ## Per-image loss and outliers (coursework Fig. 4)
# The distribution of the per-image test MSE of one rate point per learned experiment (its
# median bpp, or median nominal ratio): a few images often dominate the mean. Outliers are
# beyond Tukey's upper fence (Q3 + 1.5 IQR).

# %%
learned_points = results[results["kind"] == "learned"]

if learned_points.empty:
    display(Markdown("_No learned method in this run._"))
for _, curve in learned_points.groupby("experiment"):
    chosen = report.middle_rate_point(curve)
    values, outliers, fence = report.per_image_outliers(
        report.beside_summary(chosen["summary"], "per_image.csv")
    )
    if len(values) < 4:
        continue
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.hist(values, bins=min(40, max(5, len(values) // 4)))
    ax.axvline(fence, color="C3", ls="--")
    ax.set_xlabel("per-image test MSE ([0, 1] scale)")
    ax.set_ylabel("images")
    ax.set_title(f"{chosen['method']} on {chosen['dataset']} ({len(values)} images)")
    show(
        fig,
        f"per-image-{chosen['method']}",
        f"per-image test MSE of `{chosen['method']}` on the test split of `{chosen['dataset']}`; "
        "dashed: Tukey's upper fence.",
    )
    display(outliers.head(10) if len(outliers) else Markdown("_No outliers._"))

# %% [markdown]
# ## Per-class MSE (MNIST paper, Fig. 8)

# %%
per_class = report.per_class_mse(summary_paths)
if per_class.empty:
    display(Markdown("_No labelled test set in this run._"))
else:
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(per_class) + 1.5))
    image = ax.imshow(per_class.values, aspect="auto", cmap="viridis")
    ax.set_xticks(range(per_class.shape[1]), per_class.columns)
    ax.set_yticks(range(len(per_class)), per_class.index, fontsize="small")
    ax.set_xlabel("class")
    fig.colorbar(image, ax=ax, label="test MSE ([0, 1] scale)")
    show(
        fig,
        "per-class-mse",
        "test MSE of the decoded files per class, for every method on a labelled test set.",
    )
    display(per_class)

# %% [markdown]
# ## Reconstructions (MNIST paper, Figs. 6-7)
# The same test images, decoded by every variant; rows are sorted by nominal ratio.


# %%
for dataset_name in sorted({tested_on[k] for k in cards if k in tested_on}):
    chosen = sorted(
        (v for v in variants if v["id"] in cards and tested_on.get(v["id"]) == dataset_name),
        key=lambda v: -cards[v["id"]]["nominal_compression_ratio"],
    )
    samples = {
        f"{v['id']} ({report.ratio_label(cards[v['id']]['nominal_compression_ratio'])})": v["samples"]
        for v in chosen
    }
    names, originals, _ = report.load_samples(next(iter(samples.values())))
    size = 1.0 if originals[0].shape[0] <= 64 else 2.2
    fig = plt.figure(figsize=(size * min(8, len(names)) + 3, size * (len(samples) + 1)))
    report.plot_reconstruction_grid(samples, fig)
    fig.suptitle(dataset_name)
    show(
        fig,
        f"reconstructions-{dataset_name}",
        f"the same test images of `{dataset_name}` decoded by every variant tested on it "
        "(`evaluation.reconstruction_samples` images), sorted by nominal ratio.",
    )

# %% [markdown]
# ## Inside the models (CIFAR-10 paper, Figs. 5-8; coursework, Fig. 2)
# For every learned experiment, one row per rate point (up to 5): the first test image, the
# mean absolute latent over channels superimposed on it (where the encoder spends its code:
# compare max-pooling with strided encoders), the most active latent channels, and the
# reconstruction. Latents are the encoder's float output, before quantization.

# %%
inside = results[(results["kind"] == "learned")]
for experiment, curve in inside.groupby("experiment"):
    curve = report.in_rate_order(curve)
    if len(curve) > 5:
        curve = curve.iloc[np.linspace(0, len(curve) - 1, 5).round().astype(int)]
    samples_of = {row.method: report.beside_summary(row.summary, "samples.npz") for row in curve.itertuples()}
    points = {
        f"{row.method} ({row.bpp:.3f} bpp)" if pd.notna(row.bpp) else row.method: samples_of[row.method]
        for row in curve.itertuples()
        if report.load_latent(samples_of[row.method]) is not None
    }
    if not points:
        continue
    size = report.panel_inches(next(iter(points.values())), 1.3, 1.9)
    fig = plt.figure(figsize=(size * 7 + 1, size * len(points) + 0.6))
    report.plot_inside_model(points, fig)
    fig.suptitle(f"{experiment}: latents of the first test image", fontsize="small")
    show(
        fig,
        f"inside-{experiment}",
        f"original, latent energy, the 4 most active latent channels and reconstruction of the first "
        f"test image for each rate point of `{experiment}` (samples.npz of its evaluations).",
    )

# %% [markdown]
# ## Job durations
# From Snakemake's benchmark files (wall-clock and CPU seconds, peak memory).

# %%
if bench.empty:
    display(Markdown("_No benchmark files found._"))
else:
    display(bench.groupby("rule")[["wall_s", "cpu_s"]].agg(["count", "sum", "mean", "max"]).round(2))
    display(bench.sort_values(["rule", "job"]).reset_index(drop=True).round(2))

# %% [markdown]
# ## Configuration and software

# %%
display(Markdown("```yaml\n" + yaml.safe_dump(config, sort_keys=False) + "```"))
display(report.package_versions())
