"""Key results, the report's first screen: per test set, which method wins and by how much.

The methods are ranked by BD-rate against JPEG on PSNR (reliable figures first, the others
flagged), the best learned method is shown against the best classical one on one image at
matched bpp, and the rate-distortion plot follows.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from aecompress.report.page import Plot, Section, Table, Text
from aecompress.report.rate_distortion import (
    collapsed_note,
    matched_rate_figure,
    matched_rate_points,
    rd_figure,
)
from aecompress.report.results import Run, middle_rate_point

RANKING_COLUMNS = ("rank", "method", "kind", "codec", "BD-rate vs JPEG (%)", "95% interval (%)",
                   "BD-PSNR (dB)", "reliable", "points", "bpp range")  # fmt: skip


def section(run: Run) -> Section:
    group = Section(
        "Key results",
        "Per test set, every curve ranked by its BD-rate against JPEG on PSNR: the average change in bits "
        "at equal quality (negative: fewer bits than JPEG), with its 95% interval over per-image bootstrap "
        "resamples. *Reliable*: both curves have 4 points or more and overlap on at least half the narrower "
        "quality range. Curves without a BD-rate follow, by their PSNR over JPEG's at their own rates.",
        missing="no method with a bitstream",
    )
    coded = run.results[run.results["bpp"].notna()]
    parts = [test_set(run, dataset, subset) for dataset, subset in coded.groupby("dataset")]
    # Test sets with a ranking against JPEG first: they answer "which method wins".
    group.subsections = sorted(parts, key=lambda part: not any(isinstance(b, Table) for b in part.blocks))
    return group


def ranking(run: Run, dataset: str) -> pd.DataFrame:
    """The curves of one test set ranked by BD-rate against JPEG (PSNR): reliable figures first,
    then unreliable ones, then curves without a figure; each with the 95% per-image bootstrap
    interval of its BD-rate, its kind, codec and bpp range."""
    results = run.results
    on_dataset = results[results["dataset"] == dataset]
    if "collapsed" in on_dataset:  # as in the BD-rate fit: a model that learned nothing is no point
        on_dataset = on_dataset[~on_dataset["collapsed"].fillna(False).astype(bool)]
    bd = run.bd_table(metrics=("psnr",), results=on_dataset)
    if bd.empty:
        return pd.DataFrame(columns=RANKING_COLUMNS)
    rows = []
    for row in bd.to_dict("records"):
        curve = on_dataset[(on_dataset["curve"] == row["method"]) & on_dataset["bpp"].notna()]
        rows.append(
            {
                "method": row["method"],
                "kind": curve["kind"].iloc[0],
                "codec": curve["codec"].iloc[0],
                "BD-rate vs JPEG (%)": row["bd_rate_psnr_%"],
                "95% interval (%)": row.get("bd_rate_psnr_ci95"),
                "BD-PSNR (dB)": row["bd_psnr"],
                "reliable": bool(row["reliable_psnr"]),
                "points": int(row["points"]),
                "bpp range": f"{curve['bpp'].min():.3f}-{curve['bpp'].max():.3f}",
            }
        )
    table = pd.DataFrame(rows)
    has_rate = table["BD-rate vs JPEG (%)"].notna()
    table["_order"] = (~table["reliable"]).astype(int) + (~has_rate).astype(int)  # 0 reliable, 2 no figure
    # Curves without a BD-rate follow by their PSNR over JPEG's at their own rates (where JPEG's
    # curve reaches them), so the best of them is still the one shown against the best classical.
    jpeg = on_dataset[on_dataset["codec"] == "jpeg"]
    table["_gain"] = [-psnr_over(jpeg, on_dataset[on_dataset["curve"] == name]) for name in table["method"]]
    table = table.sort_values(["_order", "BD-rate vs JPEG (%)", "_gain", "method"]).drop(
        columns=["_order", "_gain"]
    )
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)


def psnr_over(anchor: pd.DataFrame, curve: pd.DataFrame) -> float:
    """Mean PSNR of a curve's rate points over the anchor's curve at the same bpp (log-bpp linear
    interpolation), over the points inside the anchor's bpp range; NaN when none is."""
    anchor = anchor.dropna(subset=["bpp", "psnr"]).sort_values("bpp")
    points = curve.dropna(subset=["bpp", "psnr"])
    inside = points[points["bpp"].between(anchor["bpp"].min(), anchor["bpp"].max())]
    if anchor.empty or inside.empty:
        return float("nan")
    at_rate = np.interp(np.log(inside["bpp"]), np.log(anchor["bpp"]), anchor["psnr"])
    return float((inside["psnr"] - at_rate).mean())


