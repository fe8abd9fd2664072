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


def _sorted_curve(rate: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As _curve, on arrays: by rate, one point per rate, no NaN."""
    keep = np.isfinite(rate) & np.isfinite(quality)
    rate, quality = rate[keep], quality[keep]
    rate, first = np.unique(rate, return_index=True)  # sorted, duplicates dropped (first kept)
    return rate, quality[first]


def bd_metrics(anchor: pd.DataFrame, test: pd.DataFrame, metric: str) -> dict[str, float | bool | None]:
    """BD-rate (%) and BD-quality of `test` against `anchor` for one quality metric."""
    return bd_arrays(*_curve(anchor, metric), *_curve(test, metric))


def bd_arrays(rate_a, quality_a, rate_t, quality_t, quality: bool = True) -> dict[str, float | bool | None]:
    """bd_metrics on two curves given as arrays sorted by rate (`quality`: also BD-quality)."""
    import bjontegaard

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
        if quality:
            result["bd_quality"] = float(bjontegaard.bd_psnr(rate_a, quality_a, rate_t, quality_t, **options))
    result["reliable"] = share >= MIN_OVERLAP and min(len(rate_a), len(rate_t)) >= 4
    return result


def bd_rate_interval(
    anchor: list[pd.DataFrame],
    test: list[pd.DataFrame],
    metric: str,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """A per-image bootstrap interval of the BD-rate of `test` against `anchor`.

    Each curve is given as one per-image table per rate point (per_image.csv: image, bpp and the
    metric) on the same test images. A resample draws the images with replacement, the same
    draw for every rate point of both curves, and recomputes each point's mean bpp and metric and
    the BD-rate; the interval is the central `level` of the resamples that give one (None when
    fewer than half do, e.g. curves that stop overlapping). With 3 test photos the interval shows
    how little a single BD-rate says."""
    tables = [*anchor, *test]
    images = sorted(set.intersection(*(set(t["image"].astype(str)) for t in tables)))
    if len(images) < 2 or not anchor or not test:
        return None
    columns = []
    for table in tables:
        indexed = table.assign(image=table["image"].astype(str)).drop_duplicates("image").set_index("image")
        columns.append(indexed.loc[images, ["bpp", metric]].to_numpy(float))
    values = np.stack(columns)  # (points, images, 2)
    draws = np.random.default_rng(seed).integers(0, len(images), (resamples, len(images)))
    means = values[:, draws, :].mean(axis=2)  # (points, resamples, 2)
    split = len(anchor)
    rates = []
    for r in range(resamples):
        anchor_curve = _sorted_curve(means[:split, r, 0], means[:split, r, 1])
        test_curve = _sorted_curve(means[split:, r, 0], means[split:, r, 1])
        rate = bd_arrays(*anchor_curve, *test_curve, quality=False)["bd_rate"]
        if rate is not None and np.isfinite(rate):
            rates.append(rate)
    if len(rates) < resamples / 2:
        return None
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(rates, [tail, 100 - tail])
    return float(low), float(high)


def bd_table(
    results: pd.DataFrame,
    anchor_codec: str = "jpeg",
    metrics=("psnr", "ms_ssim"),
    per_image=None,
    resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """BD-rate of every curve against the anchor codec's curve on the same test set.

    `results` has one row per rate point (report.load_summaries): dataset, curve, codec, bpp and
    the metrics. Rows without a bitstream, and collapsed rate points (collapse.py: a
    model that learned nothing is not a point of its curve), are left out. With `per_image` (a
    function from a rate point's `summary` path to its per-image table), each BD-rate also gets
    a 95% per-image bootstrap interval (bd_rate_interval, `resamples` draws from `seed`).
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
                if per_image is not None:
                    interval = None
                    if scores["bd_rate"] is not None:
                        tables = [
                            [per_image(path) for path in points["summary"]] for points in (anchor, curve)
                        ]
                        interval = bd_rate_interval(*tables, metric, resamples, seed)
                    row[f"bd_rate_{metric}_ci95"] = interval
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
