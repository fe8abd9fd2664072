# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
# Filled in by the `report` rule (papermill): the manifest plan writes (results/report/manifest.json).
manifest = "results/report/manifest.json"

# %%
# The table of contents of the report: each line one group of sections (aecompress.report).
from pathlib import Path

import matplotlib.pyplot as plt  # noqa: F401 (activates the inline backend that displays figures)
import pandas as pd
from IPython.display import HTML, Markdown, display

from aecompress.report import key_results, models, page, papers, rate_distortion, the_run
from aecompress.report.results import Run

pd.set_option("display.precision", 4)
pd.set_option("display.max_colwidth", None)
run = Run.load(manifest)
figures = run.manifest["figures"]
Path(figures).mkdir(parents=True, exist_ok=True)
groups = [
    key_results.section(run),  # which method wins on each test set, and by how much
    rate_distortion.section(run),  # every method on one rate axis; bits, headers, equal-rate images
    papers.section(run),  # each seed study's numbers and measurements, next to this run's
    models.section(run),  # what the models saw and where their code goes
    the_run.section(run),  # what ran, on which data, how long; every number; configuration
]
display(Markdown(f"# {run.manifest['title']}"))
display(HTML(page.contents(groups)))

# %%
for group in groups:
    page.show(group, figures)

# %%
page.show_omitted(groups)

# %%
# The BD-rate table with its 95% intervals, as a file for other tools (results/report/bd_rates.csv).
from aecompress.runtime import job_output  # noqa: E402

if run.manifest.get("bd_rates"):
    with job_output(run.manifest["bd_rates"]) as tmp:
        run.bd_table().to_csv(tmp, index=False)
