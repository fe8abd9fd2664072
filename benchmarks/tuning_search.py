"""What a nested-CV Hyperband study costs: one outer fold measured, every setting's budget counted.

Runs one outer fold of a tuning study (search, retraining, outer score) in this process on the
study's data, then counts, from KerasTuner's own Hyperband schedule, how many trials and
epoch-trainings (one model trained for one epoch on one inner fold's training images) a fold
of this study and of the coursework's settings needs, so a cluster run can be sized:

    .venv/bin/python benchmarks/tuning_search.py                        # presets/tuning-digits.yaml
    .venv/bin/python benchmarks/tuning_search.py --config my.yaml --study my-search --fold 2
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COURSEWORK = {"factor": 5, "max_epochs": 30, "iterations": 1, "inner_folds": 3, "outer_folds": 10}


def hyperband_schedule(factor: int, max_epochs: int, iterations: int) -> tuple[int, int]:
    """(trials, epochs summed over trials) of a full Hyperband run, from KerasTuner's oracle.

    An upper bound: the oracle stops early once a small search space is exhausted. Every trial
    trains from scratch (aecompress's rule), so a trial of round r costs its round's epochs.
    """
    import keras_tuner as kt

    oracle = kt.oracles.HyperbandOracle(
        objective=kt.Objective("score", "min"), max_epochs=max_epochs, factor=factor,
        hyperband_iterations=iterations,
    )  # fmt: skip
    trials = epochs = 0
    for bracket in range(oracle._get_num_brackets()):
        for round_num in range(oracle._get_num_rounds(bracket)):
            size = oracle._get_size(bracket, round_num)
            trials += size
            epochs += size * oracle._get_epochs(bracket, round_num)
    return trials * iterations, epochs * iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(REPO / "presets/tuning-digits.yaml"))
    parser.add_argument("--study", default="cae-search")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/tuning_search.json"))
    args = parser.parse_args()

    from aecompress import plan
    from aecompress.config import load_config
    from aecompress.datasets import prepare_dataset
    from aecompress.runtime import import_tensorflow
    from aecompress.tuning import read_trials, tune_outer_fold

    import_tensorflow(args.threads)
    config = load_config(args.config)
    study = next((s for s in config["tuning"] if s["name"] == args.study), None)
    if study is None:
        sys.exit(f"{args.config}: no tuning study named '{args.study}'")
    dataset = prepare_dataset(config["datasets"][study["dataset"]], config["seed"])
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = tune_outer_fold(
            study, plan.all_variants(config)[study["name"]], dataset, args.fold, config["seed"],
            args.threads, folder,
        )  # fmt: skip
        wall = time.perf_counter() - started
        trials = read_trials(Path(folder) / "trials.csv")
    done = trials[trials["status"] == "COMPLETED"]
    epoch_trainings = int(done["epochs"].sum()) * study["inner_folds"]
    per_epoch = result["search_seconds"] / epoch_trainings

    hyperband = study["hyperband"]
    rows = []
    for name, settings in (
        (f"{study['name']} ({Path(args.config).name})", {**hyperband, "inner_folds": study["inner_folds"],
                                                       "outer_folds": result["outer_folds"]}),
        ("coursework (factor 5, max_epochs 30, K_inner 3, K_outer 10)", COURSEWORK),
    ):  # fmt: skip
        count, epochs = hyperband_schedule(settings["factor"], settings["max_epochs"], settings["iterations"])
        per_fold = epochs * settings["inner_folds"]
        rows.append(
            {
                "settings": name,
                "trials_per_fold": count,
                "epoch_trainings_per_fold": per_fold,
                "outer_fold_jobs": settings["outer_folds"],
                "projected_hours_per_fold_here": round(per_fold * per_epoch / 3600, 3),
            }
        )
    measured = {
        "config": args.config,
        "study": study["name"],
        "outer_fold": args.fold,
        "search_images": result["search_images"],
        "image_shape": list(dataset.splits["train"].images[0].shape),
        "trials_run": int(len(trials)),
        "epoch_trainings_run": epoch_trainings,
        "search_seconds": result["search_seconds"],
        "retrain_seconds": result["retrain_seconds"],
        "job_seconds": round(wall, 1),
        "seconds_per_epoch_training": round(per_epoch, 3),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, threads {args.threads}",
    }
    print("measured (one outer fold):")
    for key, value in measured.items():
        print(f"  {key:28s} {value}")
    print()
    header = ("settings", "trials/fold", "epoch-trainings/fold", "fold jobs", "h/fold here")
    print(f"{header[0]:62s} {header[1]:>11s} {header[2]:>20s} {header[3]:>9s} {header[4]:>11s}")
    for row in rows:
        print(
            f"{row['settings']:62s} {row['trials_per_fold']:>11d} {row['epoch_trainings_per_fold']:>20d} "
            f"{row['outer_fold_jobs']:>9d} {row['projected_hours_per_fold_here']:>11.3f}"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"measured": measured, "budgets": rows}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
