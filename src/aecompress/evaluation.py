"""Evaluating any codec, learned or classical, on a held-out test split: one path for all.

`evaluate(codec, identity, ...)` codes every test image to a real file and back, scores it and
writes the results every method shares (per_image.csv, summary.json, samples.npz), so the report
compares all methods on one table. `evaluate_job` runs one job of the workflow: every rate point of
a variant (fitting its latent coder first when it was trained without a rate) or of a baseline.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aecompress.images import PreparedDataset
from aecompress.metrics import METRIC_RULES, image_quality
from aecompress.models import get_family
from aecompress.runtime import import_tensorflow, job_output

# 2: `collapse` (the trivial predictor and the verdict). 3: the identity (Identity) of every
# method in the same keys: `id`, `curve`, `kind`, `codec`, no `family`/`experiment`/`method`.
SUMMARY_SCHEMA_VERSION = 3
METRICS = ("mse", "psnr", "ssim", "ms_ssim")


def per_image_metrics(tf, originals: list[np.ndarray], reconstructions: list[np.ndarray]) -> pd.DataFrame:
    """One row of metrics per image; images of equal size are scored in one batch."""
    rows: list[dict[str, Any]] = [{} for _ in originals]
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(originals):
        by_shape.setdefault(image.shape, []).append(i)
    for shape, idx in by_shape.items():
        scores = image_quality(
            tf, np.stack([originals[i] for i in idx]), np.stack([reconstructions[i] for i in idx])
        )
        for j, i in enumerate(idx):
            rows[i] = {"height": shape[0], "width": shape[1], "channels": shape[2]}
            rows[i].update({name: values[j].item() for name, values in scores.items()})
    return pd.DataFrame(rows)


def _finite_or_none(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class Identity:
    """What one rate point is, in the same keys for every method, learned or classical."""

    id: str  # the rate point (an evaluation id of plan.Evaluation: its folder's name)
    curve: str  # the experiment or baseline it belongs to: one line of a rate-distortion plot
    kind: str  # "learned" or "classical"
    codec: str  # what makes the bits: a model family, or a codec of codecs.registry
    dataset: str  # the test set
    operating_point: dict[str, Any] = field(default_factory=dict)  # grid values and rate point
    variant: str | None = None  # the trained model (learned)
    trained_on: str | None = None  # what the model or fitted codec learned from
    params: dict[str, Any] = field(default_factory=dict)
    preprocessing: dict[str, Any] | None = None
    nominal_compression_ratio: float | None = None
    parameter_count: int | None = None

    @classmethod
    def of_model(cls, card: dict[str, Any], evaluation: dict[str, Any]) -> Identity:
        """A trained variant's rate point; `evaluation`: a plan.Evaluation as a dict."""
        return cls(
            id=evaluation["id"],
            curve=card["experiment"],
            kind="learned",
            codec=card["family"],
            dataset=evaluation["dataset"],
            operating_point={**card["grid_values"], **(evaluation.get("point") or {})},
            variant=card["variant"],
            trained_on=card["dataset"],
            params=card["params"],
            preprocessing=card["preprocessing"],
            nominal_compression_ratio=card["nominal_compression_ratio"],
            parameter_count=card["parameter_count"],
        )

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.nominal_compression_ratio is not None:
            out["nominal_ratio_definition"] = (
                "input values / latent values, each latent value counted as one number (the papers' "
                "definition; not a bit count)"
            )
        return out


