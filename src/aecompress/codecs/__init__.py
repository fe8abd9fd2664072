"""One codec interface for every method, learned or classical: 8-bit image -> bytes -> 8-bit image.

Every codec writes the same container (codecs.container), so the rate of every method is
measured the same way: 8 * file size / pixels, header included (and reported on its own).
Classical codecs (JPEG, WebP, AVIF when Pillow has it) live here; learned ones in
codecs.learned. `classical_codec(name, quality)` and `learned_codec(model_dir, point)` build them.
"""

from __future__ import annotations

import hashlib
import io
from abc import ABC, abstractmethod

import numpy as np

from aecompress.codecs.container import ContainerError, Header, pack, unpack
from aecompress.images import DEFAULT_MAX_PIXELS

__all__ = ["Codec", "ContainerError", "classical_codec", "CLASSICAL", "available_classical"]


class Codec(ABC):
    """Encode a uint8 (H, W, C) image, C in {1, 3}, to bytes; decode them to the same shape."""

    method: str  # the codec and its operating point, e.g. "jpeg_quality-75"
    kind: str  # its method id in the file (container.METHODS)
    point: float | None = None  # its operating point in the file (quality, width, step), if any

    @abstractmethod
    def identity(self) -> bytes:
        """What a file must have been written by: weights and settings, hashed (16 bytes)."""

    @abstractmethod
    def encode_payloads(self, image: np.ndarray) -> list[bytes]: ...

    @abstractmethod
    def decode_payloads(self, payloads: list[bytes], header: Header) -> np.ndarray: ...

    @abstractmethod
    def check_capacity(self, payloads: list[bytes], header: Header) -> None:
        """Raise (ContainerError or ValueError) when the payloads cannot hold an image of the
        header's shape. Called before anything of that shape is allocated: the header's CRC
        and model hash are not secrets, so a crafted file can declare any shape."""

    def latents(self, image: np.ndarray) -> np.ndarray | None:
        """The learned transform's float latent of one image (shown in the report); None without one."""
        return None

    def encode(self, image: np.ndarray) -> bytes:
        image = _checked_image(image)
        return pack(self.kind, self.point, self.identity(), image.shape, self.encode_payloads(image))

    def wrote(self, header: Header) -> bool:
        """Whether a file with this header was written by this codec (the same method, operating
        point and model)."""
        if header.version == 1:
            return header.method == self.method and header.model_hash == self.identity()
        same_point = header.point == (None if self.point is None else float(np.float32(self.point)))
        return header.kind == self.kind and same_point and header.model_hash == self.identity()[:8]

    def decode(
        self, data: bytes, source: str = "<bytes>", max_pixels: int | None = DEFAULT_MAX_PIXELS
    ) -> np.ndarray:
        header, payloads = unpack(data, source, max_pixels)
        if not self.wrote(header):
            model = self.identity()[: len(header.model_hash)].hex()
            raise ContainerError(
                f"{source}: written by '{header.method}' (model {header.model_hash.hex()}), "
                f"not by this codec '{self.method}' (model {model})"
            )
        try:
            self.check_capacity(payloads, header)
        except ContainerError as err:
            raise ContainerError(f"{source}: {err}") from err
        except Exception as err:  # e.g. an embedded image Pillow cannot even identify
            raise ContainerError(f"{source}: the payload does not fit the header ({err})") from err
        try:
            image = self.decode_payloads(payloads, header)
        except ContainerError:
            raise
        except Exception as err:  # a payload that passes the checksum but not the decoder
            raise ContainerError(
                f"{source}: the payload cannot be decoded by '{self.method}' ({err})"
            ) from err
        expected = (header.height, header.width, header.channels)
        if image.shape != expected or image.dtype != np.uint8:
            raise ContainerError(f"{source}: decoded {image.shape} {image.dtype}, expected {expected} uint8")
        return image


def _checked_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (1, 3) or 0 in image.shape:
        raise ValueError(f"codecs take uint8 images of shape (H, W, 1 or 3); got {image.shape} {image.dtype}")
    return np.ascontiguousarray(image)


def settings_hash(*parts: str) -> bytes:
    return hashlib.sha256("\0".join(parts).encode()).digest()[:16]


