"""What the papers measured: each seed study's published numbers next to this run's, then the
measurements the papers report (classifier accuracy, Table 1, training curves, grid studies,
train vs test, Hyperband, per-image and per-class losses, reconstructions), each named by the
paper and figure it reproduces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from aecompress.report.page import Plot, Section, Table, Text, figure
from aecompress.report.results import (
    Run,
    beside_summary,
    displayable,
    load_samples,
    middle_rate_point,
    ratio_label,
)

GRID_METRICS = ("nominal_ratio", "bpp", "mse", "psnr", "ms_ssim")


def section(run: Run) -> Section:
    group = Section(
        "What the papers measured",
        "Each seed study this run reproduces (config `reproduces`): every published number next to this "
        "run's value, the paper's claims checked against this run, and the settings that differ "
        "(`resources/seed-results/`); then each paper's own measurements on this run.",
    )
    group.subsections = [
        *seed_studies(run),
        accuracy_section(run),
        table1_section(run),
        training_curves_section(run),
        grid_section(run),
        train_test_section(run),
        side_by_side_section(run),
        tuning_section(run),
        outliers_section(run),
        per_class_section(run),
        reconstructions_section(run),
    ]
    return group


def seed_studies(run: Run) -> list[Section]:
    from aecompress import seed_results as seed_tables

    manifest = run.manifest
    if not manifest["seed_results"]:
        return [
            Section(
                "Paper vs this run", missing="no experiment reproduces a seed study (config `reproduces`)"
            )
        ]
    out = []
    for name, path in sorted(manifest["seed_results"].items()):
        comparison = seed_tables.compare(
            path, manifest["seed_studies"].get(name, []), run.results, list(run.cards.values()),
            run.config, manifest["datasets"], manifest["tuning"],
        )  # fmt: skip
        seed = comparison.seed
        part = Section(f"Paper vs this run: {seed.title}")
        part.add(
            Text(f"Source: {seed.source['document']}, {seed.source['where']}.  \n{comparison.comparability}")
        )
        if not comparison.numbers.empty:
            part.add(Table(comparison.numbers, "published numbers and this run's"))
        for study, table in comparison.configurations.items():
            part.add(Table(table, f"configuration selected by `{study}` next to the paper's"))
        if not comparison.claims.empty:
            part.add(Table(comparison.claims, "the paper's claims, checked on this run"))
        part.add(Table(comparison.settings, "settings, the paper's and this run's"))
        if seed.notes:
            part.add(Text("\n".join(f"- {note}" for note in seed.notes)))
        out.append(part)
    return out


def accuracy_table(results: pd.DataFrame) -> pd.DataFrame:
    """Classifier accuracy on each method's reconstructions, with its rate and ratio to originals."""
    rows = results[results["accuracy"].notna()] if "accuracy" in results else results.iloc[:0]
    columns = ["method", "dataset", "kind", "nominal_ratio", "bpp", "psnr", "accuracy_original", "accuracy",
               "accuracy_ratio"]  # fmt: skip
    return rows[columns].sort_values(["dataset", "bpp"]).reset_index(drop=True)


