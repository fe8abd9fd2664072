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


def model_hash(model_dir: str | Path) -> bytes:
    """SHA-256 (first 16 bytes) of a SavedModel's graph and variables."""
    digest = hashlib.sha256()
    folder = Path(model_dir)
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".json"):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.digest()[:16]


def ceil_div(value: int, factor: int) -> int:
    return -(-value // factor)


class CompressiveCodec(Codec):
    """A factorized-prior, hyperprior or SlimCAE (one width) model as a codec."""

    def __init__(self, model, family: str, method: str, identity: bytes, width: int | None = None):
        if family not in COMPRESSIVE_FAMILIES:
            raise ValueError(
                f"family '{family}' has no range coder (compressive families: {COMPRESSIVE_FAMILIES})"
            )
        self.model, self.family, self.method, self._identity, self.width = (
            model,
            family,
            method,
            identity,
            width,
        )
        self.kind, self.point = family, width
        suffix = f"_{width}" if family == "slimcae" else ""
        self._compress = getattr(model, f"compress{suffix}")
        self._decompress = getattr(model, f"decompress{suffix}")

    @classmethod
    def from_model(cls, model, family: str, width: int | None = None) -> CompressiveCodec:
        """The codec of a model in memory (its identity: a hash of its variables)."""
        digest = hashlib.sha256()
        for variable in model.variables:
            digest.update(variable.numpy().tobytes())
        method = family + (f"_width-{width}" if width is not None else "")
        return cls(model, family, method, digest.digest()[:16], width)

    @classmethod
    def from_model_dir(
        cls, model_dir: str | Path, point: dict[str, Any] | None = None, model=None
    ) -> CompressiveCodec:
        """The codec of a trained variant: `results/models/<variant>/model` (model.json beside it);
        `model`: the model already loaded from there (one load for every width of a SlimCAE)."""
        from aecompress.runtime import import_tensorflow
        from aecompress.training import load_model

        model_dir = Path(model_dir)
        card_path = model_dir.parent / "model.json"
        try:
            card = json.loads(card_path.read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"{card_path}: the model card of {model_dir} cannot be read ({err})") from err
        width = (point or {}).get("width")
        if card["family"] == "slimcae":
            widths = card["params"]["widths"]
            width = widths[0] if width is None else int(width)
            if width not in widths:
                raise ValueError(f"{model_dir}: width {width} is not one of the model's widths {widths}")
        method = card["variant"] + (f"_width-{width}" if card["family"] == "slimcae" else "")
        model = model if model is not None else load_model(import_tensorflow(2), model_dir)
        return cls(model, card["family"], method, model_hash(model_dir), width)

    def identity(self) -> bytes:
        return self._identity

    def coded_shapes(self, height: int, width: int) -> list[np.ndarray]:
        """The shapes `decompress` takes after the strings: x, y (and z for the hyperprior)."""
        y = (ceil_div(height, 16), ceil_div(width, 16))
        shapes = [(height, width), y]
        if self.family == "hyperprior":
            shapes.append((ceil_div(y[0], 4), ceil_div(y[1], 4)))
        return [np.array(s, dtype=np.int32) for s in shapes]

    def encode_payloads(self, image: np.ndarray) -> list[bytes]:
        import tensorflow as tf

        outputs = self._compress(tf.constant(image))
        strings = [o.numpy()[0] for o in outputs if o.dtype == tf.string]
        shapes = [o.numpy() for o in outputs if o.dtype != tf.string]
        expected = self.coded_shapes(*image.shape[:2])
        if any(not np.array_equal(a, b) for a, b in zip(shapes, expected, strict=True)):
            raise RuntimeError(f"{self.method}: the model's latent shapes {shapes} differ from {expected}")
        return strings

    def _coding_tables(self) -> list[tuple[Any, bool]]:
        """Per payload, the entropy model that coded it and whether it has one table per latent
        channel (factorized priors) or tables indexed per element (the hyperprior's scales)."""
        if self.family == "hyperprior":
            return [(self.model.entropy_model, False), (self.model.side_entropy_model, True)]
        if self.family == "slimcae":
            return [(self.model.entropy_models[str(self.width)], True)]
        return [(self.model.entropy_model, True)]

    def _latent_channels(self, channels: int) -> int:
        """Channels of y (only the hyperprior needs them: its tables are not per channel)."""
        import tensorflow as tf

        if not hasattr(self, "_y_channels"):
            probe = tf.zeros((1, 16, 16, channels), tf.float32)
            self._y_channels = int(self.model.analysis_transform(probe).shape[-1])
        return self._y_channels

    def check_capacity(self, payloads: list[bytes], header: Header) -> None:
        """Each string must be long enough for its latent's element count at the cheapest symbol
        of the range-coding tables (entropy.minimum_bits), before a latent is allocated."""
        from aecompress.codecs.entropy import check_capacity, minimum_bits

        tables = self._coding_tables()
        if len(payloads) != len(tables):
            raise ContainerError(
                f"{self.method} files hold {len(tables)} payload(s), this one {len(payloads)}"
            )
        spatial = self.coded_shapes(header.height, header.width)[1:]
        for payload, (entropy_model, per_channel), shape in zip(payloads, tables, spatial, strict=True):
            cheapest = minimum_bits(np.asarray(entropy_model._cdf))
            positions = float(np.prod(shape, dtype=np.float64))
            if per_channel:
                required = positions * float(cheapest.sum())
            else:
                required = positions * self._latent_channels(header.channels) * float(cheapest.min())
            check_capacity(payload, required, f"{self.method} latent of {tuple(int(v) for v in shape)}")

    def decode_payloads(self, payloads: list[bytes], header: Header) -> np.ndarray:
        import tensorflow as tf

        strings = [tf.constant([p]) for p in payloads]
        shapes = [tf.constant(s) for s in self.coded_shapes(header.height, header.width)]
        return self._decompress(*strings, *shapes).numpy()

    def latents(self, image: np.ndarray) -> np.ndarray | None:
        """The analysis transform's output y, before rounding (None for a SlimCAE saved without
        its `analyze_<w>` functions)."""
        import tensorflow as tf

        if self.family == "slimcae":
            analyze = getattr(self.model, f"analyze_{self.width}", None)
            return None if analyze is None else analyze(tf.constant(image)).numpy()
        x = tf.cast(tf.constant(image)[None], tf.float32) / 255.0
        return self.model.analysis_transform(x)[0].numpy()

    def estimated_bits(self, image: np.ndarray) -> float:
        """The entropy model's estimate of the payload bits (latents rounded), for real/estimated."""
        import tensorflow as tf

        suffix = f"_{self.width}" if self.family == "slimcae" else ""
        return float(getattr(self.model, f"estimate_bits{suffix}")(tf.constant(image)))


def learned_codec(
    model_dir: str | Path, point: dict[str, Any] | None = None, coder: str | Path | None = None
) -> Codec:
    """The codec of any trained variant: its range coder, or its quantized latent (codecs.latent,
    with the latent coder `coder`, by default latent_coder.npz beside the model)."""
    from aecompress.codecs.latent import LatentCodec
    from aecompress.models import LATENT_FAMILIES

    card_path = Path(model_dir).parent / "model.json"
    try:
        family = json.loads(card_path.read_text())["family"]
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{card_path}: the model card of {model_dir} cannot be read ({err})") from err
    if family in LATENT_FAMILIES:
        return LatentCodec.from_model_dir(model_dir, coder)
    return CompressiveCodec.from_model_dir(model_dir, point)
