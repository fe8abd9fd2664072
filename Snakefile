# aecompress: train, evaluate and compare autoencoders for lossy image compression.
# This file is the table of contents; the rules live in workflow/rules/, the work in src/aecompress/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


# On a cluster these run on the submit host: downloads need the network, the report is light.
localrules:
    download,
    report_manifest,
    report,


include: "workflow/rules/common.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/tuning.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