def summarize(per_image: pd.DataFrame, identity: Identity, class_names: list[str] | None) -> dict[str, Any]:
    """The summary JSON of one rate point on one test set."""
    per_class = None
    if "label" in per_image and class_names:
        grouped = per_image.groupby("label")["mse"].mean()
        per_class = {class_names[int(label)]: float(v) for label, v in grouped.items()}
    scales = sorted(set(per_image["ms_ssim_scales"].astype(int)))

    def mean(column):
        return _finite_or_none(per_image[column].mean()) if column in per_image else None

    real_over_estimated = None
    if "estimated_bits" in per_image and per_image["estimated_bits"].sum() > 0:
        real_over_estimated = float(per_image["payload_bits"].sum() / per_image["estimated_bits"].sum())
    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        **identity.as_dict(),
        "split": "test",
        "n_images": int(len(per_image)),
        "metrics": {name: _finite_or_none(per_image[name].mean()) for name in METRICS},
        # bpp: mean over images of 8 * file size / pixels (the container header included);
        # header_bpp: the header's share of it. None for models without a bitstream.
        "bpp": mean("bpp"),
        "header_bpp": mean("header_bpp"),
        # The uncompressed rate of the same images (8 bits per value), so raw_bpp / bpp is the
        # compression ratio in bits that the papers' nominal ratio stands in for.
        "raw_bpp": float(8 * per_image["channels"].mean()),
        "real_over_estimated_bits": real_over_estimated,
        "metric_rules": METRIC_RULES,
        "ms_ssim_scales": scales,
        "per_class_mse": per_class,
    }


def code_images(
    codec, images: list[np.ndarray], estimate: bool = False
) -> tuple[list[np.ndarray], pd.DataFrame]:
    """Encode every image to a file and decode it back; the rates come from the files' sizes.

    With `estimate`, also the codec's own estimate of the payload bits (real / estimated in the
    summary: how well the coder realises its model), for codecs that have one.
    """
    from aecompress.codecs.container import unpack

    estimate = estimate and hasattr(codec, "estimated_bits")
    rows, reconstructions = [], []
    for image in images:
        data = codec.encode(image)
        pixels = image.shape[0] * image.shape[1]
        reconstructions.append(codec.decode(data, max_pixels=pixels))  # the file it just wrote
        header, _ = unpack(data)
        header_bits = 8 * header.size
        row = {
            "file_bits": 8 * len(data),
            "payload_bits": 8 * len(data) - header_bits,
            "header_bpp": header_bits / pixels,
            "bpp": 8 * len(data) / pixels,
        }
        if estimate:
            row["estimated_bits"] = codec.estimated_bits(image)
        rows.append(row)
    return reconstructions, pd.DataFrame(rows)


def evaluate(
    tf,
    codec,
    identity: Identity,
    dataset: PreparedDataset,
    out_dir: str | Path,
    samples: int,
    classifier: str | Path | None = None,
    extra: dict[str, Any] | None = None,
    judge=None,
) -> dict[str, Any]:
    """Code the test split of `dataset` through `codec`, score it (and classify it, when a
    classifier is given), and write per_image.csv, summary.json and samples.npz into `out_dir`.
    `extra`: summary entries only some methods have; `judge(test MSE)`: a learned method's
    collapse verdict (classical codecs do not learn: none for them)."""
    from aecompress.classifier import score_reconstructions

    test = dataset.splits["test"]
    reconstructions, rates = code_images(codec, test.images, estimate=True)
    per_image = _score(tf, test, reconstructions, rates)
    classification = None
    if classifier is not None:
        if test.labels is None:
            raise ValueError(f"{identity.dataset}: the test split has no labels for the classifier")
        classification, on_originals, predicted = score_reconstructions(
            tf, classifier, test.images, reconstructions, test.labels
        )
        per_image["predicted_original"], per_image["predicted"] = on_originals, predicted
    summary = summarize(per_image, identity, dataset.meta.get("class_names"))
    summary["collapse"] = judge(summary["metrics"]["mse"]) if judge is not None else None
    summary.update({"coding": None, "unquantized_metrics": None, "train_metrics": None, **(extra or {})})
    summary["classification"] = classification
    _write_outputs(out_dir, test, per_image, reconstructions, summary, samples, codec)
    return summary


