"""Training and evaluation of one variant, in-process, on a slice of the digits."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import evaluate_trained

from aecompress.config import validate_config
from aecompress.datasets import prepare_dataset
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
    coding = {"bits": 8, "step": None, "fit_images": 5000, "smoothing": 0.5}  # the config's defaults
    summary, _ = evaluate_trained(out / "model" / "model", dataset, out / "eval", 2, coding, seed, "point")
    return card, summary, out


def test_same_seed_gives_the_same_model_and_metrics(setup):
    card_a, summary_a, out_a = _run(setup, 11, "a")
    card_b, summary_b, out_b = _run(setup, 11, "b")
    card_c, summary_c, _ = _run(setup, 12, "c")
    history_a = pd.read_csv(out_a / "model" / "history.csv")
    pd.testing.assert_frame_equal(history_a, pd.read_csv(out_b / "model" / "history.csv"))
    assert summary_a["metrics"] == summary_b["metrics"]
    assert summary_a["metrics"]["mse"] != summary_c["metrics"]["mse"]

    assert list(history_a.columns) == ["epoch", "train_loss", "train_mse", "val_loss", "val_mse"]
    assert history_a["epoch"].tolist() == [1, 2, 3]
    assert history_a["val_mse"].iloc[-1] < history_a["val_mse"].iloc[0]
    assert card_a["nominal_compression_ratio"] == 16 and card_a["parameter_count"] == 64 * 4 + 4 + 4 * 64 + 64
    train_images = len(setup[1].splits["train"])
    assert card_a["latent_shape"] == [4] and card_a["steps"] == 3 * -(-train_images // 64)
    assert card_a["hardware"]["cpu_count"] and card_a["training_seconds"] > 0


def test_evaluation_outputs_share_one_schema(setup):
    _, summary, out = _run(setup, 11, "schema")
    per_image = pd.read_csv(out / "eval" / "point" / "per_image.csv")
    assert len(per_image) == summary["n_images"] == 359
    assert {"image", "label", "mse", "psnr", "ssim", "ms_ssim", "ms_ssim_scales"} <= set(per_image.columns)
    assert summary["metrics"]["mse"] == pytest.approx(per_image["mse"].mean())
    assert summary["metrics"]["ms_ssim"] is None  # 8x8 digits are too small for MS-SSIM
    assert set(summary["per_class_mse"]) == {str(d) for d in range(10)}
    # A real file per image: 4 latent units at 8 bits are at most 32 bits + the range coder's tail.
    assert summary["bpp"] == pytest.approx(per_image["bpp"].mean()) and summary["raw_bpp"] == 8
    np.testing.assert_allclose(per_image["bpp"], per_image["header_bpp"] + per_image["payload_bits"] / 64)
    assert per_image["payload_bits"].max() <= 4 * 8 + 32
    assert 0.8 < summary["real_over_estimated_bits"] < 1.6  # a few bits per image: the coder's tail counts
    assert summary["coding"]["quantizer"].startswith("uniform, 256 levels")
    assert summary["unquantized_metrics"]["mse"] <= summary["metrics"]["mse"] * 1.05
    assert json.loads((out / "eval" / "point" / "summary.json").read_text()) == summary
    with np.load(out / "eval" / "point" / "samples.npz") as samples:
        assert samples["reconstruction_0"].shape == (8, 8, 1)
        assert samples["reconstruction_0"].dtype == np.uint8


RESUMABLE = """
import sys
from aecompress.config import validate_config
from aecompress.datasets import prepare_dataset
from aecompress.plan import all_variants
from aecompress.training import train_variant

config = validate_config({
    "datasets": {"digits": {"source": "sklearn-digits"}},
    "experiments": [{"name": "d", "family": "dense", "dataset": "digits", "grid": {"latent_units": [8]},
                     "training": {"epochs": int(sys.argv[3]), "batch_size": 4, "learning_rate": 0.001}}],
})
variant = next(iter(all_variants(config).values()))
train_variant(variant, prepare_dataset(config["datasets"]["digits"], seed=0), seed=3, threads=1,
              out_dir=sys.argv[1], checkpoint_dir=sys.argv[2])
