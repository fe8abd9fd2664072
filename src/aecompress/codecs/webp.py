"""Lossy WebP (libwebp via Pillow)."""

from aecompress.codecs import PillowBaseline, PillowCodec


class WebpCodec(PillowCodec):
    """At libwebp's slowest, best compression method (6)."""

    name, format, grey_native, feature = "webp", "WEBP", False, "webp"

    def save_options(self) -> dict:
        return {"method": 6}


BASELINE = PillowBaseline(WebpCodec)