def headline(table: pd.DataFrame, dataset: str) -> str:
    """One sentence per test set: the winner, and the best learned method where it is not."""
    if table.empty:
        return f"On **{dataset}** there is no JPEG curve to rank the methods against."
    best = table.iloc[0]
    parts = [f"On **{dataset}**, **{best['method']}** ({best['kind']}) ranks first: {_rate(best)}."]
    learned = table[table["kind"] == "learned"]
    if not learned.empty and best["kind"] != "learned":
        top = learned.iloc[0]
        parts.append(f"The best learned method, **{top['method']}**, ranks {top['rank']}: {_rate(top)}.")
    return " ".join(parts)


def _rate(row: pd.Series) -> str:
    rate = row["BD-rate vs JPEG (%)"]
    if pd.isna(rate):
        return "no BD-rate against JPEG (curves not monotone or not overlapping)"
    flag = "" if row["reliable"] else f", unreliable ({row['points']} points or little overlap)"
    return f"{rate:+.1f}% bits against JPEG at equal PSNR{flag}"


def interval_text(interval) -> str:
    """A bootstrap interval as the table shows it ("n/a" where there is none)."""
    if not isinstance(interval, tuple | list):
        return "n/a"
    return f"{interval[0]:+.1f} to {interval[1]:+.1f}"


def ranking_html(table: pd.DataFrame, dataset: str) -> str:
    """The ranking as an HTML table the browser test can find (class key-results, the test set in
    data-dataset), BD figures to one decimal, unreliable rows marked."""
    shown = table.copy()
    shown["BD-rate vs JPEG (%)"] = [
        f"{v:+.1f}" if pd.notna(v) else "n/a" for v in shown["BD-rate vs JPEG (%)"]
    ]
    shown["BD-PSNR (dB)"] = [f"{v:+.2f}" if pd.notna(v) else "n/a" for v in shown["BD-PSNR (dB)"]]
    shown["95% interval (%)"] = [interval_text(v) for v in shown["95% interval (%)"]]
    shown["reliable"] = ["yes" if v else "no (flagged)" for v in shown["reliable"]]
    body = shown.to_html(index=False, border=0, classes="key-results", escape=True)
    return body.replace(
        '<table class="dataframe key-results"',
        f'<table class="dataframe key-results" data-dataset="{html.escape(dataset)}"',
        1,
    )


def best_pair(run: Run, table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The best learned and best classical curve's rate points nearest each other in bpp on the
    first test image (the learned curve's median rate point sets the target)."""
    learned, classical = table[table["kind"] == "learned"], table[table["kind"] == "classical"]
    if learned.empty or classical.empty:
        return pd.DataFrame()
    results = run.results
    names = [learned.iloc[0]["method"], classical.iloc[0]["method"]]
    points = results[(results["dataset"] == dataset) & results["curve"].isin(names) & results["bpp"].notna()]
    anchor = middle_rate_point(points[points["curve"] == names[0]])
    first = run.per_image(anchor["summary"]).iloc[0]
    _, chosen = matched_rate_points(points, run.per_image, target=float(first["bpp"]))
    return chosen


def test_set(run: Run, dataset: str, subset: pd.DataFrame) -> Section:
    table = ranking(run, dataset)
    out = Section(f"Key results on {dataset}")
    out.add(Text(headline(table, dataset)))
    if not table.empty:
        out.add(
            Table(
                ranking_html(table, dataset),
                f"{dataset}: methods ranked by BD-rate against JPEG",
                fold=False,
                html=True,
            )
        )
    pair = best_pair(run, table, dataset) if not table.empty else pd.DataFrame()
    if len(pair) == 2:
        fig = matched_rate_figure(pair)
        fig.suptitle(
            f"{dataset}: the best learned and the best classical method at matched bpp", fontsize="small"
        )
        out.add(
            Plot(
                fig,
                f"key-best-pair-{dataset}",
                f"the first test image of `{dataset}` from the best learned and the best classical method "
                "(by BD-rate), each at its rate point nearest the learned median rate on this image.",
            )
        )
    published = (
        " Published curves, where known (Kodak), are drawn dotted beneath, each labelled with its codec."
    )
    out.add(
        Plot(
            rd_figure(run, dataset, subset),
            f"rate-distortion-{dataset}",
            f"bpp of real files (header included) vs PSNR and MS-SSIM on the test split of `{dataset}`, "
            "every experiment (config `experiments`) and baseline (config `baselines`) evaluated on it."
            + (published if run.manifest["references"].get(dataset) else ""),
        )
    )
    note = collapsed_note(subset)
    return out.add(note) if note is not None else out
