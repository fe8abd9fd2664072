"""JPEG 2000 (OpenJPEG via Pillow): the wavelet codec of the classical anchors, whose published
Kodak curve (tensorflow-compression's `j2k-opj5`) was made with the same library.

Its operating point is OpenJPEG's compression ratio (raw 8-bit size / coded size: for RGB,
bpp = 24 / ratio), the rate control OpenJPEG itself offers, rather than a quality scale.
"""

from __future__ import annotations

from typing import Any

from aecompress.codecs import PillowBaseline, PillowCodec


class Jpeg2000Codec(PillowCodec):
    """The lossy CDF 9/7 wavelet (irreversible), one quality layer at the ratio, a bare J2K
    codestream (no JP2 boxes: the container already says what the payload is)."""

    name, format, grey_native, feature = "jpeg2000", "JPEG2000", True, "jpg_2000"
    point_range = (1, 10000)

    def point_options(self) -> dict:
        return {"quality_mode": "rates", "quality_layers": [self.point]}

    def save_options(self) -> dict:
        return {"irreversible": True, "no_jp2": True}


class Jpeg2000Baseline(PillowBaseline):
    settings: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "default": {},
        "description": "Settings of a jpeg2000 baseline (unused by the other codecs).",
        "properties": {
            "ratios": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"type": "number", "minimum": 1, "maximum": 10000},
                "default": [240, 120, 80, 48, 24, 12],
                "description": (
                    "OpenJPEG compression ratios (raw size / coded size), one rate point each; on RGB "
                    "images 240 is 0.1 bpp and 12 is 2 bpp."
                ),
            }
        },
    }

    def operating_points(self, baseline: dict[str, Any]) -> list[float]:
        return sorted((float(r) for r in baseline["jpeg2000"]["ratios"]), reverse=True)

    def search_points(self, fitted: str | None = None) -> list[float]:
        """64 ratios from 480 (0.05 bpp on RGB) to 4 (6 bpp), each about 8% below the last: the
        quality step of a ratio target."""
        return [float(f"{480 * (4 / 480) ** (i / 63):.4g}") for i in range(64)]


BASELINE = Jpeg2000Baseline(Jpeg2000Codec, default_point=24)  # 1 bpp on RGB
