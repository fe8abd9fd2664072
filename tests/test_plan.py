from aecompress import plan
from aecompress.config import validate_config


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
    assert variant.params == {"latent_units": 8, "use_bias": False, "block_size": None}
    assert variant.grid_values == {"latent_units": 8, "use_bias": False}


def test_experiment_without_grid_is_one_variant(minimal_config):
    minimal_config["experiments"][0]["grid"] = {}
    assert list(plan.all_variants(validate_config(minimal_config))) == ["dense"]


def test_default_config_targets(repo):
    from aecompress.config import load_config

    config = load_config(repo / "config.yaml")
    variants = plan.all_variants(config)
    assert len(variants) == 12
    benchmarks = plan.job_benchmarks(config)
    assert len(benchmarks["train"]) == 12 and len(benchmarks["prepare_dataset"]) == 2
    files = plan.report_variant_files(list(variants))
    assert files[0]["summary"].endswith("/summary.json")
