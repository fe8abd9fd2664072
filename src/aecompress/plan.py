"""From a validated config to the list of jobs: one place that computes every target.

Imported by the Snakefile while the DAG is built, so it must stay free of heavy imports.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = "results"


@dataclass(frozen=True)
class Variant:
    """One trained model: an experiment's fixed params merged with one grid point."""

    id: str
    experiment: str
    family: str
    dataset: str
    params: dict[str, Any] = field(hash=False)
    test_dataset: str
    training: dict[str, Any] = field(hash=False)
    preprocessing: dict[str, Any] = field(hash=False)
    grid_values: dict[str, Any] = field(hash=False)
    # The tuning study whose selection.json supplies the searched params (None: all in `params`).
    tuning: str | None = None


def _format_value(value: Any) -> str:
    """A grid value as it appears in a variant id (a folder name): lists join with '+'
    (`widths: [192, 144]` -> `widths-192+144`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return "+".join(_format_value(v) for v in value)
    return str(value)


def expand_variants(experiment: dict[str, Any]) -> list[Variant]:
    """Every combination of the experiment's grid, in config order (last key varies fastest)."""
    grid = experiment.get("grid") or {}
    keys = list(grid)
    variants = []
    for values in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, values, strict=True))
        suffix = "_".join(f"{k}-{_format_value(v)}" for k, v in point.items())
        variants.append(
            Variant(
                id=f"{experiment['name']}_{suffix}" if suffix else experiment["name"],
                experiment=experiment["name"],
                family=experiment["family"],
                dataset=experiment["dataset"],
                test_dataset=experiment.get("test_dataset") or experiment["dataset"],
                params={**experiment.get("params", {}), **point},
                training=dict(experiment.get("training", {})),
                preprocessing=dict(experiment.get("preprocessing", {})),
                grid_values=point,
            )
        )
    return variants


def tuned_variant(study: dict[str, Any]) -> Variant:
    """A tuning study's final model, before the search has filled in its searched params.

    Trained like every deep-cae variant: Adam at the study's rate for Hyperband's max_epochs,
    with the training defaults of the config schema for everything the study does not set.
    """
    from aecompress.config import training_defaults

    training = {
        **training_defaults(),
        "optimizer": "adam",
        "learning_rate": study["learning_rate"],
        "batch_size": study["batch_size"],
        "huber_delta": study["huber_delta"],
        "epochs": study["hyperband"]["max_epochs"],
    }
    return Variant(
        id=study["name"],
        experiment=study["name"],
        family="deep-cae",
        dataset=study["dataset"],
        params=dict(study["params"]),
        test_dataset=study["dataset"],
        training=training,
        preprocessing=dict(study["preprocessing"]),
        grid_values={},
        tuning=study["name"],
    )


def all_variants(config: dict[str, Any]) -> dict[str, Variant]:
    """Variants of every experiment and the final model of every tuning study, keyed by id."""
    variants = {v.id: v for e in config["experiments"] for v in expand_variants(e)}
    variants.update({s["name"]: tuned_variant(s) for s in config.get("tuning", [])})
    return variants


def outer_folds(config: dict[str, Any], study: dict[str, Any]) -> list[int]:
    """The outer folds of a study: one per fold of its dataset's training split."""
    return list(range(config["datasets"][study["dataset"]]["folds"] or 0))


def tuning_file(study: str, name: str) -> str:
    """A file of a study's selection: selection.json, folds.csv or trials.csv."""
    return f"{RESULTS}/tuning/{study}/{name}"


def outer_fold_file(study: str, fold: int | str, name: str) -> str:
    """A file of one outer fold's search: result.json, trials.csv, images.csv (tuner/ holds its state)."""
    return f"{RESULTS}/tuning/{study}/outer-{fold}/{name}"


@dataclass(frozen=True)
class Evaluation:
    """One rate point on one test set: of a trained variant (a SlimCAE has one per width), or of a
    baseline's codec at one operating point (`variant` None, `codec` and `baseline` set). Coded in
    the evaluation job `job` together with the other points of its curve."""

    id: str
    variant: str | None
    point: dict[str, Any] = field(hash=False)
    dataset: str = ""
    codec: str | None = None
    baseline: str | None = None
    # The classifier folder that scores the reconstructions, when the config has one for `dataset`.
    classifier: str | None = None
    job: str = ""
    curve: str = ""  # the experiment or baseline whose curve the point belongs to


@dataclass(frozen=True)
class EvaluationJob:
    """One job of the `evaluate` rule: every rate point of a trained variant (on each of its test
    sets), or every operating point of a baseline. One job per curve keeps process start-up (most
    of the time of a small evaluation) out of the loop, while a change still re-runs only the
    curves it touches."""

    id: str
    variant: str | None
    baseline: str | None
    evaluations: tuple[Evaluation, ...] = field(hash=False)
    # The file a baseline's codec was fitted to (a PCA basis and its priors), None if it fits nothing.
    fitted: str | None = None
    # Whether the job fits the latent coder of a model trained without a rate (written into the
    # job's folder as latent_coder.npz): done where it is needed, not as a job of its own.
    fits_latent_coder: bool = False