def per_class_accuracy(summaries: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows: methods (plus 'original'); columns: classes; values: classifier accuracy."""
    rows = {}
    for summary in summaries:
        classification = summary.get("classification")
        if classification:
            rows.setdefault(f"original ({summary['dataset']})", classification["per_class_accuracy_original"])
            rows[summary["id"]] = classification["per_class_accuracy_reconstructed"]
    return pd.DataFrame.from_dict(rows, orient="index")


def accuracy_section(run: Run) -> Section:
    out = Section(
        "Classifier accuracy on reconstructions (CIFAR-10 paper, Fig. 4)",
        "A LeNet-5 trained on the original training images of the dataset (config `classifiers`) "
        "classifies the original test images and every method's decoded test images. Accuracy ratio = "
        "accuracy on reconstructions / accuracy on originals.",
        missing="no classifier (config `classifiers`)",
    )
    results = run.results
    accuracy = accuracy_table(results)
    for dataset, subset in accuracy.groupby("dataset"):
        fig = figure(12, 3.6)
        by_rate, by_ratio = fig.subplots(1, 2)
        for name, curve in results[results["method"].isin(subset["method"])].groupby("curve"):
            curve = curve.sort_values("bpp")
            style = "--" if curve["kind"].iloc[0] == "classical" else "-"
            by_rate.plot(curve["bpp"], curve["accuracy_ratio"], style, marker="o", markersize=3, label=name)
            if curve["nominal_ratio"].notna().all():  # the paper's axis: the nominal compression rate
                curve = curve.sort_values("nominal_ratio")
                by_ratio.plot(
                    curve["nominal_ratio"], curve["accuracy_ratio"], marker="o", markersize=3, label=name
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
        fig.suptitle(f"{dataset}: classifier accuracy on reconstructions / on originals")
        out.add(
            Plot(
                fig,
                f"accuracy-ratio-{dataset}",
                f"LeNet-5 (config `classifiers`, dataset `{dataset}`) accuracy on each method's decoded test "
                "images over its accuracy on the originals, against real bpp (left) and against the "
                "autoencoders' nominal compression rate (right; the CIFAR-10 paper's Fig. 4).",
            )
        )
    if not accuracy.empty:
        out.add(
            Table(accuracy, "accuracy of every method"),
            Table(per_class_accuracy(list(run.summaries.values())), "per class"),
        )
    return out


def mse_by_ratio_and_bias(results: pd.DataFrame) -> pd.DataFrame:
    """The MNIST paper's Table 1: test MSE by nominal compression ratio (rows) and bias (columns).

    The paper decodes the float latent, so its MSE is used (`float_latent_mse`) where evaluated.
    """
    dense = results[results["codec"] == "dense"].copy()
    if dense.empty:
        return pd.DataFrame()
    # Only experiments that compare both settings of bias belong in this table.
    both = dense.groupby("curve")["param_use_bias"].transform("nunique") == 2
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


def table1_section(run: Run) -> Section:
    out = Section(
        "MSE by compression ratio and bias (MNIST paper, Table 1)",
        "Test MSE ([0, 1] scale) of the dense autoencoders, with and without trainable bias, decoding the "
        "float latent as the paper does (the decoded files' MSE is in the tables of the run).",
        missing="no dense experiment with both settings of bias",
    )
    table = mse_by_ratio_and_bias(run.results)
    if not table.empty:
        out.add(
            Table(table.to_html(classes="table1", border=0), "Table 1 of this run", fold=False, html=True)
        )
    return out


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


def training_curves_section(run: Run) -> Section:
    out = Section(
        "Training curves (MNIST paper, Fig. 5; STL-10 notebook)",
        "Training (solid) and validation (dashed) loss per epoch of every model of an experiment; the "
        "star is the test MSE of the decoded files, drawn only where the training loss is the MSE.",
        missing="no trained model",
    )
    cards = run.cards
    histories = {k: h for k, h in run.histories.items() if run.on_own_test_set(k)}
    by_method = run.results.set_index("method")
    for experiment in sorted({c["experiment"] for c in cards.values()}):
        subset = {k: h for k, h in histories.items() if cards[k]["experiment"] == experiment}
        if not subset:
            continue
        test_mse = {
            k: by_method.loc[k, "mse"]
            for k, h in subset.items()
            if k in by_method.index
            and "train_mse" in h
            and (h["train_loss"] - h["train_mse"]).abs().max() < 1e-6
        }
        fig = figure(8, 3.6)
        ax = fig.subplots()
        plot_training_curves(subset, ax, test_mse)
        card = cards[next(iter(subset))]
        tested = card.get("test_dataset") or card["dataset"]
        ax.set_title(f"{experiment}: trained on {card['dataset']}, tested on {tested}")
        out.add(
            Plot(
                fig,
                f"curves-{experiment}",
                f"loss per epoch of every model of experiment `{experiment}` (history.csv; config "
                "`experiments[].training`), training split solid, validation split dashed.",
            )
        )
    return out


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
        rows = results[results["curve"] == experiment]
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


def grid_section(run: Run) -> Section:
    out = Section(
        "Grid studies: test metrics by setting (coursework Figs. 6-7)",
        "One table per experiment whose grid varies something (bottleneck size, loss, padding, "
        "downsampling, normalization, dropout): the test metrics of each grid point, and its test MSE as "
        "bars labelled with the nominal compression ratio.",
        missing="no experiment with a grid",
    )
    for experiment, table in grid_comparisons(run.results, run.cards).items():
        out.add(Table(table, f"{experiment}: test metrics by grid point"))
        if len(table) > 1:
            fig = figure(min(12, 1.0 * len(table) + 3), 3.2)
            ax = fig.subplots()
            plot_grid_comparison(table, ax)
            ax.set_title(f"{experiment}: test MSE by grid point")
            out.add(
                Plot(
                    fig,
                    f"grid-{experiment}",
                    f"test MSE ([0, 1] scale, decoded files) of each grid point of `{experiment}` "
                    "(config `experiments[].grid`), labelled with its nominal compression ratio.",
                )
            )
    return out


def train_versus_test(results: pd.DataFrame) -> pd.DataFrame:
    """Mean metrics on the training split next to the test split (the SlimCAE thesis, Tables
    4.1/4.2), for the rate points evaluated with `evaluation.train_split_images`."""
    if "train_images" not in results:
        return pd.DataFrame()
    rows = results[results["train_images"].notna()].sort_values(["curve", "bpp"])
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


def train_test_section(run: Run) -> Section:
    out = Section(
        "Train vs test, and MS-SSIM per width (SlimCAE thesis, Tables 4.1/4.2)",
        "Mean metrics of the first `evaluation.train_split_images` training images next to the test split, "
        "coded through the same files; and, for models with several widths (SlimCAE), the distribution of "
        "the per-image test MS-SSIM of each width.",
        missing="no train-split evaluation (config `evaluation.train_split_images`) and no SlimCAE",
    )
    results = run.results
    table = train_versus_test(results)
    if not table.empty:
        out.add(Table(table, "train and test metrics"))
    widths = results[results["codec"] == "slimcae"] if "param_width" in results else results.iloc[:0]
    for experiment, curve in widths.groupby("curve"):
        fig = figure(7, 3)
        ax = fig.subplots()
        for row in curve.sort_values("param_width", ascending=False).itertuples():
            values = run.per_image(row.summary)["ms_ssim"].dropna()
            if len(values):
                ax.hist(values, bins=20, alpha=0.5, label=f"width {int(row.param_width)} ({row.bpp:.3f} bpp)")
        ax.set_xlabel("per-image test MS-SSIM")
        ax.set_ylabel("images")
        ax.legend(fontsize="x-small")
        ax.set_title(f"{experiment}: MS-SSIM per width on {curve['dataset'].iloc[0]}")
        caption = f"per-image test MS-SSIM of each width of `{experiment}` (config `params.widths`)."
        out.add(Plot(fig, f"ms-ssim-per-width-{experiment}", caption))
    return out


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
    for (family, dataset), group in learned.groupby(["codec", "dataset"]):
        if group["curve"].nunique() < 2:
            continue
        settings = pd.DataFrame([_settings(cards[m]) for m in group["method"]], index=group["method"])
        varying = [c for c in settings if settings[c].astype(str).nunique() > 1]
        if not varying:
            continue
        metrics = [m for m in GRID_METRICS if m in group and group[m].notna().any()]
        table = pd.concat([group.set_index("method")[["curve"]], settings[varying].astype(str),
                           group.set_index("method")[metrics]], axis=1)  # fmt: skip
        tables[f"{family} on {dataset}"] = table.sort_values(["curve", *varying])
    return tables


def side_by_side_section(run: Run) -> Section:
    out = Section(
        "Experiments side by side: padding, loss, downsampling (coursework Figs. 6-7)",
        "Experiments of the same family tested on the same data, with only the settings that differ "
        "between them (params, training loss, input normalization, padding mode) and their test metrics.",
        missing="no two experiments of one family on one test set",
    )
    for title, table in setting_differences(run.results, run.cards).items():
        out.add(Table(table, title))
    return out


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


def tuning_section(run: Run) -> Section:
    from aecompress.tuning import read_trials

    out = Section(
        "Hyperparameter search: Hyperband in nested cross-validation (coursework Table 1)",
        "Each outer fold's KerasTuner Hyperband search saw only that fold's training images; a trial's "
        "score is its mean validation objective over the inner folds. The chosen configuration was "
        "retrained on the outer training split and scored on the held-out fold (the outer scores estimate "
        "how well the whole selection procedure generalises). The final model, trained with the selected "
        "configuration on the whole training split, is evaluated like every model.",
        missing="no tuning study (config `tuning`)",
    )
    studies = {s["name"]: s for s in run.config.get("tuning", [])}
    by_method = run.results.set_index("method")
    for name, files in run.manifest["tuning"].items():
        selection = json.loads(Path(files["selection"]).read_text())
        out.add(
            Table(
                tuning_overview(studies[name], selection), f"{name}: what was searched and chosen", fold=False
            ),
            Table(
                pd.read_csv(files["folds"]),
                f"{name}: per outer fold, the configuration it chose and its scores",
            ),
        )
        if name in by_method.index:
            final = by_method.loc[name]
            out.add(
                Text(
                    f"The final model `{name}` on the {final['dataset']} test split (in no fold): "
                    f"{final['bpp']:.3f} bpp, PSNR {final['psnr']:.2f} dB, MSE {final['mse']:.4g}, nominal "
                    f"ratio {final['nominal_ratio']:.3g}x."
                )
            )
        trials = read_trials(files["trials"])
        out.add(Table(best_trials(trials), f"{name}: the best 10 of {len(trials)} trials", fold=False))
        fig = figure(7, 3.2)
        ax = fig.subplots()
        plot_trials(trials, ax)
        ax.set_title(f"{name}: Hyperband trials")
        out.add(
            Plot(
                fig,
                f"tuning-{name}",
                f"score of every Hyperband trial of study `{name}` (results/tuning/{name}/trials.csv; config "
                "`tuning`) against the epochs it trained, one colour per outer fold.",
            )
        )
    return out


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


def outliers_section(run: Run) -> Section:
    out = Section(
        "Per-image loss and outliers (coursework Fig. 4)",
        "The distribution of the per-image test MSE of one rate point per learned experiment (its median "
        "bpp, or median nominal ratio): a few images often dominate the mean. Outliers are beyond Tukey's "
        "upper fence (Q3 + 1.5 IQR).",
        missing="no learned method with at least 4 test images",
    )
    learned = run.results[run.results["kind"] == "learned"]
    for _, curve in learned.groupby("curve"):
        chosen = middle_rate_point(curve)
        values, outliers, fence = per_image_outliers(beside_summary(chosen["summary"], "per_image.csv"))
        if len(values) < 4:
            continue
        fig = figure(7, 2.8)
        ax = fig.subplots()
        ax.hist(values, bins=min(40, max(5, len(values) // 4)))
        ax.axvline(fence, color="C3", ls="--")
        ax.set_xlabel("per-image test MSE ([0, 1] scale)")
        ax.set_ylabel("images")
        ax.set_title(f"{chosen['method']} on {chosen['dataset']} ({len(values)} images)")
        out.add(
            Plot(
                fig,
                f"per-image-{chosen['method']}",
                f"per-image test MSE of `{chosen['method']}` on the test split of `{chosen['dataset']}`; "
                "dashed: Tukey's upper fence.",
            )
        )
        if len(outliers):
            out.add(Table(outliers.head(10), f"{chosen['method']}: the largest outliers"))
    return out


def per_class_mse(summaries: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows: variants with labelled test data; columns: classes."""
    rows, ratios = {}, {}
    for summary in summaries:
        if summary.get("per_class_mse"):
            rows[summary["id"]] = summary["per_class_mse"]
            ratios[summary["id"]] = summary["nominal_compression_ratio"]
    # Models by falling nominal ratio, then the baselines (which have none) by name.
    order = sorted(rows, key=lambda m: (ratios[m] is None, -(ratios[m] or 0), m))
    return pd.DataFrame.from_dict(rows, orient="index").reindex(order)


def per_class_section(run: Run) -> Section:
    out = Section("Per-class MSE (MNIST paper, Fig. 8)", missing="no labelled test set")
    table = per_class_mse(list(run.summaries.values()))
    if table.empty:
        return out
    fig = figure(9, 0.35 * len(table) + 1.5)
    ax = fig.subplots()
    image = ax.imshow(table.values, aspect="auto", cmap="viridis")
    ax.set_xticks(range(table.shape[1]), table.columns)
    ax.set_yticks(range(len(table)), table.index, fontsize="small")
    ax.set_xlabel("class")
    fig.colorbar(image, ax=ax, label="test MSE ([0, 1] scale)")
    caption = "test MSE of the decoded files per class, for every method on a labelled test set."
    return out.add(Plot(fig, "per-class-mse", caption), Table(table, "per-class MSE"))


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
            ax.imshow(displayable(images[c]), cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize="small")


def reconstructions_section(run: Run) -> Section:
    out = Section(
        "Reconstructions (MNIST paper, Figs. 6-7)",
        "The same test images, decoded by every variant; rows are sorted by nominal ratio.",
        missing="no trained model",
    )
    cards, tested_on = run.cards, run.tested_on
    for dataset in sorted({tested_on[k] for k in cards if k in tested_on}):
        chosen = sorted(
            (k for k in cards if tested_on.get(k) == dataset),
            key=lambda k: -cards[k]["nominal_compression_ratio"],
        )
        samples = {
            f"{k} ({ratio_label(cards[k]['nominal_compression_ratio'])})": run.samples_of(k) for k in chosen
        }
        names, originals, _ = load_samples(next(iter(samples.values())))
        size = 1.0 if originals[0].shape[0] <= 64 else 1.6
        fig = figure(size * min(8, len(names)) + 3, size * (len(samples) + 1))
        plot_reconstruction_grid(samples, fig)
        fig.suptitle(dataset)
        out.add(
            Plot(
                fig,
                f"reconstructions-{dataset}",
                f"the same test images of `{dataset}` decoded by every variant tested on it "
                "(`evaluation.reconstruction_samples` images), sorted by nominal ratio.",
            )
        )
    return out
