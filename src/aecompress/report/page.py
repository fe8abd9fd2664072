"""How the report shows its sections: a contents list with links first, each section's blocks in
order, long tables folded (`<details>`), and the sections without data named in one line at the end.

A section module returns `Section`s built from `Text`, `Table` and `Plot` blocks without showing
anything, so the contents can leave out what is empty before anything is drawn. Figures are
matplotlib `Figure`s made without pyplot: nothing appears until `show` places them.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

# Tables longer than this are folded under a summary line (the first screen stays readable).
FOLD_ROWS = 12


@dataclass
class Text:
    markdown: str


@dataclass
class Table:
    frame: pd.DataFrame
    caption: str = ""
    fold: bool | None = None  # None: fold when longer than FOLD_ROWS
    html: bool = False  # `frame` is already HTML (a str), e.g. with its own float format


@dataclass
class Plot:
    figure: Any  # a matplotlib.figure.Figure
    name: str  # its PNG's file name in the figures folder
    caption: str


@dataclass
class Section:
    """A titled part of the report; `subsections` are shown under it, one level down."""

    title: str
    intro: str = ""
    blocks: list[Text | Table | Plot] = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)
    # Why it is empty when it is, e.g. "no tuning study (config `tuning`)": listed at the end.
    missing: str = ""

    @property
    def empty(self) -> bool:
        return not self.blocks and all(s.empty for s in self.subsections)

    @property
    def anchor(self) -> str:
        return slug(self.title)

    def add(self, *blocks: Text | Table | Plot) -> Section:
        self.blocks.extend(blocks)
        return self


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def figure(width: float, height: float, layout: str | None = None):
    """A figure that pyplot does not track: shown only where its section is."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=90, layout=layout)


def contents(groups: list[Section]) -> str:
    """The table of contents as HTML, short enough to leave the first screen to the key results:
    one line of links to the groups, and every subsection's link folded beneath it."""
    shown = [group for group in groups if not group.empty]
    line = " &middot; ".join(f'<a href="#{g.anchor}">{html.escape(g.title)}</a>' for g in shown)
    items = []
    for group in shown:
        children = "".join(
            f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>'
            for s in group.subsections
            if not s.empty
        )
        inner = f"<ul>{children}</ul>" if children else ""
        items.append(f'<li><a href="#{group.anchor}">{html.escape(group.title)}</a>{inner}</li>')
    every = f"<details><summary>every section</summary><ul>{''.join(items)}</ul></details>"
    return f'<nav class="contents"><strong>Contents:</strong> {line}{every}</nav>'


def omitted(groups: list[Section]) -> list[Section]:
    """The sections (at any level) left out for want of data, in report order."""
    out = []
    for group in groups:
        if group.empty:
            out.append(group)
        else:
            out.extend(s for s in group.subsections if s.empty)
    return out


def show(section: Section, figures_dir: str | Path | None, level: int = 2) -> None:
    """Display a section in the running notebook (nothing when it is empty)."""
    from IPython.display import HTML, Markdown, display

    if section.empty:
        return
    display(HTML(f'<h{level} id="{section.anchor}">{html.escape(section.title)}</h{level}>'))
    if section.intro:
        display(Markdown(section.intro))
    for block in section.blocks:
        if isinstance(block, Text):
            display(Markdown(block.markdown))
        elif isinstance(block, Table):
            display(HTML(_table_html(block)))
        else:
            _show_plot(block, figures_dir)
    for subsection in section.subsections:
        show(subsection, figures_dir, level + 1)


def show_omitted(groups: list[Section]) -> None:
    from IPython.display import Markdown, display

    left_out = omitted(groups)
    if left_out:
        names = "; ".join(f"{s.title} ({s.missing})" if s.missing else s.title for s in left_out)
        display(Markdown(f"*Left out, no data in this run:* {names}."))


def _table_html(block: Table) -> str:
    body = block.frame if block.html else block.frame.to_html(border=0, na_rep="")
    rows = body.count("<tr") - 1 if block.html else len(block.frame)
    caption = f"<p><em>{html.escape(block.caption)}</em></p>" if block.caption else ""
    fold = block.fold if block.fold is not None else rows > FOLD_ROWS
    if not fold:
        return caption + body
    summary = html.escape(block.caption or "table") + f" ({rows} rows)"
    return f"<details><summary>{summary}</summary>{body}</details>"


def _show_plot(block: Plot, figures_dir: str | Path | None) -> None:
    from IPython.display import Markdown, display

    if figures_dir is not None:
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", block.name).strip("-")
        block.figure.savefig(Path(figures_dir) / f"{name}.png", bbox_inches="tight")
    display(block.figure)
    display(Markdown(f"*Figure: {block.caption}*"))
