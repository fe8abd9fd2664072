"""Evaluating a trained variant on the held-out test split.

Writes the results schema every method will share (per-image CSV + summary JSON), so that
the report and later codecs (JPEG, WebP, PCA, compressive AEs) compare on one table.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aecompress.images import PreparedDataset
from aecompress.metrics import METRIC_RULES, image_quality
from aecompress.models import get_family
from aecompress.runtime import import_tensorflow, job_output

SUMMARY_SCHEMA_VERSION = 2  # 2: `collapse` (the trivial predictor and the verdict)
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


def summarize(
    per_image: pd.DataFrame, method: dict[str, Any], class_names: list[str] | None
) -> dict[str, Any]:
    """The summary JSON of one (dataset, method, operating point).

    `method` holds what identifies it (method, family, experiment, dataset, operating point,
    params, ...); every method, learned or classical, gets the same keys.
    """
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
        **method,
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


def _model_identity(card: dict[str, Any], evaluation: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "method": (evaluation or {}).get("id", card["variant"]),
        "kind": "learned",
        "variant": card["variant"],
        "family": card["family"],
        "experiment": card["experiment"],
        # The evaluation's test set: the card's, or one of the experiment's `also_test_on`.
        "dataset": (evaluation or {}).get("dataset") or card.get("test_dataset", card["dataset"]),
        "trained_on": card["dataset"],
        "operating_point": {**card["grid_values"], **((evaluation or {}).get("point") or {})},
        "params": card["params"],
        "preprocessing": card["preprocessing"],
        "nominal_compression_ratio": card["nominal_compression_ratio"],
        "nominal_ratio_definition": (
            "input values / latent values, each latent value counted as one number (the papers' "
            "definition; not a bit count)"
        ),
        "parameter_count": card["parameter_count"],
    }


def code_images(
    codec, images: list[np.ndarray], estimate: bool = False
) -> tuple[list[np.ndarray], pd.DataFrame]:
    """Encode every image to a file and decode it back; the rates come from the files' sizes.

    With `estimate`, also the codec's own estimate of the payload bits (real / estimated in the
    summary: how well the coder realises its model).
    """
    rows, reconstructions = [], []
    for image in images:
        data = codec.encode(image)
        pixels = image.shape[0] * image.shape[1]
        reconstructions.append(codec.decode(data, max_pixels=pixels))  # the file it just wrote
        header_bits = 8 * (len(data) - _payload_bytes(data))
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


def _payload_bytes(data: bytes) -> int:
    from aecompress.codecs.container import unpack

    header, _ = unpack(data)
    return sum(header.payload_lengths)


def _write_outputs(out_dir, test, per_image, reconstructions, summary, samples: int, codec) -> None:
    """per_image.csv, summary.json, and samples.npz: the first test images, their reconstructions
    and, for learned codecs, their float latents (float16), which the report draws."""
    out_dir = Path(out_dir)
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


def _finish(
    tf,
    dataset: PreparedDataset,
    reconstructions: list[np.ndarray],
    rates: pd.DataFrame,
    method: dict[str, Any],
    out_dir: str | Path,
    samples: int,
    classifier: str | Path | None,
    extra: dict[str, Any],
    codec,
    judge=None,
) -> dict[str, Any]:
    """Score, classify (when a classifier is given), summarize and write the three outputs.
    `judge(test MSE)` gives a learned method's collapse verdict."""
    from aecompress.classifier import score_reconstructions

    test = dataset.splits["test"]
    per_image = _score(tf, test, reconstructions, rates)
    classification = None
    if classifier is not None:
        if test.labels is None:
            raise ValueError(f"{method['dataset']}: the test split has no labels for the classifier")
        classification, on_originals, predicted = score_reconstructions(
            tf, classifier, test.images, reconstructions, test.labels
        )
        per_image["predicted_original"], per_image["predicted"] = on_originals, predicted
    summary = summarize(per_image, method, dataset.meta.get("class_names"))
    # Classical codecs do not learn: no collapse verdict for them.
    summary["collapse"] = judge(summary["metrics"]["mse"]) if judge is not None else None
    summary.update(extra, classification=classification)
    _write_outputs(out_dir, test, per_image, reconstructions, summary, samples, codec)
    return summary


