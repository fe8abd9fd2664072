rule prepare_dataset:
    output:
        plan.prepared_dataset_path("{dataset}"),
    params:
        options=lambda wildcards: config["datasets"][wildcards.dataset],
        seed=config["seed"],
    log:
        "logs/prepare_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{dataset}.tsv"
    threads: RESOURCES["prepare"]["threads"]
    resources:
        mem_mb=RESOURCES["prepare"]["mem_mb"],
        runtime=RESOURCES["prepare"]["runtime"],
    conda:
        ENV
    script:
        "../scripts/prepare_dataset.py"
