import pytest

from aecompress import plan
from aecompress.config import ConfigError, validate_config


def test_grid_expands_to_one_variant_per_combination(minimal_config):
    minimal_config["experiments"][0]["grid"]["use_bias"] = [True, False]
    variants = plan.all_variants(validate_config(minimal_config))
    assert list(variants) == [
        "dense_latent_units-2_use_bias-true",
        "dense_latent_units-2_use_bias-false",
        "dense_latent_units-8_use_bias-true",
        "dense_latent_units-8_use_bias-false",
    ]
    variant = variants["dense_latent_units-8_use_bias-false"]
    assert variant.params == {
        "latent_units": 8,
        "use_bias": False,
        "initializer": "glorot_uniform",
        "block_size": None,
    }
    assert variant.grid_values == {"latent_units": 8, "use_bias": False}


def test_experiment_without_grid_is_one_variant(minimal_config):
    minimal_config["experiments"][0]["grid"] = {}
    assert list(plan.all_variants(validate_config(minimal_config))) == ["dense"]


def test_default_config_targets(repo):
    from aecompress.config import load_config

    config = load_config(repo / "config.yaml")
    variants = plan.all_variants(config)
    assert len(variants) == 16
    families = {v.family for v in variants.values()}
    assert families == {"dense", "deep-cae", "factorized-prior"}  # one family of each kind
    benchmarks = plan.job_benchmarks(config)
    assert len(benchmarks["train"]) == 16 and len(benchmarks["prepare_dataset"]) == 2
    files = plan.report_variant_files(list(plan.all_evaluations(config).values()))
    assert files[0]["summary"].endswith("/summary.json")
    # One evaluation job per curve: a variant's points, or all the operating points of a baseline.
    jobs = plan.evaluation_jobs(config)
    assert len(jobs) == 16 + 3 and len(benchmarks["evaluate"]) == len(jobs)
    assert [len(jobs[b].evaluations) for b in ("jpeg-photos", "webp-photos", "pca-photos")] == [7, 7, 5]
    assert sum(job.fits_latent_coder for job in jobs.values()) == 14  # all but the factorized priors


def test_a_slimcae_variant_is_evaluated_once_per_width(minimal_config):
    minimal_config["datasets"]["photos"] = {"source": "bundled-photos"}
    minimal_config["experiments"].append(
        {
            "name": "slim",
            "family": "slimcae",
            "dataset": "photos",
            "params": {"widths": [32, 16], "lambdas": [100, 50]},
            "preprocessing": {"patches": {"size": 64}},
        }
    )
    evaluations = plan.all_evaluations(validate_config(minimal_config))
    slim = {k: e for k, e in evaluations.items() if e.variant == "slim"}
    assert {k: e.point for k, e in slim.items()} == {
        "slim_width-32": {"width": 32},
        "slim_width-16": {"width": 16},
    }
    job = plan.evaluation_jobs(validate_config(minimal_config))["slim"]
    assert [e.id for e in job.evaluations] == ["slim_width-32", "slim_width-16"]  # one job, both widths
    assert plan.evaluation_file(job.evaluations[1], "summary.json") == (
        "results/evaluation/slim/slim_width-16/summary.json"
    )
    assert not job.fits_latent_coder
    assert plan.job_benchmarks(validate_config(minimal_config))["evaluate"][-1].endswith("evaluate/slim.tsv")


def test_baselines_fitted_coders_and_classifiers_become_inputs(minimal_config):
    minimal_config["datasets"]["photos"] = {"source": "bundled-photos"}
    minimal_config["datasets"]["kodak"] = {"source": "kodak", "test_fraction": 1, "val_fraction": 0}
    pca = {"fit_dataset": "photos", "steps": [8, 2.5]}
    minimal_config["baselines"] = [
        {"name": "pca-kodak", "codec": "pca", "dataset": "kodak", "pca": pca},
        {"name": "jpeg-digits", "codec": "jpeg", "dataset": "digits", "qualities": [50]},
    ]
    minimal_config["classifiers"] = [{"dataset": "digits"}]
    config = validate_config(minimal_config)
    evaluations = plan.all_evaluations(config)
    pca = {k: e for k, e in evaluations.items() if e.codec == "pca"}
    assert {k: e.point for k, e in pca.items()} == {
        "pca-kodak_step-8": {"step": 8.0},
        "pca-kodak_step-2.5": {"step": 2.5},
    }
    jobs = plan.evaluation_jobs(config)
    assert jobs["pca-kodak"].fitted == "results/baselines/pca-kodak/pca.npz"
    assert all(e.classifier is None for e in pca.values())  # Kodak has no classifier
    jpeg = evaluations["jpeg-digits_quality-50"]
    assert jobs["jpeg-digits"].fitted is None and jpeg.classifier == "results/classifiers/digits/model"
    dense = evaluations["dense_latent_units-2"]
    assert jobs["dense_latent_units-2"].fits_latent_coder and dense.job == "dense_latent_units-2"
    assert dense.classifier == "results/classifiers/digits/model"
    assert plan.used_datasets(config) == ["digits", "kodak", "photos"]  # photos: PCA's fit dataset
    benchmarks = plan.job_benchmarks(config)
    assert benchmarks["fit_baseline"] == ["results/benchmarks/fit_baseline/pca-kodak/pca.npz.tsv"]
    assert len(benchmarks["evaluate"]) == 4 and len(benchmarks["train_classifier"]) == 1


