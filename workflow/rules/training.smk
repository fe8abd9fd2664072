rule train:
    input:
        unpack(train_inputs),
    output:
        model=directory(plan.model_file("{variant}", "model")),
        history=report(
            plan.model_file("{variant}", "history.csv"),
            caption="../report/history.rst",
            category="Training",
            labels={"model": "{variant}"},
        ),
        card=plan.model_file("{variant}", "model.json"),
    log:
        "logs/train/{variant}.log",
    benchmark:
        plan.benchmark_path("train", "{variant}")
    conda:
        TRAIN_ENV
    threads: RESOURCES["train"]["threads"]
    resources:
        **plan.cluster_resources(RESOURCES["train"]),
        mem_mb=RESOURCES["train"]["mem_mb"],
        runtime=RESOURCES["train"]["runtime"],
    params:
        variant=variant_record,
        seed=config["seed"],
        checkpoint_dir=lambda wildcards: plan.checkpoint_dir(wildcards.variant),
        placement=plan.training_placement(RESOURCES["train"]),
    script:
        "../scripts/train_model.py"


rule train_classifier:
    input:
        dataset=plan.prepared_dataset_path("{dataset}"),
    output:
        model=directory(plan.classifier_file("{dataset}", "model")),
        card=plan.classifier_file("{dataset}", "classifier.json"),
    log:
        "logs/train_classifier/{dataset}.log",
    benchmark:
        plan.benchmark_path("train_classifier", "{dataset}")
    conda:
        TRAIN_ENV
    threads: RESOURCES["train"]["threads"]
    resources:
        **plan.cluster_resources(
            {**RESOURCES["train"], "nodes": 1, "tasks_per_node": 1}
        ),
        mem_mb=RESOURCES["train"]["mem_mb"],
        runtime=RESOURCES["train"]["runtime"],
    params:
        options=lambda wildcards: CLASSIFIERS[wildcards.dataset],
        seed=config["seed"],
    script:
        "../scripts/train_classifier.py"
