"""Hyperband inside nested cross-validation: fold bookkeeping, selection, reproducibility, resume."""

import json

import numpy as np
import pandas as pd
import pytest

from aecompress import plan
from aecompress.config import ConfigError, validate_config
from aecompress.datasets import fold_assignment, prepare_dataset
from aecompress.tuning import (
    SELECTION_RULE,
    _Search,
    configuration,
    nested_split,
    params_of,
    read_trials,
    select_configuration,
    tune_outer_fold,
    write_selection,
)


def tiny_config(**study):
    """K_outer 2, K_inner 2, max_epochs 2 on 200 digits: a whole search in seconds."""
    return validate_config(
        {
            "seed": 3,
            "datasets": {"digits": {"source": "sklearn-digits", "folds": 2, "subset": 200}},
            "experiments": [{"name": "dense", "family": "dense", "dataset": "digits"}],
            "tuning": [
                {
                    "name": "cae-search",
                    "dataset": "digits",
                    "inner_folds": 2,
                    "hyperband": {"factor": 2, "max_epochs": 2},
                    "search_space": {"blocks": [1, 2], "filters": [4, 8], "bottleneck_filters": [2, 4]},
                    "batch_size": 32,
                    **study,
                }
            ],
        }
    )


@pytest.fixture(scope="module")
def tiny():
    config = tiny_config()
    dataset = prepare_dataset(config["datasets"]["digits"], config["seed"])
    return config, dataset


def test_every_outer_fold_holds_out_exactly_its_images_and_cuts_the_rest_into_inner_folds():
    labels = np.repeat(np.arange(4), 25)
    folds = fold_assignment(len(labels), labels, 5, seed=1)
    for k in range(5):
        split = nested_split(folds, k, 3, labels, seed=2)
        assert set(split.outer_test) == set(np.flatnonzero(folds == k))
        assert set(split.search) == set(np.flatnonzero(folds != k))
        assert len(split.inner_folds) == len(split.search) and set(split.inner_folds) == {0, 1, 2}
        counts = np.bincount(split.inner_folds)
        assert counts.max() - counts.min() <= 4  # stratified, about equal


def test_unused_blocks_are_not_part_of_a_configuration():
    values = {"blocks": 1, "filters_0": 16, "filters_1": 64, "bottleneck_filters": 8, "downsampling": "pool",
              "loss": "ssim", "tuner/epochs": 4, "tuner/trial_id": "0003"}  # fmt: skip
    config = configuration(values)
    assert config == {
        "blocks": 1,
        "filters_0": 16,
        "bottleneck_filters": 8,
        "downsampling": "pool",
        "loss": "ssim",
    }
    params, loss = params_of({"params": {"upsampling": "transposed"}}, config)
    assert params == {
        "filters": [16],
        "bottleneck_filters": 8,
        "downsampling": "pool",
        "upsampling": "transposed",
    }
    assert loss == "ssim"


def _result(fold, config, outer):
    return {"study": "s", "outer_fold": fold, "configuration": config, "params": {}, "loss": "mse",
            "objective": "mse", "outer_score": outer, "outer_loss": outer}  # fmt: skip


def test_the_final_selection_takes_the_most_frequent_choice_then_the_lower_outer_score():
    a, b, c = {"blocks": 1}, {"blocks": 2}, {"blocks": 3}
    voted = select_configuration([_result(0, a, 0.3), _result(1, b, 0.1), _result(2, a, 0.5)])
    assert voted["configuration"] == a and voted["votes"] == 2 and voted["chosen_by_folds"] == [0, 2]
    assert voted["outer_score_mean"] == pytest.approx(0.3) and voted["outer_score_std"] == pytest.approx(0.2)
    assert voted["rule"] == SELECTION_RULE
    tied = select_configuration([_result(0, b, 0.4), _result(1, c, 0.2)])
    assert tied["configuration"] == c and tied["votes"] == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"datasets": {"digits": {"source": "sklearn-digits"}}},
            "'digits' has no folds; set datasets.digits.folds",
        ),
        (
            {"study": {"preprocessing": {"padding": {"multiple": 2}}}},
            "padding.multiple: 2 is not a multiple of 4",
        ),
        ({"study": {"name": "dense"}}, "tuning[0].name: 'dense' is already used"),
        ({"study": {"dataset": "nope"}}, "tuning[0].dataset: 'nope' is not a key of `datasets`"),
        (
            {"study": {"hyperband": {"factor": 1}}},
            "tuning[0].hyperband.factor: 1 is less than the minimum of 2",
        ),
    ],
)
def test_a_bad_study_is_refused_with_its_key(change, message):
    config = {
        "datasets": {"digits": {"source": "sklearn-digits", "folds": 2}},
        "experiments": [{"name": "dense", "family": "dense", "dataset": "digits"}],
        "tuning": [
            {
                "name": "cae-search",
                "dataset": "digits",
                "search_space": {"blocks": [1, 2]},
                **change.get("study", {}),
            }
        ],  # fmt: skip
    }
    config["datasets"] = change.get("datasets", config["datasets"])
    with pytest.raises(ConfigError, match="tuning") as error:
        validate_config(config)
    assert message in str(error.value)


