"""The Voilà page side, run in the app's kernel: the page's parameters, a preheated kernel's warm-up, and the
notice a page shows instead of a report it cannot load. (The server that launches the apps is
:mod:`kam_helpers.apps.server`; nothing here imports it.)

A preheated kernel runs its notebook *before* anyone asks for the page, so it cannot know the URL's
``?account_id=&quarter=`` at that moment. :func:`page_params` first warms the kernel (imports, the store, the
chart renderer), then waits with Voilà's documented ``voila.utils.get_query_string()``, which blocks until the
request that takes this kernel arrives and hands over its query string. The cells after it run with the
request's parameters. Under papermill or JupyterLab it returns the notebook's parameters unchanged and prints
nothing.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from kam_helpers.core.errors import ConfigError, DataValidationError, KamError, UnknownAccountError, WorkspaceError

MAX_PARAM_CHARS = 64  # longer query values are ignored (ids and quarters are short)


def in_voila(environ: Mapping[str, str] | None = None) -> bool:
    """True in a kernel that Voilà started (preheated or not): Voilà sets VOILA_SERVER_URL in both."""
    env = os.environ if environ is None else environ
    return "VOILA_SERVER_URL" in env or "VOILA_PREHEAT" in env


def preheated(environ: Mapping[str, str] | None = None) -> bool:
    """True in a kernel of Voilà's preheated pool (it runs the notebook before a request takes it)."""
    env = os.environ if environ is None else environ
    return env.get("VOILA_PREHEAT") == "True"


def parse_params(query: str | None, defaults: Mapping[str, str]) -> dict[str, str]:
    """A query string → the notebook's parameters: each key of ``defaults`` takes the query's first
    non-empty value (trimmed, at most MAX_PARAM_CHARS characters); other keys are ignored.

    >>> parse_params("account_id=ACC-002&quarter=2026Q3&x=1", {"account_id": "", "quarter": ""})
    {'account_id': 'ACC-002', 'quarter': '2026Q3'}
    """
    found = parse_qs(query or "", keep_blank_values=False)
    out = dict(defaults)
    for key in defaults:
        values = [v.strip() for v in found.get(key, []) if v.strip()]
        if values and len(values[0]) <= MAX_PARAM_CHARS:
            out[key] = values[0]
    return out


def warm_up(workspace: str | Path = "") -> None:
    """Pay the one-time costs of a QBR in a preheated kernel before its visitor arrives: the chart renderer's
    first SVG (≈0.5 s) and a first report of one account, whose lazy imports and first calls cost ≈1.3 s more
    than any later one. Best effort: the page itself reports real problems."""
    import altair as alt
    import pandas as pd

    from kam_helpers.qbr import charts
    from kam_helpers.qbr.report import QbrReport

    charts.to_svg(alt.Chart(pd.DataFrame({"x": [1, 2]})).mark_bar().encode(x="x:Q"))
    try:
        report = QbrReport.load("", "", workspace)
        report.chart_svg("otd_vs_sla")
        # statsmodels' first fits in a process cost ~1 s each: take them here, not on a visitor's first switch
        from kam_helpers.analyses import forecast
        from kam_helpers.data.store import Workspace

        with Workspace.open(workspace or None) as ws:
            for account_id in ws.account_ids()[1:3]:
                forecast.forecast(ws.account_data(account_id), report.scorecard.quarter)
    except Exception:
        pass


def page_params(warm: Callable[[], Any] | None = warm_up, **defaults: str) -> dict[str, str]:
    """The notebook's parameters, overridden by the Voilà request's ``?key=value`` for the same keys.

    In a preheated Voilà kernel: runs ``warm`` first (default :func:`warm_up`, for the QBR), then blocks in
    ``voila.utils.get_query_string()`` until the page request arrives. In a Voilà kernel started for the
    request: reads QUERY_STRING at once. Elsewhere (papermill, JupyterLab): returns ``defaults``.
    """
    if not in_voila():
        return dict(defaults)
    if preheated():
        if warm is not None:
            try:
                if warm is warm_up:
                    warm_up(os.environ.get("KAM_WORKSPACE", ""))
                else:
                    warm()
            except Exception:
                pass
        from voila.utils import get_query_string

        query = get_query_string()
    else:
        query = os.environ.get("QUERY_STRING", "")
    return parse_params(query, defaults)


def app_url(notebook: str, **params: str) -> str:
    """A link from one app to another, relative to the server root: voila/render/qbr.ipynb?account_id=…"""
    query = "&".join(f"{quote(k)}={quote(str(v))}" for k, v in params.items() if v)
    return f"/voila/render/{notebook}" + (f"?{query}" if query else "")


def notice_html(exc: BaseException, account_id: str = "", quarter: str = "") -> str:
    """A KamError → the on-page message a client may see: what is wrong and where to go, no traceback and
    no server paths."""
    who = html.escape(account_id or "the account")
    if isinstance(exc, UnknownAccountError):
        title, text = "Unknown account", f"There is no account <b>{who}</b> in this workspace."
    elif isinstance(exc, ConfigError):
        title, text = (
            "Not a quarter",
            f"{html.escape(str(exc).split(': ', 1)[-1])}: <b>{html.escape(quarter)}</b> is not one.",
        )
    elif isinstance(exc, DataValidationError):
        title = "Data problems"
        text = (
            f"The report of <b>{who}</b> cannot be shown: {len(exc.problems)} row(s) of its data could not be "
            "loaded. `kam validate` lists them for the analyst."
        )
    elif isinstance(exc, WorkspaceError):
        title, text = "No workspace", "The workspace store could not be opened. Run `kam sample` or `kam import`."
    else:
        title, text = "Not available", html.escape(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return (
        f'<header class="kam-header"><div class="kam-eyebrow">Quarterly business review</div><h1>{title}</h1></header>'
        f'<div class="kam-error kam-notice">{text} '
        f'<a href="/voila/render/portfolio.ipynb">Open the book of business</a> to pick an account.</div>'
    )


class PageNotice:
    """Stands in for a report that could not be loaded on a Voilà page: ``header()`` shows the message, the
    report's other display methods show nothing, so the notebook's later cells render empty instead of failing.
    Any other name is an AttributeError, as on the report: a misspelt method fails here too."""

    def __init__(self, message_html: str) -> None:
        self.message_html = message_html

    def header(self) -> Any:
        from IPython.display import HTML

        return HTML(self.message_html)

    def _nothing(self, *args: Any, **kwargs: Any) -> None:
        return None

    # the QbrReport methods qbr.ipynb calls after its header (a test checks the notebook calls no other)
    health = last_qbr = section = kpi_cards = chart = charts = action_items = scorecard_table = save_headline = _nothing


def report_or_notice(
    load: Callable[..., Any], account_id: str, quarter: str, workspace: str | Path = "", *more: Any
) -> Any:
    """``load(account_id, quarter, workspace, *more)``; on a KamError under Voilà a :class:`PageNotice` instead.
    Outside Voilà the error propagates (papermill records the failing cell)."""
    try:
        return load(account_id, quarter, workspace, *more)
    except KamError as exc:
        if not in_voila():
            raise
        return PageNotice(notice_html(exc, account_id, quarter))
