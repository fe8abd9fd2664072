"""Learned codecs: a trained compressive autoencoder's range coder behind the codec interface.

The payloads are the strings the saved model's `compress` function makes (tensorflow-
compression's range coder); the shapes its `decompress` needs follow from the image size in
the container header, so they cost no bits. The codec's identity is the hash of the saved
weights, so a file can only be decoded by the model that wrote it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from aecompress.codecs import Codec
from aecompress.codecs.container import ContainerError, Header
from aecompress.models import COMPRESSIVE_FAMILIES
from aecompress.models.family import CompressiveFamily
from aecompress.runtime import return_freed_memory


def model_hash(model_dir: str | Path) -> bytes:
    """SHA-256 (first 16 bytes) of a SavedModel's graph and variables."""
    digest = hashlib.sha256()
    folder = Path(model_dir)
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".json"):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.digest()[:16]


# Images above this many pixels are coded tile by tile when no tile size is given: a 6000x4000
# photo through whole-image transforms needs gigabytes of activations (README, "Large photos").
AUTO_TILE_PIXELS = 2048 * 2048
# The automatic tile: the largest multiple of the model's stride, up to AUTO_TILE, whose window
# (the tile and its halo each side) holds at most AUTO_TILE_WORK channel-pixels at the model's
# width. A synthesis's largest temporary is TF's column buffer of a transposed convolution,
# 25 x channels x (window / 4)^2 floats: 0.18 GB for 192 channels over a 384-pixel window, which
# put the scale hyperprior (N = 192) at a 1,039 MB peak decoding a 6000x4000 photo, where N = 128
# fits at 256 pixels. So the budget is that of a 256-pixel tile at N = 128: N = 192 gets
# 176-pixel tiles and peaks at 869 MB to compress and 911 MB to decompress, at 2.7-2.9x the time
# (benchmarks/README.md, tiled_memory.py); `--tile 256` is the faster choice where memory allows.
AUTO_TILE = 256
AUTO_TILE_WORK = (AUTO_TILE + 2 * CompressiveFamily.tile_halo) ** 2 * 128


def automatic_tile(family: CompressiveFamily, params: dict[str, Any], point: dict[str, Any]) -> int:
    """The tile size for images above AUTO_TILE_PIXELS when none is given (AUTO_TILE_WORK)."""
    stride, width = family.downsampling, family.coding_width(params, point)
    window = int((AUTO_TILE_WORK / width) ** 0.5)
    tile = (window - 2 * family.tile_halo) // stride * stride
    return max(stride, min(AUTO_TILE, tile))


