"""Snakemake entry point: one curve's test images coded at every target of `evaluation.targets`."""

from aecompress.equal_targets import evaluate_targets
from aecompress.runtime import output_to_log

params, inputs = snakemake.params, snakemake.input
with output_to_log(snakemake.log[0]):
    evaluate_targets(
        job=params.job,
        dataset=inputs.dataset,
        targets=params.targets,
        out_path=snakemake.output[0],
        threads=snakemake.threads,
        baseline=params.baseline,
        fitted=inputs.get("fitted"),
        tile=params.tile,
    )
