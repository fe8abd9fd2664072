"""Snakemake entry point: one evaluation job, every rate point of a trained variant or a baseline."""

from aecompress.evaluation import evaluate_job
from aecompress.runtime import output_to_log

params, inputs = snakemake.params, snakemake.input
with output_to_log(snakemake.log[0]):
    evaluate_job(
        job=params.job,
        datasets=params.datasets,
        threads=snakemake.threads,
        out_dir=snakemake.output[0],
        samples=params.samples,
        classifiers=params.classifiers,
        model=inputs.get("model"),
        train_dataset=inputs.get("train_dataset"),
        train_images=params.train_images,
        latent_coding=params.latent_coding,
        fitted=inputs.get("fitted"),
        baseline=params.baseline,
        seed=params.seed,
        tile=params.tile,
    )
