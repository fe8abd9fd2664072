localrules:
    download,


rule download:
    output:
        plan.download_path("{dataset}", "{filename}"),
    log:
        "logs/download/{dataset}/{filename}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=RESOURCES["prepare"]["runtime"],
    params:
        source=lambda wildcards: DOWNLOADS[wildcards.dataset][wildcards.filename],
    script:
        "../scripts/download_file.py"


rule prepare_dataset:
    input:
        unpack(dataset_downloads),
    output:
        directory(plan.prepared_dataset_path("{dataset}")),
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
