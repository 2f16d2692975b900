"""The account explorer (a Voilà app, ``notebooks/account_explorer.ipynb``): pick an account and a quarter and
see its KPI cards, charts, analyses, drill-down and downloads.

Every value a widget sends back is matched against a fixed set of choices (account ids, quarters, filter
names, sort columns) or used as plain text in a substring match: nothing a page sends is evaluated. Charts are
drawn by Voilà's bundled Vega renderer: each chart sits in an ``ipywidgets.Output`` whose outputs are replaced
in one state update when the account or quarter changes, so the page redraws in place.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import ipywidgets as W
import pandas as pd

from kam_helpers.analyses import health as health_mod
from kam_helpers.analyses import renewal as renewal_mod
from kam_helpers.apps.downloads import activity_frame, audit_xlsx_bytes, file_link, to_csv_bytes, to_xlsx_bytes
from kam_helpers.apps.drilldown import SHOW_CHOICES, SORT_CHOICES, exceptions_html, exceptions_table, filter_exceptions
from kam_helpers.apps.page import page_params
from kam_helpers.apps.panels import (
    QUARTERS_SHOWN,
    WHAT_IF_MAX,
    WHAT_IF_MIN,
    WHAT_IF_STEP,
    Analyses,
    audit_html,
    cards_html,
    compute_analyses,
    forecast_html,
    header_html,
    health_html,
    loading_note,
    missing_note,
    renewal_html,
    root_cause_html,
    what_if_html,
)
from kam_helpers.core.errors import NoDataError
from kam_helpers.core.formatting import fmt_quarter
from kam_helpers.core.quarters import Quarter
from kam_helpers.data import rules
from kam_helpers.data.store import Workspace
from kam_helpers.metrics import scorecard
from kam_helpers.metrics.scorecard import Scorecard
from kam_helpers.qbr import charts
from kam_helpers.qbr.outline import chart_title

EXPLORER_CHARTS = ("volume_revenue_trend", "otd_vs_sla", "worst_lanes", "cases_by_category")
VEGALITE_MIME = f"application/vnd.vegalite.v{charts.alt.SCHEMA_VERSION.lstrip('v').split('.')[0]}+json"
# SVG (crisp, its text readable and testable) and no "…" menu, whose items link to an online editor
EMBED_OPTIONS = {"renderer": "svg", "actions": False}
CACHE_SIZE = 16  # (account, quarter) views kept, so switching back is instant


def chart_output(chart: charts.AnyChart | None, title: str) -> dict:
    """A chart → one Output-widget output: Vega-Lite for the page's renderer, or a note when there is no data."""
    if chart is None:
        note = f'<div class="kam-note">{html.escape(title)}: no data for this selection.</div>'
        return {"output_type": "display_data", "data": {"text/html": note, "text/plain": title}, "metadata": {}}
    spec = {**charts.spec(chart), "usermeta": {"embedOptions": EMBED_OPTIONS}}
    return {
        "output_type": "display_data",
        "metadata": {},
        "data": {VEGALITE_MIME: spec, "text/plain": f"<chart: {title}>"},
    }


def quarters_of(last: Quarter, first: Quarter | None = None, n: int = QUARTERS_SHOWN) -> list[Quarter]:
    """The last ``n`` quarters up to ``last`` (not before ``first``), newest first."""
    out = [last.shift(-i) for i in range(n)]
    return [q for q in out if first is None or q >= first]


