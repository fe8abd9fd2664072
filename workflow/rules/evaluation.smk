rule fit_baseline:
    input:
        dataset=baseline_fit_dataset,
    output:
        "results/baselines/{baseline}/{fitted_file}",
    log:
        "logs/fit_baseline/{baseline}/{fitted_file}.log",
    benchmark:
        plan.benchmark_path("fit_baseline", "{baseline}/{fitted_file}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=RESOURCES["evaluate"]["mem_mb"],
        runtime=RESOURCES["evaluate"]["runtime"],
    params:
        baseline=lambda wildcards: FITTED_BASELINES[wildcards.baseline],
        fit_dataset=lambda wildcards: plan.baseline_fit_dataset(
            FITTED_BASELINES[wildcards.baseline]
        ),
        smoothing=config["evaluation"]["latent_coding"]["smoothing"],
        seed=config["seed"],
    script:
        "../scripts/fit_baseline.py"


# One job per curve: every rate point of a trained variant (on each of its test sets) or of a
# baseline, each written to results/evaluation/<job>/<rate point>/.
rule evaluate:
    input:
        unpack(evaluation_inputs),
    output:
        report(
            directory(plan.evaluation_dir("{job}")),
            patterns=["{point}/per_image.csv"],
            caption="../report/per_image.rst",
            category="Evaluation",
        ),
    log:
        "logs/evaluate/{job}.log",
    benchmark:
        plan.benchmark_path("evaluate", "{job}")
    conda:
        ENV
    threads: RESOURCES["evaluate"]["threads"]
    resources:
        mem_mb=RESOURCES["evaluate"]["mem_mb"],
        runtime=RESOURCES["evaluate"]["runtime"],
    params:
        samples=config["evaluation"]["reconstruction_samples"],
        train_images=config["evaluation"]["train_split_images"],
        job=lambda wildcards: dataclasses.asdict(EVALUATION_JOBS[wildcards.job]),
        datasets=evaluation_datasets,
        classifiers=evaluation_classifiers,
        # Only what the job uses, so a change re-runs only the curves it touches.
        latent_coding=lambda wildcards: (
            config["evaluation"]["latent_coding"]
            if EVALUATION_JOBS[wildcards.job].fits_latent_coder
            else None
        ),
        baseline=lambda wildcards: BASELINES.get(
            EVALUATION_JOBS[wildcards.job].baseline
        ),
        seed=config["seed"],
        tile=config["evaluation"]["tile"],
    script:
        "../scripts/evaluate.py"


# One job per curve when `evaluation.targets` names targets: every test image coded at each one.
rule code_at_targets:
    input:
        unpack(target_inputs),
    output:
        plan.targets_path("{curve}"),
    log:
        "logs/code_at_targets/{curve}.log",
    benchmark:
        plan.benchmark_path("code_at_targets", "{curve}")
    conda:
        ENV
    threads: RESOURCES["evaluate"]["threads"]
    resources:
        mem_mb=RESOURCES["evaluate"]["mem_mb"],
        runtime=RESOURCES["evaluate"]["runtime"],
    params:
        job=lambda wildcards: dataclasses.asdict(TARGET_JOBS[wildcards.curve]),
        targets=config["evaluation"]["targets"],
        tile=config["evaluation"]["tile"],
        baseline=lambda wildcards: BASELINES.get(TARGET_JOBS[wildcards.curve].baseline),
    script:
        "../scripts/code_at_targets.py"
