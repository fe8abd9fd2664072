"""Snakemake entry point: execute the report notebook and write standalone HTML."""

from aecompress.report import render_report
from aecompress.runtime import output_to_log

with output_to_log(snakemake.log[0]):
    render_report(
        notebook=snakemake.input.notebook,
        html_path=snakemake.output.html,
        executed_path=snakemake.output.notebook,
        parameters={
            "title": snakemake.params.title,
            "config": snakemake.params.config,
            "datasets": snakemake.params.datasets,
            "variants": snakemake.params.variants,
            "benchmarks": snakemake.params.benchmarks,
            "figures_dir": snakemake.output.figures,
            "references": snakemake.params.references,
            "jobs": snakemake.params.jobs,
            "tuning": snakemake.params.tuning,
        },
    )
