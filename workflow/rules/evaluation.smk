rule evaluate:
    input:
        unpack(evaluation_inputs),
    output:
        per_image=plan.evaluation_file("{evaluation}", "per_image.csv"),
        summary=plan.evaluation_file("{evaluation}", "summary.json"),
        samples=plan.evaluation_file("{evaluation}", "samples.npz"),
    log:
        "logs/evaluate/{evaluation}.log",
    benchmark:
        plan.benchmark_path("evaluate", "{evaluation}")
    conda:
        ENV
    threads: RESOURCES["evaluate"]["threads"]
    resources:
        mem_mb=RESOURCES["evaluate"]["mem_mb"],
        runtime=RESOURCES["evaluate"]["runtime"],
    params:
        samples=config["evaluation"]["reconstruction_samples"],
        evaluation=lambda wildcards: dataclasses.asdict(
            EVALUATIONS[wildcards.evaluation]
        ),
    script:
        "../scripts/evaluate_model.py"
