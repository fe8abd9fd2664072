"""AVIF (libavif via Pillow, where Pillow was built with it): an optional, modern classical anchor."""

from aecompress.codecs import PillowBaseline, PillowCodec


class AvifCodec(PillowCodec):
    name, format, grey_native, feature = "avif", "AVIF", False, "avif"

    def save_options(self) -> dict:
        return {"speed": 4, "subsampling": "4:2:0"}


BASELINE = PillowBaseline(AvifCodec)
