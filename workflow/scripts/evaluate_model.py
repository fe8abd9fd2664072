"""Snakemake entry point: evaluate one rate point (a trained variant or a classical codec) on a test split."""

from pathlib import Path

from aecompress.evaluation import evaluate_classical, evaluate_variant
from aecompress.images import PreparedDataset
from aecompress.runtime import output_to_log

evaluation = snakemake.params.evaluation
with output_to_log(snakemake.log[0]):
    dataset = PreparedDataset.load(snakemake.input.dataset)
    out_dir = Path(snakemake.output.summary).parent
    if evaluation["variant"] is None:
        summary = evaluate_classical(
            codec_name=evaluation["codec"],
            quality=evaluation["point"]["quality"],
            baseline=evaluation["baseline"],
            dataset_name=evaluation["dataset"],
            dataset=dataset,
            threads=snakemake.threads,
            out_dir=out_dir,
            samples=snakemake.params.samples,
        )
    else:
        summary = evaluate_variant(
            model_path=snakemake.input.model,
            card_path=snakemake.input.card,
            dataset=dataset,
            threads=snakemake.threads,
            out_dir=out_dir,
            samples=snakemake.params.samples,
            evaluation=evaluation,
        )
    print(f"{summary['method']}: bpp {summary['bpp']}, {summary['metrics']}")
