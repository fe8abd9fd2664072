"""Snakemake entry point: evaluate one rate point (a trained variant or a baseline codec) on a test split."""

from pathlib import Path

from aecompress.evaluation import evaluate_baseline, evaluate_variant
from aecompress.images import PreparedDataset
from aecompress.runtime import output_to_log

evaluation = snakemake.params.evaluation
inputs = snakemake.input
with output_to_log(snakemake.log[0]):
    common = {
        "dataset": PreparedDataset.load(inputs.dataset),
        "threads": snakemake.threads,
        "out_dir": Path(snakemake.output.summary).parent,
        "samples": snakemake.params.samples,
        "classifier": inputs.get("classifier"),
    }
    if evaluation["variant"] is None:
        summary = evaluate_baseline(evaluation, coder=inputs.get("coder"), **common)
    else:
        train = PreparedDataset.load(inputs.train_dataset)  # the variant's training set
        summary = evaluate_variant(
            inputs.model,
            inputs.card,
            evaluation=evaluation,
            train_dataset=train,
            train_images=snakemake.params.train_images,
            **common,
        )
    print(f"{summary['method']}: bpp {summary['bpp']}, {summary['metrics']}")
