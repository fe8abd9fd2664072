"""Rate and quality targets: the operating point of a codec that meets "at most B bits per pixel"
or "at least P dB PSNR / S MS-SSIM" on one image.

Every codec's operating points are put in one order, from the lowest rate to the highest (JPEG
quality 0..100, a JPEG 2000 ratio from large to small, a PCA step from large to small, the
widths of a SlimCAE or the models of a set from the fewest bits up); rate and quality grow along
it, so the point sought is a boundary found by bisection: the dearest point within a rate
budget, or the cheapest point that reaches a quality. A classical codec's 101 qualities take
at most 8 encodes. CompressAI's `find_close` does the same for classical codecs only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aecompress.codecs import Codec, bits_per_pixel

TARGET_METRICS = ("bpp", "psnr", "ms_ssim")
MAX_ENCODES = 10


@dataclass(frozen=True)
class Target:
    metric: str  # bpp: at most `value`; psnr, ms_ssim: at least `value`
    value: float

    def __post_init__(self):
        if self.metric not in TARGET_METRICS:
            raise ValueError(f"target metric '{self.metric}': expected one of {', '.join(TARGET_METRICS)}")
        if not math.isfinite(self.value) or self.value <= 0 or (self.metric == "ms_ssim" and self.value >= 1):
            expected = "in (0, 1)" if self.metric == "ms_ssim" else "a positive number"
            raise ValueError(f"target {self.metric} {self.value}: expected {expected}")

    @property
    def is_rate(self) -> bool:
        return self.metric == "bpp"

    def met_by(self, outcome: Outcome) -> bool:
        reached = outcome.measures[self.metric]
        return reached <= self.value if self.is_rate else reached >= self.value

    def label(self) -> str:
        return f"{self.metric} {'<=' if self.is_rate else '>='} {self.value:g}"


@dataclass
class Outcome:
    """One encode of the image at one candidate point."""

    index: int
    point: Any  # the candidate's label (a quality, a width, a model folder)
    codec: Codec
    data: bytes
    measures: dict[str, float] = field(default_factory=dict)


@dataclass
class Search:
    target: Target
    chosen: Outcome
    met: bool
    encodes: int
    tried: list[Outcome]

    def summary(self) -> str:
        m = self.chosen.measures
        quality = ", ".join(f"{name} {m[name]:.4g}" for name in ("psnr", "ms_ssim") if name in m)
        state = "met" if self.met else "NOT met (the nearest point is kept)"
        return (
            f"{self.chosen.codec.method}: {m['bpp']:.4f} bpp, {quality}; target {self.target.label()}: "
            f"{state} after {self.encodes} encodes"
        )


def measure(image: np.ndarray, data: bytes, codec: Codec, metrics: Sequence[str]) -> dict[str, float]:
    """bpp of the file (header included) and the asked quality metrics of its decoded image
    (PSNR in NumPy; MS-SSIM through TensorFlow, as the evaluation measures it)."""
    measures = {"bpp": bits_per_pixel(data, image.shape)}
    wanted = [m for m in metrics if m != "bpp"]
    if wanted:
        decoded = codec.decode(data)
        if "ms_ssim" in wanted:
            from aecompress.metrics import image_quality
            from aecompress.runtime import import_tensorflow

            quality = image_quality(import_tensorflow(1), image[None], decoded[None])
            measures.update({m: float(quality[m][0]) for m in wanted})
        else:
            error = float(np.mean((image.astype(np.float64) - decoded) ** 2))
            measures["psnr"] = 100.0 if error == 0 else 10 * math.log10(255.0**2 / error)
    return measures


def search(
    candidates: Sequence[tuple[Any, Callable[[], Codec]]],
    image: np.ndarray,
    target: Target,
    report: Sequence[str] = ("psnr",),
    max_encodes: int = MAX_ENCODES,
) -> Search:
    """Bisection over `candidates` (label, codec factory), ordered from the lowest rate up; each
    probe encodes the image once and measures the target's metric only. `report`: quality
    metrics measured on the chosen point as well."""
    if not candidates:
        raise ValueError("no operating point to search")
    tried: dict[int, Outcome] = {}

    def probe(index: int) -> Outcome:
        if index not in tried:
            if len(tried) >= max_encodes:
                raise RuntimeError(
                    f"target search: more than {max_encodes} encodes for {len(candidates)} points"
                )
            label, make = candidates[index]
            codec = make()
            data = codec.encode(image)
            tried[index] = Outcome(index, label, codec, data, measure(image, data, codec, [target.metric]))
        return tried[index]

    last = len(candidates) - 1
    if target.is_rate:  # the dearest point within the budget: met on a prefix
        low, high = 0, last  # the answer is in [low, high] once point 0 meets it
        if target.met_by(probe(0)):
            while low < high:
                middle = (low + high + 1) // 2
                low, high = (middle, high) if target.met_by(probe(middle)) else (low, middle - 1)
        chosen = probe(low)
    else:  # the cheapest point that reaches the quality: met on a suffix
        low, high = 0, last  # the answer is in [low, high] once the last point meets it
        if target.met_by(probe(last)):
            while low < high:
                middle = (low + high) // 2
                low, high = (low, middle) if target.met_by(probe(middle)) else (middle + 1, high)
        chosen = probe(high)
    missing = [m for m in report if m not in chosen.measures]
    if missing:
        chosen.measures.update(measure(image, chosen.data, chosen.codec, missing))
    outcomes = sorted(tried.values(), key=lambda o: o.index)
    return Search(target, chosen, target.met_by(chosen), len(tried), outcomes)


def codec_points(name: str, fitted: str | None = None, baseline: str | None = None):
    """A registered codec's searchable points as (label, codec factory), lowest rate first
    (`fitted`: a fitted codec's file; `baseline`: the name its codecs carry)."""
    from aecompress.codecs.registry import baseline_codec, point_label

    spec = baseline_codec(name)
    if spec.fitted_file and not fitted:
        raise ValueError(f"codec {name} needs its fitted file ({spec.fitted_file}: --fitted)")
    return [
        (point_label(name, p), lambda p=p: spec.build(p, fitted, baseline))
        for p in spec.search_points(fitted)
    ]


def model_points(model_dirs: Sequence[str], tile: int | None = None, coder: str | None = None):
    """Every operating point of the given trained models (an experiment's lambdas, a SlimCAE's
    widths) as one set: a function of the image giving (label, codec factory), ordered by the
    entropy models' estimate of that image's bits (their order is not known beforehand). Each
    model is loaded once. One variable-rate model alone is searched over its lambda grid
    (CompressiveFamily.search_points), in lambda order. `tile`: CompressiveCodec.tile; `coder`:
    a latent family's coder."""
    from aecompress.codecs.learned import CompressiveCodec, learned_codec, read_model_card
    from aecompress.models import get_family
    from aecompress.runtime import import_tensorflow
    from aecompress.training import load_model

    codecs = []
    for model_dir in model_dirs:
        card = read_model_card(model_dir)
        family = get_family(card["family"])
        if not family.compressive:
            codecs.append((card["variant"], learned_codec(model_dir, None, coder)))
            continue
        model = load_model(import_tensorflow(2), model_dir)
        if len(model_dirs) == 1 and family.variable_rate(card["params"]):

            def make(point, model_dir=model_dir, model=model):
                codec = CompressiveCodec.from_model_dir(model_dir, point, model)
                codec.tile = tile
                return codec

            grid = [
                (f"lambda {p['lambda']:.4g}", lambda p=p: make(p))
                for p in family.search_points(card["params"])
            ]
            return lambda image: grid
        for point in family.operating_points(card["params"]):
            codec = CompressiveCodec.from_model_dir(model_dir, point, model)
            codec.tile = tile
            codecs.append((codec.method, codec))
    return lambda image: [
        (label, lambda codec=codec: codec) for label, codec in ordered_by_rate(codecs, image)
    ]


def ordered_by_rate(codecs: Sequence[tuple[Any, Codec]], image: np.ndarray) -> list[tuple[Any, Codec]]:
    """Learned candidates whose order is not known beforehand (models of one set, trained at
    different lambdas), ordered by the entropy models' estimate of the image's bits."""
    estimates = []
    for _, codec in codecs:
        estimate = getattr(codec, "estimated_bits", None)
        estimates.append(estimate(image) if estimate else len(codec.encode(image)) * 8.0)
    return [codecs[i] for i in np.argsort(estimates, kind="stable")]
