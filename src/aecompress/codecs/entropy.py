"""Coding integer symbols with a prior counted on training data, through tfc's range coder.

The methods that do not learn their own entropy model (a quantized autoencoder latent, PCA
coefficients) share this: one discrete distribution per channel (the last axis), fitted as a
smoothed histogram of the training symbols, quantized once to 16-bit CDFs (stored, so that
encoder and decoder use the very same tables on any platform), and range-coded by
tensorflow-compression's `entropy_encode_channel`. Symbols outside the fitted range are coded
with the range coder's overflow escape (Elias gamma), so any value round-trips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRECISION = 16
MAX_SUPPORT = 4096  # symbols per channel; a wider histogram means the quantizer step is far too small
# Bits a range-coded string may fall short of its symbols' information content: the coder's
# final flush and the rounding of its interval (generous; the real shortfall is a few bits).
CODER_SLACK_BITS = 64


def minimum_bits(lookup: np.ndarray) -> np.ndarray:
    """For each table of a flat range-coding lookup (tfc's layout: [-precision, cdf...] per
    table, as tfc's entropy models store them and `HistogramPrior` writes them), the fewest
    bits any one symbol coded with it can cost: -log2 of the table's largest probability.

    No string holds n symbols of a table in fewer than n times that many bits (less
    `CODER_SLACK_BITS`), which bounds how many symbols a payload of a given length can
    decode to before anything of that size is allocated.
    """
    lookup = np.asarray(lookup, np.int64).ravel()
    starts = np.flatnonzero(lookup < 0)
    ends = np.append(starts[1:], lookup.size)
    bits = np.empty(len(starts))
    for k, (start, end) in enumerate(zip(starts, ends, strict=True)):
        precision = -int(lookup[start])
        largest = int(np.diff(lookup[start + 1 : end]).max(initial=1))
        bits[k] = precision - np.log2(max(1, largest))
    return bits


def check_capacity(payload: bytes, required_bits: float, what: str) -> None:
    """Raise ValueError when `payload` is too short to hold symbols worth `required_bits`."""
    available = 8 * len(payload)
    if available + CODER_SLACK_BITS < required_bits:
        raise ValueError(
            f"{what}: the header's image shape needs at least {required_bits:,.0f} coded bits, the "
            f"payload has {available:,}; the declared shape is not what this payload encodes"
        )


@dataclass(frozen=True)
class HistogramPrior:
    """Per-channel CDF tables: channel c codes symbols minima[c] .. minima[c] + lengths[c] - 1."""

    minima: np.ndarray  # (C,) int32
    lengths: np.ndarray  # (C,) int32, symbols in range (the escape symbol not counted)
    lookup: np.ndarray  # flat int32: per channel [-PRECISION, cdf...] (negative: overflow enabled)

    @classmethod
    def fit(
        cls,
        symbols: np.ndarray,
        smoothing: float = 0.5,
        support: tuple[np.ndarray, np.ndarray] | None = None,
        what: str = "symbols",
    ) -> HistogramPrior:
        """Count (N, C) training symbols; every symbol in range gets `smoothing` extra counts.

        `support` (lowest, highest per channel) fixes the range (e.g. the 2^bits levels of a
        clipping quantizer); by default it is the observed range. The escape symbol gets the
        mass of one smoothed unseen symbol.
        """
        from tensorflow_compression.python.ops import gen_ops

        symbols = np.asarray(symbols)
        if symbols.ndim != 2 or symbols.shape[0] == 0:
            raise ValueError(f"{what}: need a non-empty (N, channels) array of training symbols")
        low, high = support if support is not None else (symbols.min(0), symbols.max(0))
        low = np.broadcast_to(np.asarray(low, np.int64), symbols.shape[1:])
        high = np.broadcast_to(np.asarray(high, np.int64), symbols.shape[1:])
        lengths = high - low + 1
        if (widest := int(lengths.max())) > MAX_SUPPORT:
            channel = int(lengths.argmax())
            raise ValueError(
                f"{what}: channel {channel} spans {widest} quantization levels (at most {MAX_SUPPORT}); "
                "the quantizer step is too small for the range of the values"
            )
        tables = []
        for c in range(symbols.shape[1]):
            in_range = symbols[:, c][(symbols[:, c] >= low[c]) & (symbols[:, c] <= high[c])] - low[c]
            counts = np.bincount(in_range, minlength=int(lengths[c])).astype(np.float64) + smoothing
            pmf = np.append(counts, max(smoothing, 1e-3)) / (counts.sum() + max(smoothing, 1e-3))
            cdf = gen_ops.pmf_to_quantized_cdf(pmf.astype(np.float32), precision=PRECISION).numpy()
            tables.append(np.concatenate([[-PRECISION], cdf]))
        return cls(low.astype(np.int32), lengths.astype(np.int32), np.concatenate(tables).astype(np.int32))

    @property
    def channels(self) -> int:
        return len(self.minima)

    def check_capacity(self, payload: bytes, shape: tuple[int, ...], what: str) -> None:
        """Refuse to decode `shape` (last axis: channels) from a payload too short to hold it."""
        if not shape or shape[-1] != self.channels:
            raise ValueError(f"decode shape {shape}: the last axis must have {self.channels} channels")
        per_channel = float(np.prod(shape[:-1], dtype=np.float64))
        check_capacity(payload, per_channel * float(minimum_bits(self.lookup).sum()), what)

    def _check(self, symbols: np.ndarray) -> np.ndarray:
        symbols = np.asarray(symbols)
        if symbols.ndim == 0 or symbols.shape[-1] != self.channels:
            raise ValueError(
                f"symbols of shape {symbols.shape}: the last axis must have {self.channels} channels"
            )
        return symbols

    def encode(self, symbols: np.ndarray) -> bytes:
        """One range-coded string for an integer array (..., C)."""
        from tensorflow_compression.python.ops import gen_ops

        shifted = (self._check(symbols).astype(np.int64) - self.minima).astype(np.int32)
        handle = gen_ops.create_range_encoder([], self.lookup)
        handle = gen_ops.entropy_encode_channel(handle, shifted)
        return gen_ops.entropy_encode_finalize(handle).numpy()

    def decode(self, data: bytes, shape: tuple[int, ...]) -> np.ndarray:
        """The int32 array of `shape` (last axis C) that `encode` wrote into `data`."""
        import tensorflow as tf
        from tensorflow_compression.python.ops import gen_ops

        self.check_capacity(data, shape, "range-coded payload")
        handle = gen_ops.create_range_decoder(tf.constant(data, tf.string), self.lookup)
        handle, shifted = gen_ops.entropy_decode_channel(handle, list(shape), tf.int32)
        if not bool(gen_ops.entropy_decode_finalize(handle).numpy()):
            raise ValueError("the range-coded payload ends early or holds data the prior cannot have written")
        return shifted.numpy() + self.minima

    def probabilities(self) -> list[np.ndarray]:
        """Per channel, the quantized probability of each symbol in range and (last) of the escape."""
        out, start = [], 0
        for length in self.lengths:
            cdf = self.lookup[start + 1 : start + 2 + int(length) + 1].astype(np.float64)
            out.append(np.diff(cdf) / 2**PRECISION)
            start += int(length) + 3
        return out

    def estimated_bits(self, symbols: np.ndarray) -> float:
        """The ideal code length under the quantized tables (escapes: escape + Elias gamma bits)."""
        symbols = self._check(symbols).reshape(-1, self.channels).astype(np.int64) - self.minima
        bits = 0.0
        for c, probs in enumerate(self.probabilities()):
            column = symbols[:, c]
            inside = (column >= 0) & (column < self.lengths[c])
            bits -= np.log2(probs[column[inside]]).sum()
            if (outside := ~inside).any():
                overflow = np.where(column[outside] < 0, -column[outside], column[outside] - self.lengths[c])
                gamma = 2 * np.floor(np.log2(2 * overflow.astype(np.float64) + 1)) + 1
                bits += (-np.log2(probs[-1]) + gamma).sum()
        return float(bits)

    def to_arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        return {
            f"{prefix}minima": self.minima,
            f"{prefix}lengths": self.lengths,
            f"{prefix}lookup": self.lookup,
        }

    @classmethod
    def from_arrays(cls, arrays, prefix: str = "") -> HistogramPrior:
        return cls(
            np.asarray(arrays[f"{prefix}minima"], np.int32),
            np.asarray(arrays[f"{prefix}lengths"], np.int32),
            np.asarray(arrays[f"{prefix}lookup"], np.int32),
        )


@dataclass(frozen=True)
class UniformQuantizer:
    """value -> round((value - offset) / step), per channel; with `levels`, clipped to 0..levels-1."""

    offset: np.ndarray  # (C,)
    step: np.ndarray  # (C,)
    levels: int | None

    @classmethod
    def fit(cls, values: np.ndarray, bits: int | None, step: float | None) -> UniformQuantizer:
        """`bits`: 2^bits levels spanning each channel's training range; else a fixed `step`."""
        values = np.asarray(values, np.float64)
        if step is not None:
            channels = values.shape[-1]
            return cls(np.zeros(channels), np.full(channels, float(step)), None)
        low, high = values.min(0), values.max(0)
        levels = 2**bits
        span = np.where(high > low, high - low, 1.0)
        return cls(low, span / (levels - 1), levels)

    def quantize(self, values: np.ndarray) -> np.ndarray:
        symbols = np.round((np.asarray(values, np.float64) - self.offset) / self.step)
        if self.levels is not None:
            symbols = np.clip(symbols, 0, self.levels - 1)
        return symbols.astype(np.int32)

    def dequantize(self, symbols: np.ndarray) -> np.ndarray:
        return (self.offset + np.asarray(symbols, np.float64) * self.step).astype(np.float32)

    def support(self) -> tuple[np.ndarray, np.ndarray] | None:
        if self.levels is None:
            return None
        return np.zeros(len(self.step), np.int64), np.full(len(self.step), self.levels - 1, np.int64)

    def describe(self) -> str:
        if self.levels is None:
            return f"uniform, step {self.step[0]:g} (rounding to the nearest multiple)"
        bits = int(np.log2(self.levels))
        return f"uniform, {self.levels} levels ({bits} bits) over each channel's training range"

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "quantizer_offset": self.offset,
            "quantizer_step": self.step,
            "quantizer_levels": np.array(self.levels or 0),
        }

    @classmethod
    def from_arrays(cls, arrays) -> UniformQuantizer:
        levels = int(arrays["quantizer_levels"])
        return cls(
            np.asarray(arrays["quantizer_offset"], np.float64),
            np.asarray(arrays["quantizer_step"], np.float64),
            levels or None,
        )
