"""The HTML report: a story told in sections, each one a module that returns what it shows.

`results.Run` reads the run once (every summary, model card, history and benchmark, from the
manifest plan writes); `key_results`, `rate_distortion`, `papers`, `models` and `the_run` each
turn it into `page.Section`s of text, tables and figures, grouped by the question they answer;
the notebook (workflow/notebooks/report.py) is their table of contents, and `page` shows them:
key results first, a contents list with links, sections without data left out and named at the
end, long tables folded. `render_report` executes the notebook and writes one self-contained file.
"""

from __future__ import annotations

from pathlib import Path


def render_report(
    notebook: str | Path, html_path: str | Path, executed_path: str | Path, manifest: str
) -> None:
    """Execute the jupytext notebook with papermill (its one parameter: the manifest) and write
    standalone HTML, images embedded.

    A failing cell raises papermill's PapermillExecutionError, which carries the cell's error, so
    the Snakemake job fails with it in the log and no HTML is left behind.
    """
    import json

    import jupytext
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    from aecompress.runtime import job_output

    source = jupytext.read(notebook)
    source.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with job_output(executed_path) as executed_tmp:
        input_path = Path(executed_tmp).with_suffix(".source.ipynb")
        nbformat.write(source, input_path)
        papermill.execute_notebook(
            str(input_path), str(executed_tmp), parameters={"manifest": str(manifest)}, kernel_name="python3",
            progress_bar=False, log_output=True, cwd=str(Path.cwd()),
        )  # fmt: skip
        input_path.unlink()
    executed = nbformat.read(executed_path, as_version=4)
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
        template_file=str(Path(__file__).parent.parent / "templates/standalone.html.j2"),
    )  # fmt: skip
    exporter.embed_images = True
    title = json.loads(Path(manifest).read_text()).get("title") or "aecompress report"
    body, _ = exporter.from_notebook_node(executed, resources={"metadata": {"name": title}})
    with job_output(html_path) as tmp:
        Path(tmp).write_text(body, encoding="utf-8")
