rule report:
    input:
        notebook=workflow.source_path("../notebooks/report.py"),
        datasets=[plan.prepared_dataset_path(d) for d in DATASETS],
        variant_files=[
            path
            for files in plan.report_variant_files(list(EVALUATIONS.values()))
            for key, path in files.items()
            if key != "id"
        ],
    output:
        html=plan.report_path(),
        notebook="results/report.ipynb",
    log:
        "logs/report.log",
    benchmark:
        plan.benchmark_path("report", "report")
    conda:
        ENV
    threads: RESOURCES["report"]["threads"]
    resources:
        mem_mb=RESOURCES["report"]["mem_mb"],
        runtime=RESOURCES["report"]["runtime"],
    params:
        title=config["report"]["title"],
        config=config,
        datasets={d: plan.prepared_dataset_path(d) for d in DATASETS},
        variants=plan.report_variant_files(list(EVALUATIONS.values())),
        benchmarks=BENCHMARKS,
        jobs={rule: len(paths) for rule, paths in BENCHMARKS.items()},
    script:
        "../scripts/render_report.py"
