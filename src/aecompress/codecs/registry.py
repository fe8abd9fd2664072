"""Every classical or fitted codec a baseline can name, by the name a config uses.

A codec is one module (`codecs/<name>.py`) holding its Codec class and a `BASELINE`: a
BaselineCodec saying which operating points a baseline asks for, what it fits (PCA's basis),
which config problems it sees, and how to build the codec at one point. The config schema,
config validation, plan, evaluation and the CLI loop over REGISTRY, so a new codec is its module
plus one line here (CompressAI's `bench/codecs.py` has the same shape).

Only this table is imported while the workflow's DAG is built; a codec's module (and Pillow,
scikit-learn or TensorFlow behind it) is imported when the codec is used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Any


@dataclass(frozen=True)
class Registered:
    module: str
    # Its method id in container files (format 2, 1..15): files carry it, so never reuse or
    # renumber one. 5-8 are the learned kinds (container.LEARNED_METHODS).
    method_id: int
    # The operating point's name (in evaluation ids, file labels and the CLI) and how the container
    # stores it: an unsigned varint (integer points) or a float32.
    point: str
    point_type: str = "varint"


REGISTRY: dict[str, Registered] = {
    "jpeg": Registered("aecompress.codecs.jpeg", 1, "quality"),
    "webp": Registered("aecompress.codecs.webp", 2, "quality"),
    "avif": Registered("aecompress.codecs.avif", 3, "quality"),
    "pca": Registered("aecompress.codecs.pca", 4, "step", "float32"),
    "jpeg2000": Registered("aecompress.codecs.jpeg2000", 9, "ratio", "float32"),
}


class BaselineCodec:
    """What the workflow needs of a codec to evaluate it as a baseline. Subclasses set `name`,
    `settings` and (for fitted codecs) `fitted_file`, and override what differs."""

    name: str
    # JSON schema of the baseline's `<name>:` block (its own settings); merged into the config
    # schema, defaults and descriptions included.
    settings: dict[str, Any] = {"type": "object", "default": {}, "additionalProperties": False}
    # The file a fitted codec learns from training images (results/baselines/<name>/<file>); None
    # for codecs that need no fitting.
    fitted_file: str | None = None
    # The operating point a user gets without naming one (the CLI), if the codec has a natural one.
    default_point: float | None = None

    def available(self) -> bool:
        """Whether this installation can write the codec (e.g. Pillow built with the library)."""
        return True

    def operating_points(self, baseline: dict[str, Any]) -> list[float]:
        """The rate points a validated baseline asks for, lowest rate first where known."""
        raise NotImplementedError

    def search_points(self, fitted: str | None = None) -> list[float]:
        """Every operating point a rate or quality target may pick, from the lowest rate to the
        highest (codecs.targets bisects over them; their spacing is the codec's quality step)."""
        raise NotImplementedError(f"{self.name} has no ordered operating points")

    def problems(self, config: dict[str, Any], baseline: dict[str, Any], where: str) -> list[str]:
        """Config problems beyond the schema, each naming its key under `where`."""
        return []

    def fit_dataset(self, baseline: dict[str, Any]) -> str | None:
        """The dataset whose training split a fitted codec learns from."""
        return None

    def fit(self, images, baseline: dict[str, Any], fit_dataset: str, smoothing: float, seed: int, out_path):
        """Learn the fitted file from a training split; returns a summary to log."""
        raise NotImplementedError(f"{self.name} fits nothing")

    def build(self, point: float, fitted: str | None = None, name: str | None = None):
        """The codec at one operating point (`fitted`: the fitted file; `name`: the baseline's)."""
        raise NotImplementedError

    def describe(self, codec) -> dict[str, Any]:
        """What a summary says about the codec: `params` (its settings), `coding` (how it
        quantizes and codes, for codecs of this project's own making) and `trained_on`."""
        return {"params": {}, "coding": None, "trained_on": None}


def registered(name: str) -> Registered:
    if name not in REGISTRY:
        raise ValueError(f"unknown codec '{name}' (known: {', '.join(REGISTRY)})")
    return REGISTRY[name]


@cache
def baseline_codec(name: str) -> BaselineCodec:
    """The BASELINE of a registered codec's module (imported on first use)."""
    return importlib.import_module(registered(name).module).BASELINE


def point_label(name: str, point: float) -> str:
    """ "quality-75", "step-8", "ratio-40": an operating point as ids and file labels write it."""
    entry = registered(name)
    value = f"{float(point):g}" if entry.point_type == "float32" else str(int(point))
    return f"{entry.point}-{value}"
