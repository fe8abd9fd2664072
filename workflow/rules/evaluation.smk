rule fit_latent_coder:
    input:
        model=plan.model_file("{variant}", "model"),
        card=plan.model_file("{variant}", "model.json"),
        dataset=variant_dataset,
    output:
        plan.model_file("{variant}", "latent_coder.npz"),
    log:
        "logs/fit_latent_coder/{variant}.log",
    benchmark:
        plan.benchmark_path("fit_latent_coder", "{variant}")
    conda:
        ENV
    threads: RESOURCES["evaluate"]["threads"]
    resources:
        mem_mb=RESOURCES["evaluate"]["mem_mb"],
        runtime=RESOURCES["evaluate"]["runtime"],
    params:
        coding=config["evaluation"]["latent_coding"],
        seed=config["seed"],
    script:
        "../scripts/fit_latent_coder.py"


rule fit_pca:
    input:
        dataset=pca_fit_dataset,
    output:
        plan.pca_file("{baseline}"),
    log:
        "logs/fit_pca/{baseline}.log",
    benchmark:
        plan.benchmark_path("fit_pca", "{baseline}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=RESOURCES["evaluate"]["mem_mb"],
        runtime=RESOURCES["evaluate"]["runtime"],
    params:
        baseline=lambda wildcards: BASELINES[wildcards.baseline],
        fit_dataset=lambda wildcards: plan.pca_fit_dataset(
            BASELINES[wildcards.baseline]
        ),
        smoothing=config["evaluation"]["latent_coding"]["smoothing"],
        seed=config["seed"],
    script:
        "../scripts/fit_pca.py"


rule evaluate:
    input:
        unpack(evaluation_inputs),
    output:
        per_image=report(
            plan.evaluation_file("{evaluation}", "per_image.csv"),
            caption="../report/per_image.rst",
            category="Evaluation",
            labels={"rate point": "{evaluation}"},
        ),
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
        train_images=config["evaluation"]["train_split_images"],
        evaluation=lambda wildcards: dataclasses.asdict(
            EVALUATIONS[wildcards.evaluation]
        ),
    script:
        "../scripts/evaluate_model.py"
