"""Snakemake entry point: fit the latent quantizer and prior of a variant trained without a rate."""

from aecompress.codecs.latent import fit_latent_coder
from aecompress.images import PreparedDataset
from aecompress.runtime import output_to_log

with output_to_log(snakemake.log[0]):
    fit = fit_latent_coder(
        model_dir=snakemake.input.model,
        dataset=PreparedDataset.load(snakemake.input.dataset),
        coding=snakemake.params.coding,
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        out_path=snakemake.output[0],
    )
    print(fit)
