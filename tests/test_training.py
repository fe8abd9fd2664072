"""Training and evaluation of one variant, in-process, on a slice of the digits."""

import json

import numpy as np
import pandas as pd
import pytest

from aecompress.config import validate_config
from aecompress.datasets import prepare_dataset
from aecompress.evaluation import evaluate_variant
from aecompress.plan import all_variants
from aecompress.training import train_variant


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    config = validate_config(
        {
            "datasets": {"digits": {"source": "sklearn-digits"}},
            "experiments": [
                {
                    "name": "d",
                    "family": "dense",
                    "dataset": "digits",
                    "grid": {"latent_units": [4]},
                    "training": {"epochs": 3, "batch_size": 64},
                }
            ],
        }
    )
    dataset = prepare_dataset(config["datasets"]["digits"], seed=0)
    return next(iter(all_variants(config).values())), dataset, tmp_path_factory.mktemp("train")


def _run(setup, seed, name):
    variant, dataset, root = setup
    out = root / name
    card = train_variant(variant, dataset, seed=seed, threads=2, out_dir=out / "model")
    summary = evaluate_variant(
        out / "model" / "model.keras", out / "model" / "model.json", dataset, 2, out / "eval", samples=2
    )
    return card, summary, out


def test_same_seed_gives_the_same_model_and_metrics(setup):
    card_a, summary_a, out_a = _run(setup, 11, "a")
    card_b, summary_b, out_b = _run(setup, 11, "b")
    card_c, summary_c, _ = _run(setup, 12, "c")
    history_a = pd.read_csv(out_a / "model" / "history.csv")
    pd.testing.assert_frame_equal(history_a, pd.read_csv(out_b / "model" / "history.csv"))
    assert summary_a["metrics"] == summary_b["metrics"]
    assert summary_a["metrics"]["mse"] != summary_c["metrics"]["mse"]

    assert list(history_a.columns) == ["epoch", "train_mse", "val_mse"]
    assert history_a["epoch"].tolist() == [1, 2, 3]
    assert history_a["val_mse"].iloc[-1] < history_a["val_mse"].iloc[0]
    assert card_a["nominal_compression_ratio"] == 16 and card_a["parameter_count"] == 64 * 4 + 4 + 4 * 64 + 64


def test_evaluation_outputs_share_one_schema(setup):
    _, summary, out = _run(setup, 11, "schema")
    per_image = pd.read_csv(out / "eval" / "per_image.csv")
    assert len(per_image) == summary["n_images"] == 359
    assert {"image", "label", "mse", "psnr", "ssim", "ms_ssim", "ms_ssim_scales"} <= set(per_image.columns)
    assert summary["metrics"]["mse"] == pytest.approx(per_image["mse"].mean())
    assert summary["metrics"]["ms_ssim"] is None  # 8x8 digits are too small for MS-SSIM
    assert set(summary["per_class_mse"]) == {str(d) for d in range(10)}
    assert json.loads((out / "eval" / "summary.json").read_text()) == summary
    with np.load(out / "eval" / "samples.npz") as samples:
        assert samples["reconstruction_0"].shape == (8, 8, 1)
        assert samples["reconstruction_0"].dtype == np.uint8
