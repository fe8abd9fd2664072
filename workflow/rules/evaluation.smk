rule evaluate:
    input:
        dataset=variant_dataset,
        model=plan.model_dir("{variant}") + "/model.keras",
        card=plan.model_dir("{variant}") + "/model.json",
    output:
        per_image=plan.evaluation_dir("{variant}") + "/per_image.csv",
        summary=plan.evaluation_dir("{variant}") + "/summary.json",
        samples=plan.evaluation_dir("{variant}") + "/samples.npz",
    params:
        samples=config["evaluation"]["reconstruction_samples"],
    log:
        "logs/evaluate/{variant}.log",
    benchmark:
        "results/benchmarks/evaluate/{variant}.tsv"
    threads: RESOURCES["evaluate"]["threads"]
    resources:
        mem_mb=RESOURCES["evaluate"]["mem_mb"],
        runtime=RESOURCES["evaluate"]["runtime"],
    conda:
        ENV
    script:
        "../scripts/evaluate_model.py"
