"""The account explorer (a Voilà app, ``notebooks/account_explorer.ipynb``): pick an account and a quarter and
see its KPI cards, charts, analyses, drill-down and downloads.

Every value a widget sends back is matched against a fixed set of choices (account ids, quarters, filter
names, sort columns) or used as plain text in a substring match: nothing a page sends is evaluated. Charts are
drawn by Voilà's bundled Vega renderer: each chart sits in an ``ipywidgets.Output`` whose outputs are replaced
in one state update when the account or quarter changes, so the page redraws in place.

A switch is one consistent redraw: the selection's complete view (:mod:`kam_helpers.apps.views`) is computed
before any of it is drawn (meanwhile a loading state names the new selection only) and swapped in with one
update per area, the areas hidden while the updates go out. Views are cached per account, quarter and as-of,
and those of the selections a KAM is likely to open next are computed by a background thread while the page
is idle.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import html
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ipywidgets as W
import pandas as pd

from kam_helpers.analyses import renewal as renewal_mod
from kam_helpers.apps.downloads import activity_frame, audit_xlsx_bytes, file_link, to_csv_bytes, to_xlsx_bytes
from kam_helpers.apps.drilldown import SHOW_CHOICES, SORT_CHOICES, exceptions_html, filter_exceptions
from kam_helpers.apps.page import page_params, preheated
from kam_helpers.apps.panels import (
    WHAT_IF_MAX,
    WHAT_IF_MIN,
    WHAT_IF_STEP,
    Analyses,
    loading_note,
    missing_note,
    scoped_view,
    what_if_html,
)
from kam_helpers.apps.views import (
    EXPLORER_CHARTS,
    PANELS,
    VEGALITE_MIME,
    AccountSource,
    AccountView,
    Background,
    FirstLook,
    Steps,
    ViewCache,
    neighbours,
    panel_title_of,
    run_steps,
    run_to_first_look,
)
from kam_helpers.core.errors import NoDataError
from kam_helpers.core.formatting import fmt_quarter
from kam_helpers.core.quarters import Quarter
from kam_helpers.metrics.scorecard import Scorecard

__all__ = ["VEGALITE_MIME", "AccountExplorer"]

CACHE_SIZE = 24  # (account, quarter) views kept, so switching back is instant
PRECOMPUTE = 8  # the nearest selections computed in the background (views.neighbours): a few, on 2 cores
PREHEAT_VIEWS = 2  # of them, computed by a preheated kernel before its visitor arrives
IDLE_SECONDS = 0.5  # background work starts this long after a switch was drawn,
PAGE_LOAD_SECONDS = 2.0  # and this long after a page's request (its widgets' states are fetched first)


def _after_reply(fn: Callable[[], None]) -> None:
    """Run ``fn`` once the kernel has answered the current widget message, when a kernel's event loop runs, so
    a switch's loading state reaches the page before the new view is computed; at once otherwise (tests)."""
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
        self.panels = {
            "health": self.health,
            "forecast": self.forecast,
            "renewal": self.renewal,
            "root_cause": self.root_cause,
            "audit": self.audit,
        }
        self.titles = {key: W.HTML() for key in self.panels}  # each names the selection its panel shows
        self.views = ViewCache(self.source, CACHE_SIZE)
        self.background = Background(self.views)
        self.current: AccountView | None = None
        self._what_ifs: OrderedDict[tuple[str, str, float], Any] = OrderedDict()
        for key, _, cls in PANELS:
            self.panels[key].add_class(cls)
            self.panels[key].add_class("kam-x-panel")
        for widget, cls in (
            (self.what_if, "kam-x-whatif-box"),
            (self.what_if, "kam-x-panel"),
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
        self._exceptions: pd.DataFrame | None = None  # the drill-down's rows of the shown selection
        self._currency: str | None = None
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
        if preheated():  # it computes the next few views while it waits for its visitor (built above: warm)
            explorer.resume_background(0.0, limit=PREHEAT_VIEWS)
        params = page_params(warm=None, account_id=account_id, quarter=quarter)
        if (params["account_id"], params["quarter"]) != (account_id, quarter):
            explorer.select(params["account_id"] or explorer.account.value, params["quarter"] or explorer.quarter.value)
        explorer.resume_background(PAGE_LOAD_SECONDS)  # the page first asks for every widget's state
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
        audit_buttons = box([self.audit_csv_button, self.audit_xlsx_button], "kam-x-controls")
        titles = self.titles
        self.body = box(
            [
                self.cards,
                titles["health"],
                self.health,
                grid,
                titles["forecast"],
                self.forecast,
                titles["renewal"],
                self.renewal,
                self.rate,
                self.what_if,
                titles["root_cause"],
                self.root_cause,
                titles["audit"],
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
        return box([self.header, controls, self.status, self.body], "kam-explorer", vertical=True)

    @functools.cached_property
    def page(self) -> W.Box:
        """The explorer as displayed: its view with the workspace's stylesheet, scoped (JupyterLab loads none)."""
        return scoped_view(self.view)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.page._repr_mimebundle_(**kwargs)

    # -- behaviour

    def select(self, account_id: str, quarter: str) -> None:
        """Show ``account_id`` for ``quarter``; unknown values are refused with a message on the page."""
        if account_id not in self.source.accounts:
            self.status.value = (
                f'<div class="kam-error">There is no account <b>{html.escape(account_id)}</b> in this workspace '
                f"(its {len(self.source.accounts)} accounts are in the Account list); showing the first account "
                "instead.</div>"
            )
            account_id = self.account.value
        elif quarter not in {v for _, v in self.quarter.options}:
            self.status.value = (
                f'<div class="kam-error"><b>{html.escape(quarter)}</b> is not one of the quarters with data '
                f"({self.quarter.options[-1][1]} to {self.quarter.options[0][1]}); showing the last complete "
                "quarter.</div>"
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
        self._show(defer=False)

    _muted = False

    def _on_change(self, change: Mapping[str, Any]) -> None:
        if not self._muted:
            self.status.value = ""
            self._show(defer=True)

    def _on_filter(self, change: Mapping[str, Any]) -> None:
        self._render_table()
        self.download.value = ""

    def scorecard(self) -> Scorecard:
        """The shown selection's scorecard."""
        return self.view_of_selection().scorecard

    def analyses(self) -> Analyses:
        """The shown selection's analyses (computed once per account, quarter and as-of, with its view)."""
        return self.view_of_selection().analyses

    def view_of_selection(self) -> AccountView:
        """The AccountView of the dropdowns' selection (cached, or computed now)."""
        return self.views.get(self.account.value, self.quarter.value)

    def _show(self, defer: bool) -> None:
        """Swap in the selection's view at once when it is cached. Otherwise, on a visitor's switch (``defer``),
        the previous view stays until the new one's FirstLook (header, cards, charts, drill-down) replaces it,
        its analysis panels saying they are computed for the new selection, and the complete view follows. The
        background work is paused meanwhile and resumed, for the new neighbours, once the view is drawn."""
        self.background.pause()
        if not defer:
            self._apply(self.view_of_selection())
            return
        account_id, quarter = self.account.value, self.quarter.value
        view, steps = self.views.take(account_id, quarter)
        if view is None:
            steps = steps or self.views.steps(account_id, quarter)
            first = run_to_first_look(steps)
            if isinstance(first, FirstLook):
                self._apply_first_look(first)
                _after_reply(lambda: self._finish(account_id, quarter, steps))
                return
            view = first
            self.views.put(account_id, quarter, view)
        self._apply(view)
        self.resume_background(IDLE_SECONDS)

    def _finish(self, account_id: str, quarter: str, steps: Steps) -> None:
        """The rest of a view whose FirstLook is shown: computed, kept, swapped in if still selected."""
        view = run_steps(steps)
        self.views.put(account_id, quarter, view)
        if (self.account.value, self.quarter.value) == (account_id, quarter):
            self._apply(view, hide=False)  # the same selection: nothing to hide
        self.resume_background(IDLE_SECONDS)

    @contextmanager
    def _swapping(self, hide: bool = True) -> Iterator[None]:
        """The header and every area below the controls are hidden while their updates go out, so that no frame
        of the page shows some areas of one selection beside others of the previous one."""
        if not hide:
            yield
            return
        for widget in (self.header, self.body):
            widget.layout.visibility = "hidden"
        try:
            yield
        finally:
            for widget in (self.header, self.body):
                widget.layout.visibility = "visible"

    def _apply_first_look(self, first: FirstLook) -> None:
        """Header, cards, charts and drill-down of the new selection; its panels say they are being computed
        and name it: nothing of the previous selection stays."""
        self.current = None
        self._exceptions, self._currency = first.exceptions, first.currency
        note = loading_note(first.label)
        with self._swapping():
            self.header.value = first.header
            self.cards.value = first.cards
            for name, out in self.charts.items():
                out.outputs = (first.charts[name],)
            for key, panel in self.panels.items():
                self.titles[key].value = panel_title_of(key, first.label)
                panel.value = note
            self.what_if.value = ""
            self.audit_download.value = self.download.value = ""
            self._render_table()

    def _apply(self, view: AccountView, hide: bool = True) -> None:
        """One update per area, every one from ``view`` (hidden while they go out, unless not ``hide``)."""
        self.current = view
        self._exceptions, self._currency = view.exceptions, view.currency
        what_if = view.what_if if self.rate_change() == 0 else what_if_html(self.what_if_result(), view.currency)
        with self._swapping(hide):
            self.header.value = view.header
            self.cards.value = view.cards
            for name, out in self.charts.items():
                out.outputs = (view.charts[name],)
            for key, panel in self.panels.items():
                self.titles[key].value = view.titles[key]
                panel.value = view.panels[key]
            self.what_if.value = what_if
            self.audit_download.value = self.download.value = ""
            self._render_table()

    # -- background: the selections a KAM is likely to open next, computed while the page is idle

    def wanted(self, limit: int = PRECOMPUTE) -> list[tuple[str, str]]:
        """The selections to compute in the background, nearest first (views.neighbours), at most ``limit``."""
        quarters = [v for _, v in self.quarter.options]
        i = quarters.index(self.quarter.value)
        prior = quarters[i + 1] if i + 1 < len(quarters) else None
        return neighbours(list(self.source.accounts), self.account.value, self.quarter.value, prior)[:limit]

    def resume_background(self, delay: float, limit: int = PRECOMPUTE) -> None:
        """In a kernel (an event loop runs), compute the ``limit`` nearest selections' views in the background
        from ``delay`` seconds on; elsewhere (tests, scripts) nothing runs behind the caller's back."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self.background.resume(self.wanted(limit), delay)

    def precompute_step(self) -> bool:
        """One step of the background work, here and now. → False when every wanted view is computed."""
        return self.views.advance(self.wanted())

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
        if self._exceptions is not None:
            self.table.value = exceptions_html(self.visible_exceptions(), self._currency)

    def prepare_download(self, kind: str) -> str:
        """'csv' or 'xlsx' → the download link for the account's shipment activity of the period (also shown)."""
        start, end = self.period()
        frame = activity_frame(self.source.data(self.account.value), start, end)
        stem = f"{self.account.value}-shipments-{start:%Y%m%d}-{end:%Y%m%d}"
        link = file_link(kind, stem, lambda: to_csv_bytes(frame), lambda: to_xlsx_bytes(frame))
        self.download.value = f'<div class="kam-note">{len(frame):,} shipment(s) ready: {link}</div>'
        return self.download.value
