"""Snakemake entry point: train one model variant."""

from pathlib import Path

from aecompress.images import PreparedDataset
from aecompress.plan import Variant
from aecompress.runtime import output_to_log
from aecompress.training import train_variant

with output_to_log(snakemake.log[0]):
    card = train_variant(
        Variant(**snakemake.params.variant),
        PreparedDataset.load(snakemake.input.dataset),
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        out_dir=Path(snakemake.output.model).parent,
        checkpoint_dir=snakemake.params.checkpoint_dir,
    )
    print(
        f"{card['variant']}: final train MSE {card['final_train_mse']:.6g}, val MSE {card['final_val_mse']}"
    )
