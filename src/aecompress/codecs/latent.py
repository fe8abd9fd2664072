"""Real bitstreams for the autoencoders that were trained without a rate: quantize the latent,
range-code it with a prior counted on training latents.

The papers behind the dense, deep-CAE, linear-latent and rate-study families report a
"compression ratio" of float latent values to input values; the file this codec writes is what
such a latent actually costs. What is quantized: the encoder's output, every value, per latent
channel (the last axis: a dense unit, a conv channel). How: `UniformQuantizer` (2^bits levels
over the channel's training range, or a fixed step), then `HistogramPrior` (one smoothed
histogram per channel, counted on the quantized latents of training images) and tfc's range
coder. The fitted quantizer and prior live in one `latent_coder.npz` (`fit_latent_coder`; the
workflow's evaluation job of the variant writes it to results/evaluation/<variant>/), so a file is
decodable by that model and coder alone.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from aecompress.codecs import Codec
from aecompress.codecs.container import ContainerError, Header
from aecompress.codecs.entropy import HistogramPrior, UniformQuantizer
from aecompress.models import LATENT_FAMILIES

CODER_FILE = "latent_coder.npz"


def coder_path(model_dir: str | Path) -> Path:
    """Where the latent coder of `results/models/<variant>/model` is: beside the model if a user put
    it there, else where the workflow's evaluation job wrote it (results/evaluation/<variant>/)."""
    model_dir = Path(model_dir)
    beside = model_dir.parent / CODER_FILE
    if beside.exists():
        return beside
    return model_dir.parent.parent.parent / "evaluation" / model_dir.parent.name / CODER_FILE


class LatentCodec(Codec):
    """A trained non-compressive autoencoder with its fitted quantizer and prior, as a codec."""

    def __init__(self, model, card: dict[str, Any], quantizer, prior, identity: bytes):
        from aecompress.models import get_family
        from aecompress.preprocessing import Normalization

        if card["family"] not in LATENT_FAMILIES:
            raise ValueError(f"family '{card['family']}' is not coded through a quantized latent")
        self.model, self.card, self.quantizer, self.prior = model, card, quantizer, prior
        self.family = get_family(card["family"])
        self.params = card["params"]
        self.normalization = Normalization.from_json(card["preprocessing"]["normalization"])
        self.method = card["variant"]
        self.kind = "latent"
        self._identity = identity

    @classmethod
    def from_model_dir(
        cls, model_dir: str | Path, coder_file: str | Path | None = None, model=None
    ) -> LatentCodec:
        """The codec of `results/models/<variant>/model` with its latent coder (`coder_file`, by
        default latent_coder.npz beside the model); `model`: the model already loaded from there."""
        from aecompress.codecs.learned import model_hash
        from aecompress.runtime import import_tensorflow
        from aecompress.training import load_model

        model_dir = Path(model_dir)
        card_path = model_dir.parent / "model.json"
        coder_file = Path(coder_file) if coder_file is not None else coder_path(model_dir)
        try:
            card = json.loads(card_path.read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"{card_path}: the model card of {model_dir} cannot be read ({err})") from err
        if not coder_file.exists():
            raise ValueError(
                f"{coder_file}: missing; the latent coder of {model_dir} is fitted by the workflow's "
                f"evaluation job (results/evaluation/{card['variant']}/{CODER_FILE}: pass it as the coder)"
            )
        quantizer, prior = load_coder(coder_file)
        identity = hashlib.sha256(model_hash(model_dir) + coder_file.read_bytes()).digest()[:16]
        model = model if model is not None else load_model(import_tensorflow(2), model_dir)
        return cls(model, card, quantizer, prior, identity)

    def identity(self) -> bytes:
        return self._identity

    def _latent_shape(self, shape: tuple[int, int, int]) -> tuple[int, ...]:
        return tuple(int(s) for s in self.family.coded_shape(self.model, self.params, shape))

    def encode_payloads(self, image: np.ndarray) -> list[bytes]:
        self._latent_shape(image.shape)  # refuses sizes or channel counts the model cannot code
        return [self.prior.encode(self.quantizer.quantize(self.latents(image)))]

    def check_capacity(self, payloads: list[bytes], header: Header) -> None:
        if len(payloads) != 1:
            raise ContainerError(f"{self.method} files hold one payload, this one {len(payloads)}")
        shape = self._latent_shape((header.height, header.width, header.channels))
        self.prior.check_capacity(payloads[0], shape, f"{self.method} latent")

    def decode_payloads(self, payloads: list[bytes], header: Header) -> np.ndarray:
        shape = (header.height, header.width, header.channels)
        symbols = self.prior.decode(payloads[0], self._latent_shape(shape))
        latents = self.quantizer.dequantize(symbols)[None]
        return self.family.decode_latents(self.model, latents, shape, self.params, self.normalization)[0]

    def latents(self, image: np.ndarray) -> np.ndarray:
        return self.family.encode_latents(self.model, image[None], self.params, self.normalization)[0]

    def estimated_bits(self, image: np.ndarray) -> float:
        return self.prior.estimated_bits(self.quantizer.quantize(self.latents(image)))

    def describe(self) -> dict[str, Any]:
        return describe_coding(self.quantizer)


