"""BD-rate against an anchor: zero against itself, the sign and size of known shifts, overlap flags."""

import numpy as np
import pandas as pd
import pytest

from aecompress.comparisons import bd_metrics, bd_table, matching_quality, overlap


def curve(rates, psnr, name="m", family="x", dataset="d"):
    return pd.DataFrame(
        {"bpp": rates, "psnr": psnr, "ms_ssim": np.linspace(0.9, 0.99, len(rates)), "curve": name,
         "codec": family, "dataset": dataset}
    )  # fmt: skip


ANCHOR = curve([0.25, 0.5, 1.0, 2.0], [28.0, 31.0, 34.0, 37.0], "jpeg-d", "jpeg")


def test_bd_rate_of_a_codec_against_itself_is_zero():
    scores = bd_metrics(ANCHOR, ANCHOR, "psnr")
    assert scores["bd_rate"] == pytest.approx(0, abs=1e-9) and scores["bd_quality"] == pytest.approx(
        0, abs=1e-9
    )
    assert scores["overlap"] == 1 and scores["reliable"]


def test_half_the_rate_at_equal_quality_is_minus_50_percent():
    better = curve(ANCHOR["bpp"] / 2, ANCHOR["psnr"])
    assert bd_metrics(ANCHOR, better, "psnr")["bd_rate"] == pytest.approx(-50, abs=1e-6)
    shifted = curve(ANCHOR["bpp"], ANCHOR["psnr"] + 1.5)
    assert bd_metrics(ANCHOR, shifted, "psnr")["bd_quality"] == pytest.approx(1.5, abs=1e-6)


def test_disjoint_or_short_curves_are_not_scored():
    far = curve([0.1, 0.2], [20.0, 22.0])
    assert bd_metrics(ANCHOR, far, "psnr")["bd_rate"] is None  # no quality overlap
    assert bd_metrics(ANCHOR, curve([0.5], [31.0]), "psnr")["bd_rate"] is None
    assert overlap(np.array([28.0, 37.0]), np.array([36.0, 40.0])) == pytest.approx(1 / 4)


def test_table_compares_every_curve_with_the_anchor_on_its_dataset():
    results = pd.concat([ANCHOR, curve(ANCHOR["bpp"] * 0.8, ANCHOR["psnr"], "fp", "factorized-prior")])
    table = bd_table(results).set_index("method")
    assert table.loc["jpeg-d", "bd_rate_psnr_%"] == pytest.approx(0, abs=1e-9)
    assert table.loc["fp", "bd_rate_psnr_%"] == pytest.approx(-20, abs=1e-6)
    assert matching_quality([0.2, 0.5, 0.9], [10, 50, 90], 0.55) == 50  # by rate
    assert matching_quality([27.0, 31.0, 34.0], [10, 50, 90], 33.0) == 90  # by PSNR


def test_a_curve_whose_quality_falls_with_rate_has_no_bd_figure():
    import pandas as pd

    from aecompress.comparisons import bd_metrics

    anchor = pd.DataFrame({"bpp": [0.2, 0.4, 0.8, 1.6], "psnr": [28.0, 31.0, 34.0, 37.0]})
    flat = pd.DataFrame({"bpp": [1.04, 1.05, 1.06], "psnr": [27.6, 27.4, 27.5]})
    result = bd_metrics(anchor, flat, "psnr")
    assert result["bd_rate"] is None and result["monotone"] is False and result["reliable"] is False


def test_a_collapsed_rate_point_is_left_out_of_the_bd_fit():
    fp = curve(ANCHOR["bpp"] * 0.8, ANCHOR["psnr"], "fp", "factorized-prior")
    broken = pd.concat([fp, curve([3.0], [10.0], "fp", "factorized-prior")])  # a point that learned nothing
    broken["collapsed"] = [False] * 4 + [True]
    results = pd.concat([ANCHOR.assign(collapsed=False), broken])
    row = bd_table(results).set_index("method").loc["fp"]
    assert row["points"] == 4 and row["bd_rate_psnr_%"] == pytest.approx(-20, abs=1e-6)


def _per_image(rates, psnr, spread, seed):
    """Per-image tables of a curve: each point's images scattered around its mean."""
    rng = np.random.default_rng(seed)
    tables = []
    for rate, quality in zip(rates, psnr, strict=True):
        noise = rng.normal(0, spread, 12)
        tables.append(
            pd.DataFrame({"image": [f"i{k}" for k in range(12)], "bpp": rate * (1 + 0.1 * noise),
                          "psnr": quality + noise})
        )  # fmt: skip
    return tables


def test_the_bootstrap_interval_holds_the_bd_rate_and_narrows_with_agreement():
    from aecompress.comparisons import bd_rate_interval

    rates, psnr = [0.25, 0.5, 1.0, 2.0], [28.0, 31.0, 34.0, 37.0]
    anchor = _per_image(rates, psnr, 1.0, 0)
    test = _per_image([r * 0.8 for r in rates], psnr, 1.0, 1)
    low, high = bd_rate_interval(anchor, test, "psnr", resamples=300, seed=3)
    means = [pd.DataFrame({"bpp": [t["bpp"].mean() for t in c], "psnr": [t["psnr"].mean() for t in c]})
             for c in (anchor, test)]  # fmt: skip
    estimate = bd_metrics(*means, "psnr")["bd_rate"]
    assert low < estimate < high and low < -20 < high
    assert (low, high) == bd_rate_interval(anchor, test, "psnr", resamples=300, seed=3)  # seeded
    # Images that agree more (less spread between them) leave a narrower interval.
    agreeing = _per_image(rates, psnr, 0.1, 0), _per_image([r * 0.8 for r in rates], psnr, 0.1, 1)
    tight = bd_rate_interval(*agreeing, "psnr", resamples=300, seed=3)
    assert tight[1] - tight[0] < (high - low) / 3
    # The table carries it next to each BD-rate, from each rate point's per-image file.
    tables = {f"a{k}": t for k, t in enumerate(anchor)} | {f"t{k}": t for k, t in enumerate(test)}
    results = pd.concat([
        curve([t["bpp"].mean() for t in anchor], [t["psnr"].mean() for t in anchor], "jpeg-d", "jpeg")
        .assign(summary=[f"a{k}" for k in range(4)]),
        curve([t["bpp"].mean() for t in test], [t["psnr"].mean() for t in test], "fp", "factorized-prior")
        .assign(summary=[f"t{k}" for k in range(4)]),
    ])  # fmt: skip
    row = bd_table(results, metrics=("psnr",), per_image=tables.__getitem__, resamples=300, seed=3)
    assert tuple(row.set_index("method").loc["fp", "bd_rate_psnr_ci95"]) == (low, high)
