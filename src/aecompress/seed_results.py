"""The seed studies' published numbers (resources/seed-results/*.yaml) next to a run's own.

Each file holds one paper's or notebook's numbers that a run can be compared with, with its
source, units and the settings they were obtained with (format: the folder's README.md). An
experiment or tuning study names the file it reproduces (`reproduces: <name>`); the report then
shows, per published number, this run's value and the difference, which of the paper's
qualitative claims the run agrees with, the settings that differ, and whether the numbers are
comparable at all (another dataset, a same-layout sample, fewer images).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml


@dataclass(frozen=True)
class Quantity:
    column: str  # in report.load_summaries' table
    scale: float  # this run's value * scale is in the paper's unit
    unit: str


QUANTITIES: dict[str, Quantity] = {
    "mse": Quantity("mse", 1.0, "MSE, [0, 1] pixel scale (decoded file)"),
    "float_latent_mse": Quantity("float_latent_mse", 1.0, "MSE, [0, 1] pixel scale, float latent decoded"),
    "mse_8bit": Quantity("mse", 255.0**2, "MSE, 8-bit pixel units (0..255)"),
    "psnr": Quantity("psnr", 1.0, "PSNR, dB"),
    "ms_ssim": Quantity("ms_ssim", 1.0, "MS-SSIM"),
    "train_mse_8bit": Quantity("train_mse", 255.0**2, "MSE on training images, 8-bit units"),
    "train_psnr": Quantity("train_psnr", 1.0, "PSNR on training images, dB"),
    "train_ms_ssim": Quantity("train_ms_ssim", 1.0, "MS-SSIM on training images"),
    "accuracy_original": Quantity(
        "accuracy_original", 1.0, "classifier accuracy on the original test images"
    ),
    "accuracy_ratio": Quantity("accuracy_ratio", 1.0, "accuracy on reconstructions / on originals"),
}
CHECKS = ("monotone", "lower_with", "not_lower_with")


class SeedResultsError(ValueError):
    """A seed-results file is missing a key or holds a value of the wrong kind; names both."""


@dataclass(frozen=True)
class SeedResults:
    name: str
    title: str
    source: dict[str, str]
    family: str
    dataset: dict[str, Any]
    settings: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    claims: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    configuration: dict[str, Any] | None = None
    quantity: str | None = None  # the default quantity of `rows`


def load(path: str | Path) -> SeedResults:
    """Read and check one file; errors name the file and the key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SeedResultsError(f"{path}: cannot be read ({err})") from err
    if not isinstance(raw, dict):
        raise SeedResultsError(f"{path}: expected a mapping of keys")
    for key in ("name", "title", "source", "family", "dataset", "settings"):
        if key not in raw:
            raise SeedResultsError(f"{path}: missing key '{key}'")
    default = raw.get("quantity")
    for i, row in enumerate(raw.get("rows") or []):
        quantity = row.get("quantity", default)
        if quantity not in QUANTITIES:
            raise SeedResultsError(
                f"{path}: rows[{i}].quantity: {quantity!r} is not one of {', '.join(QUANTITIES)}"
            )
        if not isinstance(row.get("value"), int | float) or not isinstance(row.get("params"), dict):
            raise SeedResultsError(f"{path}: rows[{i}] needs a numeric `value` and a `params` mapping")
    for i, claim in enumerate(raw.get("claims") or []):
        kind = (claim.get("check") or {}).get("kind")
        if kind not in CHECKS:
            raise SeedResultsError(
                f"{path}: claims[{i}].check.kind: {kind!r} is not one of {', '.join(CHECKS)}"
            )
        if claim["check"].get("quantity") not in QUANTITIES:
            raise SeedResultsError(f"{path}: claims[{i}].check.quantity: not one of {', '.join(QUANTITIES)}")
    fields = set(SeedResults.__dataclass_fields__)
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise SeedResultsError(f"{path}: unknown key(s) {', '.join(unknown)}")
    return SeedResults(**{k: v for k, v in raw.items() if v is not None})


def _column(results: pd.DataFrame, name: str) -> str | None:
    """A setting's column in the results table: a param (or operating point) or a plain column."""
    for column in (f"param_{name}", name):
        if column in results:
            return column
    return None


