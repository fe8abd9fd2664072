"""Snakemake entry point: train one model variant (a tuning study's with its selected configuration)."""

import json
from pathlib import Path

from aecompress.distributed import Placement
from aecompress.plan import Variant
from aecompress.runtime import output_to_log
from aecompress.training import train_job
from aecompress.tuning import selected_variant

with output_to_log(snakemake.log[0]):
    variant = Variant(**snakemake.params.variant)
    selection = snakemake.input.get("selection")  # a tuning study's final model
    if selection:
        variant = selected_variant(variant, json.loads(Path(selection).read_text()))
    card = train_job(
        variant,
        snakemake.input.dataset,
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        out_dir=Path(snakemake.output.model).parent,
        checkpoint_dir=snakemake.params.checkpoint_dir,
        placement=Placement(**snakemake.params.placement),
    )
    print(
        f"{card['variant']}: final train MSE {card['final_train_mse']:.6g}, val MSE {card['final_val_mse']}"
    )
