"""The Voilà apps' widgets: the account explorer and the book of business (ipywidgets only).

Every value a widget sends back is matched against a fixed set of choices (account ids, quarters, filter
names, sort columns) or used as plain text in a substring match: nothing a page sends is evaluated.
The computations are functions of plain data (``exceptions_table``, ``filter_exceptions``,
``activity_frame``, ``book_rows``...) that the tests call without a browser.

Charts are drawn by Voilà's bundled Vega renderer: each chart sits in an ``ipywidgets.Output`` whose outputs
are replaced in one state update when the account or quarter changes, so the page redraws in place.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import ipywidgets as W
import jinja2
import pandas as pd

from . import charts, metrics, narrative
from .formatting import fmt_count, fmt_date, fmt_growth, fmt_money, fmt_pct, fmt_quarter
from .paths import TEMPLATES_DIR
from .quarters import Quarter
from .report import CARD_KPIS, kpi_row
from .scorecard import Scorecard
from .serve import app_url, page_params
from .store import Workspace

EXPLORER_CHARTS = ("volume_revenue_trend", "otd_vs_sla", "worst_lanes", "cases_by_category")
VEGALITE_MIME = f"application/vnd.vegalite.v{charts.alt.SCHEMA_VERSION.lstrip('v').split('.')[0]}+json"
SHOW_CHOICES = (("Late or damaged shipments and open cases", "all"), ("Late shipments", "late"),
                ("Damaged shipments", "damaged"), ("Open cases", "open_cases"))
SORT_CHOICES = (("Date", "date"), ("Lane", "lane"), ("Carrier", "carrier"), ("Days late", "days_late"),
                ("Revenue", "revenue"), ("Kind", "kind"))
# SVG (crisp, its text readable and testable) and no "…" menu, whose items link to an online editor
EMBED_OPTIONS = {"renderer": "svg", "actions": False}
TABLE_ROWS = 200  # rows shown in the drill-down table (the download holds them all)
CACHE_SIZE = 16  # (account, quarter) views kept, so switching back is instant
QUARTERS_SHOWN = 8

_cards = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR / "report")), autoescape=True, undefined=jinja2.StrictUndefined
).get_template("cards.html.j2")


# --------------------------------------------------------------------------------------------- pure functions


def exceptions_table(data: "Any", as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """AccountData → one row per late shipment, damaged shipment and open case, newest first, with columns
    kind, ref, date, lane, carrier, status, days_late, revenue, detail.

    A shipment is late when delivered after its promised day, or still undelivered after a promised day
    before ``as_of`` (as OTD counts it). E.g. a shipment promised 3 Jul and delivered 5 Jul → kind 'Late',
    days_late 2; an open damage case → kind 'Open case', detail 'damage · high'.
    """
    parts: list[pd.DataFrame] = []
    ships = data.shipments
    as_of = as_of if as_of is not None else data.as_of
    if ships is not None and not ships.empty:
        s = metrics.not_cancelled(ships)
        actual = pd.to_datetime(s["delivery_actual"]).dt.normalize()
        promised = pd.to_datetime(s["delivery_promised"]).dt.normalize()
        today = pd.Timestamp(as_of).normalize() if as_of is not None else actual.max()
        late_days = (actual.where(actual.notna(), today) - promised).dt.days
        late = promised.notna() & (late_days > 0) & (actual.notna() | (promised < today))
        damaged = s["damaged"].fillna(False).astype(bool) if "damaged" in s.columns else pd.Series(False, s.index)
        lane = metrics.lanes(s)
        base = pd.DataFrame({
            "ref": s["shipment_id"].astype(str), "date": actual.where(actual.notna(), promised),
            "lane": lane, "carrier": s["carrier"].fillna("").astype(str), "status": s["status"].astype(str),
            "days_late": late_days.where(late), "revenue": pd.to_numeric(s["revenue"], errors="coerce"),
        })
        kinds = pd.Series("", index=s.index)
        kinds = kinds.mask(late, "Late").mask(damaged, "Damaged").mask(late & damaged, "Late and damaged")
        detail = pd.Series("", index=s.index)
        detail = detail.mask(late & s["status"].astype(str).eq("delivered"), "delivered late")
        detail = detail.mask(late & ~s["status"].astype(str).eq("delivered"), "in transit, past its promise")
        detail = detail.mask(damaged, (detail + " · damage at delivery").str.lstrip(" ·"))
        flagged = base[late | damaged].assign(kind=kinds[late | damaged], detail=detail[late | damaged])
        parts.append(flagged)
    cases = data.cases
    if cases is not None and not cases.empty:
        open_ = cases[cases["status"].astype(str).eq("open")]
        if not open_.empty:
            by_id = {} if ships is None else dict(zip(ships["shipment_id"], metrics.lanes(ships)))
            carriers = {} if ships is None else dict(zip(ships["shipment_id"], ships["carrier"].fillna("")))
            parts.append(pd.DataFrame({
                "kind": "Open case", "ref": open_["case_id"].astype(str),
                "date": pd.to_datetime(open_["opened"]).dt.normalize(),
                "lane": [by_id.get(x, "") for x in open_["shipment_id"]],
                "carrier": [str(carriers.get(x, "")) for x in open_["shipment_id"]],
                "status": "open", "days_late": float("nan"),
                "revenue": pd.to_numeric(open_["claim_amount"], errors="coerce"),
                "detail": [" · ".join(str(v) for v in (c, sev) if isinstance(v, str) and v)
                           for c, sev in zip(open_["category"], open_["severity"])],
            }))
    columns = ["kind", "ref", "date", "lane", "carrier", "status", "days_late", "revenue", "detail"]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    out = pd.concat([p for p in parts if not p.empty] or parts, ignore_index=True)[columns]
    return out.sort_values("date", ascending=False, kind="stable").reset_index(drop=True)


def filter_exceptions(
    table: pd.DataFrame, show: str = "all", text: str = "", sort: str = "date", descending: bool = True,
    start: dt.date | None = None, end: dt.date | None = None,
) -> pd.DataFrame:
    """exceptions_table → the rows the drill-down shows: ``show`` one of SHOW_CHOICES' values, ``text`` a
    case-insensitive substring of ref, lane, carrier or detail, dates within [start, end], sorted by one of
    SORT_CHOICES' columns. Unknown ``show`` / ``sort`` values raise ValueError (the widgets only send known ones).
    """
    if show not in dict((v, k) for k, v in SHOW_CHOICES):
        raise ValueError(f"unknown filter {show!r}")
    if sort not in dict((v, k) for k, v in SORT_CHOICES):
        raise ValueError(f"unknown sort column {sort!r}")
    rows = table
    if show == "late":
        rows = rows[rows["kind"].str.startswith("Late")]
    elif show == "damaged":
        rows = rows[rows["kind"].str.endswith("amaged")]
    elif show == "open_cases":
        rows = rows[rows["kind"].eq("Open case")]
    needle = text.strip().lower()[:80]
    if needle:
        hay = rows["ref"] + " " + rows["lane"] + " " + rows["carrier"] + " " + rows["detail"]
        rows = rows[hay.str.lower().str.contains(needle, regex=False)]
    if start is not None:
        rows = rows[rows["date"] >= pd.Timestamp(start)]
    if end is not None:
        rows = rows[rows["date"] <= pd.Timestamp(end)]
    return rows.sort_values(sort, ascending=not descending, kind="stable", na_position="last")


def exceptions_html(rows: pd.DataFrame, currency: str | None, limit: int = TABLE_ROWS) -> str:
    """Filtered exceptions → an HTML table (escaped), at most ``limit`` rows with a count of the rest."""
    if rows.empty:
        return '<div class="kam-note">Nothing to show for this selection.</div>'
    body = []
    for r in rows.head(limit).itertuples(index=False):
        kind_class = "kam-red" if r.kind.startswith("Late") else ("kam-amber" if "amaged" in r.kind else "kam-none")
        days = "" if pd.isna(r.days_late) else f"{int(r.days_late)}"
        money = "" if pd.isna(r.revenue) else fmt_money(float(r.revenue), currency)
        body.append(
            f'<tr><td><span class="kam-rag {kind_class}">{html.escape(r.kind)}</span></td>'
            f"<td>{html.escape(r.ref)}</td><td>{fmt_date(r.date) if not pd.isna(r.date) else ''}</td>"
            f"<td>{html.escape(r.lane)}</td><td>{html.escape(r.carrier)}</td>"
            f'<td class="num">{days}</td><td class="num">{money}</td><td>{html.escape(str(r.detail))}</td></tr>'
        )
    more = (f'<div class="kam-muted">Showing {limit} of {len(rows):,}; the download holds every shipment.</div>'
            if len(rows) > limit else f'<div class="kam-muted">{len(rows):,} row(s).</div>')
    head = ("<tr><th>Kind</th><th>Reference</th><th>Date</th><th>Lane</th><th>Carrier</th>"
            '<th class="num">Days late</th><th class="num">Revenue / claim</th><th>Detail</th></tr>')
    return f'<table class="kam-table kam-drill">{head}{"".join(body)}</table>{more}'


def activity_frame(data: "Any", start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
    """AccountData → the account's shipment activity for a client workbook: one row per shipment whose ship
    date lies in [start, end] (all when None), with lane, on-time flag and margin; oldest first."""
    ships = data.shipments
    if ships is None or ships.empty:
        return pd.DataFrame(columns=["shipment_id", "ship_date"])
    active = metrics.active_shipments(ships)
    if start is not None:
        active = active[active["ship_date"] >= pd.Timestamp(start)]
    if end is not None:
        active = active[active["ship_date"] < pd.Timestamp(end) + pd.Timedelta(days=1)]
    actual = pd.to_datetime(active["delivery_actual"]).dt.normalize()
    promised = pd.to_datetime(active["delivery_promised"]).dt.normalize()
    on_time = pd.Series(pd.NA, index=active.index, dtype="boolean").mask(actual.notna() & promised.notna(),
                                                                          actual <= promised)
    keep = [c for c in ("shipment_id", "ship_date", "mode", "origin", "destination", "carrier", "pickup_planned",
                        "pickup_actual", "delivery_promised", "delivery_actual", "status", "weight_kg", "pallets",
                        "revenue", "damaged", "short") if c in active.columns]
    return (active[keep].assign(lane=metrics.lanes(active), on_time=on_time)
            .sort_values("ship_date", kind="stable").reset_index(drop=True))


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """Frame → UTF-8 CSV with a BOM (Excel opens it with the right accents)."""
    return frame.to_csv(index=False).encode("utf-8-sig")


def to_xlsx_bytes(frame: pd.DataFrame, sheet: str = "Shipments") -> bytes:
    """Frame → an .xlsx workbook (openpyxl), header frozen, columns sized to their content."""
    buffer = io.BytesIO()
    clean = frame.copy()
    for column in clean.columns:
        if isinstance(clean[column].dtype, pd.BooleanDtype):
            clean[column] = clean[column].astype(object).where(clean[column].notna(), None)
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        clean.to_excel(writer, index=False, sheet_name=sheet[:31])
        ws = writer.sheets[sheet[:31]]
        ws.freeze_panes = "A2"
        for i, column in enumerate(clean.columns, start=1):
            width = max([len(str(column))] + [len(str(v)) for v in clean[column].head(200)]) + 2
            ws.column_dimensions[ws.cell(1, i).column_letter].width = min(width, 40)
    return buffer.getvalue()


def download_link(content: bytes, filename: str, mime: str, label: str) -> str:
    """Bytes → an HTML anchor with a data: URL that the browser saves as ``filename`` (works offline)."""
    href = f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"
    size = f"{len(content) / 1024:,.0f} KB"
    return (f'<a class="kam-download" download="{html.escape(filename)}" href="{href}">'
            f"{html.escape(label)} · {html.escape(filename)} ({size})</a>")


def header_html(sc: Scorecard) -> str:
    """Scorecard → the explorer's title block: client, quarter, tier, KAM, renewal, health."""
    a = sc.account
    health = narrative.assess(sc).overall
    days = narrative.days_to_renewal(sc)
    bits = [a.get("industry"), f"{a['tier']} account" if a.get("tier") else None,
            f"KAM {a['owner']}" if a.get("owner") else None,
            f"renewal in {days} days" if days is not None and days >= 0 else ("contract ended" if days is not None else None)]
    sub = " · ".join(html.escape(str(b)) for b in bits if b)
    return (
        f'<header class="kam-header"><div class="kam-eyebrow">Account explorer · {html.escape(fmt_quarter(sc.quarter))}</div>'
        f'<h1>{html.escape(sc.name)} {health_chip(health)}</h1><p class="kam-sub">{sub}</p></header>'
    )


