"""One codec interface for every method, learned or classical: 8-bit image -> bytes -> 8-bit image.

Every codec writes the same container (codecs.container), so the rate of every method is
measured the same way: 8 * file size / pixels, header included (and reported on its own).
Classical and fitted codecs are one module each, listed in codecs.registry (JPEG, WebP, AVIF,
JPEG 2000 through Pillow, whose base class is here; PCA); learned ones live in codecs.learned.
`classical_codec(name, point)` and `learned_codec(model_dir, point)` build them.
"""

from __future__ import annotations

import hashlib
import io
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from aecompress.codecs.container import ContainerError, Header, pack, unpack
from aecompress.codecs.registry import REGISTRY, BaselineCodec, baseline_codec
from aecompress.images import DEFAULT_MAX_PIXELS

__all__ = ["Codec", "ContainerError", "PillowCodec", "available_classical", "classical_codec"]


class Codec(ABC):
    """Encode a uint8 (H, W, C) image, C in {1, 3}, to bytes; decode them to the same shape."""

    method: str  # the codec and its operating point, e.g. "jpeg_quality-75"
    kind: str  # its method in the file (container.METHOD_IDS)
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
    """A classical codec through Pillow at one operating point. Grey images are coded as grey where
    the format supports it and otherwise replicated to RGB and converted back by BT.601 luma."""

    name: str  # its registry name, which is also its kind in the file
    format: str
    grey_native: bool
    feature: str  # Pillow's name for the library (PIL.features.check)
    point_range: tuple[float, float] = (0, 100)  # allowed operating points (a quality by default)

    def __init__(self, point: float):
        from aecompress.codecs.registry import point_label, registered

        low, high = self.point_range
        if not low <= point <= high:
            raise ValueError(
                f"{self.name}: {registered(self.name).point} must be {low:g}..{high:g}, got {point}"
            )
        integral = registered(self.name).point_type == "varint"
        if integral and point != int(point):
            raise ValueError(f"{self.name}: {registered(self.name).point} is a whole number, got {point}")
        self.point = int(point) if integral else float(point)
        self.method = f"{self.name}_{point_label(self.name, self.point)}"
        self.kind = self.name

    def point_options(self) -> dict:
        """Pillow's save options that set the operating point."""
        return {"quality": self.point}

    def save_options(self) -> dict:
        """Pillow's save options that do not depend on the operating point."""
        return {}

    def identity(self) -> bytes:
        """The format, operating point and save options: a JPEG or WebP file stays decodable by
        any later Pillow (and libjpeg/libwebp), so the library's version is not part of it."""
        return settings_hash(self.method, "Pillow", repr(sorted(self.save_options().items())))

    def check_capacity(self, payloads: list[bytes], header: Header) -> None:
        """The embedded image must declare the container's size (read from its own header; no
        pixel is decoded yet)."""
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
        picture.save(buffer, self.format, **self.point_options(), **self.save_options())
        return [buffer.getvalue()]

    def decode_payloads(self, payloads: list[bytes], header: Header) -> np.ndarray:
        from PIL import Image

        (payload,) = payloads
        with Image.open(io.BytesIO(payload), formats=[self.format]) as picture:
            picture = picture.convert("L" if header.channels == 1 else "RGB")
            array = np.asarray(picture, dtype=np.uint8)
        return array[:, :, None] if array.ndim == 2 else array


class PillowBaseline(BaselineCodec):
    """A Pillow codec as a baseline: one rate point per entry of the baseline's `qualities`."""

    def __init__(self, codec: type[PillowCodec], default_point: float = 75):
        self.codec, self.name, self.default_point = codec, codec.name, default_point

    def available(self) -> bool:
        from PIL import features

        return bool(features.check(self.codec.feature))

    def operating_points(self, baseline: dict[str, Any]) -> list[float]:
        return list(baseline["qualities"])

    def search_points(self, fitted: str | None = None) -> list[float]:
        """Every whole quality, lowest first."""
        low, high = self.codec.point_range
        return [float(q) for q in range(int(low), int(high) + 1)]

    def problems(self, config: dict[str, Any], baseline: dict[str, Any], where: str) -> list[str]:
        if self.available():
            return []
        return [f"{where}.codec: this Pillow cannot write {self.name} (it was built without the library)"]

    def build(self, point: float, fitted: str | None = None, name: str | None = None) -> PillowCodec:
        if not self.available():
            raise ValueError(f"codec '{self.name}' is not available: this Pillow was built without it")
        return self.codec(point)

    def describe(self, codec: PillowCodec) -> dict[str, Any]:
        return {
            "params": {**codec.point_options(), **codec.save_options()},
            "coding": None,
            "trained_on": None,
        }


def classical_codec(name: str, point: float) -> Codec:
    """A registered codec that needs no fitted file (JPEG, WebP, AVIF, JPEG 2000) at one point."""
    spec = baseline_codec(name)
    if spec.fitted_file is not None:
        raise ValueError(f"codec '{name}' needs its fitted file ({spec.fitted_file})")
    return spec.build(point)


def available_classical() -> list[str]:
    """The registered codecs this installation can write that need no fitting."""
    return [
        name
        for name in REGISTRY
        if baseline_codec(name).fitted_file is None and baseline_codec(name).available()
    ]


def bits_per_pixel(data: bytes, image_shape: tuple[int, ...]) -> float:
    """The rate of a coded file: 8 * file size (header included) / pixels."""
    return 8 * len(data) / (image_shape[0] * image_shape[1])
