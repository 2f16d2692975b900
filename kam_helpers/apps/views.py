"""The account explorer's views: everything the page shows for one account and quarter, computed before any of
it is drawn, so a switch swaps in one consistent page (never one account's header beside another's charts).

:class:`AccountSource` reads one account at a time from the store; :func:`view_steps` computes an
:class:`AccountView` in small steps (load, scorecard, charts, each analysis), so the explorer can precompute
the book's other accounts between a visitor's messages without holding one up for longer than a step;
:class:`ViewCache` keeps them per (account, quarter, as-of) in a bounded LRU.
"""

from __future__ import annotations

import html
import threading
import time
from collections import OrderedDict
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

import pandas as pd

from kam_helpers.analyses import renewal as renewal_mod
from kam_helpers.apps.drilldown import exceptions_table
from kam_helpers.apps.panels import (
    ANALYSES,
    QUARTERS_SHOWN,
    Analyses,
    analysis_or_why,
    audit_html,
    cards_html,
    forecast_html,
    header_html,
    health_html,
    renewal_html,
    root_cause_html,
    what_if_html,
)
from kam_helpers.core.errors import NoDataError
from kam_helpers.core.formatting import fmt_quarter
from kam_helpers.core.quarters import Quarter
from kam_helpers.data import rules
from kam_helpers.data.store import Workspace
from kam_helpers.metrics import prepare, scorecard
from kam_helpers.metrics.scorecard import Scorecard
from kam_helpers.qbr import charts
from kam_helpers.qbr.outline import chart_title

EXPLORER_CHARTS = ("volume_revenue_trend", "otd_vs_sla", "worst_lanes", "cases_by_category")
VEGALITE_MIME = f"application/vnd.vegalite.v{charts.alt.SCHEMA_VERSION.lstrip('v').split('.')[0]}+json"
# SVG (crisp, its text readable and testable) and no "…" menu, whose items link to an online editor
EMBED_OPTIONS = {"renderer": "svg", "actions": False}
DATA_CACHE_SIZE = 4  # accounts' raw rows kept (for the what-if slider and the downloads)
# the analysis panels, each under a title that names the selection: (key, title, CSS class of its box)
PANELS = (
    ("health", "Account health (internal)", "kam-x-health"),
    ("forecast", "Forecast: the next four quarters", "kam-x-forecast-box"),
    ("renewal", "Renewal and rate what-if (internal)", "kam-x-renewal"),
    ("root_cause", "Where late deliveries concentrate (internal)", "kam-x-rootcause"),
    ("audit", "Invoice audit against the rate card", "kam-x-audit-box"),
)


def quarters_of(last: Quarter, first: Quarter | None = None, n: int = QUARTERS_SHOWN) -> list[Quarter]:
    """The last ``n`` quarters up to ``last`` (not before ``first``), newest first."""
    out = [last.shift(-i) for i in range(n)]
    return [q for q in out if first is None or q >= first]


def selection_label(name: str, quarter: Quarter | str) -> str:
    """'Brennvik Automotive', '2026Q3' → 'Brennvik Automotive · Q3 2026', as every chart's subtitle says it."""
    return f"{name} · {fmt_quarter(quarter)}"


def chart_output(chart: charts.AnyChart | None, title: str, label: str = "this selection") -> dict:
    """A chart → one Output-widget output: Vega-Lite for the page's renderer, or a note naming the selection
    (``label``) when there is no data."""
    if chart is None:
        note = f'<div class="kam-note">{html.escape(title)}: no data for {html.escape(label)}.</div>'
        return {"output_type": "display_data", "data": {"text/html": note, "text/plain": title}, "metadata": {}}
    spec = {**charts.spec(chart), "usermeta": {"embedOptions": EMBED_OPTIONS}}
    return {
        "output_type": "display_data",
        "metadata": {},
        "data": {VEGALITE_MIME: spec, "text/plain": f"<chart: {title}>"},
    }


def panel_title_of(key: str, label: str) -> str:
    """One of PANELS' keys, 'Name · Q3 2026' → that panel's heading naming the selection."""
    return panel_title(next(title for k, title, _ in PANELS if k == key), label)


def panel_title(title: str, label: str) -> str:
    """A panel's heading naming the selection it shows: 'Forecast … · Brennvik Automotive · Q3 2026'."""
    return (
        f'<h2 class="kam-x-panel-title">{html.escape(title)} <span class="kam-muted">· {html.escape(label)}</span></h2>'
    )