HEALTH_LABELS = {"healthy": ("Healthy", "kam-green"), "watch": ("Watch", "kam-amber"), "at_risk": ("At risk", "kam-red")}


def health_chip(overall: str | None) -> str:
    """'at_risk' → a red 'At risk' chip (grey for anything unknown)."""
    label, cls = HEALTH_LABELS.get(overall or "", ("Unknown", "kam-none"))
    return f'<span class="kam-rag {cls} kam-health">{label}</span>'


def cards_html(sc: Scorecard) -> str:
    """Scorecard → the KPI cards (value, change vs prior quarter, target, RAG colour) of the QBR."""
    currency = sc.account.get("currency")
    return _cards.render(kpis=[kpi_row(sc.kpis[k], currency) for k in CARD_KPIS if k in sc.kpis])


def chart_output(chart: "charts.AnyChart | None", title: str) -> dict:
    """A chart → one Output-widget output: Vega-Lite for the page's renderer, or a note when there is no data."""
    if chart is None:
        note = f'<div class="kam-note">{html.escape(title)}: no data for this selection.</div>'
        return {"output_type": "display_data", "data": {"text/html": note, "text/plain": title}, "metadata": {}}
    spec = {**charts.spec(chart), "usermeta": {"embedOptions": EMBED_OPTIONS}}
    return {"output_type": "display_data", "metadata": {}, "data": {VEGALITE_MIME: spec, "text/plain": f"<chart: {title}>"}}