class AccountSource:
    """Reads one account at a time from the store, keeping the last few accounts and scorecards in memory."""

    def __init__(self, workspace: str | Path = "") -> None:
        with Workspace.open(workspace or None) as ws:
            self.folder = ws.folder
            accounts = ws.accounts()
            self.last_quarter = ws.last_complete_quarter()
            first = (
                ws.query(f"SELECT min({rules.ship_day_sql()}) AS d FROM shipments WHERE {rules.active_sql()}")
                if "shipments" in ws.tables
                else pd.DataFrame({"d": [None]})
            )
        self.accounts: dict[str, str] = dict(
            zip(accounts["account_id"].astype(str), accounts["name"].astype(str), strict=False)
        )
        d0 = first["d"].iloc[0]
        self.first_quarter = Quarter.of(pd.Timestamp(d0).date()) if d0 is not None and not pd.isna(d0) else None
        self._data: OrderedDict[str, Any] = OrderedDict()
        self._scorecards: OrderedDict[tuple[str, Quarter], Scorecard] = OrderedDict()

    def quarters(self) -> list[Quarter]:
        return quarters_of(self.last_quarter, self.first_quarter)

    def data(self, account_id: str) -> Any:
        """account_id (one of ``accounts``) → its AccountData (cached)."""
        if account_id not in self._data:
            with Workspace.open(self.folder) as ws:
                self._data[account_id] = ws.account_data(account_id)
            while len(self._data) > CACHE_SIZE:
                self._data.popitem(last=False)
        self._data.move_to_end(account_id)
        return self._data[account_id]

    def scorecard(self, account_id: str, quarter: Quarter) -> Scorecard:
        key = (account_id, quarter)
        if key not in self._scorecards:
            self._scorecards[key] = scorecard(self.data(account_id), quarter)
            while len(self._scorecards) > CACHE_SIZE:
                self._scorecards.popitem(last=False)
        return self._scorecards[key]