class AccountSource:
    """Reads one account at a time from the store, keeping the last few accounts' rows in memory."""

    def __init__(self, workspace: str | Path = "") -> None:
        with Workspace.open(workspace or None) as ws:
            self.folder = ws.folder
            accounts = ws.accounts()
            self.last_quarter = ws.last_complete_quarter()
            self.as_of = ws.as_of
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
        self._lock = threading.Lock()  # the explorer's background thread reads accounts too

    def quarters(self) -> list[Quarter]:
        return quarters_of(self.last_quarter, self.first_quarter)

    def data(self, account_id: str) -> Any:
        """account_id (one of ``accounts``) → its AccountData (the last DATA_CACHE_SIZE kept)."""
        with self._lock:
            data = self._data.get(account_id)
        if data is None:
            with Workspace.open(self.folder) as ws:
                data = ws.account_data(account_id)
        with self._lock:
            self._data[account_id] = data
            self._data.move_to_end(account_id)
            while len(self._data) > DATA_CACHE_SIZE:
                self._data.popitem(last=False)
        return data


@dataclass(frozen=True)
class FirstLook:
    """The part of a view drawn before its analyses are ready: the header (its verdict pending), KPI cards,
    charts and the drill-down's rows; every area names the selection (``label``) or nothing."""

    label: str
    header: str
    cards: str
    charts: dict[str, dict]
    exceptions: pd.DataFrame
    currency: str | None


@dataclass(frozen=True)
class AccountView:
    """What the explorer shows for one account and quarter: header, KPI cards, chart outputs, the analyses and
    their panels (each under a title naming the selection), the drill-down's rows and the what-if at 0 %."""

    account_id: str
    quarter: str
    label: str
    scorecard: Scorecard
    header: str
    cards: str
    charts: dict[str, dict]
    analyses: Analyses
    panels: dict[str, str]
    titles: dict[str, str]
    exceptions: pd.DataFrame
    what_if: str

    @property
    def currency(self) -> str | None:
        return self.scorecard.account.get("currency")


ViewKey = tuple[str, str, Any]  # (account_id, quarter, as-of of the store)


Steps = Generator[FirstLook | None, None, "AccountView"]


def view_steps(source: AccountSource, account_id: str, quarter: str) -> Steps:
    """Compute the AccountView of ``account_id`` and ``quarter``, yielding between steps of at most a few tenths
    of a second (load, scorecard, charts, each analysis), once with the FirstLook (after the charts), else None:
    drive it with :func:`run_steps`. The account's frames are prepared once for the scorecard and every
    analysis; the header's verdict is the health analysis's."""
    q = Quarter.parse(quarter)
    data = source.data(account_id)
    yield None
    prepared = prepare(data)
    sc = scorecard(prepared, q)
    label = selection_label(sc.name, q)
    currency = sc.account.get("currency")
    yield None
    first = FirstLook(
        label=label,
        header=header_html(sc, verdict=False),
        cards=cards_html(sc),
        charts={name: chart_output(getattr(charts, name)(sc), chart_title(name), label) for name in EXPLORER_CHARTS},
        exceptions=exceptions_table(data),
        currency=currency,
    )
    yield first
    results: dict[str, Any] = {}
    for key in ANALYSES:
        results[key] = analysis_or_why(key, prepared, data, q)
        yield None
    a = Analyses(**results)
    try:
        what_if: Any = renewal_mod.rate_change_what_if(data, q, 0.0)
    except NoDataError as e:
        what_if = str(e)
    panel_html = {
        "health": health_html(a.health),
        "forecast": forecast_html(a.forecast, currency),
        "renewal": renewal_html(a.renewal),
        "root_cause": root_cause_html(a.root_cause),
        "audit": audit_html(a.audit, currency),
    }
    return AccountView(
        account_id=account_id,
        quarter=str(q),
        label=label,
        scorecard=sc,
        header=header_html(sc, a.health if not isinstance(a.health, str) else None),
        cards=first.cards,
        charts=first.charts,
        analyses=a,
        panels=panel_html,
        titles={key: panel_title_of(key, label) for key, _, _ in PANELS},
        exceptions=first.exceptions,
        what_if=what_if_html(what_if, currency),
    )


