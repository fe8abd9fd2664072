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
        tuning=[
            path
            for files in plan.report_tuning_files(config).values()
            for path in files.values()
        ],
        reference_curves=[
            str(path)
            for folder in REFERENCE_CURVES.values()
            for path in sorted(Path(folder).glob("*/*.txt"))
        ],
        seed_results=list(SEED_RESULTS.values()),
        # An optional benchmark result drawn by the report: a new run re-renders it.
        learning_curve=(
            [config["report"]["learning_curve"]]
            if config["report"]["learning_curve"]
            else []
        ),
    output:
        html=report(
            plan.report_path(), caption="../report/report.rst", category="Report"
        ),
        notebook="results/report.ipynb",
        figures=report(
            directory(plan.figures_path()),
            patterns=["{figure}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
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
        references=REFERENCE_CURVES,
        jobs={rule: len(paths) for rule, paths in BENCHMARKS.items()},
        tuning=plan.report_tuning_files(config),
        seed_results=SEED_RESULTS,
        seed_studies=plan.seed_studies(config),
    script:
        "../scripts/render_report.py"
