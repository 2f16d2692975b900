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

from kam_helpers.core.errors import (
    ConfigError,
    DataValidationError,
    KamError,
    ParameterError,
    UnknownAccountError,
    WorkspaceError,
)

MAX_PARAM_CHARS = 64  # longer query values are ignored (ids and quarters are short)
# Set to "1" in a pool kernel that a visit took before it started (kernel_pools): warming it up would only delay
# that visit, whose own page pays the same first-call costs once.
VISIT_WAITING = "KAM_VISIT_WAITING"


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
    """Pay the one-time costs of a QBR page in a preheated kernel before its visitor arrives: a first report of
    one account, whose lazy imports and first calls cost ≈1.3 s more than any later one, with its charts as the
    page sends them (Vega-Lite: :class:`PageReport`), and statsmodels' first fits. Best effort: the page itself
    reports real problems."""
    from kam_helpers.qbr.outline import part
    from kam_helpers.qbr.report import QbrReport

    try:
        page = PageReport(QbrReport.load("", "", workspace))
        for name in (chart.name for key in ("volume", "service") for chart in part(key).charts):
            page.chart(name)._repr_mimebundle_()
        # statsmodels' first fits in a process cost ~1 s each: take them here, not on a visitor's first switch
        from kam_helpers.analyses import forecast
        from kam_helpers.data.store import Workspace

        with Workspace.open(workspace or None) as ws:
            for account_id in ws.account_ids()[1:3]:
                forecast.forecast(ws.account_data(account_id), page.scorecard.quarter)
    except Exception:
        pass


def page_params(warm: Callable[[], Any] | None = warm_up, **defaults: str) -> dict[str, str]:
    """The notebook's parameters, overridden by the Voilà request's ``?key=value`` for the same keys.

    In a preheated Voilà kernel: runs ``warm`` first (default :func:`warm_up`, for the QBR) unless a visit
    already waits for this kernel (:data:`VISIT_WAITING`), then blocks in ``voila.utils.get_query_string()``
    until the page request arrives. In a Voilà kernel started for the request: reads QUERY_STRING at once.
    Elsewhere (papermill, JupyterLab): returns ``defaults``.
    """
    if not in_voila():
        return dict(defaults)
    if preheated():
        if warm is not None and os.environ.get(VISIT_WAITING) != "1":
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
    if isinstance(exc, ParameterError):  # names the parameter and what the workspace holds
        what_exists = html.escape(str(exc).split(": ", 1)[-1])
        if exc.parameter == "account_id":
            title, text = "Unknown account", f"There is no account <b>{who}</b> in this workspace: {what_exists}."
        else:
            title, text = "No report for this quarter", html.escape(str(exc)[:1].upper() + str(exc)[1:]) + "."
    elif isinstance(exc, UnknownAccountError):
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

        return HTML(self._repr_html_())

    def _repr_html_(self) -> str:  # displayed in place of an app (the book of business)
        from kam_helpers.qbr.styles import styled

        return styled(self.message_html)

    def _nothing(self, *args: Any, **kwargs: Any) -> None:
        return None

    # the QbrReport methods qbr.ipynb calls after its header (a test checks the notebook calls no other)
    health = last_qbr = section = kpi_cards = chart = charts = action_items = scorecard_table = save_headline = _nothing


def report_or_notice(
    load: Callable[..., Any], account_id: str, quarter: str, workspace: str | Path = "", *more: Any
) -> Any:
    """``load(account_id, quarter, workspace, *more)``; under Voilà wrapped in a :class:`PageReport`, or on a
    KamError a :class:`PageNotice` instead. Outside Voilà the report itself, and an error propagates (papermill
    records the failing cell)."""
    try:
        report = load(account_id, quarter, workspace, *more)
    except KamError as exc:
        if not in_voila():
            raise
        return PageNotice(notice_html(exc, account_id, quarter))
    return PageReport(report) if in_voila() else report


class PageReport:
    """A QBR on a Voilà page: its charts go out as Vega-Lite only, which the browser draws. The SVG copy that the
    exported report needs is not made (≈40 ms and ≈25 KB of page per chart). Everything else is the report's."""

    def __init__(self, report: Any) -> None:
        self.report = report

    def __getattr__(self, name: str) -> Any:
        return getattr(self.report, name)

    def chart(self, name: str) -> Any:
        """Chart ``name`` as Vega-Lite, or the report's note saying why there is none."""
        from kam_helpers.qbr.outline import chart_title
        from kam_helpers.qbr.report import ChartView

        chart = self.report.chart_object(name)
        if chart is None:
            return self.report.chart(name)  # a note: no chart, so no SVG is made either
        bundle = ChartView(chart, "", chart_title(name))._repr_mimebundle_()
        return _MimeBundle({mime: data for mime, data in bundle.items() if mime != "image/svg+xml"})

    def charts(self, key: str) -> None:
        """Display the charts of the outline's part ``key``, as the report's ``charts`` does."""
        from IPython.display import display

        from kam_helpers.qbr.outline import part

        for chart in part(key).charts:
            display(self.chart(chart.name))


class _MimeBundle:
    """An output given as its mime bundle."""

    def __init__(self, bundle: dict[str, Any]) -> None:
        self.bundle = bundle

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, Any]:
        return self.bundle
