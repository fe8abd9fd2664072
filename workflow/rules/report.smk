# What the report reads, by path: written first, so the notebook has one parameter and a change
# of anything listed (a rate point, a benchmark, the config) re-renders the report.
rule report_manifest:
    output:
        plan.report_manifest_path(),
    log:
        "logs/report_manifest.log",
    conda:
        ENV
    params:
        manifest=plan.report_manifest(config, REFERENCE_CURVES, SEED_RESULTS),
    script:
        "../scripts/write_report_manifest.py"


rule report:
    input:
        notebook=workflow.source_path("../notebooks/report.py"),
        manifest=plan.report_manifest_path(),
        datasets=[plan.prepared_dataset_path(d) for d in DATASETS],
        # The evaluation jobs' folders (the rate points' files inside are named in the manifest).
        evaluations=[plan.evaluation_dir(job) for job in EVALUATION_JOBS],
        targets=[plan.targets_path(curve) for curve in TARGET_JOBS],
        models=[
            path
            for files in plan.report_variant_files(list(EVALUATIONS.values()))
            for key, path in files.items()
            if key in ("card", "history")
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
        bd_rates=plan.bd_rates_path(),
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
    script:
        "../scripts/render_report.py"
