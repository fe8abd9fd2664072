"""Inside the models: what each trained model saw (scaling, padding, patches) and where its
encoder spends its code (latent energy over the image, the most active channels)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from aecompress.report.page import Plot, Section, Table, figure
from aecompress.report.results import (
    Run,
    beside_summary,
    displayable,
    in_rate_order,
    load_latent,
    load_samples,
    panel_inches,
)

# A dense code of more values than this is drawn as an image strip, not as bars (one artist each).
MAX_BARS = 256


def section(run: Run) -> Section:
    group = Section("Inside the models")
    group.subsections = [seen_section(run), latents_section(run)]
    return group


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


def seen_section(run: Run) -> Section:
    out = Section(
        "What each model saw",
        "Input scaling, padding (to a multiple of 2^k before the encoder, cropped back after the decoder) "
        "and training patches of every trained model, from its model card (config "
        "`experiments[].preprocessing`).",
        missing="no trained model",
    )
    table = preprocessing_table(run.cards)
    if not table.empty:
        out.add(Table(table, "preprocessing of every model"))
    return out


def latent_heatmap(latent: np.ndarray, height: int, width: int) -> np.ndarray:
    """Mean absolute latent over channels, stretched to the image (nearest): where the code is spent."""
    energy = np.abs(latent).mean(axis=-1)
    rows = np.minimum(np.arange(height) * energy.shape[0] // height, energy.shape[0] - 1)
    cols = np.minimum(np.arange(width) * energy.shape[1] // width, energy.shape[1] - 1)
    return energy[np.ix_(rows, cols)]


def spatial_latent(latent: np.ndarray, height: int, width: int) -> np.ndarray:
    """A block model's latent, (blocks, units), laid back out on its block grid (rows, columns,
    units), where the block side that gives that many blocks for this image can be found;
    any other latent as it is."""
    if latent.ndim != 2 or latent.shape[0] < 2:
        return latent
    for side in range(1, min(height, width) + 1):
        rows, columns = -(-height // side), -(-width // side)
        if rows * columns == latent.shape[0]:
            return latent.reshape(rows, columns, latent.shape[1])
    return latent


def plot_inside_model(points: dict[str, str], fig, channels: int = 4) -> None:
    """Per rate point (row): original, latent energy over the image, the most active latent
    channels, reconstruction (the CIFAR-10 paper's Figs. 5-8; the coursework's Fig. 2 heatmaps)."""
    rows = [(label, path, load_latent(path)) for label, path in points.items()]
    rows = [(label, path, z) for label, path, z in rows if z is not None]
    axes = fig.subplots(len(rows), 3 + channels, squeeze=False)
    for r, (label, path, latent) in enumerate(rows):
        names, originals, reconstructions = load_samples(path)
        original, reconstruction = originals[0], reconstructions[0]
        latent = spatial_latent(latent, *original.shape[:2])
        for ax in axes[r]:
            ax.axis("off")
        axes[r][0].imshow(displayable(original), cmap="gray", vmin=0, vmax=255)
        axes[r][0].set_title(f"{label}\n{names[0]}", fontsize="xx-small", loc="left")
        if latent.ndim == 3:
            axes[r][1].imshow(displayable(original), cmap="gray", vmin=0, vmax=255)
            axes[r][1].imshow(latent_heatmap(latent, *original.shape[:2]), cmap="inferno", alpha=0.55)
            axes[r][1].set_title("latent energy", fontsize="xx-small")
            order = np.argsort(-np.abs(latent).mean(axis=(0, 1)))[:channels]
            for c, channel in enumerate(order):
                axes[r][2 + c].imshow(latent[..., channel], cmap="coolwarm")
                axes[r][2 + c].set_title(
                    f"channel {channel} ({latent.shape[0]}x{latent.shape[1]})", fontsize="xx-small"
                )
        else:  # a dense code: one value per unit (one bar each, or a strip of many)
            values = latent.ravel()
            axes[r][1].axis("on")
            if values.size <= MAX_BARS:
                axes[r][1].bar(range(values.size), values, width=1.0)
            else:
                axes[r][1].imshow(latent.reshape(-1, latent.shape[-1]).T, aspect="auto", cmap="coolwarm")
            axes[r][1].set_title(f"latent ({values.size} values)", fontsize="xx-small")
            axes[r][1].tick_params(labelsize="xx-small")
        axes[r][-1].imshow(displayable(reconstruction), cmap="gray", vmin=0, vmax=255)
        axes[r][-1].set_title("reconstruction", fontsize="xx-small")


def latents_section(run: Run) -> Section:
    out = Section(
        "Latents (CIFAR-10 paper, Figs. 5-8; coursework, Fig. 2)",
        "For every learned experiment, one row per rate point (up to 5): the first test image, the mean "
        "absolute latent over channels superimposed on it (where the encoder spends its code: compare "
        "max-pooling with strided encoders), the most active latent channels, and the reconstruction. "
        "Latents are the encoder's float output, before quantization.",
        missing="no learned method",
    )
    learned = run.results[run.results["kind"] == "learned"]
    for experiment, curve in learned.groupby("curve"):
        curve = in_rate_order(curve)
        if len(curve) > 5:
            curve = curve.iloc[np.linspace(0, len(curve) - 1, 5).round().astype(int)]
        samples_of = {row.method: beside_summary(row.summary, "samples.npz") for row in curve.itertuples()}
        points = {
            f"{row.method} ({row.bpp:.3f} bpp)" if pd.notna(row.bpp) else row.method: samples_of[row.method]
            for row in curve.itertuples()
            if load_latent(samples_of[row.method]) is not None
        }
        if not points:
            continue
        size = panel_inches(next(iter(points.values())), 1.3, 1.6)
        fig = figure(size * 7 + 1, size * len(points) + 0.6)
        plot_inside_model(points, fig)
        fig.suptitle(f"{experiment}: latents of the first test image", fontsize="small")
        out.add(
            Plot(
                fig,
                f"inside-{experiment}",
                f"original, latent energy, the 4 most active latent channels and reconstruction of the first "
                f"test image for each rate point of `{experiment}` (samples.npz of its evaluations).",
            )
        )
    return out
