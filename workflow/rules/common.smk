# Config validation and every helper that turns the config into target paths.
# Only light imports here: `snakemake -n` must never load TensorFlow.
import copy
import dataclasses
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError

from aecompress import plan
from aecompress.config import ConfigError, validate_config

# A config given with --configfile stands alone. Snakemake would merge it into config.yaml
# (mappings key by key, lists replaced), so a preset would silently inherit the default run's
# datasets, baselines and classifiers and build them. --config key=value still applies on top.
if workflow.overwrite_configfiles:
    config.clear()
    config.update(copy.deepcopy(workflow.config_settings.overwrite_config))
    _CONFIG_SOURCE = ", ".join(map(str, workflow.overwrite_configfiles))
else:
    _CONFIG_SOURCE = ", ".join(map(str, workflow.configfiles)) or "config"

try:
    _validated = validate_config(config, source=_CONFIG_SOURCE)
except ConfigError as err:
    raise WorkflowError(str(err)) from None
config.clear()
config.update(_validated)

VARIANTS = plan.all_variants(config)
EVALUATION_JOBS = plan.evaluation_jobs(config)
TARGET_JOBS = plan.target_jobs(config)
EVALUATIONS = plan.all_evaluations(config)
DATASETS = plan.used_datasets(config)
RESOURCES = config["resources"]
BENCHMARKS = plan.job_benchmarks(config)
DOWNLOADS = plan.downloads(config)
BASELINES = {b["name"]: b for b in config["baselines"]}
FITTED_BASELINES = plan.fitted_baselines(config)
CLASSIFIERS = {c["dataset"]: c for c in config["classifiers"]}
STUDIES = {s["name"]: s for s in config["tuning"]}
REFERENCE_CURVES = plan.reference_curve_folders(
    config, Path(workflow.basedir) / "resources" / "reference-results"
)
SEED_RESULTS = plan.seed_result_files(
    config, Path(workflow.basedir) / "resources" / "seed-results"
)
FILENAMES = sorted({name for files in DOWNLOADS.values() for name in files})
ENV = "../../envs/aecompress.yaml"
# Training jobs that request GPUs get the CUDA build (`--sdm conda`); every other job the CPU one.
TRAIN_ENV = "../../envs/aecompress-gpu.yaml" if RESOURCES["train"]["gpu"] else ENV
TUNE_ENV = "../../envs/aecompress-gpu.yaml" if RESOURCES["tune"]["gpu"] else ENV


wildcard_constraints:
    dataset="|".join(re.escape(d) for d in DATASETS),
    variant="|".join(re.escape(v) for v in VARIANTS),
    job="|".join(re.escape(j) for j in EVALUATION_JOBS),
    filename="|".join(re.escape(f) for f in FILENAMES) or "(?!)",
    baseline="|".join(re.escape(b) for b in BASELINES) or "(?!)",
    fitted_file="|".join(
        re.escape(plan.fitted_file_name(b["codec"])) for b in FITTED_BASELINES.values()
    )
    or "(?!)",
    study="|".join(re.escape(s) for s in STUDIES) or "(?!)",
    curve="|".join(re.escape(c) for c in TARGET_JOBS) or "(?!)",
    fold=r"\d+",


def all_targets():
    return [plan.report_path()]


def target_inputs(wildcards):
    """The test set; the curve's models (folders and cards) and the folders of its evaluation jobs
    (a latent family's coder is fitted there); a baseline's fitted file."""
    job = TARGET_JOBS[wildcards.curve]
    inputs = {
        "dataset": plan.prepared_dataset_path(job.dataset),
        "models": list(job.models),
        "cards": [str(Path(model).parent / "model.json") for model in job.models],
        "evaluations": [plan.evaluation_dir(j) for j in job.evaluation_jobs],
    }
    if job.fitted is not None:
        inputs["fitted"] = job.fitted
    return inputs


def dataset_downloads(wildcards):
    """Downloaded files a dataset is prepared from, by file name (none for embedded data)."""
    return {
        name: plan.download_path(wildcards.dataset, name)
        for name in DOWNLOADS[wildcards.dataset]
    }


def variant_dataset(wildcards):
    return plan.prepared_dataset_path(VARIANTS[wildcards.variant].dataset)


def train_inputs(wildcards):
    """The training set; for a tuning study's final model also its selected configuration."""
    variant = VARIANTS[wildcards.variant]
    inputs = {"dataset": plan.prepared_dataset_path(variant.dataset)}
    if variant.tuning is not None:
        inputs["selection"] = plan.tuning_file(variant.tuning, "selection.json")
    return inputs


def study_dataset(wildcards):
    return plan.prepared_dataset_path(STUDIES[wildcards.study]["dataset"])


def study_fold_files(wildcards, name):
    """One file of every outer fold of a study, in fold order."""
    study = STUDIES[wildcards.study]
    return [
        plan.outer_fold_file(study["name"], fold, name)
        for fold in plan.outer_folds(config, study)
    ]


def variant_record(wildcards):
    """The variant as plain data: part of the rule's params, so a config change re-runs it."""
    return dataclasses.asdict(VARIANTS[wildcards.variant])


def baseline_fit_dataset(wildcards):
    return plan.prepared_dataset_path(
        plan.baseline_fit_dataset(FITTED_BASELINES[wildcards.baseline])
    )


def evaluation_datasets(wildcards):
    """Test set name -> prepared dataset, for every test set of an evaluation job."""
    job = EVALUATION_JOBS[wildcards.job]
    return {e.dataset: plan.prepared_dataset_path(e.dataset) for e in job.evaluations}


def evaluation_classifiers(wildcards):
    """Test set name -> the classifier that scores its reconstructions, where there is one."""
    job = EVALUATION_JOBS[wildcards.job]
    return {e.dataset: e.classifier for e in job.evaluations if e.classifier}


def evaluation_inputs(wildcards):
    """The test sets; a trained variant's model folder, card and training set (its mean is the
    trivial predictor a model must beat; train-split metrics; the latent coder is fitted on it);
    a baseline's fitted file; the classifiers.
    """
    job = EVALUATION_JOBS[wildcards.job]
    inputs = {
        "datasets": sorted(set(evaluation_datasets(wildcards).values())),
        "classifiers": sorted(set(evaluation_classifiers(wildcards).values())),
    }
    if job.variant is not None:
        inputs["model"] = plan.model_file(job.variant, "model")
        inputs["card"] = plan.model_file(job.variant, "model.json")
        inputs["train_dataset"] = plan.prepared_dataset_path(
            VARIANTS[job.variant].dataset
        )
    if job.fitted is not None:
        inputs["fitted"] = job.fitted
    return inputs
