"""Hyperparameter search of the deep CAE: KerasTuner Hyperband inside nested cross-validation.

The coursework chose its model this way (K_outer = 10, K_inner = 3, factor 5, max_epochs 30).
Outer fold k is one job: its search sees only the training images outside fold k, cut into
K_inner inner folds; a trial's score is its mean validation objective over the inner folds
(plus the optional rate penalty). The best trial's configuration is retrained on all images
of the search and scored on fold k, which nothing in the search has seen. A final selection
across the outer folds picks the configuration that the final model is trained with.

TensorFlow and KerasTuner are imported inside the functions that train, so the plan and the
selection can be imported while Snakemake builds its DAG.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aecompress.datasets import fold_assignment
from aecompress.images import ImageSet, PreparedDataset
from aecompress.models import get_family
from aecompress.plan import Variant
from aecompress.preprocessing import model_input_shape
from aecompress.runtime import (
    claim_state_folder,
    derived_seed,
    grow_gpu_memory,
    import_tensorflow,
    job_output,
    seed_everything,
)

SELECTION_RULE = (
    "the configuration chosen by the most outer folds; a tie goes to the lower mean outer-fold score"
)


class TuningError(ValueError):
    """A study cannot run on its data (too few images for its folds, no finished trial)."""


@dataclass(frozen=True)
class NestedSplit:
    """Indices into the training split for one outer fold, and the inner fold of each search image."""

    outer_fold: int
    search: np.ndarray
    inner_folds: np.ndarray
    outer_test: np.ndarray


def nested_split(
    folds: np.ndarray, outer_fold: int, inner_folds: int, labels: np.ndarray | None, seed: int
) -> NestedSplit:
    """Outer fold `outer_fold` held out; the rest cut into `inner_folds` seeded (stratified) folds."""
    folds = np.asarray(folds)
    outer_test = np.flatnonzero(folds == outer_fold)
    search = np.flatnonzero(folds != outer_fold)
    if not len(outer_test):
        raise TuningError(f"outer fold {outer_fold} holds no training image (folds 0..{folds.max()})")
    inner = fold_assignment(len(search), None if labels is None else labels[search], inner_folds, seed)
    return NestedSplit(outer_fold, search, inner, outer_test)


def take(images: ImageSet, indices: np.ndarray) -> ImageSet:
    """The images at `indices` (views, no copy of the pixels)."""
    return ImageSet(
        images=[images.images[i] for i in indices],
        labels=None if images.labels is None else images.labels[indices],
        names=[images.names[i] for i in indices],
    )


def declare_space(hp, space: dict[str, list]) -> None:
    """Declare the search space on KerasTuner's `hp` (`params_of` turns a trial's values into params).

    Block i's filters exist only when the trial has more than i blocks (a conditional scope), so
    Hyperband never counts two trials that differ only in an unused block as different.
    """
    hp.Choice("blocks", space["blocks"])
    for i in range(max(space["blocks"])):
        with hp.conditional_scope("blocks", [b for b in space["blocks"] if b > i]):
            hp.Choice(f"filters_{i}", space["filters"])
    hp.Choice("bottleneck_filters", space["bottleneck_filters"])
    hp.Choice("downsampling", space["downsampling"])
    hp.Choice("loss", space["loss"])


def configuration(values: dict[str, Any]) -> dict[str, Any]:
    """A trial's searched values without KerasTuner's bookkeeping (tuner/epochs, ...) or unused blocks."""
    blocks = int(values["blocks"])
    return {
        key: value
        for key, value in values.items()
        if not key.startswith("tuner/") and not (key.startswith("filters_") and int(key[8:]) >= blocks)
    }


def params_of(study: dict[str, Any], config: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """deep-cae params and training loss of a configuration (as `configuration` returns it)."""
    filters = [int(config[f"filters_{i}"]) for i in range(int(config["blocks"]))]
    params = {
        "filters": filters,
        "bottleneck_filters": int(config["bottleneck_filters"]),
        "downsampling": config["downsampling"],
        "upsampling": study["params"]["upsampling"],
    }
    return params, config["loss"]


def trial_variant(variant: Variant, params: dict[str, Any], loss: str, epochs: int) -> Variant:
    """The study's variant with one configuration filled in."""
    return replace(
        variant,
        params={**variant.params, **params},
        training={**variant.training, "loss": loss, "epochs": epochs},
    )


