"""Published Kodak rate-distortion curves (resources/reference-results), overlaid on the report's plots.

The files are tensorflow-compression's aggregate results: a `#` header naming the codec, then
`bpp, value` lines. Each curve keeps the codec name from its header, so the plot legend cites it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

METRIC_FOLDERS = {"psnr": "PSNR_sRGB_RGB", "ms_ssim": "MS-SSIM_sRGB_RGB"}
_TITLE = re.compile(r'data for "(?P<codec>[^"]+)" on (?P<dataset>\w+)')


class ReferenceError(ValueError):
    """A reference-curve file that does not have the published layout."""


def read_reference_curve(path: str | Path) -> pd.DataFrame:
    """One published curve: columns codec, bpp, value, file."""
    path = Path(path)
    codec, points = None, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if line.startswith("#"):
            match = _TITLE.search(line)
            codec = codec or (match and match["codec"])
            continue
        if not line:
            continue
        try:
            bpp, value = (float(field) for field in line.split(","))
        except ValueError:
            raise ReferenceError(f"{path}, line {number}: expected 'bpp, value', got {line!r}") from None
        points.append((bpp, value))
    if codec is None or not points:
        raise ReferenceError(
            f"{path}: expected a '# ... data for \"<codec>\" on <dataset>' header and points"
        )
    curve = pd.DataFrame(points, columns=["bpp", "value"]).sort_values("bpp", ignore_index=True)
    return curve.assign(codec=codec, file=path.name)


def load_reference_curves(folder: str | Path, metric: str) -> pd.DataFrame:
    """Every published curve for one metric ('psnr' or 'ms_ssim') under a dataset's folder."""
    if metric not in METRIC_FOLDERS:
        raise ReferenceError(f"metric {metric!r}: published curves exist for {sorted(METRIC_FOLDERS)}")
    files = sorted((Path(folder) / METRIC_FOLDERS[metric]).glob("*.txt"))
    if not files:
        return pd.DataFrame(columns=["bpp", "value", "codec", "file"])
    return pd.concat([read_reference_curve(f) for f in files], ignore_index=True)


def plot_reference_curves(curves: pd.DataFrame, ax, max_bpp: float | None = None) -> None:
    """Thin grey-toned lines, labelled 'published: <codec>', under the run's own curves."""
    styles = [":", "-.", (0, (5, 2)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1))]
    for index, (codec, curve) in enumerate(curves.groupby("codec", sort=True)):
        if max_bpp is not None:
            curve = curve[curve["bpp"] <= max_bpp]
        if not curve.empty:  # greys, so the run's own curves keep the colour cycle
            ax.plot(
                curve["bpp"], curve["value"], linestyle=styles[index % len(styles)], linewidth=1.2,
                color=str(0.25 + 0.12 * (index % 5)), label=f"published: {codec}",
            )  # fmt: skip