def quarters_of(last: Quarter, first: Quarter | None = None, n: int = QUARTERS_SHOWN) -> list[Quarter]:
    """The last ``n`` quarters up to ``last`` (not before ``first``), newest first."""
    out = [last.shift(-i) for i in range(n)]
    return [q for q in out if first is None or q >= first]


# --------------------------------------------------------------------------------------------- data access


class AccountSource:
    """Reads one account at a time from the store, keeping the last few accounts and scorecards in memory."""

    def __init__(self, workspace: str | Path = "") -> None:
        with Workspace.open(workspace or None) as ws:
            self.folder = ws.folder
            accounts = ws.accounts()
            self.last_quarter = ws.last_complete_quarter()
            first = ws.query(
                "SELECT min(CAST(coalesce(pickup_actual, pickup_planned, delivery_actual, delivery_promised) AS DATE))"
                " AS d FROM shipments") if "shipments" in ws.tables else pd.DataFrame({"d": [None]})
        self.accounts: dict[str, str] = dict(zip(accounts["account_id"].astype(str), accounts["name"].astype(str)))
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
            self._scorecards[key] = metrics.scorecard(self.data(account_id), quarter)
            while len(self._scorecards) > CACHE_SIZE:
                self._scorecards.popitem(last=False)
        return self._scorecards[key]