def run_steps(steps: Steps) -> AccountView:
    """Drive :func:`view_steps` to its end → the view."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def run_to_first_look(steps: Steps) -> FirstLook | AccountView:
    """Drive :func:`view_steps` to its FirstLook (or to its end, when that was passed already)."""
    while True:
        try:
            step = next(steps)
        except StopIteration as done:
            return done.value
        if step is not None:
            return step


class ViewCache:
    """AccountViews by (account, quarter, as-of), the ``size`` last used kept. Views computed in the background
    (:meth:`advance`, from another thread) are kept as their unfinished steps meanwhile, so asking for one
    finishes it instead of starting again."""

    def __init__(self, source: AccountSource, size: int) -> None:
        self.source, self.size = source, size
        self._views: OrderedDict[ViewKey, AccountView] = OrderedDict()
        self._pending: dict[ViewKey, Steps] = {}
        self._lock = threading.Condition()
        self._stepping: ViewKey | None = None  # the pending view a background step is advancing right now

    def __len__(self) -> int:
        return len(self._views)

    def key(self, account_id: str, quarter: str) -> ViewKey:
        return (account_id, quarter, self.source.as_of)

    def cached(self, account_id: str, quarter: str) -> bool:
        return self.key(account_id, quarter) in self._views

    def get(self, account_id: str, quarter: str) -> AccountView:
        """The view (computed now unless cached; a background computation of it is finished, not restarted)."""
        view, steps = self.take(account_id, quarter)
        if view is None:
            view = run_steps(steps or self.steps(account_id, quarter))
            self.put(account_id, quarter, view)
        return view

    def steps(self, account_id: str, quarter: str) -> Steps:
        """The steps that compute the view from the start (:func:`view_steps`)."""
        return view_steps(self.source, account_id, quarter)

    def take(self, account_id: str, quarter: str) -> tuple[AccountView | None, Steps | None]:
        """The cached view, else the steps computing it that the background started (None when it did not): the
        caller finishes them and :meth:`put` s the view."""
        key = self.key(account_id, quarter)
        with self._lock:
            while self._stepping == key:  # the background is one step into this very view: take it from there
                self._lock.wait()
            if key in self._views:
                self._views.move_to_end(key)
                return self._views[key], None
            return None, self._pending.pop(key, None)

    def put(self, account_id: str, quarter: str, view: AccountView) -> None:
        """Keep ``view`` as the most recently used (the least recently used beyond ``size`` are dropped)."""
        with self._lock:
            self._views[self.key(account_id, quarter)] = view
            while len(self._views) > self.size:
                self._views.popitem(last=False)

    def advance(self, wanted: Iterable[tuple[str, str]]) -> bool:
        """One step of the background work: the first of the ``wanted`` (account, quarter) selections that is not
        cached yet, one step further. → False when there is nothing left to do, or no room: background views
        only fill free places (stored as the least recently used), they never evict a view a visitor asked for."""
        keys = [self.key(account_id, quarter) for account_id, quarter in wanted]
        with self._lock:
            for stale in set(self._pending) - set(keys):  # no longer wanted: the visitor moved on
                del self._pending[stale]
            key = next((k for k in keys if k not in self._views), None)
            if key is None or (key not in self._pending and len(self._views) + len(self._pending) >= self.size):
                return False
            steps = self._pending.pop(key, None) or self.steps(key[0], key[1])
            self._stepping = key
        view: AccountView | None = None
        try:
            next(steps)
        except StopIteration as done:
            view = done.value
        except BaseException:
            self._settle(key, None, None)
            raise
        self._settle(key, view, None if view is not None else steps)
        return True

    def _settle(self, key: ViewKey, view: AccountView | None, steps: Steps | None) -> None:
        """After a background step: keep the finished view (least recently used) or the unfinished steps."""
        with self._lock:
            self._stepping = None
            if view is not None:
                self._views[key] = view
                self._views.move_to_end(key, last=False)
            elif steps is not None:
                self._pending[key] = steps
            self._lock.notify_all()


class Background:
    """A daemon thread that computes the views a visitor is likely to ask for next (:meth:`ViewCache.advance`)
    while the page is idle: :meth:`pause` when a request comes in (the step under way ends, no other starts),
    :meth:`resume` after it, with the selections wanted then. The thread shares the kernel's interpreter, so a
    request is served while a step runs instead of after it."""

    def __init__(self, cache: ViewCache) -> None:
        self.cache = cache
        self._wanted: list[tuple[str, str]] = []
        self._not_before = 0.0
        self._go = threading.Event()
        self._lock = threading.Lock()
        self._resumed = 0  # resumptions so far: the thread stops only if none came while it looked for work
        self._thread: threading.Thread | None = None

    def pause(self) -> None:
        self._go.clear()

    def resume(self, wanted: list[tuple[str, str]], delay: float) -> None:
        """Compute ``wanted`` (nearest first) from ``delay`` seconds on."""
        with self._lock:
            self._wanted, self._not_before = list(wanted), time.monotonic() + delay
            self._resumed += 1
            self._go.set()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kam-explorer-views", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._go.wait()
            wait = self._not_before - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, 0.1))
                continue
            resumed = self._resumed
            try:
                more = self.cache.advance(self._wanted)
            except Exception:  # a view that fails here fails again, with its message, when it is asked for
                more = False
            with self._lock:
                if not more and resumed == self._resumed:
                    self._go.clear()


def neighbours(ids: list[str], current: str, quarter: str, prior: str | None) -> list[tuple[str, str]]:
    """The selections a KAM is likely to ask for next, nearest first: the next and the previous account in the
    list for ``quarter``, ``current`` for the ``prior`` quarter, then the others going outwards both ways.

    >>> neighbours(["a", "b", "c", "d"], "b", "2026Q3", "2026Q2")
    [('c', '2026Q3'), ('a', '2026Q3'), ('b', '2026Q2'), ('d', '2026Q3')]
    """
    i = ids.index(current) if current in ids else -1
    after, before = ids[i + 1 :], ids[: max(i, 0)][::-1]
    order = [a for pair in zip_longest(after, before) for a in pair if a is not None]
    out = [(a, quarter) for a in order]
    if prior:
        out.insert(min(2, len(out)), (current, prior))
    return out