def rate_penalty(study: dict[str, Any], params: dict[str, Any], image_shape: tuple[int, int, int]) -> float:
    """rate_penalty x latent values / input values: proportional to the bottleneck size."""
    ratio = get_family("deep-cae").nominal_ratio(params, image_shape)
    return float(study["rate_penalty"]) / ratio


class _Search:
    """Trains and scores configurations of one outer fold; everything KerasTuner calls into."""

    def __init__(self, tf, study, variant, search: ImageSet, inner_folds, seed, input_shape, log):
        self.tf, self.study, self.variant = tf, study, variant
        self.search, self.inner_folds, self.seed = search, inner_folds, seed
        self.input_shape, self.log = input_shape, log
        self.family = get_family("deep-cae")

    def fit_and_score(self, params, loss, epochs, train: ImageSet, test: ImageSet, seed: int) -> float:
        """Train one model from scratch on `train` for `epochs` epochs; its objective on `test`."""
        from aecompress.losses import validation_objective
        from aecompress.preprocessing import fit_normalization
        from aecompress.training import EpochCounter, compiled_model, training_data

        tf = self.tf
        tf.keras.backend.clear_session()  # a search builds hundreds of models: free the last ones
        seed_everything(tf, seed)
        variant = trial_variant(self.variant, params, loss, epochs)
        normalization = fit_normalization(variant.preprocessing["normalization"], train)
        objective = validation_objective(
            tf, self.study["objective"], self.study["huber_delta"], normalization, self.input_shape
        )
        optimizer = tf.keras.optimizers.Adam(learning_rate=self.study["learning_rate"])
        model = compiled_model(
            tf, self.family, variant, self.input_shape, normalization, optimizer, [objective]
        )
        counter = EpochCounter()
        batch_size = self.study["batch_size"]
        batches = training_data(
            tf, self.family, variant, train, normalization, seed, batch_size, lambda: counter.epoch
        )
        model.fit(
            batches,
            epochs=epochs,
            callbacks=[counter.callback(tf), tf.keras.callbacks.TerminateOnNaN()],
            verbose=0,
        )
        held_out = training_data(tf, self.family, variant, test, normalization, seed + 1, 256, None)
        return float(model.evaluate(held_out, verbose=0, return_dict=True)["objective"])

    def score(self, values: dict[str, Any]) -> dict[str, float]:
        """The trial's objective on each inner fold, trained on the others; their mean + penalty."""
        config = configuration(values)
        params, loss = params_of(self.study, config)
        epochs = int(values["tuner/epochs"])
        key = json.dumps(config, sort_keys=True)
        losses = []
        for j in range(int(self.inner_folds.max()) + 1):
            train = take(self.search, np.flatnonzero(self.inner_folds != j))
            held_out = take(self.search, np.flatnonzero(self.inner_folds == j))
            seed = derived_seed(self.seed, "trial", key, str(epochs), str(j))
            losses.append(self.fit_and_score(params, loss, epochs, train, held_out, seed))
        mean_loss = float(np.mean(losses))
        result = {
            "score": mean_loss + rate_penalty(self.study, params, self.input_shape),
            "inner_loss": mean_loss,
            **{f"inner_loss_{j}": value for j, value in enumerate(losses)},
        }
        self.log(f"trial {key} epochs={epochs}: " + " ".join(f"{k}={v:.6g}" for k, v in result.items()))
        return result


TUNER_PROJECT = "hyperband"  # KerasTuner's folder inside the tuner state


def _tuner(kt, search: _Search, study: dict[str, Any], directory: Path, seed: int):
    from aecompress.preprocessing import Normalization

    hyperband = study["hyperband"]

    def build(hp):
        declare_space(hp, study["search_space"])
        params, _ = params_of(study, configuration(hp.values))
        return search.family.build_model(
            {**search.variant.params, **params}, search.input_shape, Normalization("unit"), {}
        )

    class NestedCVHyperband(kt.Hyperband):
        """Hyperband whose trials are scored by inner cross-validation, each trained from scratch."""

        def run_trial(self, trial, *args, **kwargs):
            try:
                result = search.score(trial.hyperparameters.values)
            except Exception as err:  # KerasTuner would skip it as an invalid trial and go on
                raise kt.errors.FatalError(f"trial {trial.trial_id} failed: {err!r}") from err
            if not np.isfinite(list(result.values())).all():
                raise kt.errors.FailedTrialError(f"non-finite objective {result} (the loss diverged)")
            return result

    return NestedCVHyperband(
        hypermodel=build,
        objective=kt.Objective("score", direction="min"),
        max_epochs=hyperband["max_epochs"],
        factor=hyperband["factor"],
        hyperband_iterations=hyperband["iterations"],
        seed=seed,
        directory=str(directory),
        project_name=TUNER_PROJECT,
        overwrite=False,
    )