# --------------------------------------------------------------------------------------------- the explorer


class AccountExplorer:
    """Pick an account and a quarter: header, KPI cards, four charts, a drill-down of exceptions and the
    shipment activity as CSV or Excel. ``select(account_id, quarter)`` is what the dropdowns call."""

    def __init__(self, workspace: str | Path = "", account_id: str = "", quarter: str = "") -> None:
        self.source = AccountSource(workspace)
        ids = list(self.source.accounts)
        if not ids:
            raise ValueError("the workspace holds no accounts")
        quarters = self.source.quarters()
        self.account = W.Dropdown(options=[(f"{name} ({aid})", aid) for aid, name in self.source.accounts.items()],
                                  value=ids[0], description="Account", layout=W.Layout(width="360px"))
        self.quarter = W.Dropdown(options=[(fmt_quarter(q), str(q)) for q in quarters], value=str(quarters[0]),
                                  description="Quarter", layout=W.Layout(width="220px"))
        self.start = W.DatePicker(description="From", layout=W.Layout(width="230px"))
        self.end = W.DatePicker(description="To", layout=W.Layout(width="230px"))
        self.show = W.Dropdown(options=list(SHOW_CHOICES), value="all", description="Show",
                               layout=W.Layout(width="380px"))
        self.search = W.Text(placeholder="lane, carrier or reference", description="Search",
                             layout=W.Layout(width="300px"), continuous_update=False)
        self.sort = W.Dropdown(options=list(SORT_CHOICES), value="date", description="Sort by",
                               layout=W.Layout(width="220px"))
        self.descending = W.ToggleButton(value=True, description="Newest / largest first",
                                         layout=W.Layout(width="190px"))
        self.csv_button = W.Button(description="Shipments as CSV", button_style="")
        self.xlsx_button = W.Button(description="Shipments as Excel", button_style="")
        self.download = W.HTML()
        self.header = W.HTML()
        self.cards = W.HTML()
        self.charts = {name: W.Output(layout=W.Layout(min_height="120px")) for name in EXPLORER_CHARTS}
        self.table = W.HTML()
        self.status = W.HTML()
        for widget, cls in ((self.header, "kam-x-header"), (self.cards, "kam-x-cards"), (self.table, "kam-x-table"),
                            (self.download, "kam-x-download")):
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

    @classmethod
    def for_page(cls, account_id: str = "", quarter: str = "", workspace: str = "") -> "AccountExplorer":
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
        drill_title = W.HTML('<h2>Exceptions: late or damaged shipments and open cases</h2>')
        return box([self.header, controls, self.status, self.cards, grid, drill_title, filters, dates, self.download,
                    self.table], "kam-explorer", vertical=True)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.view._repr_mimebundle_(**kwargs)

    # -- behaviour

    def select(self, account_id: str, quarter: str) -> None:
        """Show ``account_id`` for ``quarter``; unknown values are refused with a message on the page."""
        if account_id not in self.source.accounts:
            self.status.value = (f'<div class="kam-error">There is no account <b>{html.escape(account_id)}</b> in '
                                 "this workspace; showing the first account instead.</div>")
            account_id = self.account.value
        elif quarter not in {v for _, v in self.quarter.options}:
            self.status.value = (f'<div class="kam-error"><b>{html.escape(quarter)}</b> is not one of the quarters '
                                 "in the data; showing the last complete quarter.</div>")
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
            self._render()

    def _on_filter(self, change: Mapping[str, Any]) -> None:
        self._render_table()
        self.download.value = ""

    def scorecard(self) -> Scorecard:
        return self.source.scorecard(self.account.value, Quarter.parse(self.quarter.value))

    def _render(self) -> None:
        sc = self.scorecard()
        self.header.value = header_html(sc)
        self.cards.value = cards_html(sc)
        for name, out in self.charts.items():
            out.outputs = (chart_output(getattr(charts, name)(sc), name.replace("_", " ")),)
        data = self.source.data(self.account.value)
        self._exceptions = exceptions_table(data)
        self.download.value = ""
        self._render_table()

    def period(self) -> tuple[dt.date, dt.date]:
        """The drill-down's and download's dates: From/To when set, else the selected quarter."""
        q = Quarter.parse(self.quarter.value)
        return (self.start.value or q.start, self.end.value or q.end)

    def visible_exceptions(self) -> pd.DataFrame:
        start, end = self.period()
        assert self._exceptions is not None
        return filter_exceptions(self._exceptions, self.show.value, self.search.value or "", self.sort.value,
                                 bool(self.descending.value), start, end)

    def _render_table(self) -> None:
        self.table.value = exceptions_html(self.visible_exceptions(), self.scorecard().account.get("currency"))

    def prepare_download(self, kind: str) -> str:
        """'csv' or 'xlsx' → the download link for the account's shipment activity of the period (also shown)."""
        start, end = self.period()
        frame = activity_frame(self.source.data(self.account.value), start, end)
        stem = f"{self.account.value}-shipments-{start:%Y%m%d}-{end:%Y%m%d}"
        if kind == "csv":
            link = download_link(to_csv_bytes(frame), f"{stem}.csv", "text/csv", "Download CSV")
        elif kind == "xlsx":
            link = download_link(to_xlsx_bytes(frame), f"{stem}.xlsx",
                                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Download Excel")
        else:
            raise ValueError(f"unknown download {kind!r}")
        self.download.value = f'<div class="kam-note">{len(frame):,} shipment(s) ready: {link}</div>'
        return self.download.value


# --------------------------------------------------------------------------------------------- book of business


@dataclass(frozen=True)
class BookRow:
    """One account in the book of business."""

    account_id: str
    name: str
    currency: str | None
    revenue: float | None
    growth_pct: float | None  # revenue vs the same quarter last year (vs prior quarter when no last year)
    otd_pct: float | None
    otd_rag: str | None
    gross_margin_pct: float | None
    health: str
    concerns: tuple[str, ...]
    days_to_renewal: int | None


HEALTH_ORDER = {"at_risk": 0, "watch": 1, "healthy": 2}


def book_row(sc: Scorecard) -> BookRow:
    """Scorecard → its BookRow (health from narrative.assess, renewal from the contract end)."""
    rev = sc.kpis.get("revenue")
    growth = None if rev is None else (rev.growth_yoy_pct if rev.growth_yoy_pct is not None else rev.growth_qoq_pct)
    a = narrative.assess(sc)
    otd = sc.kpis.get("otd_pct")
    return BookRow(sc.account_id, sc.name, sc.account.get("currency"), sc.value("revenue"), growth,
                   sc.value("otd_pct"), otd.rag if otd else None, sc.value("gross_margin_pct"), a.overall,
                   tuple(a.concerns), narrative.days_to_renewal(sc))


def rank_book(rows: Iterable[BookRow]) -> list[BookRow]:
    """Rows → at-risk accounts first, then watch, then healthy; by revenue (largest first) within each."""
    return sorted(rows, key=lambda r: (HEALTH_ORDER.get(r.health, 1), -(r.revenue or 0.0), r.account_id))


@lru_cache(maxsize=4)
def book_rows(workspace: str, quarter: str) -> tuple[tuple[BookRow, ...], str]:
    """(workspace folder, quarter or '') → (ranked rows of every account with data, the quarter shown).
    Accounts whose data cannot be loaded are left out (the batch and `kam validate` report them)."""
    from .errors import KamError

    rows: list[BookRow] = []
    with Workspace.open(workspace or None) as ws:
        q = Quarter.parse(quarter) if quarter else ws.last_complete_quarter()
        for account_id in ws.account_ids():
            try:
                rows.append(book_row(metrics.scorecard(ws.account_data(account_id), q)))
            except KamError:
                continue
    return tuple(rank_book(rows)), str(q)


def book_html(rows: Iterable[BookRow], quarter: str) -> str:
    """Ranked rows → the book-of-business table, each account linked to its explorer and its QBR page."""
    body = []
    for r in rows:
        rag = f"kam-{r.otd_rag}" if r.otd_rag else "kam-none"
        renewal = "–" if r.days_to_renewal is None else (f"{r.days_to_renewal:,}" if r.days_to_renewal >= 0 else "ended")
        explorer = html.escape(app_url("account_explorer.ipynb", account_id=r.account_id, quarter=quarter))
        qbr = html.escape(app_url("qbr.ipynb", account_id=r.account_id, quarter=quarter))
        concerns = ", ".join(r.concerns[:3])
        body.append(
            f'<tr class="kam-book-row" data-account="{html.escape(r.account_id)}">'
            f"<td><b>{html.escape(r.name)}</b><div class=\"kam-muted\">{html.escape(r.account_id)}</div></td>"
            f"<td>{health_chip(r.health)}<div class=\"kam-muted\">{html.escape(concerns)}</div></td>"
            f'<td class="num">{fmt_money(r.revenue, r.currency)}</td><td class="num">{fmt_growth(r.growth_pct)}</td>'
            f'<td class="num"><span class="kam-rag {rag}">{fmt_pct(r.otd_pct)}</span></td>'
            f'<td class="num">{fmt_pct(r.gross_margin_pct)}</td><td class="num">{renewal}</td>'
            f'<td><a href="{explorer}">Explorer</a> · <a href="{qbr}">QBR</a></td></tr>'
        )
    head = ("<tr><th>Account</th><th>Health</th><th class=\"num\">Revenue</th><th class=\"num\">Growth YoY</th>"
            "<th class=\"num\">OTD</th><th class=\"num\">Gross margin</th><th class=\"num\">Days to renewal</th>"
            "<th>Open</th></tr>")
    return f'<table class="kam-table kam-book">{head}{"".join(body)}</table>'


def book_summary_html(rows: tuple[BookRow, ...], quarter: str) -> str:
    """Ranked rows → the page title and headline counts (accounts, at risk, revenue per currency)."""
    totals: dict[str, float] = {}
    for r in rows:
        totals[r.currency or ""] = totals.get(r.currency or "", 0.0) + (r.revenue or 0.0)
    revenue = " + ".join(fmt_money(v, c or None) for c, v in sorted(totals.items()))
    at_risk = sum(r.health == "at_risk" for r in rows)
    watch = sum(r.health == "watch" for r in rows)
    cards = [("Accounts", fmt_count(len(rows)), "none"), ("At risk", fmt_count(at_risk), "red" if at_risk else "green"),
             ("Watch", fmt_count(watch), "amber" if watch else "green"), ("Revenue", revenue or "–", "none")]
    card_html = "".join(f'<div class="kam-card kam-{c}"><div class="kam-label">{html.escape(k)}</div>'
                        f'<div class="kam-value">{v}</div></div>' for k, v, c in cards)
    return (f'<header class="kam-header"><div class="kam-eyebrow">Book of business · {html.escape(fmt_quarter(quarter))}'
            f'</div><h1>Accounts ranked by revenue, at risk first</h1><p class="kam-sub">Health from service, volume, '
            f'billing, cases and margin; growth against the same quarter last year.</p></header>'
            f'<div class="kam-cards">{card_html}</div>')


class BookOfBusiness:
    """The book of business for one quarter as a page: headline counts and the ranked, linked table."""

    def __init__(self, workspace: str | Path = "", quarter: str = "") -> None:
        self.rows, self.quarter = book_rows(str(workspace or ""), quarter)
        self.view = W.HTML(book_summary_html(self.rows, self.quarter) + book_html(self.rows, self.quarter))
        self.view.add_class("kam-x-book")

    @classmethod
    def for_page(cls, quarter: str = "", workspace: str = "") -> "BookOfBusiness":
        """As a Voilà page: the default quarter's rows are computed before the request (preheated kernel),
        then the URL's ?quarter= picks the quarter."""
        params = page_params(warm=lambda: book_rows(str(workspace or ""), quarter), quarter=quarter)
        return cls(workspace, params["quarter"])

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.view._repr_mimebundle_(**kwargs)
