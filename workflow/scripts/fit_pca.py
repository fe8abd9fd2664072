"""Snakemake entry point: fit a PCA baseline's block basis and its per-step priors."""

from aecompress.codecs.pca import fit_pca
from aecompress.images import PreparedDataset
from aecompress.runtime import output_to_log

baseline = snakemake.params.baseline
options = baseline["pca"]
with output_to_log(snakemake.log[0]):
    fit = fit_pca(
        name=baseline["name"],
        trained_on=snakemake.params.fit_dataset,
        images=PreparedDataset.load(snakemake.input.dataset).splits["train"],
        block_size=options["block_size"],
        components=options["components"],
        steps=options["steps"],
        max_blocks=options["max_blocks"],
        smoothing=snakemake.params.smoothing,
        seed=snakemake.params.seed,
        out_path=snakemake.output[0],
    )
    print(fit)
