def report_variants():
    return [
        {
            "id": v,
            "card": plan.model_dir(v) + "/model.json",
            "history": plan.model_dir(v) + "/history.csv",
            "summary": plan.evaluation_dir(v) + "/summary.json",
            "per_image": plan.evaluation_dir(v) + "/per_image.csv",
            "samples": plan.evaluation_dir(v) + "/samples.npz",
        }
        for v in VARIANTS
    ]


rule report:
    input:
        notebook=workflow.source_path("../notebooks/report.py"),
        datasets=[plan.prepared_dataset_path(d) for d in DATASETS],
        variant_files=[path for v in report_variants() for k, path in v.items() if k != "id"],
    output:
        html=plan.report_path(),
        notebook="results/report.ipynb",
    params:
        title=config["report"]["title"],
        config=config,
        datasets={d: plan.prepared_dataset_path(d) for d in DATASETS},
        variants=report_variants(),
        benchmarks=[f"results/benchmarks/prepare_dataset/{d}.tsv" for d in DATASETS]
        + [f"results/benchmarks/{rule}/{v}.tsv" for rule in ("train", "evaluate") for v in VARIANTS],
        jobs={
            "prepare_dataset": len(DATASETS),
            "train": len(VARIANTS),
            "evaluate": len(VARIANTS),
            "report": 1,
        },
    log:
        "logs/report.log",
    benchmark:
        "results/benchmarks/report/report.tsv"
    threads: RESOURCES["report"]["threads"]
    resources:
        mem_mb=RESOURCES["report"]["mem_mb"],
        runtime=RESOURCES["report"]["runtime"],
    conda:
        ENV
    script:
        "../scripts/render_report.py"
