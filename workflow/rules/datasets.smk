rule prepare_dataset:
    output:
        plan.prepared_dataset_path("{dataset}"),
    log:
        "logs/prepare_dataset/{dataset}.log",
    benchmark:
        plan.benchmark_path("prepare_dataset", "{dataset}")
    conda:
        ENV
    threads: RESOURCES["prepare"]["threads"]
    resources:
        mem_mb=RESOURCES["prepare"]["mem_mb"],
        runtime=RESOURCES["prepare"]["runtime"],
    params:
        options=lambda wildcards: config["datasets"][wildcards.dataset],
        seed=config["seed"],
    script:
        "../scripts/prepare_dataset.py"
