rule train:
    input:
        dataset=variant_dataset,
    output:
        model=plan.model_dir("{variant}") + "/model.keras",
        history=plan.model_dir("{variant}") + "/history.csv",
        card=plan.model_dir("{variant}") + "/model.json",
    params:
        variant=variant_record,
        seed=config["seed"],
    log:
        "logs/train/{variant}.log",
    benchmark:
        "results/benchmarks/train/{variant}.tsv"
    threads: RESOURCES["train"]["threads"]
    resources:
        mem_mb=RESOURCES["train"]["mem_mb"],
        runtime=RESOURCES["train"]["runtime"],
        gpu=RESOURCES["train"]["gpu"],
    conda:
        ENV
    script:
        "../scripts/train_model.py"
