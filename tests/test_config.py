import copy
from pathlib import Path

import pytest
import yaml

from aecompress.config import ConfigError, load_config, validate_config


def test_defaults_are_filled_from_the_schema(minimal_config):
    config = validate_config(minimal_config)
    assert config["seed"] == 42
    assert config["datasets"]["digits"]["test_fraction"] == 0.2
    experiment = config["experiments"][0]
    assert experiment["training"] == {
        "optimizer": "adam",
        "learning_rate": 0.01,
        "epochs": 50,
        "batch_size": 32,
        "loss": "mse",
        "huber_delta": 1.0,
        "early_stopping_patience": None,
        "mixed_precision": False,
        "warmup_steps": 0,
        "decay": "none",
        "final_learning_rate_fraction": 0.01,
        "clip_global_norm": None,
        "replica_learning_rate_scaling": "none",
    }
    assert experiment["params"] == {
        "latent_units": 32,
        "use_bias": True,
        "initializer": "glorot_uniform",
        "block_size": None,
    }
    assert config["resources"]["train"]["gpu"] == 0
    assert "seed" not in minimal_config  # the caller's dict is not modified


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c.update(epochs=3), "'epochs' was unexpected"),
        (lambda c: c["experiments"][0].update(training={"epochs": -1}), "experiments[0].training.epochs"),
        (lambda c: c["experiments"][0].update(training={"epochs": "ten"}), "'ten' is not of type 'integer'"),
        (lambda c: c["experiments"][0].update(family="vae"), "experiments[0].family"),
        (
            lambda c: c["experiments"][0]["grid"].update(latent_units=[0]),
            "experiments[0].grid.latent_units[0]",
        ),
        (lambda c: c["experiments"][0]["grid"].update(depth=[2]), "'depth' was unexpected"),
        (lambda c: c["datasets"]["digits"].update(test_fraction=1.5), "datasets.digits.test_fraction"),
        (lambda c: c["experiments"][0].update(dataset="mnist"), "'mnist' is not a key of `datasets`"),
        (lambda c: c["datasets"]["digits"].update(images=["china", "flower"]), "not an option of source"),
        (lambda c: c["experiments"].append(copy.deepcopy(c["experiments"][0])), "more than one experiment"),
    ],
)
def test_bad_values_name_the_key_and_the_expectation(minimal_config, mutate, expected):
    mutate(minimal_config)
    with pytest.raises(ConfigError) as err:
        validate_config(minimal_config, source="my.yaml")
    assert "my.yaml" in str(err.value)
    assert expected in str(err.value)


def test_whole_image_dense_model_on_photos_of_different_sizes_is_rejected(minimal_config):
    minimal_config["datasets"]["photos"] = {"source": "bundled-photos"}
    minimal_config["experiments"][0]["dataset"] = "photos"
    with pytest.raises(ConfigError, match="block_size: null .* different sizes"):
        validate_config(minimal_config)
    minimal_config["experiments"][0]["params"] = {"block_size": 8}
    validate_config(minimal_config)


def _with_user_folders(path: Path, workdir: Path) -> Path:
    """Create the (empty) folders of your own photos a preset points at, relative to `workdir`."""
    for options in yaml.safe_load(path.read_text())["datasets"].values():
        if options.get("path"):
            (workdir / options["path"]).mkdir(parents=True, exist_ok=True)
    return path


def test_shipped_configs_are_valid(repo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a user's run would find `data/...`
    for path in [
        repo / "config.yaml",
        repo / "tests/data/config-tiny.yaml",
        *sorted((repo / "presets").glob("*.yaml")),
    ]:
        config = load_config(_with_user_folders(path, tmp_path))
        assert config["experiments"]


def test_load_config_reports_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"datasets": {}, "experiments": []}))
    with pytest.raises(ConfigError, match=str(path)):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("experiment", "expected"),
    [
        ({"family": "deep-cae"}, "source 'bundled-photos' has images of different sizes; train on patches"),
        ({"family": "linear-latent-cae", "preprocessing": {"patches": {"size": 32}}}, "dense latent fixes"),
        (
            {
                "family": "factorized-prior",
                "preprocessing": {"normalization": "symmetric", "patches": {"size": 32}},
            },
            "compressive autoencoders code [0, 1] pixels",
        ),  # fmt: skip
        (
            {
                "family": "slimcae",
                "params": {"widths": [8, 4], "lambdas": [1.0]},
                "preprocessing": {"patches": {"size": 32}},
            },
            "one lambda per width is needed (2 widths, 1 lambdas)",
        ),  # fmt: skip
        (
            {
                "family": "ms2020",
                "params": {"latent_depth": 32, "num_slices": 5},
                "preprocessing": {"patches": {"size": 64}},
            },
            "params.num_slices: 5 does not divide latent_depth 32",
        ),  # fmt: skip
        ({"family": "rate-cae", "params": {"rate": 3}}, "experiments[1].params.rate: 3 is not one of"),
        ({"family": "deep-cae", "grid": {"filters": [[8, 8, 8, 8]]}}, "experiments[1].grid.filters[0]"),
    ],
)
def test_family_specific_mistakes_are_named(minimal_config, experiment, expected):
    minimal_config["datasets"]["photos"] = {"source": "bundled-photos"}
    minimal_config["experiments"].append({"name": "x", "dataset": "photos", **experiment})
    with pytest.raises(ConfigError) as error:
        validate_config(minimal_config)
    assert expected in str(error.value)


