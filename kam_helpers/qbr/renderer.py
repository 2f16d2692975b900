"""Altair charts in a Jupyter kernel that imports kam_helpers: drawn offline in every front end, in the workspace's
theme.

Altair's default renderer writes HTML whose script loads Vega from a CDN: blank offline. Here every Altair chart
the kernel displays (the analyst's own ``alt.Chart(...)`` too) goes out as

- Vega-Lite (``application/vnd.vegalite.v5+json``), which JupyterLab's built-in Vega renderer draws, as do the
  Voilà pages (the workspace's template serves the same renderer) and VS Code's notebook renderers;
- SVG rendered in the kernel by vl-convert with no network access, which nbconvert's HTML (``jupyter nbconvert
  --to html``) and any front end without a Vega renderer show.

Nothing is imported for it until the first chart is displayed (IPython's printer for Altair's chart class,
registered by name), so ``import kam_helpers`` stays cheap; outside a kernel (the ``kam`` CLI, batch workers)
:func:`set_up_kernel` does nothing. A renderer the analyst enables (``alt.renderers.enable("mimetype")``) takes
over; ``alt.renderers.enable("default")`` gives the charts back to this one.
"""

from __future__ import annotations

import sys
from typing import Any

# Altair's chart classes all derive from this one; IPython resolves a printer registered by name on first use.
ALTAIR_CHART_CLASS = ("altair.vegalite.v5.api", "TopLevelMixin")


def vegalite_mime() -> str:
    """The Vega-Lite mimetype of the installed Altair: 'application/vnd.vegalite.v5+json'."""
    import altair as alt

    return f"application/vnd.vegalite.v{alt.SCHEMA_VERSION.lstrip('v').split('.')[0]}+json"


def chart_bundle(spec: dict, svg: str | None, title: str) -> dict[str, Any]:
    """A Vega-Lite spec, its SVG (None: left out) and a title → the output's mime bundle."""
    bundle: dict[str, Any] = {vegalite_mime(): spec, "text/plain": f"<chart: {title}>"}
    if svg is not None:
        bundle["image/svg+xml"] = svg
    return bundle


def display_chart(chart: Any) -> Any:
    """IPython's printer for Altair charts: the chart's mime bundle (Vega-Lite in the workspace's theme and its
    SVG) while Altair's renderer is 'default', else what the renderer the analyst chose makes."""
    import altair as alt

    theme = alt.theme.active
    from kam_helpers.qbr import charts  # registers and enables the theme 'kam' on first import

    if theme != "default":  # a theme the analyst chose stays theirs
        alt.theme.enable(theme)
    if alt.renderers.active != "default":
        return chart._repr_mimebundle_()
    spec = chart.to_dict()  # validated, as Altair's own display does: a wrong encoding says what is wrong
    try:
        svg: str | None = charts.spec_to_svg(spec)
    except Exception:  # e.g. data from a URL, which vl-convert may not fetch: the Vega-Lite alone draws it
        svg = None
    title = spec.get("title") if isinstance(spec.get("title"), str) else type(chart).__name__
    return chart_bundle(spec, svg, str(title))


def _shell() -> Any:
    """The running IPython shell, or None (without importing IPython)."""
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


def set_up_kernel() -> bool:
    """In a running IPython (a Jupyter kernel): registers :func:`display_chart` for every Altair chart. Elsewhere
    nothing. → whether it set up a kernel."""
    shell = _shell()
    if shell is None:
        return False
    shell.display_formatter.mimebundle_formatter.for_type_by_name(*ALTAIR_CHART_CLASS, display_chart)
    return True