def _write_outputs(out_dir, test, per_image, reconstructions, summary, samples: int, codec) -> None:
    """per_image.csv, summary.json, and samples.npz: the first test images, their reconstructions
    and, for learned codecs, their float latents (float16), which the report draws."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keep = min(samples, len(test))
    latents = [codec.latents(test.images[i]) for i in range(keep)]
    with job_output(out_dir / "samples.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            names=np.array(test.names[:keep], dtype=str),
            **{f"original_{i}": test.images[i] for i in range(keep)},
            **{f"reconstruction_{i}": reconstructions[i] for i in range(keep)},
            **{f"latent_{i}": z.astype(np.float16) for i, z in enumerate(latents) if z is not None},
        )
    with job_output(out_dir / "per_image.csv") as tmp:
        per_image.to_csv(tmp, index=False)
    with job_output(out_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=True, allow_nan=False))


def _score(tf, test, reconstructions, rates: pd.DataFrame | None) -> pd.DataFrame:
    per_image = per_image_metrics(tf, test.images, reconstructions)
    per_image.insert(0, "image", test.names)
    if test.labels is not None:
        per_image.insert(1, "label", test.labels)
    if rates is not None:
        per_image = pd.concat([per_image, rates], axis=1)
    return per_image


class _Datasets(dict):
    """Prepared datasets by path, each loaded once per job (one already loaded passes through)."""

    def __getitem__(self, source):
        return source if isinstance(source, PreparedDataset) else super().__getitem__(source)

    def __missing__(self, path):
        self[path] = PreparedDataset.load(path)
        return self[path]


def evaluate_job(
    job: dict[str, Any],
    datasets: dict[str, str | PreparedDataset],
    threads: int,
    out_dir: str | Path,
    samples: int,
    classifiers: dict[str, str] | None = None,
    model: str | Path | None = None,
    train_dataset: str | PreparedDataset | None = None,
    train_images: int = 0,
    latent_coding: dict[str, Any] | None = None,
    fitted: str | Path | None = None,
    baseline: dict[str, Any] | None = None,
    seed: int = 0,
    tile: int | None = None,
) -> list[dict[str, Any]]:
    """One evaluation job (`job`: a plan.EvaluationJob as a dict): every rate point of a trained
    variant or of a baseline, each written to `out_dir/<rate point>/`.

    `datasets` and `classifiers` map dataset names to prepared datasets (paths, or datasets already
    loaded) and classifier folders. A variant's job also takes its `model` folder and
    `train_dataset` (the trivial predictor's mean; train-split metrics), and a latent family's job
    fits `latent_coding` into out_dir/latent_coder.npz first; a baseline's job takes the
    `baseline` config and its `fitted` file."""
    tf = import_tensorflow(threads)
    loaded = _Datasets()
    out_dir = Path(out_dir)
    classifiers = classifiers or {}
    summaries = []
    if job["variant"] is not None:
        train = loaded[train_dataset] if train_dataset else None
        evaluate_point = _model_points(
            tf, job, model, train, train_images, latent_coding, out_dir, threads, seed, tile
        )
    else:
        evaluate_point = _baseline_points(baseline, fitted)
    for evaluation in job["evaluations"]:
        dataset = loaded[datasets[evaluation["dataset"]]]
        codec, identity, extra, judge = evaluate_point(evaluation, dataset)
        summaries.append(
            evaluate(
                tf,
                codec,
                identity,
                dataset,
                out_dir / evaluation["id"],
                samples,
                classifiers.get(evaluation["dataset"]),
                extra,
                judge,
            )  # fmt: skip
        )
        print(f"{identity.id}: bpp {summaries[-1]['bpp']}, {summaries[-1]['metrics']}")
    return summaries


def _baseline_points(baseline: dict[str, Any], fitted: str | Path | None):
    """A baseline's codec at each point (codecs.registry), described as its module says."""
    from aecompress.codecs.registry import baseline_codec, registered

    spec = baseline_codec(baseline["codec"])
    point_name = registered(baseline["codec"]).point

    def evaluate_point(evaluation, dataset):
        point = evaluation["point"][point_name]
        codec = spec.build(point, None if fitted is None else str(fitted), baseline["name"])
        described = spec.describe(codec)
        identity = Identity(
            id=evaluation["id"], curve=baseline["name"], kind="classical", codec=baseline["codec"],
            dataset=evaluation["dataset"], operating_point=evaluation["point"],
            trained_on=described["trained_on"], params=described["params"],
        )  # fmt: skip
        return codec, identity, {"coding": described["coding"]}, None

    return evaluate_point


def _model_points(tf, job, model_path, train, train_images, latent_coding, out_dir, threads, seed, tile=None):
    """A trained variant's codec at each of its points. Models trained without a rate are coded
    through a quantized latent whose coder is fitted here first (codecs.latent) and are also scored
    with the float latent the papers report (`unquantized_metrics`)."""
    from aecompress.codecs.latent import CODER_FILE, LatentCodec, fit_latent_coder
    from aecompress.codecs.learned import CompressiveCodec
    from aecompress.training import load_model

    model_path = Path(model_path)
    card = json.loads((model_path.parent / "model.json").read_text())
    family = get_family(card["family"])
    model = load_model(tf, model_path)  # once for every point and test set
    latent = None
    if job["fits_latent_coder"]:
        coder = out_dir / CODER_FILE
        out_dir.mkdir(parents=True, exist_ok=True)
        print(fit_latent_coder(model_path, train, latent_coding, seed, threads, coder, model=model))
        latent = LatentCodec.from_model_dir(model_path, coder, model=model)
    compressive: dict[str, CompressiveCodec] = {}  # by operating point

    def evaluate_point(evaluation, dataset):
        test = dataset.splits["test"]
        if latent is not None:
            codec = latent
            floats = family.reconstruct(codec.model, test, card["params"], codec.normalization)
            unquantized = per_image_metrics(tf, test.images, floats)
            extra = {
                "coding": codec.describe(),
                "unquantized_metrics": {name: _finite_or_none(unquantized[name].mean()) for name in METRICS},
            }
        else:
            point = evaluation.get("point") or {}
            key = json.dumps(point, sort_keys=True)
            if key not in compressive:
                compressive[key] = CompressiveCodec.from_model_dir(model_path, point, model)
                compressive[key].tile = tile
            codec = compressive[key]
            extra = {
                "coding": {
                    "quantized": "the latent (and hyper-latent) by rounding, as in training's noise proxy",
                    "entropy_coder": "the model's learned entropy model, tensorflow-compression range coder",
                }
            }
        extra["train_metrics"] = _train_split_metrics(tf, codec, train, train_images)
        # The trivial predictor is the mean of the split the variant trained on.
        split = (train or dataset).splits["train"]

        def judge(mse: float) -> dict[str, Any] | None:
            return collapse_verdict(codec, card, split, test, mse) if len(split) else None

        return codec, Identity.of_model(card, evaluation), extra, judge

    return evaluate_point


def collapse_verdict(codec, card: dict[str, Any], train, test, mse: float) -> dict[str, Any]:
    """The `collapse` entry of a learned method's summary: the trivial predictor (the mean of the
    variant's training images), its test MSE, and whether this model is no better (collapse.assess)."""
    from aecompress.collapse import MAX_LATENT_IMAGES, assess, latent_spread, trivial_baseline

    predictor, trivial = trivial_baseline(train, test.images, card["params"], card["preprocessing"])
    spread = latent_spread([codec.latents(image) for image in test.images[:MAX_LATENT_IMAGES]])
    return {
        "trivial_predictor": predictor.description,
        "trivial_mse": trivial,
        **assess(mse, trivial, spread),
    }


def _train_split_metrics(tf, codec, dataset: PreparedDataset | None, count: int) -> dict[str, Any] | None:
    """Mean metrics and bpp of the first `count` training images, coded like the test split."""
    if not count or dataset is None:
        return None
    images = dataset.splits["train"].images[:count]
    if not len(images):
        raise ValueError(
            f"evaluation.train_split_images: the '{dataset.meta.get('source', '?')}' dataset a model "
            "was trained on has no training split here"
        )
    reconstructions, rates = code_images(codec, images)
    per_image = per_image_metrics(tf, images, reconstructions)
    return {
        "images": len(images),
        "bpp": float(rates["bpp"].mean()),
        **{name: _finite_or_none(per_image[name].mean()) for name in METRICS},
    }
