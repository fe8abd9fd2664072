rule evaluate:
    input:
        dataset=variant_dataset,
        model=plan.model_file("{variant}", "model"),
        card=plan.model_file("{variant}", "model.json"),
    output:
        per_image=plan.evaluation_file("{variant}", "per_image.csv"),
        summary=plan.evaluation_file("{variant}", "summary.json"),
        samples=plan.evaluation_file("{variant}", "samples.npz"),
    log:
        "logs/evaluate/{variant}.log",
    benchmark:
        plan.benchmark_path("evaluate", "{variant}")
    conda:
        ENV
    threads: RESOURCES["evaluate"]["threads"]
    resources:
        mem_mb=RESOURCES["evaluate"]["mem_mb"],
        runtime=RESOURCES["evaluate"]["runtime"],
    params:
        samples=config["evaluation"]["reconstruction_samples"],
    script:
        "../scripts/evaluate_model.py"