"""


def _killed_after_three_epochs(tmp_path):
    """Start a 25-epoch training job and SIGKILL it once 3 epochs are in its checkpoint."""
    import subprocess
    import sys
    import time

    out, checkpoints = tmp_path / "model", tmp_path / "checkpoints"
    script = tmp_path / "train.py"
    script.write_text(RESUMABLE)
    process = subprocess.Popen([sys.executable, str(script), str(out), str(checkpoints), "25"])
    log = checkpoints / "history.csv"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= 4:  # header + 3 epochs
            break
        time.sleep(0.05)
    process.kill()  # SIGKILL: no clean-up runs, as when a cluster pre-empts the job
    process.wait()
    assert not (out / "model.json").exists(), "the job finished before it could be killed"
    return script, out, checkpoints, len(log.read_text().splitlines()) - 1


def _rerun(script, out, checkpoints, epochs):
    import subprocess
    import sys

    run = [sys.executable, str(script), str(out), str(checkpoints), str(epochs)]
    resumed = subprocess.run(run, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    first_epoch_line = next(line for line in resumed.stderr.splitlines() if line.startswith("epoch "))
    return resumed.stderr, int(first_epoch_line.split()[1].split("/")[0])


def test_a_killed_training_job_resumes_from_its_last_epoch(tmp_path):
    script, out, checkpoints, done_before_kill = _killed_after_three_epochs(tmp_path)
    log, resumed_at = _rerun(script, out, checkpoints, 25)
    assert resumed_at > 1 and resumed_at >= done_before_kill
    assert "resuming from the state a killed run of the same settings left" in log
    history = pd.read_csv(out / "history.csv")
    assert history["epoch"].tolist() == list(range(1, 26))
    assert json.loads((out / "model.json").read_text())["epochs_run"] == 25
    assert not checkpoints.exists() or not any(checkpoints.iterdir())


def test_a_checkpoint_of_other_settings_is_discarded_not_resumed(tmp_path):
    """Killed at epoch 3+ of 25, re-run with `epochs: 2`: Keras alone would restore epoch 3+ and
    train nothing, saving the old run's weights under the new model card."""
    script, out, checkpoints, _ = _killed_after_three_epochs(tmp_path)
    log, started_at = _rerun(script, out, checkpoints, 2)
    assert started_at == 1
    assert "discarding the state of a run with other settings (variant.training.epochs)" in log
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [1, 2]
    card = json.loads((out / "model.json").read_text())
    assert card["epochs_run"] == 2 and card["training"]["epochs"] == 2


def test_a_checkpoint_folder_holding_foreign_files_is_left_alone(setup, tmp_path):
    variant, dataset, _ = setup
    checkpoints = tmp_path / "c"
    checkpoints.mkdir()
    (checkpoints / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes.txt, which this job did not write"):
        train_variant(variant, dataset, seed=0, threads=2, out_dir=tmp_path / "m", checkpoint_dir=checkpoints)
    assert (checkpoints / "notes.txt").read_text() == "mine"


def test_a_diverging_run_fails_clearly_and_writes_nothing(setup, tmp_path):
    from dataclasses import replace

    from aecompress.training import TrainingDiverged

    variant, dataset, _ = setup
    exploding = replace(
        variant,
        training={**variant.training, "optimizer": "sgd", "learning_rate": 1e6},
        preprocessing={**variant.preprocessing, "normalization": "standardize"},  # linear output: can blow up
    )
    with pytest.raises(TrainingDiverged, match="loss became NaN or infinite"):
        train_variant(
            exploding, dataset, seed=0, threads=2, out_dir=tmp_path / "m", checkpoint_dir=tmp_path / "c"
        )
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == []


def test_learning_rate_warms_up_and_decays_over_the_step_budget(tf):
    from aecompress.training import learning_rate_schedule

    settings = {
        "learning_rate": 1e-3,
        "warmup_steps": 100,
        "decay": "cosine",
        "final_learning_rate_fraction": 0.1,
    }
    schedule = learning_rate_schedule(tf, settings, total_steps=2000)
    rates = {step: float(schedule(step)) for step in (0, 50, 100, 1050, 2000)}
    assert rates[0] == 0 and rates[50] == pytest.approx(5e-4) and rates[100] == pytest.approx(1e-3)
    assert rates[1050] == pytest.approx(0.55e-3, rel=1e-3) and rates[2000] == pytest.approx(1e-4)
    constant = {**settings, "warmup_steps": 0, "decay": "none"}
    assert learning_rate_schedule(tf, constant, 2000) == 1e-3
    warm_only = learning_rate_schedule(tf, {**settings, "decay": "none"}, 2000)
    assert float(warm_only(1999)) == pytest.approx(1e-3)


def test_in_memory_patches_draw_the_epoch_announced_after_the_iterator_is_made(tf):
    """Keras makes an epoch's iterator before on_epoch_begin: the prefetching patch pipeline must
    still draw the epoch announced then (a resumed run's patches equal an uninterrupted run's)."""
    from aecompress.images import ImageSet
    from aecompress.preprocessing import Normalization, PatchSampler
    from aecompress.training import EpochCounter, patch_batches

    rng = np.random.default_rng(0)
    images = ImageSet([rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(5)])
    sampler = PatchSampler(16, 24, True, seed=7)
    counter = EpochCounter()
    iterator = iter(patch_batches(tf, images, sampler, 8, Normalization("unit"), lambda: counter.epoch))
    counter.epoch = 3
    first, _ = next(iterator)
    expected = np.stack(list(sampler.epoch(images, 3))[:8]).astype(np.float32) / 255
    np.testing.assert_allclose(first.numpy(), expected, rtol=1e-6)
