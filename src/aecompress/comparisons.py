"""Comparing rate-distortion curves: BD-rate / BD-PSNR (bjontegaard package), equal-rate anchors.

A curve is one experiment or baseline on one test set: its rate points (mean bpp over images,
from real files) against a quality metric. BD-rate is the average rate difference in percent at
equal quality over the overlapping quality range (negative: the method needs fewer bits than
the anchor); BD-PSNR the average quality difference at equal rate. Both use pchip interpolation
of log-rate (Bjontegaard's method with a monotone interpolator, as the package recommends).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

MIN_POINTS = 2  # bjontegaard interpolates between points; fewer cannot form a curve
MIN_OVERLAP = 0.5  # share of the narrower quality range that must overlap, else the figure is flagged


def _curve(points: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    points = points.dropna(subset=["bpp", metric]).sort_values("bpp").drop_duplicates("bpp")
    return points["bpp"].to_numpy(float), points[metric].to_numpy(float)


def overlap(anchor_quality: np.ndarray, test_quality: np.ndarray) -> float:
    """Overlapping share of the two quality ranges, relative to the narrower one."""
    low = max(anchor_quality.min(), test_quality.min())
    high = min(anchor_quality.max(), test_quality.max())
    narrower = min(np.ptp(anchor_quality), np.ptp(test_quality))
    if narrower <= 0:
        return 0.0
    return max(0.0, high - low) / narrower


def bd_metrics(anchor: pd.DataFrame, test: pd.DataFrame, metric: str) -> dict[str, float | bool | None]:
    """BD-rate (%) and BD-quality of `test` against `anchor` for one quality metric."""
    import bjontegaard

    rate_a, quality_a = _curve(anchor, metric)
    rate_t, quality_t = _curve(test, metric)
    result: dict[str, float | bool | None] = {
        "bd_rate": None,
        "bd_quality": None,
        "overlap": None,
        "reliable": False,
        "monotone": True,
    }
    if min(len(rate_a), len(rate_t)) < MIN_POINTS:
        return result
    # Bjontegaard interpolates rate as a function of quality: a curve whose quality does not rise
    # with its rate (e.g. undertrained models all at one rate) has no BD figure.
    if (np.diff(quality_a) <= 0).any() or (np.diff(quality_t) <= 0).any():
        result["monotone"] = False
        return result
    share = overlap(quality_a, quality_t)
    result["overlap"] = share
    if share <= 0:
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the package warns on small overlap; we report `overlap` instead
        options = {"method": "pchip", "require_matching_points": False}
        result["bd_rate"] = float(bjontegaard.bd_rate(rate_a, quality_a, rate_t, quality_t, **options))
        result["bd_quality"] = float(bjontegaard.bd_psnr(rate_a, quality_a, rate_t, quality_t, **options))
    result["reliable"] = share >= MIN_OVERLAP and min(len(rate_a), len(rate_t)) >= 4
    return result


def bd_table(results: pd.DataFrame, anchor_codec: str = "jpeg", metrics=("psnr", "ms_ssim")) -> pd.DataFrame:
    """BD-rate of every curve against the anchor codec's curve on the same test set.

    `results` has one row per rate point (report.load_summaries): dataset, curve, codec, bpp and
    the metrics. Rows without a bitstream, and collapsed rate points (collapse.py: a
    model that learned nothing is not a point of its curve), are left out.
    """
    coded = results[results["bpp"].notna()]
    if "collapsed" in coded:
        coded = coded[~coded["collapsed"].fillna(False).astype(bool)]
    rows = []
    for dataset, on_dataset in coded.groupby("dataset"):
        anchors = on_dataset[on_dataset["codec"] == anchor_codec]
        if anchors.empty:
            continue
        anchor_name = anchors["curve"].iloc[0]
        anchor = anchors[anchors["curve"] == anchor_name]
        for experiment, curve in on_dataset.groupby("curve"):
            row = {"dataset": dataset, "method": experiment, "anchor": anchor_name, "points": len(curve)}
            for metric in metrics:
                scores = bd_metrics(anchor, curve, metric)
                row[f"bd_rate_{metric}_%"] = scores["bd_rate"]
                row[f"bd_{metric}"] = scores["bd_quality"]
                row[f"overlap_{metric}"] = scores["overlap"]
                row[f"reliable_{metric}"] = scores["reliable"]
            rows.append(row)
    return pd.DataFrame(rows)


def matching_quality(values, qualities, target: float) -> float:
    """The codec quality setting whose measured value (bpp, or PSNR, ...) is closest to `target`.

    For equal-rate or equal-quality comparisons: e.g. the JPEG quality that matches a learned
    codec's bpp, or its PSNR.
    """
    values, qualities = np.asarray(values, float), np.asarray(qualities)
    return qualities[int(np.argmin(np.abs(values - target)))]


def psnr_8bit(original: np.ndarray, reconstruction: np.ndarray) -> float:
    """PSNR (dB, peak 255) of one uint8 image pair, capped like metrics.PSNR_CAP_DB."""
    from aecompress.metrics import PSNR_CAP_DB, mse

    error = float(mse(original[None], reconstruction[None])[0]) * 255.0**2
    return PSNR_CAP_DB if error == 0 else min(PSNR_CAP_DB, 10 * np.log10(255.0**2 / error))


def codec_trials(image: np.ndarray, codec: str = "jpeg") -> list[dict]:
    """A quality-driven codec at every quality 1..100 on this very image: its bpp, PSNR and
    reconstruction each (rate is not monotone in quality for every codec, so none is skipped)."""
    from aecompress.codecs import bits_per_pixel, classical_codec

    trials = []
    for quality in range(1, 101):
        coder = classical_codec(codec, quality)
        data = coder.encode(image)
        decoded = coder.decode(data, max_pixels=image.shape[0] * image.shape[1])
        trials.append(
            {"quality": quality, "bpp": bits_per_pixel(data, image.shape),
             "psnr": psnr_8bit(image, decoded), "reconstruction": decoded}
        )  # fmt: skip
    return trials


def closest_trial(trials: list[dict], target: float, by: str = "bpp") -> dict:
    """The trial (codec_trials) whose bpp (or PSNR) is closest to `target`: an image comparison
    at equal rate (or quality) for that image, not on average."""
    if by not in ("bpp", "psnr"):
        raise ValueError(f"by must be 'bpp' or 'psnr', got {by!r}")
    quality = matching_quality([t[by] for t in trials], [t["quality"] for t in trials], target)
    return next(t for t in trials if t["quality"] == quality)