def evaluate_variant(
    model_path: str | Path,
    card_path: str | Path,
    dataset: PreparedDataset,
    threads: int,
    out_dir: str | Path,
    samples: int,
    evaluation: dict[str, Any] | None = None,
    classifier: str | Path | None = None,
    train_dataset: PreparedDataset | None = None,
    train_images: int = 0,
) -> dict[str, Any]:
    """Code the test split through the variant's codec, score it, write per_image.csv, summary.json
    and samples.npz. With `train_images`, the first N images of `train_dataset`'s training split
    are coded and scored too (`train_metrics`), for train vs test tables.

    Compressive AEs use their own range coder; the other families quantize their latent and
    code it with the prior in `latent_coder.npz` beside the model (codecs.latent), and are also
    scored with the float latent the papers report (`unquantized_metrics`). `evaluation` (a
    plan.Evaluation as a dict) names the rate point, e.g. a SlimCAE width.
    """
    from aecompress.codecs.latent import LatentCodec
    from aecompress.codecs.learned import CompressiveCodec
    from aecompress.models import LATENT_FAMILIES

    tf = import_tensorflow(threads)
    card = json.loads(Path(card_path).read_text())
    test = dataset.splits["test"]
    extra: dict[str, Any] = {"coding": None, "unquantized_metrics": None}
    if card["family"] in LATENT_FAMILIES:
        codec = LatentCodec.from_model_dir(model_path)
        extra["coding"] = codec.describe()
        family = get_family(card["family"]).implementation()
        floats = family.reconstruct(codec.model, test, card["params"], codec.normalization)
        unquantized = per_image_metrics(tf, test.images, floats)
        extra["unquantized_metrics"] = {name: _finite_or_none(unquantized[name].mean()) for name in METRICS}
    else:
        codec = CompressiveCodec.from_model_dir(model_path, (evaluation or {}).get("point"))
        extra["coding"] = {
            "quantized": "the latent (and hyper-latent) by rounding, as in training's noise proxy",
            "entropy_coder": "the model's learned entropy model, tensorflow-compression range coder",
        }
    reconstructions, rates = code_images(codec, test.images, estimate=True)
    method = _model_identity(card, evaluation)
    extra["train_metrics"] = _train_split_metrics(tf, codec, train_dataset, train_images)
    # The trivial predictor is the mean of the split the variant trained on: train_dataset's,
    # or (when not given) the test dataset's own training split.
    train = (train_dataset or dataset).splits["train"]

    def judge(mse: float) -> dict[str, Any] | None:
        return collapse_verdict(codec, card, train, test, mse) if len(train) else None

    return _finish(
        tf, dataset, reconstructions, rates, method, out_dir, samples, classifier, extra, codec, judge
    )


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


def evaluate_baseline(
    evaluation: dict[str, Any],
    dataset: PreparedDataset,
    threads: int,
    out_dir: str | Path,
    samples: int,
    coder: str | Path | None = None,
    classifier: str | Path | None = None,
) -> dict[str, Any]:
    """A classical codec (JPEG/WebP/AVIF at a quality, PCA at a step) on the test split."""
    from aecompress.codecs import classical_codec
    from aecompress.codecs.pca import PcaCodec

    tf = import_tensorflow(threads)
    point, codec_name = evaluation["point"], evaluation["codec"]
    if codec_name == "pca":
        codec = PcaCodec.from_file(coder, point["step"], evaluation["baseline"])
        params, trained_on = dict(point, block_size=codec.block_size), codec.trained_on
        coding = {
            "quantized": f"the leading {codec.components} PCA coefficients of each {codec.block_size}x"
            f"{codec.block_size} block",
            "quantizer": f"uniform, step {codec.step:g} (8-bit pixel units)",
            "prior": "one smoothed histogram per component, counted on training blocks",
            "entropy_coder": "tensorflow-compression range coder, 16-bit CDFs, overflow escape",
        }
    else:
        codec = classical_codec(codec_name, point["quality"])
        params, coding = {"quality": point["quality"], **codec.save_options()}, None
        trained_on = None
    reconstructions, rates = code_images(codec, dataset.splits["test"].images, estimate=codec_name == "pca")
    method = {
        "method": evaluation.get("id", codec.method),
        "kind": "classical",
        "variant": None,
        "family": codec_name,
        "experiment": evaluation["baseline"],
        "dataset": evaluation["dataset"],
        "trained_on": trained_on,
        "operating_point": point,
        "params": params,
        "preprocessing": None,
        "nominal_compression_ratio": None,
        "nominal_ratio_definition": None,
        "parameter_count": None,
    }
    extra = {"coding": coding, "unquantized_metrics": None, "train_metrics": None}
    return _finish(tf, dataset, reconstructions, rates, method, out_dir, samples, classifier, extra, codec)