class CompressiveCodec(Codec):
    """A trained compressive autoencoder at one operating point, through its family's contract
    (`models.family.CompressiveFamily`): no family is special-cased here. `tile`: the tile size
    in pixels for tiled coding, 0 for whole images always, None for `automatic_tile` above
    AUTO_TILE_PIXELS (the bitstream does not say how it was made: any decoder reads it)."""

    tile: int | None = None

    def __init__(
        self, model, family: str, params: dict[str, Any], point: dict[str, Any], method: str, identity: bytes
    ):
        from aecompress.models import get_family

        self.family = get_family(family)
        if not isinstance(self.family, CompressiveFamily):
            raise ValueError(
                f"family '{family}' has no range coder (compressive families: {COMPRESSIVE_FAMILIES})"
            )
        self.model, self.params, self.method, self._identity = model, params, method, identity
        # The container stores the point's one value (a SlimCAE width, a lambda), or none.
        self.operating_point, self.kind = point, self.family.kind(params)
        self.point = next(iter(point.values())) if point else None

    @classmethod
    def from_model(cls, model, family: str, params: dict[str, Any], point: dict[str, Any] | None = None):
        """The codec of a model in memory (its identity: a hash of its variables)."""
        from aecompress.models import get_family

        point = point or get_family(family).operating_points(params)[0]
        digest = hashlib.sha256()
        coding_state = getattr(model, "rate_lambda", None)  # set per file: not part of the weights
        for variable in model.variables:
            if variable is not coding_state:
                digest.update(variable.numpy().tobytes())
        return cls(model, family, params, point, family + _method_suffix(point), digest.digest()[:16])

    @classmethod
    def from_model_dir(
        cls, model_dir: str | Path, point: dict[str, Any] | None = None, model=None
    ) -> CompressiveCodec:
        """The codec of a trained variant: `results/models/<variant>/model` (model.json beside it);
        `model`: the model already loaded from there (one load for every point)."""
        from aecompress.models import get_family
        from aecompress.runtime import import_tensorflow
        from aecompress.training import load_model

        model_dir = Path(model_dir)
        card = read_model_card(model_dir)
        family, params = get_family(card["family"]), card["params"]
        points = family.operating_points(params)
        if point is None or not point:
            point = points[0]
        point = {key: type(points[0].get(key, value))(value) for key, value in point.items()}
        problem = family.check_point(params, point)
        if problem:
            raise ValueError(f"{model_dir}: cannot code at {point}: {problem}")
        model = model if model is not None else load_model(import_tensorflow(2), model_dir)
        return cls(
            model,
            card["family"],
            params,
            point,
            card["variant"] + _method_suffix(point),
            model_hash(model_dir),
        )

    def identity(self) -> bytes:
        return self._identity

    def coded_shapes(self, height: int, width: int) -> list[np.ndarray]:
        return [np.array(s, dtype=np.int32) for s in self.family.coded_shapes(self.params, height, width)]

    def tile_for(self, height: int, width: int) -> int | None:
        """The tile size for an image of this size, None for whole-image coding. A tiled coder
        is bounded by its peak memory, so the process's freed tiles go back to the OS."""
        if self.tile is None:
            tile = None
            if height * width > AUTO_TILE_PIXELS:
                tile = automatic_tile(self.family, self.params, self.operating_point)
        elif self.tile % self.family.downsampling:
            stride = self.family.downsampling
            raise ValueError(
                f"tile size {self.tile}: expected a multiple of {stride} pixels (the model's stride)"
            )
        else:
            tile = self.tile or None
        if tile:
            return_freed_memory()
        return tile

    def encode_payloads(self, image: np.ndarray) -> list[bytes]:
        tile = self.tile_for(*image.shape[:2])
        strings, shapes = self.family.compress(self.model, image, self.operating_point, tile)
        expected = self.coded_shapes(*image.shape[:2])
        if len(shapes) != len(expected) or any(
            not np.array_equal(a, b) for a, b in zip(shapes, expected, strict=True)
        ):
            raise RuntimeError(f"{self.method}: the model's latent shapes {shapes} differ from {expected}")
        return strings

    def check_capacity(self, payloads: list[bytes], header: Header) -> None:
        """Each string must be long enough for its latent's element count at the cheapest symbol
        of the range-coding tables (entropy.minimum_bits), before a latent is allocated."""
        from aecompress.codecs.entropy import check_capacity, minimum_bits

        expected = self.family.payloads(
            self.model, self.params, self.operating_point, header.height, header.width
        )
        if len(payloads) != len(expected):
            raise ContainerError(
                f"{self.method} files hold {len(expected)} payload(s), this one {len(payloads)}"
            )
        for payload, coded in zip(payloads, expected, strict=True):
            cheapest = minimum_bits(np.asarray(coded.entropy_model._cdf))
            if coded.channels is None:  # one table per channel
                required = coded.positions * float(cheapest.sum())
            else:  # tables chosen per element
                required = coded.positions * coded.channels * float(cheapest.min())
            check_capacity(payload, required, f"{self.method} latent of {coded.positions} positions")

    def decode_payloads(self, payloads: list[bytes], header: Header) -> np.ndarray:
        shapes = self.coded_shapes(header.height, header.width)
        tile = self.tile_for(header.height, header.width)
        return self.family.decompress(self.model, payloads, shapes, self.operating_point, tile)

    def latents(self, image: np.ndarray) -> np.ndarray | None:
        """The analysis transform's output y, before rounding (None where the model has none saved)."""
        return self.family.analyze(self.model, image, self.operating_point)

    def estimated_bits(self, image: np.ndarray) -> float:
        """The entropy model's estimate of the payload bits (latents rounded), for real/estimated."""
        return self.family.estimate_bits(self.model, image, self.operating_point)


def _method_suffix(point: dict[str, Any]) -> str:
    return "".join(f"_{key}-{value}" for key, value in point.items())


def read_model_card(model_dir: str | Path) -> dict[str, Any]:
    card_path = Path(model_dir).parent / "model.json"
    try:
        card = json.loads(card_path.read_text())
        card["family"], card["params"], card["variant"]  # noqa: B018  (the keys every caller needs)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{card_path}: the model card of {model_dir} cannot be read ({err})") from err
    return card


def learned_codec(
    model_dir: str | Path,
    point: dict[str, Any] | None = None,
    coder: str | Path | None = None,
    tile: int | None = None,
) -> Codec:
    """The codec of any trained variant: its range coder (`tile`: CompressiveCodec.tile), or its
    quantized latent (codecs.latent, with the latent coder `coder`, by default latent_coder.npz
    beside the model)."""
    from aecompress.codecs.latent import LatentCodec
    from aecompress.models import LATENT_FAMILIES

    if read_model_card(model_dir)["family"] in LATENT_FAMILIES:
        return LatentCodec.from_model_dir(model_dir, coder)
    codec = CompressiveCodec.from_model_dir(model_dir, point)
    codec.tile = tile
    return codec
