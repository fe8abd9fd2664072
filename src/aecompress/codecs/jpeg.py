"""Baseline JPEG (libjpeg via Pillow): the anchor every BD-rate in the report is measured against."""

from aecompress.codecs import PillowBaseline, PillowCodec


class JpegCodec(PillowCodec):
    """4:2:0 chroma subsampling and optimized Huffman tables, as the published JPEG curves use."""

    name, format, grey_native, feature = "jpeg", "JPEG", True, "jpg"

    def save_options(self) -> dict:
        return {"subsampling": 2, "optimize": True}  # 2 = 4:2:0


BASELINE = PillowBaseline(JpegCodec)