def test_the_study_plans_one_job_per_outer_fold_and_a_final_variant(tiny):
    config, _ = tiny
    benchmarks = plan.job_benchmarks(config)
    assert [p.rsplit("/", 1)[1] for p in benchmarks["tune_outer_fold"]] == [
        "cae-search_outer-0.tsv",
        "cae-search_outer-1.tsv",
    ]
    variant = plan.all_variants(config)["cae-search"]
    assert variant.tuning == "cae-search" and variant.family == "deep-cae"
    assert variant.training["optimizer"] == "adam" and variant.training["learning_rate"] == 0.001
    assert variant.training["epochs"] == 2  # Hyperband's max_epochs
    assert "cae-search" in plan.all_evaluations(config)


def _search(config, dataset, fold, out_dir):
    study = config["tuning"][0]
    variant = plan.all_variants(config)["cae-search"]
    return tune_outer_fold(study, variant, dataset, fold, config["seed"], 2, out_dir)


def test_no_outer_test_image_is_seen_by_its_folds_search(tiny, tmp_path, monkeypatch):
    config, dataset = tiny
    calls = []
    original = _Search.fit_and_score

    def recording(self, params, loss, epochs, train, test, seed):
        calls.append((set(train.names), set(test.names)))
        return original(self, params, loss, epochs, train, test, seed)

    monkeypatch.setattr(_Search, "fit_and_score", recording)
    result = _search(config, dataset, 1, tmp_path)
    # The resumable state records the data it was searched on (a changed dataset restarts it).
    fingerprint = json.loads((tmp_path / "tuner/fingerprint.json").read_text())
    assert fingerprint["dataset"] == {"content_sha256": dataset.content_digest(), "channels": 1}
    names = np.array(dataset.splits["train"].names)
    outer_test = set(names[dataset.folds == 1])
    *search_calls, retrain = calls
    assert len(search_calls) == 2 * result["trials_completed"]  # every trial on both inner folds
    for train, held_out in search_calls:
        assert not (train | held_out) & outer_test and not train & held_out
    assert retrain[1] == outer_test and retrain[0] == set(names[dataset.folds == 0])
    images = pd.read_csv(tmp_path / "images.csv")
    assert set(images.loc[images["role"] == "outer-test", "name"]) == outer_test
    assert set(images["role"]) == {"inner-fold-0", "inner-fold-1", "outer-test"}
    assert result["outer_test_images"] == len(outer_test) and result["search_images"] == len(names) - len(
        outer_test
    )


def _without_timings(result):
    return {k: v for k, v in result.items() if not k.endswith("_seconds")}


def test_a_search_is_reproducible_and_a_killed_search_resumes_to_the_same_result(tiny, tmp_path, monkeypatch):
    config, dataset = tiny
    first = _search(config, dataset, 0, tmp_path / "first")
    trials = read_trials(tmp_path / "first/trials.csv")
    assert (trials["status"] == "COMPLETED").all() and trials["epochs"].max() == 2

    # Kill the search in its third trial (as SIGTERM would), then run the job again.
    original, started = _Search.score, []

    def dies_in_third_trial(self, values):
        started.append(values)
        if len(started) == 3:
            raise KeyboardInterrupt
        return original(self, values)

    monkeypatch.setattr(_Search, "score", dies_in_third_trial)
    with pytest.raises(KeyboardInterrupt):
        _search(config, dataset, 0, tmp_path / "killed")
    assert not (tmp_path / "killed/result.json").exists()
    monkeypatch.setattr(_Search, "score", original)
    ran = []
    monkeypatch.setattr(_Search, "score", lambda self, values: ran.append(values) or original(self, values))
    resumed = _search(config, dataset, 0, tmp_path / "killed")
    assert len(ran) == len(trials) - 2  # the two finished trials were not run again
    # Same seed, same result: the trials it ran again and the outer retraining match the first run's.
    assert _without_timings(resumed) == _without_timings(first)
    pd.testing.assert_frame_equal(read_trials(tmp_path / "killed/trials.csv"), trials)

    # Other settings in the same folder start the search afresh instead of mixing two searches.
    changed = tiny_config(rate_penalty=0.5, hyperband={"factor": 2, "max_epochs": 1})
    penalised = tune_outer_fold(changed["tuning"][0], plan.all_variants(changed)["cae-search"], dataset, 0,
                                changed["seed"], 2, tmp_path / "killed")  # fmt: skip
    assert penalised["penalty"] > 0 and penalised["trials"] < len(trials)
    assert len(read_trials(tmp_path / "killed/trials.csv")) == penalised["trials"]
    assert penalised["outer_score"] == pytest.approx(penalised["outer_loss"] + penalised["penalty"])

    selection = write_selection(
        [tmp_path / "first/result.json", tmp_path / "killed/result.json"],
        [tmp_path / "first/trials.csv", tmp_path / "killed/trials.csv"],
        tmp_path / "selection",
    )
    assert selection["outer_folds"] == 2 and selection["configuration"] in (
        first["configuration"],
        penalised["configuration"],
    )
    assert json.loads((tmp_path / "selection/selection.json").read_text()) == selection
    assert len(read_trials(tmp_path / "selection/trials.csv")) == len(trials) + penalised["trials"]


def test_a_trial_that_raises_fails_the_job_instead_of_being_skipped(tiny, tmp_path, monkeypatch):
    import keras_tuner as kt

    config, dataset = tiny

    def broken(self, *args):
        raise ValueError("a bug in the training code")

    monkeypatch.setattr(_Search, "fit_and_score", broken)
    with pytest.raises(kt.errors.FatalError, match="trial 0000 failed: ValueError"):
        _search(config, dataset, 0, tmp_path)
    assert not (tmp_path / "result.json").exists()
