"""Snakemake entry point: write the report's manifest (plan.report_manifest, the rule's param)."""

import json

from aecompress.runtime import job_output, output_to_log

with output_to_log(snakemake.log[0]), job_output(snakemake.output[0]) as tmp:
    tmp.write_text(json.dumps(snakemake.params.manifest, indent=2, sort_keys=True))
