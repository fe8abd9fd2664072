"""Evaluating a trained variant on the held-out test split.

Writes the results schema every method will share (per-image CSV + summary JSON), so that
the report and later codecs (JPEG, WebP, PCA, compressive AEs) compare on one table.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aecompress.images import PreparedDataset
from aecompress.metrics import METRIC_RULES, image_quality
from aecompress.models import get_family
from aecompress.preprocessing import Normalization
from aecompress.runtime import atomic_path, import_tensorflow
from aecompress.training import load_model

SUMMARY_SCHEMA_VERSION = 1
METRICS = ("mse", "psnr", "ssim", "ms_ssim")


def per_image_metrics(tf, originals: list[np.ndarray], reconstructions: list[np.ndarray]) -> pd.DataFrame:
    """One row of metrics per image; images of equal size are scored in one batch."""
    rows: list[dict[str, Any]] = [{} for _ in originals]
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(originals):
        by_shape.setdefault(image.shape, []).append(i)
    for shape, idx in by_shape.items():
        scores = image_quality(
            tf, np.stack([originals[i] for i in idx]), np.stack([reconstructions[i] for i in idx])
        )
        for j, i in enumerate(idx):
            rows[i] = {"height": shape[0], "width": shape[1], "channels": shape[2]}
            rows[i].update({name: values[j].item() for name, values in scores.items()})
    return pd.DataFrame(rows)


def _finite_or_none(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def summarize(
    per_image: pd.DataFrame,
    card: dict[str, Any],
    class_names: list[str] | None,
    evaluation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The summary JSON of one (dataset, method, operating point)."""
    per_class = None
    if "label" in per_image and class_names:
        grouped = per_image.groupby("label")["mse"].mean()
        per_class = {class_names[int(label)]: float(v) for label, v in grouped.items()}
    scales = sorted(set(per_image["ms_ssim_scales"].astype(int)))
    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "method": (evaluation or {}).get("id", card["variant"]),
        "variant": card["variant"],
        "family": card["family"],
        "experiment": card["experiment"],
        "dataset": card.get("test_dataset", card["dataset"]),
        "trained_on": card["dataset"],
        "split": "test",
        "operating_point": {**card["grid_values"], **((evaluation or {}).get("point") or {})},
        "params": card["params"],
        "preprocessing": card["preprocessing"],
        "n_images": int(len(per_image)),
        "metrics": {name: _finite_or_none(per_image[name].mean()) for name in METRICS},
        # Mean over images of each image's payload bits / pixels (range-coded strings only; the
        # container header is counted by the codec evaluation).
        "bpp": _finite_or_none(per_image["bpp"].mean()) if "bpp" in per_image else None,
        "metric_rules": METRIC_RULES,
        "ms_ssim_scales": scales,
        "nominal_compression_ratio": card["nominal_compression_ratio"],
        "nominal_ratio_definition": (
            "input values per vector / latent units, the latent counted as one value per unit "
            "(the papers' definition; not a bit count)"
        ),
        "per_class_mse": per_class,
        "parameter_count": card["parameter_count"],
    }


def evaluate_variant(
    model_path: str | Path,
    card_path: str | Path,
    dataset: PreparedDataset,
    threads: int,
    out_dir: str | Path,
    samples: int,
    evaluation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Reconstruct the test split, score it, and write per_image.csv, summary.json, samples.npz.

    `evaluation` (a plan.Evaluation as a dict) names the rate point, e.g. a SlimCAE width;
    without it the variant is evaluated as its own single point.
    """
    tf = import_tensorflow(threads)
    card = json.loads(Path(card_path).read_text())
    family = get_family(card["family"]).implementation()
    model = load_model(tf, model_path)
    point = (evaluation or {}).get("point") or {}
    test = dataset.splits["test"]
    normalization = Normalization.from_json(card["preprocessing"]["normalization"])
    bits = None
    if hasattr(family, "reconstruct_with_bits"):  # real range-coded bitstreams
        reconstructions, bits = family.reconstruct_with_bits(model, test, **point)
    else:
        reconstructions = family.reconstruct(model, test, card["params"], normalization)

    per_image = per_image_metrics(tf, test.images, reconstructions)
    per_image.insert(0, "image", test.names)
    if test.labels is not None:
        per_image.insert(1, "label", test.labels)
    if bits is not None:
        per_image["payload_bits"] = bits
        per_image["bpp"] = per_image["payload_bits"] / (per_image["height"] * per_image["width"])
    summary = summarize(per_image, card, dataset.meta.get("class_names"), evaluation)

    out_dir = Path(out_dir)
    keep = min(samples, len(test))
    with atomic_path(out_dir / "samples.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            names=np.array(test.names[:keep], dtype=str),
            **{f"original_{i}": test.images[i] for i in range(keep)},
            **{f"reconstruction_{i}": reconstructions[i] for i in range(keep)},
        )
    with atomic_path(out_dir / "per_image.csv") as tmp:
        per_image.to_csv(tmp, index=False)
    with atomic_path(out_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=True, allow_nan=False))
    return summary