def describe_coding(quantizer: UniformQuantizer) -> dict[str, str]:
    """What the report says about how a latent was turned into bits."""
    return {
        "quantized": "every value of the encoder's output (the latent), per latent channel",
        "quantizer": quantizer.describe(),
        "prior": "one smoothed histogram per channel, counted on the quantized latents of training images",
        "entropy_coder": "tensorflow-compression range coder, 16-bit CDFs, overflow escape",
    }


def training_latents(model, card: dict[str, Any], images, max_images: int, seed: int) -> np.ndarray:
    """Float latents (values, channels) of up to `max_images` training images (a seeded subset)."""
    from aecompress.models import get_family
    from aecompress.preprocessing import Normalization

    family = get_family(card["family"])
    normalization = Normalization.from_json(card["preprocessing"]["normalization"])
    order = np.random.default_rng(seed).permutation(len(images))[:max_images]
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i in sorted(order):
        by_shape.setdefault(images.images[i].shape, []).append(int(i))
    chunks = []
    for indices in by_shape.values():
        for start in range(0, len(indices), 256):
            batch = np.stack([images.images[i] for i in indices[start : start + 256]])
            latents = family.encode_latents(model, batch, card["params"], normalization)
            chunks.append(latents.reshape(-1, latents.shape[-1]))
    return np.concatenate(chunks)


def fit_latent_coder(
    model_dir: str | Path,
    dataset,
    coding: dict[str, Any],
    seed: int,
    threads: int,
    out_path: str | Path,
    model=None,
) -> dict[str, Any]:
    """Fit the quantizer and prior of a trained variant on its training split; write the .npz.
    `model`: the variant's model already loaded (else loaded from `model_dir`)."""
    from aecompress.runtime import import_tensorflow, job_output
    from aecompress.training import load_model

    tf = import_tensorflow(threads)
    model_dir = Path(model_dir)
    card = json.loads((model_dir.parent / "model.json").read_text())
    model = model if model is not None else load_model(tf, model_dir)
    latents = training_latents(model, card, dataset.splits["train"], coding["fit_images"], seed)
    quantizer = UniformQuantizer.fit(latents, coding["bits"], coding["step"])
    symbols = quantizer.quantize(latents)
    prior = HistogramPrior.fit(
        symbols, coding["smoothing"], quantizer.support(), what=f"{card['variant']} latent"
    )
    with job_output(out_path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **quantizer.to_arrays(), **prior.to_arrays())
    return {
        "variant": card["variant"],
        "latent_values": int(latents.shape[0] * latents.shape[1]),
        "training_bits_per_value": prior.estimated_bits(symbols) / symbols.size,
        **describe_coding(quantizer),
    }


def load_coder(path: str | Path) -> tuple[UniformQuantizer, HistogramPrior]:
    try:
        with np.load(path) as arrays:
            return UniformQuantizer.from_arrays(arrays), HistogramPrior.from_arrays(arrays)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{path}: not a latent coder file ({err})") from err
