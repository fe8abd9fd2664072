"""Snakemake entry point: evaluate one trained variant on its test split."""

from pathlib import Path

from aecompress.evaluation import evaluate_variant
from aecompress.images import PreparedDataset
from aecompress.runtime import output_to_log

with output_to_log(snakemake.log[0]):
    summary = evaluate_variant(
        model_path=snakemake.input.model,
        card_path=snakemake.input.card,
        dataset=PreparedDataset.load(snakemake.input.dataset),
        threads=snakemake.threads,
        out_dir=Path(snakemake.output.summary).parent,
        samples=snakemake.params.samples,
        evaluation=snakemake.params.evaluation,
    )
    print(f"{summary['method']}: {summary['metrics']}")
