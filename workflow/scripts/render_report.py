"""Snakemake entry point: execute the report notebook on the run's manifest, write standalone HTML."""

from aecompress.report import render_report
from aecompress.runtime import output_to_log

with output_to_log(snakemake.log[0]):
    render_report(
        notebook=snakemake.input.notebook,
        html_path=snakemake.output.html,
        executed_path=snakemake.output.notebook,
        manifest=snakemake.input.manifest,
    )
