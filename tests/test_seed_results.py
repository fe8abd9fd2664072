"""The seed studies' published numbers (resources/seed-results) and their comparison with a run."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from aecompress import seed_results
from aecompress.config import config_schema

FOLDER = Path(__file__).resolve().parents[1] / "resources" / "seed-results"


def test_every_seed_study_of_the_schema_has_a_valid_file_and_no_file_is_orphaned():
    names = {n for n in config_schema()["$defs"]["seed_study"]["enum"] if n}
    assert {p.stem for p in FOLDER.glob("*.yaml")} == names
    for name in names:
        seed = seed_results.load(FOLDER / f"{name}.yaml")
        assert seed.name == name and seed.source["document"] and seed.settings
        assert seed.rows or seed.claims or seed.configuration


def test_mnist_table_1_has_all_fourteen_rows():
    seed = seed_results.load(FOLDER / "mnist-dense.yaml")
    assert len(seed.rows) == 14
    cells = {(r["params"]["latent_units"], r["params"]["use_bias"]): r["value"] for r in seed.rows}
    assert cells[(2, False)] == 0.0621 and cells[(112, True)] == 0.0085 and len(cells) == 14


def test_a_bad_file_names_the_key(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(
        yaml.safe_dump({"name": "x", "title": "t", "source": {}, "family": "dense", "dataset": {}})
    )
    with pytest.raises(seed_results.SeedResultsError, match=r"x\.yaml: missing key 'settings'"):
        seed_results.load(path)
    rows = [{"params": {}, "value": 1, "quantity": "bpp"}]
    entry = {"name": "x", "title": "t", "source": {}, "family": "dense", "dataset": {}, "settings": {}}
    path.write_text(yaml.safe_dump({**entry, "rows": rows}))
    with pytest.raises(seed_results.SeedResultsError, match=r"rows\[0\]\.quantity: 'bpp' is not one of"):
        seed_results.load(path)


def _mnist_results(values: dict[tuple[int, bool], float], collapsed=()) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"method": f"d_latent_units-{h}_use_bias-{b}", "curve": "d", "param_latent_units": h,
             "param_use_bias": b, "float_latent_mse": v, "mse": v, "collapsed": (h, b) in collapsed}
            for (h, b), v in values.items()
        ]
    )  # fmt: skip


def test_published_numbers_meet_the_runs_and_collapsed_points_are_marked():
    seed = seed_results.load(FOLDER / "mnist-dense.yaml")
    run = _mnist_results(
        {(2, True): 0.0550, (14, True): 0.0676, (112, False): 0.0029}, collapsed=[(14, True)]
    )
    table = seed_results.compare_rows(seed, run).set_index("published")
    assert table.loc["392x (h=2), bias", "this run"] == 0.0550
    assert table.loc["392x (h=2), bias", "difference"] == pytest.approx(0.0550 - 0.0624)
    assert table.loc["56x (h=14), bias", "method"].endswith("(collapsed)")
    assert table.loc["7x (h=112), no bias", "run / paper"] == pytest.approx(0.0029 / 0.0138)
    assert pd.isna(table.loc["196x (h=4), bias", "this run"])  # not in this run


def test_claims_are_checked_without_collapsed_points():
    seed = seed_results.load(FOLDER / "mnist-dense.yaml")
    falling = {(h, b): 0.06 / h for h in (2, 4, 8) for b in (True, False)}
    claims = seed_results.check_claims(seed, _mnist_results(falling))
    assert claims["this run agrees"].tolist() == ["yes"] and "use_bias=False" in claims["evidence"][0]
    rising = {**falling, (8, True): 0.5}
    assert seed_results.check_claims(seed, _mnist_results(rising))["this run agrees"].tolist() == ["no"]
    # The offending point collapsed: it is not evidence either way.
    verdict = seed_results.check_claims(seed, _mnist_results(rising, collapsed=[(8, True)]))
    assert verdict["this run agrees"].tolist() == ["yes"]


def test_the_stl10_claims_compare_settings_across_experiments():
    seed = seed_results.load(FOLDER / "stl10-linear-latent.yaml")
    run = pd.DataFrame(
        [
            {"method": f"{n}_{d}", "curve": n, "param_dropout": d, "normalization": n, "mse": m}
            for n, d, m in [("unit", 0.0, 0.010), ("unit", 0.2, 0.008), ("standardize", 0.0, 0.012),
                            ("standardize", 0.2, 0.009)]
        ]
    )  # fmt: skip
    claims = seed_results.check_claims(seed, run)
    assert claims["this run agrees"].tolist() == ["yes", "yes"]


def test_comparability_says_why_numbers_cannot_be_compared():
    mnist = seed_results.load(FOLDER / "mnist-dense.yaml")
    assert seed_results.comparability(mnist, "sklearn-digits", None, 1437).startswith("Not comparable")
    assert "Comparable: the same dataset" in seed_results.comparability(mnist, "mnist", True, 60000)
    assert "54,000 training images" in seed_results.comparability(mnist, "mnist", True, 54000)
    cifar = seed_results.load(FOLDER / "cifar10-rate-cae.yaml")
    assert "same-layout sample" in seed_results.comparability(cifar, "cifar10", False, 10000)
    faces = seed_results.load(FOLDER / "slimcae-faces.yaml")
    assert "not public" in seed_results.comparability(faces, "image-folder", None, 200)


def test_settings_and_configurations_name_what_differs():
    seed = seed_results.load(FOLDER / "mnist-dense.yaml")
    cards = [{"training": {"epochs": 50, "learning_rate": 0.01, "optimizer": "adam", "batch_size": 128,
                           "loss": "mse"}, "params": {"initializer": "he_uniform"}}]  # fmt: skip
    table = seed_results.settings_differences(seed, cards, {"train": 54000, "val": 6000, "test": 10000})
    by_setting = table.set_index("setting")
    assert by_setting.loc["epochs", "compared"] == by_setting.loc["train_images", "compared"] == "same"
    assert by_setting.loc["optimizer", "compared"] == "not stated in the paper"
    assert by_setting.loc["optimizer", "this run"] == "adam"
    assert by_setting.loc["batch_size", "this run"] == "128"
    coursework = seed_results.load(FOLDER / "coursework-deep-cae.yaml")
    selected = {"blocks": 1, "filters": [32], "bottleneck_filters": 32, "downsampling": "pool",
                "upsampling": "resize", "loss": "mse"}  # fmt: skip
    config = seed_results.configuration_differences(coursework, selected).set_index("setting")
    assert config.loc["blocks", "differs"] and not config.loc["bottleneck_filters", "differs"]
