"""Snakemake entry point: train the LeNet-5 classifier of a labelled dataset."""

from pathlib import Path

from aecompress.classifier import train_classifier
from aecompress.images import PreparedDataset
from aecompress.runtime import output_to_log

with output_to_log(snakemake.log[0]):
    card = train_classifier(
        PreparedDataset.load(snakemake.input.dataset),
        dataset_name=snakemake.wildcards.dataset,
        options=snakemake.params.options,
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        out_dir=Path(snakemake.output.card).parent,
    )
    print(f"{card['dataset']}: test accuracy {card['test_accuracy']:.4f}")
