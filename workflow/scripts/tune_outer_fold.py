"""Snakemake entry point: one outer fold of a tuning study (Hyperband search, retrain, score)."""

from pathlib import Path

from aecompress.images import PreparedDataset
from aecompress.plan import Variant
from aecompress.runtime import output_to_log
from aecompress.tuning import tune_outer_fold

with output_to_log(snakemake.log[0]):
    tune_outer_fold(
        study=snakemake.params.study,
        variant=Variant(**snakemake.params.variant),
        dataset=PreparedDataset.load(snakemake.input.dataset),
        outer_fold=int(snakemake.wildcards.fold),
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        out_dir=Path(snakemake.output.result).parent,
    )
