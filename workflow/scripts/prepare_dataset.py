"""Snakemake entry point: load a registered dataset, split it, write the prepared .npz."""

import tempfile
from pathlib import Path

from aecompress.datasets import prepare_dataset
from aecompress.runtime import output_to_log

output = Path(snakemake.output[0])
with output_to_log(snakemake.log[0]):
    output.parent.mkdir(parents=True, exist_ok=True)
    # A streamed corpus is unpacked here and its files moved into the prepared folder by save();
    # whatever is left (a failure half-way) goes with the folder.
    with tempfile.TemporaryDirectory(prefix=".staging.", dir=output.parent) as staging:
        prepared = prepare_dataset(
            dict(snakemake.params.options),
            seed=snakemake.params.seed,
            files=dict(snakemake.input.items()),
            staging=staging,
        )
        prepared.save(output)
    print(f"{snakemake.wildcards.dataset}: {prepared.meta['split_sizes']}")
