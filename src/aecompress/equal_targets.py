"""Methods compared at equal targets: every test image coded by every curve (an experiment's models
or a baseline's codec) at each target of `evaluation.targets`, so the report compares what each
method reaches on the same image at the same budget or the same quality, not only through
interpolated rate-distortion curves (codecs.targets does the search)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from aecompress.codecs.targets import TARGET_METRICS, Target, ordered_by_rate, search

COLUMNS = ["curve", "dataset", "image", "target", "target_value", "point", "bpp", "psnr", "ms_ssim", "met",
           "encodes"]  # fmt: skip
REPORTED = ("psnr", "ms_ssim")


def configured_targets(settings: dict[str, Any]) -> list[Target]:
    """`evaluation.targets` as Target objects, bpp first."""
    return [Target(metric, float(value)) for metric in TARGET_METRICS for value in settings.get(metric, [])]


def _baseline_candidates(baseline: dict[str, Any], fitted: str | None):
    from aecompress.codecs.registry import baseline_codec, point_label

    spec = baseline_codec(baseline["codec"])
    points = spec.search_points(fitted)
    candidates = [
        (point_label(baseline["codec"], p), lambda p=p: spec.build(p, fitted, baseline["name"]))
        for p in points
    ]
    return lambda image: candidates


def _model_candidates(tf, models: list[str], tile: int | None):
    """Every operating point of every model of the curve, ordered per image by the estimated bits
    (the models of one experiment differ in lambda or size: their order is not known beforehand)."""
    from aecompress.codecs.learned import CompressiveCodec, learned_codec, read_model_card
    from aecompress.models import get_family
    from aecompress.training import load_model

    codecs = []
    for model_dir in models:
        card = read_model_card(model_dir)
        family = get_family(card["family"])
        if not family.compressive:  # its latent coder: the evaluation job's
            codecs.append((card["variant"], learned_codec(model_dir)))
            continue
        model = load_model(tf, model_dir)
        for point in family.operating_points(card["params"]):
            codec = CompressiveCodec.from_model_dir(model_dir, point, model)
            codec.tile = tile
            codecs.append((codec.method, codec))
    return lambda image: [
        (label, lambda codec=codec: codec) for label, codec in ordered_by_rate(codecs, image)
    ]


def evaluate_targets(
    job: dict[str, Any],
    dataset: str,
    targets: dict[str, Any],
    out_path: str | Path,
    threads: int,
    baseline: dict[str, Any] | None = None,
    fitted: str | None = None,
    tile: int | None = None,
) -> pd.DataFrame:
    """One curve (`job`: a plan.TargetJob as a dict) at every target on every test image of the
    prepared `dataset`; one row per image and target in `out_path` (CSV)."""
    from aecompress.images import PreparedDataset
    from aecompress.runtime import import_tensorflow, job_output

    tf = import_tensorflow(threads)
    test = PreparedDataset.load(dataset).splits["test"]
    if baseline is not None:
        candidates = _baseline_candidates(baseline, None if fitted is None else str(fitted))
    else:
        candidates = _model_candidates(tf, list(job["models"]), tile)
    rows = []
    for index, image in enumerate(test.images):
        points = candidates(image)
        for target in configured_targets(targets):
            reached = search(points, image, target, report=REPORTED)
            measures = reached.chosen.measures
            rows.append({
                "curve": job["curve"], "dataset": job["dataset"], "image": index, "target": target.metric,
                "target_value": target.value, "point": str(reached.chosen.point),
                **{m: measures.get(m) for m in ("bpp", *REPORTED)}, "met": reached.met,
                "encodes": reached.encodes,
            })  # fmt: skip
            print(f"{job['curve']} image {index}: {reached.summary()}", flush=True)
    table = pd.DataFrame(rows, columns=COLUMNS)
    with job_output(out_path) as tmp:
        table.to_csv(tmp, index=False)
    return table
