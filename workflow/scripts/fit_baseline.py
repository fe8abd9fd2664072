"""Snakemake entry point: fit what a baseline's codec learns from training images (a PCA basis and
its per-step priors), as its module in codecs.registry says."""

from aecompress.codecs.registry import baseline_codec
from aecompress.images import PreparedDataset
from aecompress.runtime import output_to_log

baseline = snakemake.params.baseline
with output_to_log(snakemake.log[0]):
    fit = baseline_codec(baseline["codec"]).fit(
        images=PreparedDataset.load(snakemake.input.dataset).splits["train"],
        baseline=baseline,
        fit_dataset=snakemake.params.fit_dataset,
        smoothing=snakemake.params.smoothing,
        seed=snakemake.params.seed,
        out_path=snakemake.output[0],
    )
    print(fit)
