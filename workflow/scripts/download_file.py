"""Snakemake entry point: fetch one dataset file and verify its checksum."""

from aecompress.downloads import fetch
from aecompress.runtime import output_to_log

with output_to_log(snakemake.log[0]):
    source = snakemake.params.source
    fetch(source["url"], snakemake.output[0], source["sha256"], md5=source["md5"], size=source["size"])
    print(f"{snakemake.output[0]}: verified")
