# Config validation and every helper that turns the config into target paths.
# Only light imports here: `snakemake -n` must never load TensorFlow.
import os
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError

from aecompress import plan
from aecompress.config import ConfigError, validate_config

try:
    _validated = validate_config(config, source=", ".join(map(str, workflow.configfiles)) or "config")
except ConfigError as err:
    raise WorkflowError(str(err)) from None
config.clear()
config.update(_validated)

# Jobs import the package from this checkout, also in `--sdm conda` environments that do not
# install it (child processes, local or on a cluster node, inherit this variable).
_SRC = str(Path(workflow.basedir) / "src")
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (_SRC, os.environ.get("PYTHONPATH")) if p
)

VARIANTS = plan.all_variants(config)
DATASETS = plan.used_datasets(config)
RESOURCES = config["resources"]
ENV = "../../envs/aecompress.yaml"


wildcard_constraints:
    dataset="|".join(re.escape(d) for d in DATASETS),
    variant="|".join(re.escape(v) for v in VARIANTS),


def all_targets():
    return [plan.report_path()]


def variant_dataset(wildcards):
    return plan.prepared_dataset_path(VARIANTS[wildcards.variant].dataset)


def variant_record(wildcards):
    """The variant as plain data: part of the rule's params, so a config change re-runs it."""
    variant = VARIANTS[wildcards.variant]
    return {
        "id": variant.id,
        "experiment": variant.experiment,
        "family": variant.family,
        "dataset": variant.dataset,
        "params": variant.params,
        "training": variant.training,
        "grid_values": variant.grid_values,
    }
