"""Snakemake entry point: load a registered dataset, split it, write the prepared .npz."""

from aecompress.datasets import prepare_dataset
from aecompress.runtime import output_to_log

with output_to_log(snakemake.log[0]):
    prepared = prepare_dataset(
        dict(snakemake.params.options),
        seed=snakemake.params.seed,
        files=dict(snakemake.input.items()),
    )
    prepared.save(snakemake.output[0])
    print(f"{snakemake.wildcards.dataset}: {prepared.meta['split_sizes']}")
