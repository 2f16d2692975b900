"""Executed notebook → files a person opens: the offline QBR HTML page (nbconvert, code hidden)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from kam_helpers.core.paths import TEMPLATES_DIR
from kam_helpers.core.safe_html import REPORT_CSP

if TYPE_CHECKING:
    import nbformat
    from nbconvert import HTMLExporter

REPORT_CSS = TEMPLATES_DIR / "report.css"


@functools.lru_cache(maxsize=1)
def exporter() -> HTMLExporter:
    # One exporter per process: building it costs far more than an export. Imported here so that the batch's
    # driver process, which only writes files, does not pay for nbconvert.
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="kam_report",
        extra_template_basedirs=[str(TEMPLATES_DIR / "nbconvert")],
    )
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.embed_images = True
    return exporter


def report_css() -> str:
    """The stylesheet shared by the HTML report and the Voilà apps."""
    return REPORT_CSS.read_text(encoding="utf-8")


def notebook_to_html(nb: nbformat.NotebookNode, title: str, footer: str = "") -> str:
    """Executed notebook → self-contained HTML (inline styles and SVG charts, no script or font from a network;
    the footer text is escaped and a Content-Security-Policy, REPORT_CSP, lets no script run)."""
    import nbformat

    nb = nbformat.from_dict(nb)
    nb.metadata["title"] = title
    nb.metadata.pop("widgets", None)
    body, _ = exporter().from_notebook_node(
        nb,
        resources={"kam_css": report_css(), "kam_footer": footer, "kam_csp": REPORT_CSP, "metadata": {"name": title}},
    )
    return body
