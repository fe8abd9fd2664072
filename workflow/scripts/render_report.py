"""Snakemake entry point: execute the report notebook and write standalone HTML.

Every named param of the rule is a notebook parameter of the same name (report.smk lists them),
plus `figures_dir`, the rule's figures output.
"""

from aecompress.report import render_report
from aecompress.runtime import output_to_log

with output_to_log(snakemake.log[0]):
    render_report(
        notebook=snakemake.input.notebook,
        html_path=snakemake.output.html,
        executed_path=snakemake.output.notebook,
        parameters={**dict(snakemake.params.items()), "figures_dir": snakemake.output.figures},
    )