def test_cluster_only_requests_are_passed_when_set(minimal_config):
    config = validate_config(minimal_config)
    assert config["resources"]["train"]["gpu_model"] is None
    assert plan.cluster_resources(config["resources"]["train"]) == {"gpu": 0}  # no --gres model, no -C
    minimal_config["resources"] = {"train": {"gpu": 1, "gpu_model": "a100", "constraint": "ib"}}
    train = validate_config(minimal_config)["resources"]["train"]
    assert plan.cluster_resources(train) == {"gpu_model": "a100", "constraint": "ib", "gpu": 1}


def test_more_test_sets_add_evaluations_not_trainings(minimal_config):
    """`also_test_on`: each rate point is also evaluated on another test split; the variant (what
    trains, and what a change re-trains) is the same with or without it."""
    minimal_config["datasets"]["more"] = {"source": "sklearn-digits", "test_fraction": 1, "val_fraction": 0.0}
    config = validate_config(minimal_config)
    before = plan.all_variants(config)
    config["experiments"][0]["also_test_on"] = ["more"]
    assert plan.all_variants(config) == before
    evaluations = plan.all_evaluations(config)
    extra = {k: e for k, e in evaluations.items() if k.endswith("_on-more")}
    assert len(extra) == len(before) and {e.dataset for e in extra.values()} == {"more"}
    # In the variant's own job: its model is loaded and its latent coder fitted once for both sets.
    assert all(e.variant in before and e.job == e.variant for e in extra.values())
    assert len(plan.evaluation_jobs(config)) == len(before)
    assert "more" in plan.used_datasets(config)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["nowhere"], "also_test_on: 'nowhere' is not a key of `datasets`"),
        (["digits"], "also_test_on: 'digits' is already the experiment's test set"),
        (["photos"], "also_test_on: 'photos' has 3 channels, the test set 'digits' 1"),
    ],
)
def test_a_second_test_set_that_cannot_take_the_model_is_refused(minimal_config, names, message):
    minimal_config["datasets"]["photos"] = {"source": "bundled-photos"}
    minimal_config["experiments"][0]["also_test_on"] = names
    with pytest.raises(ConfigError, match=message):
        validate_config(minimal_config)


def test_a_registered_codec_is_a_baseline_by_its_name_with_its_own_settings(minimal_config):
    """codecs.registry is the one list: JPEG 2000 (one module and one registry line) gets its config
    block, its operating points and its evaluation ids with nothing else changed."""
    minimal_config["baselines"] = [
        {"name": "j2k-digits", "codec": "jpeg2000", "dataset": "digits", "jpeg2000": {"ratios": [12, 48.5]}}
    ]
    config = validate_config(minimal_config)
    job = plan.evaluation_jobs(config)["j2k-digits"]
    assert [(e.id, e.point) for e in job.evaluations] == [
        ("j2k-digits_ratio-48.5", {"ratio": 48.5}),
        ("j2k-digits_ratio-12", {"ratio": 12.0}),
    ]
    assert job.fitted is None and plan.fitted_baselines(config) == {}
    minimal_config["baselines"][0]["jpeg2000"] = {"ratios": [0.5]}
    with pytest.raises(ConfigError, match=r"baselines\[0\]\.jpeg2000\.ratios\[0\]"):
        validate_config(minimal_config)
    minimal_config["baselines"][0]["codec"] = "mp3"
    with pytest.raises(ConfigError, match="baselines.0..codec.*'jpeg', 'webp', 'avif', 'pca', 'jpeg2000'"):
        validate_config(minimal_config)


def test_the_report_manifest_names_every_file_the_report_reads(repo):
    """The notebook's one parameter: every rate point's files inside its evaluation job's folder,
    the models' cards and histories, and where the figures go."""
    from aecompress.config import load_config

    config = load_config(repo / "config.yaml")
    manifest = plan.report_manifest(config, {"kodak": "resources/reference-results/kodak"}, {})
    assert manifest["title"] == config["report"]["title"] and manifest["figures"] == "results/figures"
    points = {entry["id"]: entry for entry in manifest["variants"]}
    assert points["jpeg-photos_quality-5"]["summary"] == (
        "results/evaluation/jpeg-photos/jpeg-photos_quality-5/summary.json"
    )
    assert "card" not in points["jpeg-photos_quality-5"]  # a baseline has no model card
    dense = points["dense-photos_latent_units-12"]
    assert dense["card"] == "results/models/dense-photos_latent_units-12/model.json"
    assert manifest["jobs"]["evaluate"] == len(plan.evaluation_jobs(config)) == 19
    assert set(manifest["datasets"]) == {"digits", "photos"}
