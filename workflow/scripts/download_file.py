"""Snakemake entry point: fetch one dataset file and verify its checksum."""

from aecompress.downloads import fetch, sha256_of
from aecompress.runtime import output_to_log

with output_to_log(snakemake.log[0]):
    source = snakemake.params.source
    fetch(source["url"], snakemake.output[0], source["sha256"], md5=source["md5"], size=source["size"])
    print(f"{snakemake.output[0]}: verified")
    if not source["sha256"]:  # verified by MD5 alone: say what SHA-256 to pin for later downloads
        print(
            f"{snakemake.output[0]}: SHA-256 {sha256_of(snakemake.output[0])}; pin it with "
            f"datasets.{snakemake.wildcards.dataset}.checksums"
        )
