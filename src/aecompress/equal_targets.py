"""Methods compared at equal targets: every test image coded by every curve (an experiment's models
or a baseline's codec) at each target of `evaluation.targets`, so the report compares what each
method reaches on the same image at the same budget or the same quality, not only through
interpolated rate-distortion curves (codecs.targets does the search)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from aecompress.codecs.targets import TARGET_METRICS, Target, codec_points, model_points, search

COLUMNS = ["curve", "dataset", "image", "target", "target_value", "point", "bpp", "psnr", "ms_ssim", "met",
           "encodes"]  # fmt: skip
REPORTED = ("psnr", "ms_ssim")


def configured_targets(settings: dict[str, Any]) -> list[Target]:
    """`evaluation.targets` as Target objects, bpp first."""
    return [Target(metric, float(value)) for metric in TARGET_METRICS for value in settings.get(metric, [])]


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

    import_tensorflow(threads)  # the job's thread pools, before a model is loaded
    test = PreparedDataset.load(dataset).splits["test"]
    if baseline is None:
        candidates = model_points(list(job["models"]), tile)
    else:
        points = codec_points(baseline["codec"], None if fitted is None else str(fitted), baseline["name"])

        def candidates(image):
            return points

    rows = []
    for index, image in enumerate(test.images):
        ordered = candidates(image)
        for target in configured_targets(targets):
            reached = search(ordered, image, target, report=REPORTED)
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
