"""The whole workflow, run by Snakemake on a tiny config in a temporary directory."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import MIRROR, require

pytestmark = pytest.mark.integration


def snakemake(repo: Path, workdir: Path, *args: str, configfile: Path | None = None, env=None):
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(repo / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(configfile or workdir / "config.yaml"), *args,
    ]  # fmt: skip
    environment = None if env is None else {**os.environ, **env}
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env=environment)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    repo = Path(__file__).resolve().parents[1]
    workdir = tmp_path_factory.mktemp("run")
    shutil.copy(repo / "tests/data/config-tiny.yaml", workdir / "config.yaml")
    shutil.copy(repo / "tests/data/learning-curve-fixture.json", workdir / "learning-curve.json")
    result = snakemake(repo, workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    return repo, workdir


def test_every_variant_is_evaluated_and_reported(tiny_run):
    _, workdir = tiny_run
    expected = {
        "dense-digits_latent_units-2_use_bias-true",
        "dense-digits_latent_units-2_use_bias-false",
        "dense-digits_latent_units-16_use_bias-true",
        "dense-digits_latent_units-16_use_bias-false",
        "dense-photos",
        "cae-search",
        "jpeg-photos_quality-20",
        "jpeg-photos_quality-90",
        "pca-photos_step-8",
        "pca-photos_step-32",
    }
    summaries = {
        p.parent.name: json.loads(p.read_text())
        for p in (workdir / "results/evaluation").glob("*/*/summary.json")
    }
    assert set(summaries) == expected
    low, high = summaries["jpeg-photos_quality-20"], summaries["jpeg-photos_quality-90"]
    assert (
        low["kind"] == "classical"
        and low["dataset"] == "photos"
        and low["operating_point"] == {"quality": 20}
    )
    assert 0 < low["bpp"] < high["bpp"] and low["metrics"]["psnr"] < high["metrics"]["psnr"]
    assert 0 < low["header_bpp"] < low["bpp"]
    assert "Key results on photos" in (workdir / "results/report.html").read_text()
    # Every method has a real file: the dense models through their 6-bit latent coder.
    for name, summary in summaries.items():
        assert summary["bpp"] > summary["header_bpp"] > 0, name
    dense = summaries["dense-photos"]
    assert dense["coding"]["quantizer"].startswith("uniform, 64 levels (6 bits)")
    assert dense["raw_bpp"] == 24 and dense["unquantized_metrics"]["psnr"] >= dense["metrics"]["psnr"] - 0.5
    fine, coarse = summaries["pca-photos_step-8"], summaries["pca-photos_step-32"]
    assert fine["bpp"] > coarse["bpp"] and fine["metrics"]["psnr"] > coarse["metrics"]["psnr"]
    assert fine["trained_on"] == "photos" and fine["params"]["block_size"] == 8
    # The digits classifier scores every evaluation on digits, and only those.
    digits = summaries["dense-digits_latent_units-16_use_bias-true"]
    assert 0 < digits["classification"]["accuracy_ratio"] <= 1.2
    assert summaries["dense-photos"]["classification"] is None
    classifier = json.loads((workdir / "results/classifiers/digits/classifier.json").read_text())
    assert digits["classification"]["accuracy_original"] == pytest.approx(classifier["test_accuracy"])
    photos = summaries["dense-photos"]
    assert (
        photos["n_images"] == 1 and photos["ms_ssim_scales"] == [5] and 0 < photos["metrics"]["ms_ssim"] <= 1
    )
    # Every learned rate point is judged against the trivial predictor; classical codecs are not.
    for name, summary in summaries.items():
        verdict = summary["collapse"]
        if summary["kind"] == "classical":
            assert verdict is None, name
        else:
            assert verdict["trivial_mse"] > 0 and isinstance(verdict["collapsed"], bool), name
    assert summaries["dense-digits_latent_units-2_use_bias-true"]["collapse"]["trivial_predictor"] == (
        "the mean training image"
    )
    assert summaries["dense-photos"]["collapse"]["trivial_predictor"].startswith("the per-channel mean")
    html = (workdir / "results/report.html").read_text()
    assert "MSE by compression ratio and bias" in html
    # The MNIST paper's Table 1 beside this run's digits, with why they are not comparable.
    assert "Paper vs this run" in html and "Not comparable: the paper used MNIST" in html
    assert "392x (h=2), bias" in html and "0.0624" in html
    for section in ("Nominal compression ratio vs real bits", "Classifier accuracy on reconstructions",
                    "Equal rate and equal quality against JPEG", "The header on small images"):  # fmt: skip
        assert section in html
    assert 'class="dataframe table1"' in html
    for ratio in ("digits: 32x (h=2)", "digits: 4x (h=16)"):
        assert ratio in html
    assert "data:image/png;base64" in html  # figures are embedded
    point = "dense-digits_latent_units-16_use_bias-true"
    with np.load(workdir / "results/evaluation" / point / point / "samples.npz") as data:
        assert data["latent_0"].shape == (16,)  # the dense code of the first test digit
    with np.load(workdir / "results/evaluation/jpeg-photos/jpeg-photos_quality-20/samples.npz") as data:
        assert "latent_0" not in data  # a classical codec has no latent
    assert "<script src=" not in html.split("<body")[1]  # nothing to fetch for the content


def test_every_method_on_the_photos_is_coded_at_each_target(tiny_run):
    _, workdir = tiny_run
    tables = {p.stem: pd.read_csv(p) for p in (workdir / "results/targets").glob("*.csv")}
    assert set(tables) == {"dense-photos", "jpeg-photos", "pca-photos"}  # not the digits' curves
    images = len(tables["jpeg-photos"]["image"].unique())
    for curve, table in tables.items():
        assert len(table) == 2 * images and set(table["target"]) == {"bpp", "psnr"}, curve
        within = table[(table["target"] == "bpp") & table["met"]]
        assert (within["bpp"] <= 1.0).all() and (
            table[(table["target"] == "psnr") & table["met"]]["psnr"] >= 25
        ).all()
    jpeg = tables["jpeg-photos"]
    assert jpeg["met"].all() and (jpeg["encodes"] <= 10).all()  # JPEG's 101 qualities, bisected
    assert set(jpeg["point"]) <= {f"quality-{q}" for q in range(101)}
    # The PCA baseline searches the steps it was fitted for; a model set its models.
    assert set(tables["pca-photos"]["point"]) <= {"step-8", "step-32"}
    assert "Every method at equal targets" in (workdir / "results/report.html").read_text()


def test_the_bd_rate_table_with_its_intervals_is_written_for_other_tools(tiny_run):
    _, workdir = tiny_run
    table = pd.read_csv(workdir / "results/report/bd_rates.csv")
    assert {"bd_rate_psnr_%", "bd_rate_psnr_ci95", "reliable_psnr"} <= set(table.columns) and len(table)


def test_the_tuning_study_runs_one_job_per_outer_fold_and_its_final_model_is_evaluated(tiny_run):
    _, workdir = tiny_run
    study = workdir / "results/tuning/cae-search"
    folds = pd.read_csv(study / "folds.csv")
    assert list(folds["outer_fold"]) == [0, 1] and (folds["trials"] > 0).all()
    assert (folds["outer_test_images"] + folds["search_images"]).nunique() == 1  # every fold splits one set
    for fold in (0, 1):
        assert (workdir / f"logs/tune_outer_fold/cae-search_outer-{fold}.log").exists()
        assert (study / f"outer-{fold}/tuner/hyperband/oracle.json").exists()  # the resumable state
    selection = json.loads((study / "selection.json").read_text())
    card = json.loads((workdir / "results/models/cae-search/model.json").read_text())
    assert card["params"] == selection["params"] and card["training"]["loss"] == selection["loss"]
    assert card["family"] == "deep-cae" and card["epochs_run"] == 2  # Hyperband's max_epochs
    summary = json.loads((workdir / "results/evaluation/cae-search/cae-search/summary.json").read_text())
    assert summary["bpp"] > summary["header_bpp"] > 0 and summary["coding"]["quantizer"]
    assert 0 < summary["classification"]["accuracy_ratio"] <= 1.2  # scored by the digits classifier
    html = (workdir / "results/report.html").read_text()
    assert "Hyperparameter search: Hyperband in nested cross-validation" in html
    assert selection["rule"] in html and (workdir / "results/figures/tuning-cae-search.png").exists()


def test_a_larger_latent_gives_a_lower_test_mse(tiny_run):
    _, workdir = tiny_run
    mse = {}
    for path in (workdir / "results/evaluation").glob("dense-digits*/*/per_image.csv"):
        mse[path.parent.name] = pd.read_csv(path)["mse"].mean()
    for bias in ("true", "false"):
        assert (
            mse[f"dense-digits_latent_units-16_use_bias-{bias}"]
            < mse[f"dense-digits_latent_units-2_use_bias-{bias}"]
        )


def test_logs_and_benchmarks_are_written(tiny_run):
    _, workdir = tiny_run
    log = (workdir / "logs/train/dense-digits_latent_units-2_use_bias-true.log").read_text()
    assert "epoch 8/8" in log
    assert "cuda" not in log.lower() and "onednn" not in log.lower()
    assert (workdir / "results/benchmarks/train/dense-photos.tsv").exists()


def test_the_provenance_report_links_every_figure_to_its_rule(tiny_run):
    repo, workdir = tiny_run
    figures = sorted(p.name for p in (workdir / "results/figures").glob("*.png"))
    for name in ("rate-distortion-photos", "per-class-mse", "matched-bpp-photos", "inside-dense-photos",
                 "grid-dense-digits", "curves-dense-digits", "learning-curve"):  # fmt: skip
        assert f"{name}.png" in figures, (name, figures)
    assert any(f.startswith("per-image-dense-digits") for f in figures)  # 1 photo: too few for outliers
    html = (workdir / "results/report.html").read_text()
    assert html.count("<em>Figure: ") == len(figures)  # every figure shown has a caption
    result = snakemake(repo, workdir, "--report", "results/workflow-report.html")
    assert result.returncode == 0, result.stderr[-4000:]
    provenance = (workdir / "results/workflow-report.html").read_text()
    # Snakemake embeds its results as base64 data in the page; the captions and names are in it.
    assert "Figures" in provenance and "Evaluation" in provenance and "Training" in provenance
    for name in ("rate-distortion-photos.png", "report.html", "per_image.csv"):
        assert name in provenance


def test_rerun_is_a_no_op_and_a_config_change_reruns_only_what_it_touches(tiny_run):
    repo, workdir = tiny_run
    result = snakemake(repo, workdir, "-n", "--cores", "2")
    assert "Nothing to be done" in result.stdout + result.stderr
    changed = workdir / "changed.yaml"
    changed.write_text((workdir / "config.yaml").read_text().replace("epochs: 1,", "epochs: 2,"))
    result = snakemake(repo, workdir, "-n", "--cores", "2", configfile=changed)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    jobs = dict(
        line.split() for line in out.split("Job stats:")[1].splitlines()[3:] if len(line.split()) == 2
    )
    assert jobs["train"] == "1" and jobs["evaluate"] == "1" and jobs["report"] == "1"


def test_bad_config_fails_before_any_job_and_names_the_key(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    bad = tmp_path / "bad.yaml"
    bad.write_text((repo / "tests/data/config-tiny.yaml").read_text().replace("epochs: 8,", "epochs: -8,"))
    result = snakemake(repo, tmp_path, "--cores", "1", configfile=bad)
    assert result.returncode != 0
    assert "experiments[0].training.epochs" in result.stderr
    assert "-8 is less than the minimum of 1" in result.stderr
    assert not (tmp_path / "results").exists()


def test_a_configfile_stands_alone_instead_of_inheriting_config_yaml(tmp_path):
    """Snakemake merges --configfile into the Snakefile's config.yaml (lists replaced, mappings
    merged), so presets once inherited the default run's digits dataset and its classifier."""
    repo = Path(__file__).resolve().parents[1]
    shutil.copy(repo / "config.yaml", tmp_path / "config.yaml")  # as in a checkout's root
    preset = repo / "presets/kodak-compressive.yaml"
    result = snakemake(repo, tmp_path, "-n", "--cores", "1", configfile=preset)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert "results/datasets/clic/prepared" in out and "results/datasets/kodak/prepared" in out
    assert "results/datasets/digits" not in out and "train_classifier" not in out
    assert "jpeg-photos" not in out and "dense-digits" not in out
    # --config still applies on top of the file given.
    result = snakemake(repo, tmp_path, "-n", "--cores", "1", "--config", "seed=7", configfile=preset)
    assert result.returncode == 0 and "results/datasets/digits" not in result.stdout + result.stderr