class PillowCodec(Codec):
    """A classical codec through Pillow at one quality. Grey images are coded as grey where the
    format supports it (JPEG) and otherwise replicated to RGB and converted back by BT.601 luma."""

    format: str
    grey_native: bool
    feature: str  # Pillow's name for the library (PIL.features.check)

    def __init__(self, quality: int):
        if not 0 <= int(quality) <= 100:
            raise ValueError(f"quality must be 0..100, got {quality}")
        self.quality = int(quality)
        self.method = f"{self.name}_quality-{self.quality}"
        self.kind, self.point = self.name, self.quality

    def save_options(self) -> dict:
        return {}

    def identity(self) -> bytes:
        """The format, quality and save options: a JPEG or WebP file stays decodable by any later
        Pillow (and libjpeg/libwebp), so the library's version is not part of it."""
        return settings_hash(self.method, "Pillow", repr(sorted(self.save_options().items())))

    def check_capacity(self, payloads: list[bytes], header: Header) -> None:
        """The embedded JPEG/WebP must declare the container's size (read from its own header;
        no pixel is decoded yet)."""
        from PIL import Image

        if len(payloads) != 1:
            raise ContainerError(f"{self.method} files hold one payload, this one {len(payloads)}")
        with Image.open(io.BytesIO(payloads[0]), formats=[self.format]) as picture:
            if picture.size != (header.width, header.height):
                raise ContainerError(
                    f"the {self.format} payload is {picture.size[0]}x{picture.size[1]}, the header "
                    f"declares {header.width}x{header.height}"
                )

    def encode_payloads(self, image: np.ndarray) -> list[bytes]:
        from PIL import Image

        if image.shape[2] == 1:
            picture = Image.fromarray(image[:, :, 0], "L")
            if not self.grey_native:
                picture = picture.convert("RGB")
        else:
            picture = Image.fromarray(image, "RGB")
        buffer = io.BytesIO()
        picture.save(buffer, self.format, quality=self.quality, **self.save_options())
        return [buffer.getvalue()]

    def decode_payloads(self, payloads: list[bytes], header: Header) -> np.ndarray:
        from PIL import Image

        (payload,) = payloads
        with Image.open(io.BytesIO(payload), formats=[self.format]) as picture:
            picture = picture.convert("L" if header.channels == 1 else "RGB")
            array = np.asarray(picture, dtype=np.uint8)
        return array[:, :, None] if array.ndim == 2 else array


class JpegCodec(PillowCodec):
    """Baseline JPEG, 4:2:0 chroma subsampling, optimized Huffman tables (libjpeg via Pillow)."""

    name, format, grey_native, feature = "jpeg", "JPEG", True, "jpg"

    def save_options(self) -> dict:
        return {"subsampling": 2, "optimize": True}  # 2 = 4:2:0


class WebpCodec(PillowCodec):
    """Lossy WebP (libwebp via Pillow) at its slowest, best compression method (6)."""

    name, format, grey_native, feature = "webp", "WEBP", False, "webp"

    def save_options(self) -> dict:
        return {"method": 6}


class AvifCodec(PillowCodec):
    """AVIF (libavif via Pillow, when built with it): an optional, modern classical anchor."""

    name, format, grey_native, feature = "avif", "AVIF", False, "avif"

    def save_options(self) -> dict:
        return {"speed": 4, "subsampling": "4:2:0"}


CLASSICAL: dict[str, type[PillowCodec]] = {"jpeg": JpegCodec, "webp": WebpCodec, "avif": AvifCodec}


def available_classical() -> list[str]:
    """The classical codecs this Pillow can write (AVIF needs Pillow built with libavif)."""
    from PIL import features

    return [name for name, codec in CLASSICAL.items() if features.check(codec.feature)]


def classical_codec(name: str, quality: int) -> PillowCodec:
    if name not in CLASSICAL:
        raise ValueError(f"unknown classical codec '{name}' (known: {', '.join(CLASSICAL)})")
    if name not in available_classical():
        raise ValueError(f"codec '{name}' is not available: this Pillow was built without it")
    return CLASSICAL[name](quality)


def bits_per_pixel(data: bytes, image_shape: tuple[int, ...]) -> float:
    """The rate of a coded file: 8 * file size (header included) / pixels."""
    return 8 * len(data) / (image_shape[0] * image_shape[1])