@dataclass(frozen=True)
class TargetJob:
    """One job of the `code_at_targets` rule: one curve's every test image at every target of
    `evaluation.targets` (equal_targets): an experiment's models on its own test set, or a
    baseline's codec. It runs after the curve's evaluation jobs, which fit the latent coders."""

    curve: str
    dataset: str
    models: tuple[str, ...] = ()
    baseline: str | None = None
    fitted: str | None = None
    evaluation_jobs: tuple[str, ...] = ()


def target_jobs(config: dict[str, Any]) -> dict[str, TargetJob]:
    """Every equal-target job, keyed by its curve (none without targets)."""
    settings = config["evaluation"]["targets"]
    if not any(settings.get(metric) for metric in ("bpp", "psnr", "ms_ssim")):
        return {}
    wanted = settings.get("datasets")
    jobs = {}
    variants = list(all_variants(config).values())
    for curve in dict.fromkeys(v.experiment for v in variants):
        members = [v for v in variants if v.experiment == curve]
        dataset = members[0].test_dataset
        if wanted is None or dataset in wanted:
            models = tuple(model_file(v.id, "model") for v in members)
            jobs[curve] = TargetJob(curve, dataset, models, evaluation_jobs=tuple(v.id for v in members))
    evaluations = evaluation_jobs(config)
    for baseline in config.get("baselines", []):
        name, dataset = baseline["name"], baseline["dataset"]
        if wanted is None or dataset in wanted:
            jobs[name] = TargetJob(name, dataset, baseline=name, fitted=evaluations[name].fitted)
    return jobs


def targets_path(curve: str) -> str:
    return f"{RESULTS}/targets/{curve}.csv"


def _suffix(point: dict[str, Any]) -> str:
    return "_".join(f"{k}-{_format_value(v)}" for k, v in point.items())


def evaluation_jobs(config: dict[str, Any]) -> dict[str, EvaluationJob]:
    """Every evaluation job, keyed by its id: a variant's id or a baseline's name."""
    from aecompress.codecs.registry import baseline_codec, point_label, registered
    from aecompress.models import get_family

    classifiers = {
        c["dataset"]: classifier_file(c["dataset"], "model") for c in config.get("classifiers", [])
    }
    # More test sets per experiment: evaluations only, not part of a variant (a new test set
    # must not re-train the model).
    also_test_on = {e["name"]: e.get("also_test_on") or [] for e in config["experiments"]}
    jobs = {}
    for variant in all_variants(config).values():
        family = get_family(variant.family)
        evaluations = []
        for point in family.operating_points(variant.params):
            evaluation_id = f"{variant.id}_{_suffix(point)}" if point else variant.id
            for dataset in (variant.test_dataset, *also_test_on.get(variant.experiment, [])):
                extra = "" if dataset == variant.test_dataset else f"_on-{dataset}"
                evaluations.append(Evaluation(
                    evaluation_id + extra, variant.id, point, dataset, classifier=classifiers.get(dataset),
                    job=variant.id, curve=variant.experiment,
                ))  # fmt: skip
        jobs[variant.id] = EvaluationJob(
            variant.id, variant.id, None, tuple(evaluations), fits_latent_coder=not family.compressive
        )
    for baseline in config.get("baselines", []):
        name, dataset, codec = baseline["name"], baseline["dataset"], baseline["codec"]
        spec, point_name = baseline_codec(codec), registered(codec).point
        evaluations = tuple(
            Evaluation(
                f"{name}_{point_label(codec, value)}",
                None,
                {point_name: value},
                dataset,
                codec,
                name,
                classifiers.get(dataset),
                job=name,
                curve=name,
            )  # fmt: skip
            for value in spec.operating_points(baseline)
        )
        fitted = baseline_fit_file(name, codec) if spec.fitted_file else None
        jobs[name] = EvaluationJob(name, None, name, evaluations, fitted)
    return jobs


def all_evaluations(config: dict[str, Any]) -> dict[str, Evaluation]:
    """Every rate point of the run, keyed by its id."""
    return {e.id: e for job in evaluation_jobs(config).values() for e in job.evaluations}