def _after_reply(fn: Callable[[], None]) -> None:
    """Run ``fn`` once the kernel has answered the current widget message, when a kernel's event loop runs, so
    the KPI cards and charts reach the page before the slower analysis panels; at once otherwise (tests)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        fn()
        return
    loop.call_soon(fn)


class AccountExplorer:
    """Pick an account and a quarter: header, KPI cards, the health score, four charts, the forecast with its
    accuracy, renewal with a rate what-if slider, the invoice audit (CSV / Excel), a drill-down of exceptions
    and the shipment activity as CSV or Excel. ``select(account_id, quarter)`` is what the dropdowns call.
    Cost and margin appear: this is the KAM's internal view."""

    def __init__(self, workspace: str | Path = "", account_id: str = "", quarter: str = "") -> None:
        self.source = AccountSource(workspace)
        ids = list(self.source.accounts)
        if not ids:
            raise ValueError("the workspace holds no accounts")
        quarters = self.source.quarters()
        self.account = W.Dropdown(
            options=[(f"{name} ({aid})", aid) for aid, name in self.source.accounts.items()],
            value=ids[0],
            description="Account",
            layout=W.Layout(width="360px"),
        )
        self.quarter = W.Dropdown(
            options=[(fmt_quarter(q), str(q)) for q in quarters],
            value=str(quarters[0]),
            description="Quarter",
            layout=W.Layout(width="220px"),
        )
        self.start = W.DatePicker(description="From", layout=W.Layout(width="230px"))
        self.end = W.DatePicker(description="To", layout=W.Layout(width="230px"))
        self.show = W.Dropdown(
            options=list(SHOW_CHOICES), value="all", description="Show", layout=W.Layout(width="380px")
        )
        self.search = W.Text(
            placeholder="lane, carrier or reference",
            description="Search",
            layout=W.Layout(width="300px"),
            continuous_update=False,
        )
        self.sort = W.Dropdown(
            options=list(SORT_CHOICES), value="date", description="Sort by", layout=W.Layout(width="220px")
        )
        self.descending = W.ToggleButton(
            value=True, description="Newest / largest first", layout=W.Layout(width="190px")
        )
        self.csv_button = W.Button(description="Shipments as CSV", button_style="")
        self.xlsx_button = W.Button(description="Shipments as Excel", button_style="")
        self.download = W.HTML()
        self.header = W.HTML()
        self.cards = W.HTML()
        self.charts = {name: W.Output(layout=W.Layout(min_height="120px")) for name in EXPLORER_CHARTS}
        self.table = W.HTML()
        self.status = W.HTML()
        # account intelligence (internal): health, forecast, renewal with the rate what-if, root causes, invoice audit
        self.health = W.HTML()
        self.forecast = W.HTML()
        self.renewal = W.HTML()
        self.rate = W.FloatSlider(
            value=0.0,
            min=WHAT_IF_MIN,
            max=WHAT_IF_MAX,
            step=WHAT_IF_STEP,
            description="Rate change %",
            readout_format="+.1f",
            continuous_update=False,
            style={"description_width": "110px"},
            layout=W.Layout(width="460px"),
        )
        self.what_if = W.HTML()
        self.audit = W.HTML()
        self.root_cause = W.HTML()
        self.audit_csv_button = W.Button(description="Audit as CSV")
        self.audit_xlsx_button = W.Button(description="Audit as Excel")
        self.audit_download = W.HTML()
        self._analyses: OrderedDict[tuple[str, str], Analyses] = OrderedDict()
        self._what_ifs: OrderedDict[tuple[str, str, float], Any] = OrderedDict()
        for widget, cls in (
            (self.health, "kam-x-health"),
            (self.forecast, "kam-x-forecast-box"),
            (self.renewal, "kam-x-renewal"),
            (self.what_if, "kam-x-whatif-box"),
            (self.audit, "kam-x-audit-box"),
            (self.audit_download, "kam-x-download"),
            (self.rate, "kam-x-rate"),
        ):
            widget.add_class(cls)
        for widget, cls in (
            (self.header, "kam-x-header"),
            (self.cards, "kam-x-cards"),
            (self.table, "kam-x-table"),
            (self.download, "kam-x-download"),
        ):
            widget.add_class(cls)
        for name, out in self.charts.items():
            out.add_class("kam-x-chart")
            out.add_class(f"kam-chart-{name}")
        self.view = self._layout()
        self._exceptions: pd.DataFrame | None = None
        self.select(account_id or ids[0], quarter or str(quarters[0]))
        self.account.observe(self._on_change, names="value")
        self.quarter.observe(self._on_change, names="value")
        for w in (self.start, self.end, self.show, self.search, self.sort, self.descending):
            w.observe(self._on_filter, names="value")
        self.csv_button.on_click(lambda _: self.prepare_download("csv"))
        self.xlsx_button.on_click(lambda _: self.prepare_download("xlsx"))
        self.rate.observe(self._on_rate, names="value")
        self.audit_csv_button.on_click(lambda _: self.prepare_audit_download("csv"))
        self.audit_xlsx_button.on_click(lambda _: self.prepare_audit_download("xlsx"))

    @classmethod
    def for_page(cls, account_id: str = "", quarter: str = "", workspace: str = "") -> AccountExplorer:
        """The explorer as a Voilà page: built (and warmed) before the request in a preheated kernel, then
        switched to the URL's ?account_id=&quarter= when they name a known account and quarter."""
        explorer = cls(workspace, account_id if account_id else "", quarter)
        params = page_params(warm=None, account_id=account_id, quarter=quarter)  # built above: already warm
        if (params["account_id"], params["quarter"]) != (account_id, quarter):
            explorer.select(params["account_id"] or explorer.account.value, params["quarter"] or explorer.quarter.value)
        return explorer

    # -- layout

    def _layout(self) -> W.Widget:
        def box(children: Iterable[W.Widget], cls: str, vertical: bool = False) -> W.Box:
            b = (W.VBox if vertical else W.HBox)(list(children))
            b.add_class(cls)
            return b

        controls = box([self.account, self.quarter], "kam-x-controls")
        grid = box(self.charts.values(), "kam-x-grid")
        filters = box([self.show, self.search, self.sort, self.descending], "kam-x-controls")
        dates = box([self.start, self.end, self.csv_button, self.xlsx_button], "kam-x-controls")
        drill_title = W.HTML("<h2>Exceptions: late or damaged shipments and open cases</h2>")

        def title(text: str) -> W.HTML:
            return W.HTML(f"<h2>{html.escape(text)}</h2>")

        audit_buttons = box([self.audit_csv_button, self.audit_xlsx_button], "kam-x-controls")
        return box(
            [
                self.header,
                controls,
                self.status,
                self.cards,
                title("Account health (internal)"),
                self.health,
                grid,
                title("Forecast: the next four quarters"),
                self.forecast,
                title("Renewal and rate what-if (internal)"),
                self.renewal,
                self.rate,
                self.what_if,
                title("Where late deliveries concentrate (internal)"),
                self.root_cause,
                title("Invoice audit against the rate card"),
                audit_buttons,
                self.audit_download,
                self.audit,
                drill_title,
                filters,
                dates,
                self.download,
                self.table,
            ],
            "kam-explorer",
            vertical=True,
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.view._repr_mimebundle_(**kwargs)

    # -- behaviour

    def select(self, account_id: str, quarter: str) -> None:
        """Show ``account_id`` for ``quarter``; unknown values are refused with a message on the page."""
        if account_id not in self.source.accounts:
            self.status.value = (
                f'<div class="kam-error">There is no account <b>{html.escape(account_id)}</b> in '
                "this workspace; showing the first account instead.</div>"
            )
            account_id = self.account.value
        elif quarter not in {v for _, v in self.quarter.options}:
            self.status.value = (
                f'<div class="kam-error"><b>{html.escape(quarter)}</b> is not one of the quarters '
                "in the data; showing the last complete quarter.</div>"
            )
            quarter = self.quarter.options[0][1]
        else:
            self.status.value = ""
        with self.account.hold_trait_notifications(), self.quarter.hold_trait_notifications():
            self._muted = True
            try:
                self.account.value, self.quarter.value = account_id, quarter
            finally:
                self._muted = False
        self._render()

    _muted = False

    def _on_change(self, change: Mapping[str, Any]) -> None:
        if not self._muted:
            self.status.value = ""
            self._render(defer_analyses=True)

    def _on_filter(self, change: Mapping[str, Any]) -> None:
        self._render_table()
        self.download.value = ""

    def scorecard(self) -> Scorecard:
        return self.source.scorecard(self.account.value, Quarter.parse(self.quarter.value))

    def _render(self, defer_analyses: bool = False) -> None:
        """Redraw everything for the selection; a visitor's switch (``defer_analyses``) sees cards and charts
        before the analysis panels are computed."""
        sc = self.scorecard()
        data = self.source.data(self.account.value)
        try:
            verdict_from = health_mod.health_score(data, sc.quarter, with_history=False)
        except NoDataError:  # no measure has data: the verdict follows the concerns alone
            verdict_from = None
        self.header.value = header_html(sc, verdict_from)
        self.cards.value = cards_html(sc)
        for name, out in self.charts.items():
            out.outputs = (chart_output(getattr(charts, name)(sc), chart_title(name)),)
        self._exceptions = exceptions_table(data)
        self.download.value = ""
        self._render_table()
        if defer_analyses:
            if (self.account.value, self.quarter.value) not in self._analyses:
                self._show_computing(sc)
            _after_reply(self._render_analyses)
        else:
            self._render_analyses()

    # -- account intelligence

    def analyses(self) -> Analyses:
        """The selected account's and quarter's analyses, computed once per (account, quarter) and cached."""
        key = (self.account.value, self.quarter.value)
        if key not in self._analyses:
            self._analyses[key] = compute_analyses(self.source.data(key[0]), key[1])
            while len(self._analyses) > CACHE_SIZE:
                self._analyses.popitem(last=False)
        self._analyses.move_to_end(key)
        return self._analyses[key]

    def _show_computing(self, sc: Scorecard) -> None:
        """Until the new selection's analyses are ready, their panels say so and name it: the page never shows
        one account's header and another's health, forecast or audit."""
        note = loading_note(f"{sc.name} ({fmt_quarter(sc.quarter)})")
        for panel in (self.health, self.forecast, self.renewal, self.what_if, self.audit, self.root_cause):
            panel.value = note
        self.audit_download.value = ""

    def _render_analyses(self) -> None:
        a = self.analyses()
        currency = self.scorecard().account.get("currency")
        self.health.value = health_html(a.health)
        self.forecast.value = forecast_html(a.forecast, currency)
        self.renewal.value = renewal_html(a.renewal)
        self.audit.value = audit_html(a.audit, currency)
        self.root_cause.value = root_cause_html(a.root_cause)
        self.audit_download.value = ""
        self._render_what_if()

    def rate_change(self) -> float:
        """The slider's value as a float within [WHAT_IF_MIN, WHAT_IF_MAX] (0 for anything not a number)."""
        try:
            value = float(self.rate.value)
        except (TypeError, ValueError):
            return 0.0
        if not math.isfinite(value):
            return 0.0
        return min(max(value, WHAT_IF_MIN), WHAT_IF_MAX)

    def what_if_result(self) -> Any:
        """renewal.rate_change_what_if for the selection and the slider's rate change (cached), or why not."""
        key = (self.account.value, self.quarter.value, self.rate_change())
        if key not in self._what_ifs:
            try:
                self._what_ifs[key] = renewal_mod.rate_change_what_if(self.source.data(key[0]), key[1], key[2])
            except NoDataError as e:
                self._what_ifs[key] = str(e)
            while len(self._what_ifs) > 8 * CACHE_SIZE:
                self._what_ifs.popitem(last=False)
        return self._what_ifs[key]

    def _render_what_if(self) -> None:
        self.what_if.value = what_if_html(self.what_if_result(), self.scorecard().account.get("currency"))

    def _on_rate(self, change: Mapping[str, Any]) -> None:
        self._render_what_if()

    def prepare_audit_download(self, kind: str) -> str:
        """'csv' or 'xlsx' → the download link of the quarter's invoice-audit exceptions (also shown)."""
        a = self.analyses().audit
        if isinstance(a, str):
            self.audit_download.value = missing_note("Nothing to download", a)
            return self.audit_download.value
        stem = f"{self.account.value}-invoice-audit-{self.quarter.value}"
        link = file_link(
            kind,
            stem,
            lambda: to_csv_bytes(a.exceptions.assign(ship_date=a.exceptions["ship_date"].dt.date)),
            lambda: audit_xlsx_bytes(a),
        )
        self.audit_download.value = f'<div class="kam-note">{len(a.exceptions):,} exception(s) ready: {link}</div>'
        return self.audit_download.value

    def period(self) -> tuple[dt.date, dt.date]:
        """The drill-down's and download's dates: From/To when set, else the selected quarter."""
        q = Quarter.parse(self.quarter.value)
        return (self.start.value or q.start, self.end.value or q.end)

    def visible_exceptions(self) -> pd.DataFrame:
        start, end = self.period()
        assert self._exceptions is not None
        return filter_exceptions(
            self._exceptions,
            self.show.value,
            self.search.value or "",
            self.sort.value,
            bool(self.descending.value),
            start,
            end,
        )

    def _render_table(self) -> None:
        self.table.value = exceptions_html(self.visible_exceptions(), self.scorecard().account.get("currency"))

    def prepare_download(self, kind: str) -> str:
        """'csv' or 'xlsx' → the download link for the account's shipment activity of the period (also shown)."""
        start, end = self.period()
        frame = activity_frame(self.source.data(self.account.value), start, end)
        stem = f"{self.account.value}-shipments-{start:%Y%m%d}-{end:%Y%m%d}"
        link = file_link(kind, stem, lambda: to_csv_bytes(frame), lambda: to_xlsx_bytes(frame))
        self.download.value = f'<div class="kam-note">{len(frame):,} shipment(s) ready: {link}</div>'
        return self.download.value
