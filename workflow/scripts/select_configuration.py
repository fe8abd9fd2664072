"""Snakemake entry point: a tuning study's final configuration across its outer folds."""

from pathlib import Path

from aecompress.runtime import output_to_log
from aecompress.tuning import write_selection

with output_to_log(snakemake.log[0]):
    selection = write_selection(
        snakemake.input.results, snakemake.input.trials, Path(snakemake.output.selection).parent
    )
    print(f"{selection['study']}: {selection['rule']}: {selection['configuration']}")