def fitted_baselines(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The baselines whose codec fits a file on training images (PCA), by name."""
    from aecompress.codecs.registry import baseline_codec

    return {b["name"]: b for b in config.get("baselines", []) if baseline_codec(b["codec"]).fitted_file}


def baseline_fit_dataset(baseline: dict[str, Any]) -> str:
    from aecompress.codecs.registry import baseline_codec

    return baseline_codec(baseline["codec"]).fit_dataset(baseline)


def used_datasets(config: dict[str, Any]) -> list[str]:
    names = {e["dataset"] for e in config["experiments"]}
    names |= {e["test_dataset"] for e in config["experiments"] if e.get("test_dataset")}
    names |= {name for e in config["experiments"] for name in e.get("also_test_on") or ()}
    names |= {baseline_fit_dataset(b) for b in fitted_baselines(config).values()}
    names |= {c["dataset"] for c in config.get("classifiers", [])}
    return sorted(names | {b["dataset"] for b in config.get("baselines", [])})


def reference_curve_folders(config: dict[str, Any], reference_root: str | Path) -> dict[str, str]:
    """Datasets of the run with published curves: the dataset's source names a folder of them."""
    folders = {}
    for name in used_datasets(config):
        folder = Path(reference_root) / config["datasets"][name]["source"]
        if folder.is_dir():
            folders[name] = str(folder)
    return folders


def seed_studies(config: dict[str, Any]) -> dict[str, list[str]]:
    """Seed study -> the experiments and tuning studies that reproduce it (`reproduces`)."""
    out: dict[str, list[str]] = {}
    for entry in [*config["experiments"], *config.get("tuning", [])]:
        if entry.get("reproduces"):
            out.setdefault(entry["reproduces"], []).append(entry["name"])
    return out


def seed_result_files(config: dict[str, Any], folder: str | Path) -> dict[str, str]:
    """The published-numbers file of every seed study the run reproduces (resources/seed-results)."""
    return {name: str(Path(folder) / f"{name}.yaml") for name in sorted(seed_studies(config))}


def prepared_dataset_path(dataset: str) -> str:
    """Folder of the prepared dataset (uint8 .npy files and manifest.json)."""
    return f"{RESULTS}/datasets/{dataset}/prepared"


def model_file(variant_id: str, name: str) -> str:
    """A file of a trained variant: model (a SavedModel folder), history.csv or model.json."""
    return f"{RESULTS}/models/{variant_id}/{name}"


def fitted_file_name(codec: str) -> str | None:
    """The file name of what a codec fits (pca.npz), None for codecs that fit nothing."""
    from aecompress.codecs.registry import baseline_codec

    return baseline_codec(codec).fitted_file


def baseline_fit_file(baseline: str, codec: str) -> str:
    """What a fitted baseline's codec learned (a PCA basis and priors: results/baselines/<name>/pca.npz)."""
    return f"{RESULTS}/baselines/{baseline}/{fitted_file_name(codec)}"


def classifier_file(dataset: str, name: str) -> str:
    """A file of the classifier of a labelled dataset: model (a SavedModel folder) or classifier.json."""
    return f"{RESULTS}/classifiers/{dataset}/{name}"


def checkpoint_dir(variant_id: str) -> str:
    """Where a training job keeps its per-epoch state; not an output, so a re-run resumes from it."""
    return f"{RESULTS}/checkpoints/{variant_id}"


def evaluation_dir(job: str) -> str:
    """The folder an evaluation job writes: one folder per rate point, and latent_coder.npz for a
    model trained without a rate."""
    return f"{RESULTS}/evaluation/{job}"


def evaluation_file(evaluation: Evaluation, name: str) -> str:
    """A file of one rate point: per_image.csv, summary.json or samples.npz."""
    return f"{evaluation_dir(evaluation.job)}/{evaluation.id}/{name}"


def report_path() -> str:
    return f"{RESULTS}/report.html"


def bd_rates_path() -> str:
    """The report's BD-rate table with its bootstrap intervals, as CSV for other tools."""
    return f"{RESULTS}/report/bd_rates.csv"


def report_manifest_path() -> str:
    """What the report reads, written by the `report_manifest` rule (the notebook's one parameter)."""
    return f"{RESULTS}/report/manifest.json"


def report_manifest(
    config: dict[str, Any], references: dict[str, str], seed_results: dict[str, str]
) -> dict[str, Any]:
    """Everything the report reads, by path: the run's config, prepared datasets, every rate point's
    files, tuning studies, benchmark files, published curves (`references`: reference_curve_folders)
    and seed-study numbers (`seed_results`: seed_result_files), and where its figures go."""
    benchmarks = job_benchmarks(config)
    return {
        "title": config["report"]["title"],
        "config": config,
        "datasets": {d: prepared_dataset_path(d) for d in used_datasets(config)},
        "variants": report_variant_files(list(all_evaluations(config).values())),
        "benchmarks": benchmarks,
        "jobs": {rule: len(paths) for rule, paths in benchmarks.items()},
        "references": references,
        "tuning": report_tuning_files(config),
        "targets": {curve: targets_path(curve) for curve in target_jobs(config)},
        "seed_results": seed_results,
        "seed_studies": seed_studies(config),
        "figures": figures_path(),
        "bd_rates": bd_rates_path(),
    }


def cluster_resources(resources: dict[str, Any]) -> dict[str, Any]:
    """A rule's cluster requests beyond threads, memory and time: its GPUs, the optional GPU model
    and node constraint (left out when null, so the SLURM executor adds no such flag), and for a
    training job of several workers its nodes and SLURM tasks."""
    requests = {key: resources[key] for key in ("gpu_model", "constraint") if resources.get(key)}
    gpu = resources.get("gpu", 0)
    workers = resources.get("nodes", 1) * resources.get("tasks_per_node", 1)
    if workers == 1:
        return {**requests, "gpu": gpu}
    # An `mpi` job's script runs once in the batch step, without an srun of the executor's own;
    # the script starts the workers itself (distributed.launch_workers). No --ntasks-per-gpu.
    requests.update(nodes=resources["nodes"], tasks=workers, mpi="srun", tasks_per_gpu=0)
    if gpu:  # per node (--gres), where --gpus would count GPUs over the whole job
        model = requests.pop("gpu_model", None)
        requests["gres"] = f"gpu:{model}:{gpu}" if model else f"gpu:{gpu}"
    return requests


def training_placement(resources: dict[str, Any]) -> dict[str, int]:
    """What of `resources.train` changes the trained model (the replicas), as distributed.Placement's
    fields: a rule parameter, so a change re-trains, while 0 or 1 GPU (one device either way) does not."""
    workers = resources["nodes"] * resources["tasks_per_node"]
    gpus = resources["gpu"] if resources["gpu"] > 1 or workers > 1 else 0
    return {"gpus": gpus, "nodes": resources["nodes"], "tasks_per_node": resources["tasks_per_node"]}


def figures_path() -> str:
    """Folder of the report's figures as PNG files (registered for `snakemake --report`)."""
    return f"{RESULTS}/figures"


def benchmark_path(rule: str, job: str) -> str:
    return f"{RESULTS}/benchmarks/{rule}/{job}.tsv"


def report_variant_files(evaluations: list[Evaluation]) -> list[dict[str, str]]:
    """What the report reads of each evaluated rate point (the manifest's `variants`)."""
    files = []
    for e in evaluations:
        entry = {
            "id": e.id,
            "summary": evaluation_file(e, "summary.json"),
            "per_image": evaluation_file(e, "per_image.csv"),
            "samples": evaluation_file(e, "samples.npz"),
        }
        if e.variant is not None:  # trained models also have a card and a training history
            entry.update(
                card=model_file(e.variant, "model.json"), history=model_file(e.variant, "history.csv")
            )
        files.append(entry)
    return files


def report_tuning_files(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """What the report reads of each tuning study (the manifest's `tuning`)."""
    return {
        s["name"]: {
            name.split(".")[0]: tuning_file(s["name"], name)
            for name in ("selection.json", "folds.csv", "trials.csv")
        }
        for s in config.get("tuning", [])
    }


def job_benchmarks(config: dict[str, Any]) -> dict[str, list[str]]:
    """Benchmark files of every job the report summarises, by rule."""
    variants = list(all_variants(config))
    return {
        "prepare_dataset": [benchmark_path("prepare_dataset", d) for d in used_datasets(config)],
        "train": [benchmark_path("train", v) for v in variants],
        "train_classifier": [
            benchmark_path("train_classifier", c["dataset"]) for c in config.get("classifiers", [])
        ],
        "tune_outer_fold": [
            benchmark_path("tune_outer_fold", f"{s['name']}_outer-{k}")
            for s in config.get("tuning", [])
            for k in outer_folds(config, s)
        ],
        "select_configuration": [
            benchmark_path("select_configuration", s["name"]) for s in config.get("tuning", [])
        ],
        "fit_baseline": [
            benchmark_path("fit_baseline", f"{name}/{fitted_file_name(b['codec'])}")
            for name, b in fitted_baselines(config).items()
        ],
        "evaluate": [benchmark_path("evaluate", job) for job in evaluation_jobs(config)],
        "code_at_targets": [benchmark_path("code_at_targets", curve) for curve in target_jobs(config)],
    }


def download_path(dataset: str, filename: str) -> str:
    return f"{RESULTS}/downloads/{dataset}/{filename}"


def downloads(config: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """For each used dataset, the files to fetch: name -> where from, the expected digests and
    size in bytes (None when unknown: a user's archive), which bounds the transfer."""
    from aecompress.datasets import remote_files, resolve_url

    out = {}
    for name in used_datasets(config):
        options = config["datasets"][name]
        out[name] = {
            f.name: {"url": resolve_url(f, options), "sha256": f.sha256, "md5": f.md5, "size": f.size}
            for f in remote_files(options)
        }
    return out
