"""Everything the report reads, read once: the manifest plan writes, every summary, model card,
training history and benchmark file of the run, and the files beside each summary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Run:
    """One run's results. `results` has one row per rate point (load_summaries); `cards` and
    `histories` are keyed by rate point id (each rate point of a model shares its model's)."""

    manifest: dict[str, Any]
    results: pd.DataFrame
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)  # by summary path
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)
    histories: dict[str, pd.DataFrame] = field(default_factory=dict)
    _per_image: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    _bd_table: pd.DataFrame | None = field(default=None, repr=False)

    @classmethod
    def load(cls, manifest_path: str | Path) -> Run:
        manifest = json.loads(Path(manifest_path).read_text())
        points = manifest["variants"]
        summaries = read_summaries([p["summary"] for p in points])
        results = summary_table(summaries)
        card_files = {p["id"]: p["card"] for p in points if "card" in p}
        texts = {path: Path(path).read_text() for path in set(card_files.values())}
        cards = {point: json.loads(texts[path]) for point, path in card_files.items()}
        history_files = {p["history"] for p in points if "history" in p}
        read = {path: pd.read_csv(path) for path in history_files}
        histories = {p["id"]: read[p["history"]] for p in points if "history" in p}
        return cls(manifest, results, summaries, cards, histories)

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest["config"]

    @cached_property
    def tested_on(self) -> dict[str, str]:
        """Rate point -> its test set."""
        return dict(zip(self.results["method"], self.results["dataset"], strict=True))

    def on_own_test_set(self, point: str) -> bool:
        """Not an evaluation on one of the experiment's `also_test_on` sets (a curve is drawn once)."""
        card = self.cards[point]
        return self.tested_on.get(point) == card.get("test_dataset", card["dataset"])

    @cached_property
    def benchmarks(self) -> pd.DataFrame:
        paths = [p for files in self.manifest["benchmarks"].values() for p in files]
        return benchmark_table(paths)

    @cached_property
    def equal_targets(self) -> pd.DataFrame:
        """Every curve's rows of results/targets/<curve>.csv (equal_targets), empty without targets."""
        paths = self.manifest.get("targets", {}).values()
        return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()

    def per_image(self, summary_path: str) -> pd.DataFrame:
        """A rate point's per_image.csv (read once; callers must not modify it)."""
        if summary_path not in self._per_image:
            self._per_image[summary_path] = pd.read_csv(beside_summary(summary_path, "per_image.csv"))
        return self._per_image[summary_path]

    def bd_table(self, metrics=("psnr", "ms_ssim"), results: pd.DataFrame | None = None) -> pd.DataFrame:
        """comparisons.bd_table with the 95% per-image bootstrap interval of every BD-rate
        (config `report.bd_bootstrap_resamples`, seeded with the run's seed); the whole run's
        table is computed once (the report shows it and writes it to bd_rates.csv)."""
        if results is None and tuple(metrics) == ("psnr", "ms_ssim"):
            if self._bd_table is None:
                self._bd_table = self._compute_bd_table(metrics, self.results)
            return self._bd_table
        return self._compute_bd_table(metrics, self.results if results is None else results)

    def _compute_bd_table(self, metrics, results: pd.DataFrame) -> pd.DataFrame:
        from aecompress.comparisons import bd_table

        resamples = (self.config.get("report") or {}).get("bd_bootstrap_resamples", 1000)
        per_image = self.per_image if resamples else None
        seed = self.config.get("seed", 0)
        return bd_table(results, metrics=metrics, per_image=per_image, resamples=resamples, seed=seed)

    @cached_property
    def _samples(self) -> dict[str, str]:
        return {p["id"]: p["samples"] for p in self.manifest["variants"]}

    def samples_of(self, point: str) -> str:
        return self._samples[point]


def load_summaries(summary_paths: list[str]) -> pd.DataFrame:
    """One row per rate point of these summary files (summary_table)."""
    return summary_table(read_summaries(summary_paths))


def read_summaries(summary_paths: list[str]) -> dict[str, dict[str, Any]]:
    """Every summary.json by its path. Summaries of another schema version are refused, not misread."""
    from aecompress.evaluation import SUMMARY_SCHEMA_VERSION

    summaries = {}
    for path in summary_paths:
        summary = json.loads(Path(path).read_text())
        if summary.get("schema_version") != SUMMARY_SCHEMA_VERSION:
            raise ValueError(
                f"{path}: summary schema version {summary.get('schema_version')}, this report reads "
                f"{SUMMARY_SCHEMA_VERSION}; re-run its evaluation job"
            )
        summaries[path] = summary
    return summaries