def test_dry_run_does_not_import_tensorflow(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    code = (
        "import sys\n"
        "from snakemake.cli import main\n"
        "try:\n"
        f"    main(['--snakefile', {str(repo / 'Snakefile')!r}, '--directory', {str(tmp_path)!r},"
        f" '--configfile', {str(repo / 'config.yaml')!r}, '-n', '--cores', '1', '--quiet'])\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, None), e.code\n"
        "print('TF LOADED' if 'tensorflow' in sys.modules else 'TF NOT LOADED')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "TF NOT LOADED" in result.stdout, result.stdout + result.stderr


@pytest.mark.usefixtures("mirror")
def test_mnist_preset_downloads_from_a_mirror_and_runs(tmp_path):
    import yaml

    repo = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((repo / "presets/mnist-dense.yaml").read_text())
    config["datasets"]["mnist"].update(mirror=(MIRROR / "mnist").as_uri(), subset=300)
    config["experiments"][0]["grid"] = {"latent_units": [2, 56], "use_bias": [True]}
    config["experiments"][0]["training"]["epochs"] = 3
    config["baselines"][0]["qualities"] = [50]  # one point of each baseline keeps the test short
    config["baselines"][1]["pca"]["steps"] = [32]
    config["classifiers"][0]["epochs"] = 2
    # One thread per job: these small jobs keep about one core busy, so `--cores 2` runs two.
    config["resources"] = {"train": {"threads": 1}, "evaluate": {"threads": 1}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(repo, tmp_path, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    downloaded = sorted(p.name for p in (tmp_path / "results/downloads/mnist").iterdir())
    assert downloaded == sorted(
        [
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ]
    )
    assert "verified" in (tmp_path / "logs/download/mnist/t10k-labels-idx1-ubyte.gz.log").read_text()
    summaries = {
        p.parent.name: json.loads(p.read_text())
        for p in (tmp_path / "results/evaluation").glob("*/*/summary.json")
    }
    low, high = (
        summaries["dense-mnist_latent_units-2_use_bias-true"],
        summaries["dense-mnist_latent_units-56_use_bias-true"],
    )
    assert low["nominal_compression_ratio"] == 392 and high["nominal_compression_ratio"] == 14
    assert high["metrics"]["mse"] < low["metrics"]["mse"] and low["n_images"] == 300
    # The preset's classifier and baselines score the same 300 test digits.
    pca = json.loads((tmp_path / "results/evaluation/pca-mnist/pca-mnist_step-32/summary.json").read_text())
    assert (
        pca["bpp"] > 0
        and pca["classification"]["accuracy_original"] == low["classification"]["accuracy_original"]
    )


def test_a_wrong_mirror_fails_with_the_checksum_and_leaves_no_file(tmp_path):
    import yaml

    repo = Path(__file__).resolve().parents[1]
    fake = tmp_path / "fake-mirror"
    fake.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):  # fmt: skip
        (fake / name).write_bytes(b"not mnist")
    config = yaml.safe_load((repo / "presets/mnist-dense.yaml").read_text())
    config["datasets"]["mnist"]["mirror"] = str(fake)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(repo, tmp_path, "--cores", "1", "--until", "download")
    assert result.returncode != 0
    logs = "".join(p.read_text() for p in (tmp_path / "logs/download/mnist").glob("*.log"))
    assert "SHA-256 mismatch" in logs and str(fake) in logs
    assert not list((tmp_path / "results/downloads/mnist").glob("*.gz"))


@pytest.mark.usefixtures("mirror")
def test_stl10_sample_archive_runs_through_the_workflow_with_a_registry_override(tmp_path):
    """The mirror's STL-10 sample has the official layout but its own checksum: override it (tests only)."""
    import yaml

    repo = Path(__file__).resolve().parents[1]
    archive = MIRROR / "stl10-sample" / "stl10_binary.tar.gz"
    override = {
        "stl10": [
            {
                "name": archive.name,
                "size": archive.stat().st_size,
                "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
                "md5": None,
            }
        ]
    }
    (tmp_path / "override.yaml").write_text(yaml.safe_dump(override))
    config = {
        "datasets": {
            "stl": {"source": "stl10", "mirror": archive.parent.as_uri(), "unlabeled": True, "folds": 3}
        },
        "experiments": [
            {
                "name": "stl-blocks",
                "family": "dense",
                "dataset": "stl",
                "params": {"block_size": 8, "latent_units": 24},
                "preprocessing": {"normalization": "standardize"},
                "training": {"epochs": 1, "learning_rate": 0.001},
            }
        ],
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {"AECOMPRESS_TEST_REGISTRY_OVERRIDE": str(tmp_path / "override.yaml")}
    result = snakemake(repo, tmp_path, "--cores", "2", env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    manifest = json.loads((tmp_path / "results/datasets/stl/prepared/manifest.json").read_text())
    assert manifest["splits"]["train"]["labelled"] is False  # 63 labelled + 141 unlabelled, minus val
    assert sum(s["count"] for s in manifest["splits"].values()) == 63 + 141 + 42
    assert manifest["folds"] == 3 and manifest["meta"]["options"]["unlabeled"] is True
    card = json.loads((tmp_path / "results/models/stl-blocks/model.json").read_text())
    assert card["preprocessing"]["normalization"]["kind"] == "standardize"
    assert len(card["preprocessing"]["normalization"]["mean"]) == 3
    summary = json.loads((tmp_path / "results/evaluation/stl-blocks/stl-blocks/summary.json").read_text())
    assert summary["n_images"] == 42 and summary["metrics"]["psnr"] > 15

    # Without the override the sample fails verification against the official MD5.
    shutil.rmtree(tmp_path / "results")
    result = snakemake(repo, tmp_path, "--cores", "1", "--until", "download")
    assert result.returncode != 0
    assert "91f7769df0f17e558f3565bffb0c7dfb" in "".join(
        p.read_text() for p in (tmp_path / "logs/download").rglob("*.log")
    )


@pytest.mark.usefixtures("mirror")
def test_compressive_models_train_on_photos_and_are_tested_on_kodak(tmp_path):
    import yaml

    repo = Path(__file__).resolve().parents[1]
    patches = {"size": 48, "per_epoch": 64}
    config = {
        "datasets": {
            "photos": {"source": "bundled-photos", "images": ["astronaut", "coffee", "chelsea"],
                       "val_fraction": 0},
            "kodak": {"source": "kodak", "mirror": (MIRROR / "kodak").as_uri(), "test_fraction": 1,
                      "val_fraction": 0, "subset": 2},
        },
        "experiments": [
            {"name": "fp", "family": "factorized-prior", "dataset": "photos", "test_dataset": "kodak",
             "params": {"num_filters": 8}, "grid": {"lmbda": [0.01]}, "preprocessing": {"patches": patches},
             "training": {"epochs": 1, "batch_size": 8, "learning_rate": 0.001},
             "also_test_on": ["photos"]},  # a second test set: the training photos' own test split
            {"name": "slim", "family": "slimcae", "dataset": "photos", "test_dataset": "kodak",
             "params": {"widths": [8, 4], "lambdas": [256, 64]}, "preprocessing": {"patches": patches},
             "training": {"epochs": 1, "batch_size": 8, "learning_rate": 0.001}},
            # One variable-rate model: one training job, a curve of two lambdas.
            {"name": "vr", "family": "hyperprior", "dataset": "photos", "test_dataset": "kodak",
             "params": {"num_filters": 8, "latent_filters": 8, "lambda_range": [0.002, 0.05],
                        "rate_points": 2},
             "preprocessing": {"patches": patches},
             "training": {"epochs": 1, "batch_size": 8, "learning_rate": 0.001}},
        ],
        "evaluation": {"reconstruction_samples": 1, "train_split_images": 1},
        # One thread per job: these tiny models keep about one core busy, so `--cores 2` runs two.
        "resources": {"train": {"threads": 1}, "evaluate": {"threads": 1}},
    }  # fmt: skip
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(repo, tmp_path, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    summaries = {
        p.parent.name: json.loads(p.read_text())
        for p in (tmp_path / "results/evaluation").glob("*/*/summary.json")
    }
    assert set(summaries) == {
        "fp_lmbda-0.01", "fp_lmbda-0.01_on-photos", "slim_width-8", "slim_width-4", "vr_lambda-0.002",
        "vr_lambda-0.05",
    }  # fmt: skip
    assert len(list((tmp_path / "results/models").glob("vr*/model.json"))) == 1  # one model, two points
    low, high = summaries["vr_lambda-0.002"], summaries["vr_lambda-0.05"]
    assert low["variant"] == high["variant"] and low["bpp"] < high["bpp"]
    assert low["operating_point"]["lambda"] == 0.002 and high["codec"] == "hyperprior"
    second = summaries.pop("fp_lmbda-0.01_on-photos")  # the same model's files, on the other test set
    assert second["dataset"] == "photos" and second["variant"] == "fp_lmbda-0.01" and second["n_images"] == 1
    assert second["bpp"] > 0 and second["id"] == "fp_lmbda-0.01_on-photos"
    for summary in summaries.values():
        assert (
            summary["dataset"] == "kodak" and summary["trained_on"] == "photos" and summary["n_images"] == 2
        )
        assert summary["bpp"] > 0 and summary["metrics"]["ms_ssim"] is not None
    assert summaries["slim_width-4"]["bpp"] < summaries["slim_width-8"]["bpp"]
    train = summaries["slim_width-4"]["train_metrics"]  # the SlimCAE thesis's train vs test tables
    assert train["images"] == 1 and train["bpp"] > 0 and 0 < train["ms_ssim"] <= 1
    per_image = pd.read_csv(tmp_path / "results/evaluation/fp_lmbda-0.01/fp_lmbda-0.01/per_image.csv")
    assert set(per_image["height"] * per_image["width"]) == {768 * 512}
    assert np.allclose(
        per_image["bpp"], per_image["file_bits"] / (768 * 512)
    )  # the whole file, header included
    header_bits = per_image["file_bits"] - per_image["payload_bits"]
    assert (header_bits > 0).all() and np.allclose(header_bits, per_image["header_bpp"] * 768 * 512)
    assert summaries["fp_lmbda-0.01"]["real_over_estimated_bits"] > 0
    with np.load(tmp_path / "results/evaluation/fp_lmbda-0.01/fp_lmbda-0.01/samples.npz") as samples:
        latent = samples["latent_0"]  # the analysis transform's output, for the report's figures
    assert latent.ndim == 3 and latent.shape[2] == 8 and sorted(latent.shape[:2]) == [32, 48]
    with np.load(tmp_path / "results/evaluation/slim/slim_width-4/samples.npz") as samples:
        assert samples["latent_0"].shape[2] == 4
    html = (tmp_path / "results/report.html").read_text()
    assert "Published curves, where known (Kodak), are drawn dotted beneath" in html
    assert "Inside the models" in html and "Train vs test" in html
    assert (
        tmp_path / "results/figures/ms-ssim-per-width-slim.png"
    ).exists()  # the published curves are overlaid on Kodak


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Offline machine: Chromium's own background connections would fail and clutter the console.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


def test_the_report_opens_in_a_real_browser_and_shows_the_summaries_numbers(tiny_run):
    require(
        CHROMIUM is not None,
        "Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)",
    )
    from playwright.sync_api import sync_playwright

    repo, workdir = tiny_run
    artifacts = repo / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    problems = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
        page.goto((workdir / "results/report.html").as_uri(), wait_until="load")
        images = page.evaluate(
            "Promise.all(Array.from(document.images).map(i => i.decode().then("
            "() => [i.naturalWidth, i.naturalHeight], () => [0, 0])))"
        )
        headings = page.evaluate("Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
        subheadings = page.evaluate("Array.from(document.querySelectorAll('h3')).map(h => h.textContent)")
        # The first screen: the key results, above the fold of a 900 px window.
        key_top = page.evaluate("document.getElementById('key-results').getBoundingClientRect().top")
        # A contents link jumps to its section.
        page.click("nav.contents a[href='#what-the-papers-measured']")
        page.wait_for_function("location.hash === '#what-the-papers-measured'")
        target = "document.getElementById('what-the-papers-measured')"
        jumped = page.evaluate(f"[window.scrollY, {target}.getBoundingClientRect().top]")
        ranked = page.evaluate(
            """Array.from(document.querySelectorAll('table.key-results')).map(t => ({
                dataset: t.dataset.dataset,
                head: Array.from(t.querySelectorAll('thead th')).map(c => c.textContent.trim()),
                rows: Array.from(t.querySelectorAll('tbody tr')).map(
                    r => Array.from(r.children).map(c => c.textContent.trim())),
            }))"""
        )
        left_out = page.evaluate(
            "Array.from(document.querySelectorAll('p')).map(p => p.textContent)"
            ".filter(t => t.startsWith('Left out, no data in this run:'))"
        )
        tables = page.evaluate(
            """Array.from(document.querySelectorAll('table.dataframe')).map(t => ({
                head: Array.from(t.querySelectorAll('thead th')).map(c => c.textContent.trim()),
                rows: Array.from(t.querySelectorAll('tbody tr')).map(
                    r => Array.from(r.children).map(c => c.textContent.trim())),
            }))"""
        )
        title = page.title()
        page.screenshot(path=str(artifacts / "report.png"), full_page=False)
        browser.close()
    assert problems == []
    figures = list((workdir / "results/figures").glob("*.png"))
    assert len(images) >= len(figures) > 5
    assert all(width > 0 and height > 0 for width, height in images), images
    assert title == "tiny integration run"
    assert headings == ["Key results", "Rate-distortion", "What the papers measured", "Inside the models",
                        "The run"]  # fmt: skip
    for section in (
        "Key results on photos", "Paper vs this run", "Datasets", "Test-set results of every rate point",
        "BD-rate against JPEG", "Nominal compression ratio vs real bits",
        "Classifier accuracy on reconstructions (CIFAR-10 paper, Fig. 4)",
        "MSE by compression ratio and bias (MNIST paper, Table 1)", "Job durations",
        "Hyperparameter search: Hyperband in nested cross-validation",
    ):  # fmt: skip
        assert any(h.startswith(section) for h in subheadings), (section, subheadings)
    assert 0 < key_top < 900  # the key results open the page
    assert jumped[0] > 0 and abs(jumped[1]) < 5  # the link scrolled its section to the top
    # This run has no SlimCAE and no train-split evaluation, and its two experiments are on two test
    # sets: those sections are named in the one line at the end, not shown empty.
    (left_out,) = left_out
    for section in ("Train vs test, and MS-SSIM per width", "Experiments side by side"):
        assert section in left_out and not any(h.startswith(section) for h in subheadings)
    _check_key_results(ranked, workdir)
    # The table of every rate point shows each summary's own numbers (4 decimals).
    (results,) = [t for t in tables if {"method", "bpp", "psnr", "mse"} <= set(t["head"])]
    column = {name: i for i, name in enumerate(results["head"])}  # pandas: index header, then columns
    shown = {row[column["method"]]: row for row in results["rows"]}
    summaries = {
        p.parent.name: json.loads(p.read_text())
        for p in (workdir / "results/evaluation").glob("*/*/summary.json")
    }
    assert set(shown) == set(summaries)
    for method, row in shown.items():
        for name in ("bpp", "psnr", "mse"):
            value = summaries[method]["bpp"] if name == "bpp" else summaries[method]["metrics"][name]
            assert float(row[column[name]]) == pytest.approx(value, abs=1.5e-4 * max(1, abs(value)))


def _check_key_results(ranked, workdir):
    """Every key-results row against the summaries: the curve's points, bpp range, BD-rate against
    JPEG and its bootstrap interval, recomputed from the summary and per-image files alone."""
    from aecompress.comparisons import bd_metrics, bd_rate_interval

    paths = sorted((workdir / "results/evaluation").glob("*/*/summary.json"))
    rows = []
    for path in paths:
        s = json.loads(path.read_text())
        if s["bpp"] is not None:
            rows.append(
                {"curve": s["curve"], "dataset": s["dataset"], "codec": s["codec"], "bpp": s["bpp"],
                 "psnr": s["metrics"]["psnr"], "collapsed": bool((s["collapse"] or {}).get("collapsed")),
                 "per_image": path.with_name("per_image.csv")}
            )  # fmt: skip
    points = pd.DataFrame(rows)
    seed = yaml.safe_load((workdir / "config.yaml").read_text())["seed"]
    # A ranking on every test set with a JPEG curve (the digits have none in this run).
    assert [t["dataset"] for t in ranked] == sorted(points.loc[points["codec"] == "jpeg", "dataset"].unique())
    for table in ranked:
        column = {name: i for i, name in enumerate(table["head"])}
        on_dataset = points[(points["dataset"] == table["dataset"]) & ~points["collapsed"]]
        anchor = on_dataset[on_dataset["codec"] == "jpeg"]
        assert {row[column["method"]] for row in table["rows"]} == set(on_dataset["curve"])
        for row in table["rows"]:
            curve = on_dataset[on_dataset["curve"] == row[column["method"]]]
            assert int(row[column["points"]]) == len(curve)
            low, high = row[column["bpp range"]].split("-")
            assert float(low) == pytest.approx(curve["bpp"].min(), abs=6e-4)
            assert float(high) == pytest.approx(curve["bpp"].max(), abs=6e-4)
            expected = bd_metrics(anchor, curve, "psnr")["bd_rate"]
            shown = row[column["BD-rate vs JPEG (%)"]]
            assert (
                (shown == "n/a") if expected is None else float(shown) == pytest.approx(expected, abs=0.051)
            )
            interval = expected is not None and bd_rate_interval(
                [pd.read_csv(p) for p in anchor["per_image"]], [pd.read_csv(p) for p in curve["per_image"]],
                "psnr", 1000, seed,
            )  # fmt: skip
            text = f"{interval[0]:+.1f} to {interval[1]:+.1f}" if interval else "n/a"
            assert row[column["95% interval (%)"]] == text
        assert [int(row[column["rank"]]) for row in table["rows"]] == list(range(1, len(table["rows"]) + 1))


@pytest.mark.usefixtures("mirror")
def test_a_streamed_photo_corpus_from_an_archive_runs_through_the_workflow(tmp_path):
    """A zip of CID22 photos as a URL source with `stream: true`: prepared as an index of the
    unpacked files (moved into the dataset), trained on patches read from the files, evaluated."""
    import hashlib
    import zipfile

    import yaml

    repo = Path(__file__).resolve().parents[1]
    archive = tmp_path / "cid22.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((MIRROR / "cid22-train").glob("*.png"))[:12]:
            zf.write(path, f"cid22/{path.name}")
    config = {
        "datasets": {
            "cid": {"source": "image-folder", "url": archive.as_uri(), "stream": True, "test_fraction": 0.25,
                    "sha256": hashlib.sha256(archive.read_bytes()).hexdigest()}
        },
        "experiments": [
            {"name": "fp-cid", "family": "factorized-prior", "dataset": "cid", "params": {"num_filters": 8},
             "preprocessing": {"patches": {"size": 64, "per_epoch": 32}},
             "training": {"epochs": 2, "batch_size": 8}}
        ],
        "baselines": [{"name": "jpeg-cid", "codec": "jpeg", "dataset": "cid", "qualities": [50]}],
    }  # fmt: skip
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(repo, tmp_path, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    prepared = tmp_path / "results/datasets/cid/prepared"
    index = json.loads((prepared / "train.files.json").read_text())
    assert len(index) == 8 and all((prepared / e["path"]).is_file() for e in index)
    assert not list((tmp_path / "results/datasets/cid").glob(".staging.*"))  # nothing left behind
    manifest = json.loads((prepared / "manifest.json").read_text())
    assert manifest["splits"]["test"] == {"count": 3, "labelled": False, "layout": "files"}
    summary = json.loads((tmp_path / "results/evaluation/fp-cid/fp-cid/summary.json").read_text())
    assert summary["n_images"] == 3 and summary["bpp"] > 0
    assert (tmp_path / "results/report.html").is_file()