@pytest.mark.parametrize(
    "preset", sorted(p.name for p in (Path(__file__).parents[1] / "presets").glob("*.yaml"))
)
def test_every_preset_is_a_valid_config(repo, preset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(_with_user_folders(repo / "presets" / preset, tmp_path))
    assert config["experiments"]


def test_mixed_precision_is_refused_for_entropy_models(minimal_config):
    minimal_config["datasets"]["photos"] = {"source": "bundled-photos"}
    minimal_config["experiments"].append(
        {
            "name": "fp",
            "family": "factorized-prior",
            "dataset": "photos",
            "preprocessing": {"patches": {"size": 32}},
            "training": {"mixed_precision": True},
        }  # fmt: skip
    )
    with pytest.raises(ConfigError, match=r"experiments\[1\].training.mixed_precision: not supported"):
        validate_config(minimal_config)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"baselines": [{"name": "p", "codec": "pca", "dataset": "photos", "pca": {"components": 500}}]},
            "baselines[0].pca.components: 500 exceeds the 192 values of a 8x8x3 block",
        ),
        (
            {
                "baselines": [
                    {"name": "p", "codec": "pca", "dataset": "photos", "pca": {"fit_dataset": "nope"}}
                ]
            },
            "baselines[0].pca.fit_dataset: 'nope' is not a key of `datasets`",
        ),
        (
            {
                "baselines": [
                    {"name": "p", "codec": "pca", "dataset": "photos", "pca": {"fit_dataset": "digits"}}
                ]
            },
            "'digits' has 1 channels, the coded dataset 'photos' 3",
        ),
        (
            {"classifiers": [{"dataset": "photos"}]},
            "classifiers[0].dataset: 'photos' (source bundled-photos) is not",
        ),
        (
            {"classifiers": [{"dataset": "digits"}, {"dataset": "digits"}]},
            "'digits' has more than one classifier",
        ),
        (
            {"evaluation": {"latent_coding": {"bits": 0}}},
            "evaluation.latent_coding.bits: 0 is less than the minimum",
        ),
    ],
)
def test_baseline_classifier_and_coding_mistakes_are_named(minimal_config, extra, expected):
    minimal_config["datasets"]["photos"] = {"source": "bundled-photos"}
    minimal_config.update(extra)
    with pytest.raises(ConfigError) as error:
        validate_config(minimal_config)
    assert expected in str(error.value)


def test_a_repeated_grid_value_is_refused_instead_of_merging_two_variants(minimal_config):
    minimal_config["experiments"][0]["grid"] = {"latent_units": [2, 8, 2]}
    with pytest.raises(ConfigError, match=r"experiments\[0\]\.grid\.latent_units: .*has non-unique elements"):
        validate_config(minimal_config)


def test_list_valued_grid_points_give_file_system_safe_variant_ids(minimal_config):
    from aecompress.plan import all_variants

    minimal_config["datasets"]["photos"] = {"source": "bundled-photos"}
    minimal_config["experiments"] = [
        {
            "name": "slim",
            "family": "slimcae",
            "dataset": "photos",
            "params": {"lambdas": [8.0, 4.0]},
            "grid": {"widths": [[16, 8], [12, 6]]},
            "preprocessing": {"patches": {"size": 32}},
        }
    ]
    assert sorted(all_variants(validate_config(minimal_config))) == ["slim_widths-12+6", "slim_widths-16+8"]


def test_an_image_folder_that_does_not_exist_fails_at_validation(minimal_config, tmp_path):
    minimal_config["datasets"]["mine"] = {"source": "image-folder", "path": str(tmp_path / "nowhere")}
    with pytest.raises(ConfigError, match=r"datasets\.mine\.path: '.*nowhere' is not a folder"):
        validate_config(minimal_config)


def test_a_folder_of_mixed_sizes_fails_at_validation_for_a_family_that_needs_one_size(
    minimal_config, tmp_path
):
    from PIL import Image

    for name, size in (("a.png", (20, 16)), ("b.png", (20, 16)), ("c.png", (24, 16))):
        Image.new("RGB", size).save(tmp_path / name)
    minimal_config["datasets"]["mine"] = {"source": "image-folder", "path": str(tmp_path)}
    minimal_config["experiments"][0]["dataset"] = "mine"
    with pytest.raises(ConfigError, match="block_size: null .* 'image-folder' has images of different sizes"):
        validate_config(minimal_config)
    minimal_config["experiments"][0]["params"] = {"block_size": 4}  # blocks code any size
    validate_config(minimal_config)
    (tmp_path / "c.png").unlink()
    same = tmp_path / "same"
    same.mkdir()
    for name in ("a.png", "b.png"):
        (tmp_path / name).rename(same / name)
    minimal_config["datasets"]["mine"]["path"] = str(same)
    minimal_config["experiments"][0]["params"] = {}
    validate_config(minimal_config)  # one size: a whole-image dense model is fine


def test_a_partly_given_object_keeps_its_own_defaults_for_the_rest(minimal_config):
    """`resources.train: {threads: 1}` must not fall back to the generic job defaults (2 GB, 30 min)
    for what it does not name, but keep train's (4 GB, 60 min)."""
    minimal_config["resources"] = {"train": {"threads": 1}}
    train = validate_config(minimal_config)["resources"]["train"]
    assert (train["threads"], train["mem_mb"], train["runtime"]) == (1, 4000, 60)