def tune_outer_fold(
    study: dict[str, Any],
    variant: Variant,
    dataset: PreparedDataset,
    outer_fold: int,
    seed: int,
    threads: int,
    out_dir: str | Path,
) -> dict[str, Any]:
    """Search, retrain and score one outer fold; write result.json, trials.csv and images.csv.

    KerasTuner keeps its state in `out_dir/tuner`, so a killed job re-run with the same settings
    continues with the trials it had not finished; a change of settings restarts the search.
    """
    if dataset.folds is None:
        raise TuningError(f"tuning study '{study['name']}': dataset '{study['dataset']}' has no folds")
    tf = import_tensorflow(threads)
    grow_gpu_memory(tf)
    import keras_tuner as kt

    out_dir = Path(out_dir)
    train = dataset.splits["train"]
    fold_seed = derived_seed(seed, "tune", study["name"], str(outer_fold))
    try:
        split = nested_split(dataset.folds, outer_fold, study["inner_folds"], train.labels, fold_seed)
    except ValueError as err:
        raise TuningError(f"tuning study '{study['name']}', outer fold {outer_fold}: {err}") from None
    search_images, test_images = take(train, split.search), take(train, split.outer_test)
    input_shape = model_input_shape(variant, train)

    def log(message):
        print(message, file=sys.stderr, flush=True)

    state = out_dir / "tuner"
    settings = {
        "study": study,
        "outer_fold": outer_fold,
        "seed": seed,
        "search_images": search_images.names,
        "inner_folds": split.inner_folds.tolist(),
        "dataset": {"content_sha256": dataset.content_digest(), "channels": dataset.meta.get("channels")},
    }
    claim_state_folder(state, settings, {TUNER_PROJECT, "settings.json"}, log)

    search = _Search(tf, study, variant, search_images, split.inner_folds, fold_seed, input_shape, log)
    tuner = _tuner(kt, search, study, state, fold_seed)
    started = time.perf_counter()
    tuner.search(verbose=0)
    search_seconds = time.perf_counter() - started
    trials = trials_table(tuner.oracle)
    finished = trials[trials["status"] == "COMPLETED"]
    if finished.empty:
        raise TuningError(f"tuning study '{study['name']}', outer fold {outer_fold}: no trial finished")
    best = finished.sort_values(["score", "trial_id"]).iloc[0]
    config = configuration(tuner.oracle.get_trial(best["trial_id"]).hyperparameters.values)
    params, loss = params_of(study, config)

    # The chosen configuration, retrained on the whole outer training split, scored on fold k.
    epochs = study["hyperband"]["max_epochs"]
    started = time.perf_counter()
    retrain_seed = derived_seed(fold_seed, "outer", json.dumps(config, sort_keys=True))
    outer_loss = search.fit_and_score(params, loss, epochs, search_images, test_images, retrain_seed)
    penalty = rate_penalty(study, params, input_shape)
    result = {
        "study": study["name"],
        "outer_fold": outer_fold,
        "outer_folds": int(dataset.folds.max()) + 1,
        "inner_folds": study["inner_folds"],
        "objective": study["objective"],
        "rate_penalty": study["rate_penalty"],
        "configuration": config,
        "params": params,
        "loss": loss,
        "best_trial": best["trial_id"],
        "best_trial_epochs": int(best["epochs"]),
        "inner_score": float(best["score"]),
        "inner_loss": float(best["inner_loss"]),
        "outer_loss": outer_loss,
        "outer_score": outer_loss + penalty,
        "penalty": penalty,
        "trials": int(len(trials)),
        "trials_completed": int(len(finished)),
        "search_images": len(search_images),
        "outer_test_images": len(test_images),
        "search_seconds": round(search_seconds, 3),
        "retrain_seconds": round(time.perf_counter() - started, 3),
        "seed": fold_seed,
    }
    images = pd.DataFrame(
        {
            "index": np.concatenate([split.search, split.outer_test]),
            "name": search_images.names + test_images.names,
            "role": [f"inner-fold-{j}" for j in split.inner_folds] + ["outer-test"] * len(test_images),
        }
    )
    with job_output(out_dir / "images.csv") as tmp:
        images.to_csv(tmp, index=False)
    with job_output(out_dir / "trials.csv") as tmp:
        trials.to_csv(tmp, index=False)
    with job_output(out_dir / "result.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2, sort_keys=True))
    log(
        f"outer fold {outer_fold}: chose {json.dumps(config, sort_keys=True)}; inner score "
        f"{result['inner_score']:.6g}, outer score {result['outer_score']:.6g}"
    )
    return result


def trials_table(oracle) -> pd.DataFrame:
    """One row per KerasTuner trial: its configuration, epochs, status and scores."""
    rows = []
    for trial_id, trial in sorted(oracle.trials.items()):
        values = trial.hyperparameters.values
        row = {"trial_id": trial_id, "status": trial.status, "epochs": int(values.get("tuner/epochs", 0))}
        row["bracket"] = values.get("tuner/bracket")
        row["round"] = values.get("tuner/round")
        row.update(configuration(values))
        for name in trial.metrics.metrics:
            row[name] = trial.metrics.get_last_value(name)
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.reindex(
        columns=list(dict.fromkeys(["trial_id", "status", "epochs", "score", *table.columns]))
    )


def read_trials(path: str | Path) -> pd.DataFrame:
    """A trials.csv, with KerasTuner's trial ids kept as the strings they are ("0007")."""
    return pd.read_csv(path, dtype={"trial_id": str})


def select_configuration(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The final configuration across outer folds (SELECTION_RULE), with the folds' scores."""
    if not results:
        raise TuningError("no outer-fold results to select from")
    keys = [json.dumps(r["configuration"], sort_keys=True) for r in results]
    votes = Counter(keys)

    def mean_outer(key):
        return float(np.mean([r["outer_score"] for r, k in zip(results, keys, strict=True) if k == key]))

    chosen = min(votes, key=lambda key: (-votes[key], mean_outer(key), key))
    first = results[keys.index(chosen)]
    outer = np.array([r["outer_score"] for r in results])
    outer_loss = np.array([r["outer_loss"] for r in results])
    return {
        "study": first["study"],
        "rule": SELECTION_RULE,
        "configuration": first["configuration"],
        "params": first["params"],
        "loss": first["loss"],
        "votes": votes[chosen],
        "outer_folds": len(results),
        "chosen_by_folds": [r["outer_fold"] for r, k in zip(results, keys, strict=True) if k == chosen],
        "objective": first["objective"],
        "outer_score_mean": float(outer.mean()),
        "outer_score_std": float(outer.std(ddof=1)) if len(outer) > 1 else 0.0,
        "outer_loss_mean": float(outer_loss.mean()),
        "outer_loss_std": float(outer_loss.std(ddof=1)) if len(outer_loss) > 1 else 0.0,
    }


def folds_table(results: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per outer fold: the configuration it chose and its inner and outer scores."""
    rows = []
    for r in sorted(results, key=lambda r: r["outer_fold"]):
        rows.append(
            {
                "outer_fold": r["outer_fold"],
                **{f"chose_{k}": v for k, v in r["configuration"].items()},
                "inner_score": r["inner_score"],
                "outer_loss": r["outer_loss"],
                "outer_score": r["outer_score"],
                "trials": r["trials"],
                "search_images": r["search_images"],
                "outer_test_images": r["outer_test_images"],
                "search_seconds": r["search_seconds"],
            }
        )
    table = pd.DataFrame(rows)
    chosen = sorted(c for c in table.columns if c.startswith("chose_"))
    return table[
        ["outer_fold", *chosen, *(c for c in table.columns if c not in chosen and c != "outer_fold")]
    ]


def write_selection(
    fold_results: list[str | Path], fold_trials: list[str | Path], out_dir: str | Path
) -> dict:
    """Read every outer fold's result; write selection.json, folds.csv and trials.csv (all folds)."""
    results = [json.loads(Path(p).read_text()) for p in fold_results]
    selection = select_configuration(results)
    trials = pd.concat(
        [
            read_trials(p).assign(outer_fold=r["outer_fold"])
            for p, r in zip(fold_trials, results, strict=True)
        ],
        ignore_index=True,
    )
    out_dir = Path(out_dir)
    with job_output(out_dir / "folds.csv") as tmp:
        folds_table(results).to_csv(tmp, index=False)
    with job_output(out_dir / "trials.csv") as tmp:
        trials.to_csv(tmp, index=False)
    with job_output(out_dir / "selection.json") as tmp:
        tmp.write_text(json.dumps(selection, indent=2, sort_keys=True))
    return selection


def selected_variant(variant: Variant, selection: dict[str, Any]) -> Variant:
    """The study's final variant: the selected configuration, trained for max_epochs."""
    return trial_variant(variant, selection["params"], selection["loss"], variant.training["epochs"])
