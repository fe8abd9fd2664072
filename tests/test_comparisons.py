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
