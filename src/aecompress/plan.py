"""From a validated config to the list of jobs: one place that computes every target.

Imported by the Snakefile while the DAG is built, so it must stay free of heavy imports.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

RESULTS = "results"


@dataclass(frozen=True)
class Variant:
    """One trained model: an experiment's fixed params merged with one grid point."""

    id: str
    experiment: str
    family: str
    dataset: str
    params: dict[str, Any] = field(hash=False)
    training: dict[str, Any] = field(hash=False)
    grid_values: dict[str, Any] = field(hash=False)


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    return str(value)


def expand_variants(experiment: dict[str, Any]) -> list[Variant]:
    """Every combination of the experiment's grid, in config order (last key varies fastest)."""
    grid = experiment.get("grid") or {}
    keys = list(grid)
    variants = []
    for values in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, values, strict=True))
        suffix = "_".join(f"{k}-{_format_value(v)}" for k, v in point.items())
        variants.append(
            Variant(
                id=f"{experiment['name']}_{suffix}" if suffix else experiment["name"],
                experiment=experiment["name"],
                family=experiment["family"],
                dataset=experiment["dataset"],
                params={**experiment.get("params", {}), **point},
                training=dict(experiment.get("training", {})),
                grid_values=point,
            )
        )
    return variants


def all_variants(config: dict[str, Any]) -> dict[str, Variant]:
    """Variants of every experiment, keyed by id (ids are unique by construction)."""
    return {v.id: v for e in config["experiments"] for v in expand_variants(e)}


def used_datasets(config: dict[str, Any]) -> list[str]:
    return sorted({e["dataset"] for e in config["experiments"]})


def prepared_dataset_path(dataset: str) -> str:
    return f"{RESULTS}/datasets/{dataset}/prepared.npz"


def model_dir(variant_id: str) -> str:
    return f"{RESULTS}/models/{variant_id}"


def evaluation_dir(variant_id: str) -> str:
    return f"{RESULTS}/evaluation/{variant_id}"


def report_path() -> str:
    return f"{RESULTS}/report.html"
