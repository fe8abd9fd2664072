rule tune_outer_fold:
    input:
        dataset=study_dataset,
    output:
        result=plan.outer_fold_file("{study}", "{fold}", "result.json"),
        trials=plan.outer_fold_file("{study}", "{fold}", "trials.csv"),
        images=plan.outer_fold_file("{study}", "{fold}", "images.csv"),
    log:
        "logs/tune_outer_fold/{study}_outer-{fold}.log",
    benchmark:
        plan.benchmark_path("tune_outer_fold", "{study}_outer-{fold}")
    conda:
        TUNE_ENV
    threads: RESOURCES["tune"]["threads"]
    resources:
        **plan.cluster_resources(RESOURCES["tune"]),
        mem_mb=RESOURCES["tune"]["mem_mb"],
        runtime=RESOURCES["tune"]["runtime"],
    params:
        study=lambda wildcards: STUDIES[wildcards.study],
        variant=lambda wildcards: dataclasses.asdict(VARIANTS[wildcards.study]),
        seed=config["seed"],
    script:
        "../scripts/tune_outer_fold.py"


rule select_configuration:
    input:
        results=lambda wildcards: study_fold_files(wildcards, "result.json"),
        trials=lambda wildcards: study_fold_files(wildcards, "trials.csv"),
    output:
        selection=plan.tuning_file("{study}", "selection.json"),
        folds=report(
            plan.tuning_file("{study}", "folds.csv"),
            caption="../report/tuning.rst",
            category="Tuning",
            labels={"study": "{study}"},
        ),
        trials=plan.tuning_file("{study}", "trials.csv"),
    log:
        "logs/select_configuration/{study}.log",
    benchmark:
        plan.benchmark_path("select_configuration", "{study}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=RESOURCES["prepare"]["mem_mb"],
        runtime=RESOURCES["prepare"]["runtime"],
    script:
        "../scripts/select_configuration.py"