def _matching(results: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    mask = pd.Series(True, index=results.index)
    for key, value in params.items():
        column = _column(results, key)
        if column is None:
            return results.iloc[0:0]
        mask &= results[column].map(lambda v, value=value: _same(v, value))
    return results[mask]


def _same(a, b) -> bool:
    if isinstance(b, bool) or isinstance(a, bool):
        return bool(a) == bool(b) and type(a) is type(b)
    if isinstance(b, int | float) and isinstance(a, int | float | np.number):
        return bool(np.isclose(float(a), float(b)))
    return a == b


def compare_rows(seed: SeedResults, results: pd.DataFrame) -> pd.DataFrame:
    """One row per published number and matching rate point of this run: paper, this run, the
    difference (run - paper) and the run's value relative to the paper's. A collapsed rate
    point is marked: its number is not a result."""
    out = []
    for row in seed.rows:
        quantity = QUANTITIES[row.get("quantity", seed.quantity)]
        matches = _matching(results, row["params"])
        if row["params"] == {} and len(matches):
            matches = matches.iloc[:1]  # a number of the whole study (e.g. accuracy on originals)
        base = {"published": row["label"], "quantity": quantity.unit, "paper": row["value"]}
        if matches.empty or quantity.column not in matches:
            out.append({**base, "method": None, "this run": None, "difference": None, "run / paper": None})
            continue
        for _, match in matches.iterrows():
            value = match[quantity.column]
            value = None if value is None or pd.isna(value) else float(value) * quantity.scale
            collapsed = bool(match.get("collapsed")) if "collapsed" in match else False
            out.append(
                {
                    **base,
                    "method": match["method"] + (" (collapsed)" if collapsed else ""),
                    "this run": value,
                    "difference": None if value is None else value - row["value"],
                    "run / paper": None if value is None or not row["value"] else value / row["value"],
                }
            )
    return pd.DataFrame(out)


def check_claims(seed: SeedResults, results: pd.DataFrame) -> pd.DataFrame:
    """Whether this run agrees with each of the paper's qualitative claims, and the evidence.

    Collapsed rate points are left out: they say nothing about the claim."""
    if "collapsed" in results:
        results = results[~results["collapsed"].fillna(False).astype(bool)]
    rows = []
    for claim in seed.claims:
        check = claim["check"]
        agrees, evidence = _CHECKS[check["kind"]](results, check)
        rows.append({"claim": claim["text"], "this run agrees": agrees, "evidence": evidence})
    return pd.DataFrame(rows)


def _groups(results: pd.DataFrame, by: list[str]):
    columns = [c for c in (_column(results, name) for name in by) if c is not None]
    if len(columns) < len(by):
        return []
    if not columns:
        return [("all", results)]
    out = []
    for key, group in results.groupby(columns):
        values = key if isinstance(key, tuple) else (key,)
        out.append((", ".join(f"{n}={v}" for n, v in zip(by, values, strict=True)), group))
    return out


def _monotone(results: pd.DataFrame, check: dict[str, Any]) -> tuple[str, str]:
    quantity, along = QUANTITIES[check["quantity"]], _column(results, check["along"])
    if along is None or quantity.column not in results:
        return "undetermined", f"no `{check['along']}` or {quantity.unit} in this run"
    verdicts, evidence = [], []
    for label, group in _groups(results, check.get("by", [])):
        curve = group[[along, quantity.column]].dropna().sort_values(along)
        if len(curve) < 2:
            continue
        steps = np.diff(curve[quantity.column].to_numpy(dtype=float))
        ok = (steps <= 1e-12).all() if check["direction"] == "decreasing" else (steps >= -1e-12).all()
        verdicts.append(ok)
        values = ", ".join(f"{a:g}: {b:.4g}" for a, b in curve.itertuples(index=False))
        evidence.append(f"{label}: {values}")
    if not verdicts:
        return "undetermined", "fewer than two comparable rate points"
    return ("yes" if all(verdicts) else "no"), "; ".join(evidence)


def _lower_with(results: pd.DataFrame, check: dict[str, Any], expect_lower: bool = True) -> tuple[str, str]:
    quantity, column = QUANTITIES[check["quantity"]], _column(results, check["column"])
    if column is None or quantity.column not in results:
        return "undetermined", f"no `{check['column']}` or {quantity.unit} in this run"
    verdicts, evidence = [], []
    for label, group in _groups(results, check.get("by", [])):
        with_value = group[group[column].map(lambda v: _same(v, check["value"]))][quantity.column]
        without = group[group[column].map(lambda v: _same(v, check["than"]))][quantity.column]
        if with_value.dropna().empty or without.dropna().empty:
            continue
        a, b = float(with_value.mean()), float(without.mean())
        verdicts.append((a < b) == expect_lower)
        evidence.append(f"{label}: {check['column']}={check['value']} {a:.4g} vs {check['than']} {b:.4g}")
    if not verdicts:
        return "undetermined", f"this run does not have both {check['value']} and {check['than']}"
    return ("yes" if all(verdicts) else "no"), "; ".join(evidence)


_CHECKS = {
    "monotone": _monotone,
    "lower_with": _lower_with,
    "not_lower_with": lambda results, check: _lower_with(results, check, expect_lower=False),
}


# Where a paper's setting is found in a model card (training settings, params, preprocessing).
_CARD_SETTINGS = {
    "epochs": ("training", "epochs"),
    "learning_rate": ("training", "learning_rate"),
    "optimizer": ("training", "optimizer"),
    "batch_size": ("training", "batch_size"),
    "loss": ("training", "loss"),
    "initializer": ("params", "initializer"),
    "dropout": ("params", "dropout"),
    "latent_units": ("params", "latent_units"),
    "widths": ("params", "widths"),
    "lambdas": ("params", "lambdas"),
    "distortion": ("params", "distortion"),
    "patch_size": ("preprocessing", "patches", "size"),
}


def _card_value(card: dict[str, Any], path: tuple[str, ...]):
    value: Any = card
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def settings_differences(
    seed: SeedResults, cards: list[dict[str, Any]], split_sizes: dict[str, int] | None
) -> pd.DataFrame:
    """The paper's settings next to this run's (from the model cards, and the training data's
    split sizes); `compared`: same, differs, or not stated in the paper."""
    rows = []
    if split_sizes is not None:
        trained = split_sizes.get("train", 0) + split_sizes.get("val", 0)
        for key, run_value in (("train_images", trained), ("test_images", split_sizes.get("test"))):
            if key in seed.dataset:
                rows.append({"setting": key, "paper": seed.dataset[key], "this run": run_value})
    for key, paper in seed.settings.items():
        path = _CARD_SETTINGS.get(key)
        if path is None:
            continue
        values = sorted({str(_card_value(card, path)) for card in cards})
        rows.append({"setting": key, "paper": paper, "this run": ", ".join(values) if values else None})
    table = pd.DataFrame(rows, columns=["setting", "paper", "this run"])
    table["compared"] = [
        "not stated in the paper"
        if paper == "not stated"
        else ("same" if str(paper) == str(run) else "differs")
        for paper, run in zip(table["paper"], table["this run"], strict=True)
    ]
    return table


def comparability(seed: SeedResults, source: str | None, official: bool | None, trained: int | None) -> str:
    """One line: can this run's numbers be compared with the paper's, and if not, why."""
    paper = seed.dataset
    if paper.get("source") == "image-folder":
        return (
            f"Not comparable as numbers: the paper's images are not public ({paper.get('description')}); "
            "this run used other images. Compare the trend and the settings."
        )
    if source != paper.get("source"):
        return (
            f"Not comparable: the paper used {paper.get('description', paper.get('source'))}; this run "
            f"used `{source}`. The table shows the trend only."
        )
    if official is False:
        return (
            f"Not comparable as numbers: this run used a same-layout sample of `{source}`, not the "
            "official files (the offline CIFAR-10 sample is a JPEG re-encoding with fewer records)."
        )
    if trained is not None and paper.get("train_images") and trained != paper["train_images"]:
        return (
            f"Comparable with care: same data source, but {trained:,} training images (train + "
            f"validation) against the paper's {paper['train_images']:,}."
        )
    return (
        "Comparable: the same dataset and split as the paper; remaining differences are the settings below."
    )


def configuration_differences(seed: SeedResults, selected: dict[str, Any]) -> pd.DataFrame:
    """A tuning study's selected configuration next to the paper's (e.g. the coursework's Table 1)."""
    rows = [
        {"setting": key, "paper": paper, "selected": selected.get(key), "differs": selected.get(key) != paper}
        for key, paper in (seed.configuration or {}).items()
    ]
    return pd.DataFrame(rows, columns=["setting", "paper", "selected", "differs"])


@dataclass
class Comparison:
    """Everything the report shows for one seed study, assembled from the run's files."""

    seed: SeedResults
    comparability: str
    numbers: pd.DataFrame
    claims: pd.DataFrame
    settings: pd.DataFrame
    configurations: dict[str, pd.DataFrame]


def compare(
    path: str | Path,
    members: list[str],
    results: pd.DataFrame,
    cards: list[dict[str, Any]],
    config: dict[str, Any],
    datasets: dict[str, str],
    tuning: dict[str, dict[str, str]],
) -> Comparison:
    """The comparison of the seed study at `path` with the experiments and tuning studies
    `members` of this run (`results`: report.load_summaries; `cards`: model cards; `datasets`,
    `tuning`: the report's prepared-dataset and tuning files)."""
    import json

    from aecompress.datasets import verified_against_official
    from aecompress.images import PreparedDataset

    seed = load(path)
    own = results[results["curve"].isin(members)]
    own_cards = [card for card in cards if card["experiment"] in members]
    studies = [study for study in config.get("tuning", []) if study["name"] in members]
    trained_on = sorted({card["dataset"] for card in own_cards} or {study["dataset"] for study in studies})
    source = official = sizes = trained = None
    if trained_on:
        prepared = PreparedDataset.load(datasets[trained_on[0]])
        source, official = prepared.meta["source"], verified_against_official(prepared.meta)
        sizes = {split: len(images) for split, images in prepared.splits.items()}
        trained = sizes["train"] + sizes["val"]
    configurations = {}
    if seed.configuration:
        for study in studies:
            selection = json.loads(Path(tuning[study["name"]]["selection"]).read_text())
            configurations[study["name"]] = configuration_differences(seed, selection["configuration"])
    return Comparison(
        seed=seed,
        comparability=comparability(seed, source, official, trained),
        numbers=compare_rows(seed, own),
        claims=check_claims(seed, own),
        settings=settings_differences(seed, own_cards, sizes),
        configurations=configurations,
    )