def summary_table(summaries: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per rate point: its identity (evaluation.Identity; `method` is its id), operating
    point, mean metrics; `summary` is the file's path."""
    rows = []
    for path, summary in summaries.items():
        row = {
            "method": summary["id"],
            "curve": summary["curve"],
            "codec": summary["codec"],
            "dataset": summary["dataset"],
            "n_images": summary["n_images"],
            "kind": summary["kind"],
            "nominal_ratio": summary["nominal_compression_ratio"],
            "bpp": summary.get("bpp"),
            "raw_bpp": summary.get("raw_bpp"),
            "header_bpp": summary.get("header_bpp"),
            "real_over_estimated": summary.get("real_over_estimated_bits"),
            "parameters": summary["parameter_count"],
            "summary": path,
            **{f"param_{k}": v for k, v in summary["params"].items()},
            # The rate point within the model (a SlimCAE width) is one of its settings too.
            **{f"param_{k}": v for k, v in (summary.get("operating_point") or {}).items()},
            **summary["metrics"],
        }
        for name, value in (summary.get("unquantized_metrics") or {}).items():
            row[f"float_latent_{name}"] = value
        for name, value in (summary.get("train_metrics") or {}).items():
            row[f"train_{name}"] = value
        preprocessing = summary.get("preprocessing") or {}
        row["normalization"] = (preprocessing.get("normalization") or {}).get("kind")
        collapse = summary.get("collapse") or {}
        row["collapsed"] = bool(collapse.get("collapsed"))
        row["trivial_mse"] = collapse.get("trivial_mse")
        row["collapse_reason"] = collapse.get("reason")
        classification = summary.get("classification") or {}
        row["accuracy"] = classification.get("accuracy_reconstructed")
        row["accuracy_original"] = classification.get("accuracy_original")
        row["accuracy_ratio"] = classification.get("accuracy_ratio")
        rows.append(row)
    return pd.DataFrame(rows)


def benchmark_table(benchmark_paths: list[str]) -> pd.DataFrame:
    """Wall and CPU seconds per job, from Snakemake's benchmark files."""
    rows = []
    for path in benchmark_paths:
        path = Path(path)
        if not path.exists():
            continue
        bench = pd.read_csv(path, sep="\t")
        rows.append(
            {
                "rule": path.parts[path.parts.index("benchmarks") + 1] if "benchmarks" in path.parts else "",
                "job": path.stem,
                "wall_s": float(bench["s"].iloc[0]),
                "cpu_s": float(bench["cpu_time"].iloc[0]) if "cpu_time" in bench else np.nan,
                "max_rss_mb": float(bench["max_rss"].iloc[0]) if "max_rss" in bench else np.nan,
            }
        )
    return pd.DataFrame(rows)


def beside_summary(summary_path: str, name: str) -> str:
    """Another output of the same evaluation (per_image.csv, samples.npz)."""
    return str(Path(summary_path).with_name(name))


def in_rate_order(curve: pd.DataFrame) -> pd.DataFrame:
    """An experiment's rate points by real bpp where each has one, else by nominal ratio."""
    return curve.sort_values("bpp" if curve["bpp"].notna().all() else "nominal_ratio")


def middle_rate_point(curve: pd.DataFrame) -> pd.Series:
    """The rate point an experiment is shown by where one suffices: its median in rate order."""
    return in_rate_order(curve).iloc[(len(curve) - 1) // 2]


def load_samples(path: str) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    with np.load(path, allow_pickle=False) as data:
        names = [str(n) for n in data["names"]]
        originals = [data[f"original_{i}"] for i in range(len(names))]
        reconstructions = [data[f"reconstruction_{i}"] for i in range(len(names))]
    return names, originals, reconstructions


def load_latent(path: str, index: int = 0) -> np.ndarray | None:
    """The float latent of sample `index` (None for codecs without one)."""
    with np.load(path, allow_pickle=False) as data:
        key = f"latent_{index}"
        return data[key].astype(np.float32) if key in data else None


def panel_inches(samples_path: str, small: float, large: float) -> float:
    """Figure inches per image panel: `small` for tiny images (up to 64 px a side), else `large`."""
    _, originals, _ = load_samples(samples_path)
    return small if max(originals[0].shape[:2]) <= 64 else large


def displayable(image: np.ndarray) -> np.ndarray:
    return image[..., 0] if image.shape[2] == 1 else image


def ratio_label(ratio: float) -> str:
    return f"{ratio:g}x"
