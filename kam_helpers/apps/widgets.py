"""The Voilà apps' widgets: the account explorer and the book of business (ipywidgets only).

Every value a widget sends back is matched against a fixed set of choices (account ids, quarters, filter
names, sort columns) or used as plain text in a substring match: nothing a page sends is evaluated.
The computations are functions of plain data (``exceptions_table``, ``filter_exceptions``,
``activity_frame``, ``book_rows``...) that the tests call without a browser.

Charts are drawn by Voilà's bundled Vega renderer: each chart sits in an ``ipywidgets.Output`` whose outputs
are replaced in one state update when the account or quarter changes, so the page redraws in place.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import html
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import ipywidgets as W
import jinja2
import pandas as pd

from kam_helpers.analyses import audit as audit_mod
from kam_helpers.analyses import forecast as forecast_mod
from kam_helpers.analyses import health as health_mod
from kam_helpers.analyses import renewal as renewal_mod
from kam_helpers.apps.server import app_url, page_params
from kam_helpers.core import safe_output
from kam_helpers.core.errors import KamError
from kam_helpers.core.formatting import (
    MINUS,
    currency_symbol,
    fmt_count,
    fmt_date,
    fmt_growth,
    fmt_money,
    fmt_pct,
    fmt_pp,
    fmt_quarter,
)
from kam_helpers.core.paths import TEMPLATES_DIR
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.store import Workspace
from kam_helpers.metrics import kpis as metrics
from kam_helpers.metrics.scorecard import Scorecard
from kam_helpers.qbr import charts, narrative
from kam_helpers.qbr.report import CARD_KPIS, kpi_row

EXPLORER_CHARTS = ("volume_revenue_trend", "otd_vs_sla", "worst_lanes", "cases_by_category")
VEGALITE_MIME = f"application/vnd.vegalite.v{charts.alt.SCHEMA_VERSION.lstrip('v').split('.')[0]}+json"
SHOW_CHOICES = (
    ("Late or damaged shipments and open cases", "all"),
    ("Late shipments", "late"),
    ("Damaged shipments", "damaged"),
    ("Open cases", "open_cases"),
)
SORT_CHOICES = (
    ("Date", "date"),
    ("Lane", "lane"),
    ("Carrier", "carrier"),
    ("Days late", "days_late"),
    ("Revenue", "revenue"),
    ("Kind", "kind"),
)
# SVG (crisp, its text readable and testable) and no "…" menu, whose items link to an online editor
EMBED_OPTIONS = {"renderer": "svg", "actions": False}
TABLE_ROWS = 200  # rows shown in the drill-down table (the download holds them all)
CACHE_SIZE = 16  # (account, quarter) views kept, so switching back is instant
QUARTERS_SHOWN = 8

_cards = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR / "report")), autoescape=True, undefined=jinja2.StrictUndefined
).get_template("cards.html.j2")


# --------------------------------------------------------------------------------------------- pure functions


def exceptions_table(data: Any, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
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
        base = pd.DataFrame(
            {
                "ref": s["shipment_id"].astype(str),
                "date": actual.where(actual.notna(), promised),
                "lane": lane,
                "carrier": s["carrier"].fillna("").astype(str),
                "status": s["status"].astype(str),
                "days_late": late_days.where(late),
                "revenue": pd.to_numeric(s["revenue"], errors="coerce"),
            }
        )
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
            by_id = {} if ships is None else dict(zip(ships["shipment_id"], metrics.lanes(ships), strict=False))
            carriers = (
                {} if ships is None else dict(zip(ships["shipment_id"], ships["carrier"].fillna(""), strict=False))
            )
            parts.append(
                pd.DataFrame(
                    {
                        "kind": "Open case",
                        "ref": open_["case_id"].astype(str),
                        "date": pd.to_datetime(open_["opened"]).dt.normalize(),
                        "lane": [by_id.get(x, "") for x in open_["shipment_id"]],
                        "carrier": [str(carriers.get(x, "")) for x in open_["shipment_id"]],
                        "status": "open",
                        "days_late": float("nan"),
                        "revenue": pd.to_numeric(open_["claim_amount"], errors="coerce"),
                        "detail": [
                            " · ".join(str(v) for v in (c, sev) if isinstance(v, str) and v)
                            for c, sev in zip(open_["category"], open_["severity"], strict=False)
                        ],
                    }
                )
            )
    columns = ["kind", "ref", "date", "lane", "carrier", "status", "days_late", "revenue", "detail"]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    out = pd.concat([p for p in parts if not p.empty] or parts, ignore_index=True)[columns]
    return out.sort_values("date", ascending=False, kind="stable").reset_index(drop=True)


def filter_exceptions(
    table: pd.DataFrame,
    show: str = "all",
    text: str = "",
    sort: str = "date",
    descending: bool = True,
    start: dt.date | None = None,
    end: dt.date | None = None,
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
    more = (
        f'<div class="kam-muted">Showing {limit} of {len(rows):,}; the download holds every shipment.</div>'
        if len(rows) > limit
        else f'<div class="kam-muted">{len(rows):,} row(s).</div>'
    )
    head = (
        "<tr><th>Kind</th><th>Reference</th><th>Date</th><th>Lane</th><th>Carrier</th>"
        '<th class="num">Days late</th><th class="num">Revenue / claim</th><th>Detail</th></tr>'
    )
    return f'<table class="kam-table kam-drill">{head}{"".join(body)}</table>{more}'


def activity_frame(data: Any, start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
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
    on_time = pd.Series(pd.NA, index=active.index, dtype="boolean").mask(
        actual.notna() & promised.notna(), actual <= promised
    )
    keep = [
        c
        for c in (
            "shipment_id",
            "ship_date",
            "mode",
            "origin",
            "destination",
            "carrier",
            "pickup_planned",
            "pickup_actual",
            "delivery_promised",
            "delivery_actual",
            "status",
            "weight_kg",
            "pallets",
            "revenue",
            "damaged",
            "short",
        )
        if c in active.columns
    ]
    return (
        active[keep]
        .assign(lane=metrics.lanes(active), on_time=on_time)
        .sort_values("ship_date", kind="stable")
        .reset_index(drop=True)
    )


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """Frame → UTF-8 CSV with a BOM (Excel opens it with the right accents); formula-like text neutralised
    (:func:`kam_helpers.core.safe_output.csv_bytes`)."""
    return safe_output.csv_bytes(frame)


def to_xlsx_bytes(frame: pd.DataFrame, sheet: str = "Shipments") -> bytes:
    """Frame → an .xlsx workbook, header frozen, columns sized to their content; text stays text
    (:func:`kam_helpers.core.safe_output.frame_to_xlsx`)."""
    return safe_output.frame_to_xlsx(frame, sheet)


def download_link(content: bytes, filename: str, mime: str, label: str) -> str:
    """Bytes → an HTML anchor with a data: URL that the browser saves as ``filename`` (works offline)."""
    href = f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"
    size = f"{len(content) / 1024:,.0f} KB"
    return (
        f'<a class="kam-download" download="{html.escape(filename)}" href="{href}">'
        f"{html.escape(label)} · {html.escape(filename)} ({size})</a>"
    )


def header_html(sc: Scorecard, health: health_mod.HealthScore | None = None) -> str:
    """Scorecard (, its HealthScore) → the explorer's title block: client, quarter, tier, KAM, renewal, and the
    account's verdict (narrative.assess: the same one as the health band, the index and the QBR's tone)."""
    a = sc.account
    health_word = narrative.assess(sc, health).overall
    days = narrative.days_to_renewal(sc)
    bits = [
        a.get("industry"),
        f"{a['tier']} account" if a.get("tier") else None,
        f"KAM {a['owner']}" if a.get("owner") else None,
        f"renewal in {days} days"
        if days is not None and days >= 0
        else ("contract ended" if days is not None else None),
    ]
    sub = " · ".join(html.escape(str(b)) for b in bits if b)
    return (
        f'<header class="kam-header"><div class="kam-eyebrow">Account explorer · {html.escape(fmt_quarter(sc.quarter))}</div>'
        f'<h1>{html.escape(sc.name)} {health_chip(health_word)}</h1><p class="kam-sub">{sub}</p></header>'
    )


HEALTH_LABELS = {
    "healthy": ("Healthy", "kam-green"),
    "watch": ("Watch", "kam-amber"),
    "at_risk": ("At risk", "kam-red"),
}


def health_chip(overall: str | None) -> str:
    """'at_risk' → a red 'At risk' chip (grey for anything unknown)."""
    label, cls = HEALTH_LABELS.get(overall or "", ("Unknown", "kam-none"))
    return f'<span class="kam-rag {cls} kam-health">{label}</span>'


def cards_html(sc: Scorecard) -> str:
    """Scorecard → the KPI cards (value, change vs prior quarter, target, RAG colour) of the QBR."""
    currency = sc.account.get("currency")
    return _cards.render(kpis=[kpi_row(sc.kpis[k], currency) for k in CARD_KPIS if k in sc.kpis])


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


# --------------------------------------------------------------------------------------------- account intelligence
# The KAM's internal panels of the explorer: health, forecast, invoice audit, renewal and the rate what-if.
# Each panel is a pure function of the analysis result (kam_helpers.analyses.health / forecast / audit / renewal).

WHAT_IF_MIN, WHAT_IF_MAX, WHAT_IF_STEP = -10.0, 10.0, 0.5  # the rate-change slider, in %
AUDIT_ROWS = 25  # audit exceptions shown (the download holds them all)
BAND_LABELS = {"green": ("Green", "kam-green"), "amber": ("Amber", "kam-amber"), "red": ("Red", "kam-red")}
TREND_WORDS = {"improving": "▲ improving", "steady": "► steady", "declining": "▼ declining"}
AUDIT_KIND_LABELS = {
    "overbilled": "Over-billed", "underbilled": "Under-billed", "missing_fuel": "Fuel surcharge missing",
    "unauthorised_accessorial": "Accessorial not on the rate card", "duplicate_line": "Duplicate line",
    "unbilled": "Delivered, not invoiced", "unrated": "No rate card applies", "sla_credit": "SLA credit owed",
}  # fmt: skip


@dataclass(frozen=True)
class Analyses:
    """The analyses of one account and quarter, each the result or, when it has no data, why (a sentence)."""

    health: health_mod.HealthScore | str
    forecast: forecast_mod.Forecast | str
    audit: audit_mod.Audit | str
    renewal: renewal_mod.Renewal | str


def compute_analyses(data: Any, quarter: Quarter | str) -> Analyses:
    """AccountData, quarter → Analyses: health (with history), forecast of the next 4 quarters, invoice audit
    of the quarter, renewal status. An analysis that raises a KamError (no data) is replaced by its message."""
    q = Quarter.parse(quarter)

    def attempt(fn: Any) -> Any:
        try:
            return fn(data, q)
        except KamError as e:
            return str(e)

    return Analyses(
        attempt(health_mod.health_score),
        attempt(forecast_mod.forecast),
        attempt(audit_mod.invoice_audit),
        attempt(renewal_mod.renewal),
    )


def _missing_note(what: str, why: str) -> str:
    return f'<div class="kam-note">{html.escape(what)}: {html.escape(why)}</div>'


def money_exact(x: float | None, currency: str | None) -> str:
    """Money to the unit for figures compared side by side: 2_091_553.28 → '€2,091,553' (−: U+2212)."""
    if x is None or pd.isna(x):
        return "–"
    v = round(float(x))
    return f"{MINUS if v < 0 else ''}{currency_symbol(currency)}{abs(v):,.0f}"


def health_html(h: health_mod.HealthScore | str) -> str:
    """HealthScore → the health panel: score /100 in its band colour, change vs the prior quarter, the drivers'
    sentences, the redistribution notes and the score of the last quarters."""
    if isinstance(h, str):
        return _missing_note("No health score", h)
    label, cls = BAND_LABELS.get(h.band, (str(h.band), "kam-none"))
    hist = h.history
    if len(hist) >= 2 and not pd.isna(hist["change"].iloc[-1]):
        change = float(hist["change"].iloc[-1])
        sign = "+" if change > 0 else (MINUS if change < 0 else "±")
        delta = (
            f"{sign}{abs(change):.1f} points vs {fmt_quarter(hist['quarter'].iloc[-2])}"
            f"{' · ' + TREND_WORDS[h.trend] if h.trend in TREND_WORDS else ''}"
        )
    else:
        delta = "no prior quarter to compare with"
    drivers = "".join(f"<li>{html.escape(d.text)}</li>" for d in h.drivers)
    drivers = (
        f'<div class="kam-label-line">What costs points</div><ul class="kam-x-drivers">{drivers}</ul>'
        if drivers
        else '<div class="kam-muted">No measure costs points.</div>'
    )
    notes = "".join(f'<div class="kam-muted kam-x-redistributed">{html.escape(n)}</div>' for n in h.redistributed)
    if h.verdict is not None and h.verdict.reasons:
        why = "; ".join(h.verdict.reasons)
        notes += (
            f'<div class="kam-x-verdict">Verdict {html.escape(HEALTH_LABELS[h.verdict.overall][0].lower())} although '
            f"the score alone is {html.escape(str(h.score_band))}: {html.escape(why)}.</div>"
        )
    past = " · ".join(
        f"{fmt_quarter(r.quarter)} {r.score:.0f}"
        for r in hist.tail(QUARTERS_SHOWN).itertuples()
        if not pd.isna(r.score)
    )
    past_html = f'<div class="kam-muted">Score by quarter: {html.escape(past)}</div>' if len(hist) > 1 else ""
    return (
        f'<div class="kam-x-split kam-x-health-panel" data-score="{h.score:.1f}" data-band="{html.escape(h.band)}">'
        f'<div class="kam-card {cls} kam-x-score"><div class="kam-label">Health score</div>'
        f'<div class="kam-value">{h.score:.0f}<span class="kam-x-of">/100</span></div>'
        f'<div><span class="kam-rag {cls}">{label}</span></div>'
        f'<div class="kam-delta kam-x-trend">{html.escape(delta)}</div></div>'
        f'<div class="kam-x-detail">{drivers}{notes}{past_html}</div></div>'
    )


def _interval(lower: float, upper: float, fmt: Callable[[float], str]) -> str:
    """An interval as 'lo–hi', or 'no range yet' when it cannot be computed (too few quarters): never 'n/a–n/a'."""
    if pd.isna(lower) or pd.isna(upper):
        return "no range yet"
    return f"{fmt(lower)}–{fmt(upper)}"


def forecast_html(fc: forecast_mod.Forecast | str, currency: str | None) -> str:
    """Forecast → the next quarters of shipments and revenue with their interval (after the last actual
    quarter), and beside the table, always, the forecast's note: method, interval and backtest accuracy.
    Revenue says 'no data' when the account's history has no revenue at all (never a ₹0 forecast)."""
    if isinstance(fc, str):
        return _missing_note("No forecast", fc)
    frame = fc.frame.set_index(["metric", "quarter"])
    last = fc.history.iloc[-1]
    has_revenue = bool(fc.history["revenue"].fillna(0).ne(0).any())

    def money(x: float | None) -> str:
        return fmt_money(x, currency)

    no_revenue = '<td class="num kam-muted">no data</td><td class="num kam-muted">no revenue forecast</td>'
    body = [
        f'<tr class="kam-x-actual"><td>{fmt_quarter(last["quarter"])} <span class="kam-muted">actual</span></td>'
        f'<td class="num">{fmt_count(last["shipments"])}</td><td></td>'
        + (f'<td class="num">{money(last["revenue"])}</td><td></td></tr>' if has_revenue else f"{no_revenue}</tr>")
    ]
    for q in fc.frame["quarter"].drop_duplicates():
        s, r = frame.loc[("shipments", q)], frame.loc[("revenue", q)]
        revenue = (
            f'<td class="num">{money(r["point"])}</td>'
            f'<td class="num kam-muted">{_interval(r["lower"], r["upper"], money)}</td>'
            if has_revenue
            else no_revenue
        )
        body.append(
            f'<tr class="kam-x-forecast-row" data-quarter="{html.escape(q)}"><td>{fmt_quarter(q)}</td>'
            f'<td class="num">{fmt_count(s["point"])}</td>'
            f'<td class="num kam-muted">{_interval(s["lower"], s["upper"], fmt_count)}</td>{revenue}</tr>'
        )
    level = f"{fc.level:.0%}"
    head = (
        f'<tr><th>Quarter</th><th class="num">Shipments</th><th class="num">{level} interval</th>'
        f'<th class="num">Revenue</th><th class="num">{level} interval</th></tr>'
    )
    warnings = "".join(f'<div class="kam-muted">{html.escape(w)}</div>' for w in fc.warnings)
    return (
        f'<div class="kam-x-split kam-x-forecast-panel"><table class="kam-table kam-x-forecast">{head}'
        f'{"".join(body)}</table><div class="kam-note kam-x-forecast-note">{html.escape(fc.note)}{warnings}'
        f"</div></div>"
    )


def audit_html(a: audit_mod.Audit | str, currency: str | None, limit: int = AUDIT_ROWS) -> str:
    """Audit → what was checked, totals by kind and by charge type, and the exception rows (at most ``limit``).
    Amount = billed − expected: positive means the client was over-charged."""
    if isinstance(a, str):
        return _missing_note("No invoice audit", a)
    period = fmt_quarter(a.quarter) if a.quarter else "all shipments"
    n = len(a.exceptions)
    lead = (
        f'<p class="kam-x-audit-lead">{fmt_count(a.shipments_checked)} shipment(s) of {period} re-rated against '
        f"the rate card: <b>{fmt_count(n)}</b> exception(s), net {html.escape(money_exact(a.net_amount, currency))}"
        " (billed − expected; positive = the client was over-charged).</p>"
    )

    def totals(frame: pd.DataFrame, column: str, title: str, labels: Mapping[str, str]) -> str:
        if frame.empty:
            return ""
        rows = "".join(
            f'<tr><td>{html.escape(labels.get(str(k), str(k)))}</td><td class="num">{int(c):,}</td>'
            f'<td class="num">{html.escape(money_exact(v, currency))}</td></tr>'
            for k, c, v in frame[[column, "count", "amount"]].itertuples(index=False)
        )
        return (
            f'<table class="kam-table kam-x-audit-{column}"><tr><th>{title}</th><th class="num">Count</th>'
            f'<th class="num">Amount</th></tr>{rows}</table>'
        )

    sums = (
        f'<div class="kam-x-split">{totals(a.by_kind, "kind", "Kind", AUDIT_KIND_LABELS)}'
        f"{totals(a.by_charge_type, 'charge_type', 'Charge type', {})}</div>"
    )
    notes = "".join(f'<div class="kam-muted">{html.escape(x)}</div>' for x in a.notes)
    if not n:
        return lead + notes + '<div class="kam-note">No exception: every checked charge matches the rate card.</div>'
    body = []
    for r in a.exceptions.head(limit).itertuples(index=False):
        line = "" if pd.isna(r.line_no) else f"{int(r.line_no)}"
        body.append(
            f'<tr class="kam-x-audit-row"><td>{html.escape(AUDIT_KIND_LABELS.get(r.kind, r.kind))}</td>'
            f"<td>{html.escape(str(r.shipment_id or ''))}</td><td>{html.escape(str(r.invoice_id or ''))}</td>"
            f'<td class="num">{line}</td><td>{html.escape(str(r.charge_type or ""))}</td>'
            f"<td>{fmt_date(r.ship_date) if not pd.isna(r.ship_date) else ''}</td>"
            f'<td class="num">{html.escape(money_exact(r.billed, currency))}</td>'
            f'<td class="num">{html.escape(money_exact(r.expected, currency))}</td>'
            f'<td class="num">{html.escape(money_exact(r.amount, currency))}</td>'
            f"<td>{html.escape(str(r.detail or ''))}</td></tr>"
        )
    head = (
        '<tr><th>Kind</th><th>Shipment</th><th>Invoice</th><th class="num">Line</th><th>Charge</th>'
        '<th>Ship date</th><th class="num">Billed</th><th class="num">Expected</th><th class="num">Amount</th>'
        "<th>Detail</th></tr>"
    )
    more = (
        f'<div class="kam-muted">Showing {limit} of {n:,}; the download holds every exception.</div>'
        if n > limit
        else f'<div class="kam-muted">{n:,} exception(s).</div>'
    )
    return f'{lead}{sums}{notes}<table class="kam-table kam-x-audit">{head}{"".join(body)}</table>{more}'


def audit_xlsx_bytes(a: audit_mod.Audit) -> bytes:
    """Audit → the billing team's workbook (audit.to_excel: Summary and Exceptions sheets) as bytes."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kam-audit-") as tmp:
        return audit_mod.to_excel(a, Path(tmp) / "audit.xlsx").read_bytes()


def renewal_html(r: renewal_mod.Renewal | str) -> str:
    """Renewal → cards: days to renewal, shipments of the last four quarters against the commitment, pace of the
    contract year and its projection."""
    if isinstance(r, str):
        return _missing_note("No renewal status", r)
    days = r.days_to_renewal
    days_text = "–" if days is None else (f"{days:,}" if days >= 0 else "ended")
    days_cls = "none" if days is None else ("red" if days < 90 else "amber" if days < 180 else "green")
    commit = "–" if r.pct_of_commitment_4q is None else fmt_pct(r.pct_of_commitment_4q)
    pace_cls = (
        "none" if r.pace_pct is None else ("green" if r.pace_pct >= 100 else "amber" if r.pace_pct >= 90 else "red")
    )
    cards = [
        ("Days to renewal", days_text, f"contract ends {fmt_date(r.contract_end)}" if r.contract_end else "no contract end", days_cls),
        ("Last 4 quarters", fmt_count(r.actual_last_4q), "shipments" + (f", {commit} of {fmt_count(r.committed_annual)} committed"
                                                                        if r.committed_annual else ""), "none"),
        ("Contract-year pace", fmt_pct(r.pace_pct) if r.pace_pct is not None else "–",
         f"projected {fmt_count(r.projected_year)} shipments" if r.projected_year is not None else "no commitment to pace", pace_cls),
    ]  # fmt: skip
    return (
        '<div class="kam-cards">'
        + "".join(
            f'<div class="kam-card kam-{c}"><div class="kam-label">{html.escape(k)}</div><div class="kam-value">{html.escape(v)}'
            f'</div><div class="kam-delta">{html.escape(d)}</div></div>'
            for k, v, d, c in cards
        )
        + "</div>"
    )


def what_if_html(w: renewal_mod.WhatIf | str, currency: str | None) -> str:
    """WhatIf → revenue, cost and gross margin before and after the rate change, on the last four quarters."""
    if isinstance(w, str):
        return _missing_note("No what-if", w)
    sign = "+" if w.change_pct > 0 else (MINUS if w.change_pct < 0 else "±")
    volume = (
        "volume unchanged"
        if not w.volume_change_pct
        else f"volume {'+' if w.volume_change_pct > 0 else MINUS}{abs(w.volume_change_pct):.1f}%"
    )
    span = f"{fmt_quarter(w.quarters[0])} – {fmt_quarter(w.quarters[-1])}"

    def diff(before: float | None, after: float | None, pct: bool = False) -> str:
        if before is None or after is None:
            return "–"
        if pct:
            return fmt_pp(after - before)
        return ("+" if round(after - before) >= 1 else "") + money_exact(after - before, currency)

    rows = [
        (
            "Revenue",
            "revenue",
            money_exact(w.revenue_before, currency),
            money_exact(w.revenue_after, currency),
            diff(w.revenue_before, w.revenue_after),
        ),
        (
            "Cost",
            "cost",
            money_exact(w.cost_before, currency),
            money_exact(w.cost_after, currency),
            diff(w.cost_before, w.cost_after),
        ),
        (
            "Gross margin",
            "margin",
            money_exact(w.margin_before, currency),
            money_exact(w.margin_after, currency),
            diff(w.margin_before, w.margin_after),
        ),
        (
            "Gross margin %",
            "margin_pct",
            fmt_pct(w.margin_pct_before),
            fmt_pct(w.margin_pct_after),
            diff(w.margin_pct_before, w.margin_pct_after, pct=True),
        ),
    ]
    body = "".join(
        f'<tr><td>{k}</td><td class="num" data-field="{f}_before">{html.escape(b)}</td>'
        f'<td class="num" data-field="{f}_after"><b>{html.escape(a)}</b></td>'
        f'<td class="num kam-muted">{html.escape(d)}</td></tr>'
        for k, f, b, a, d in rows
    )
    return (
        f'<div class="kam-x-whatif" data-change="{w.change_pct:+.1f}"><p>Rates <b>{sign}{abs(w.change_pct):.1f}%</b>'
        f" applied to the activity of the last four quarters ({span}), {volume}:</p>"
        f'<table class="kam-table kam-x-whatif-table"><tr><th></th><th class="num">Actual</th>'
        f'<th class="num">With the change</th><th class="num">Difference</th></tr>{body}</table></div>'
    )


# --------------------------------------------------------------------------------------------- data access


class AccountSource:
    """Reads one account at a time from the store, keeping the last few accounts and scorecards in memory."""

    def __init__(self, workspace: str | Path = "") -> None:
        with Workspace.open(workspace or None) as ws:
            self.folder = ws.folder
            accounts = ws.accounts()
            self.last_quarter = ws.last_complete_quarter()
            first = (
                ws.query(
                    "SELECT min(CAST(coalesce(pickup_actual, pickup_planned, delivery_actual, delivery_promised) AS DATE))"
                    " AS d FROM shipments"
                )
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
            self._scorecards[key] = metrics.scorecard(self.data(account_id), quarter)
            while len(self._scorecards) > CACHE_SIZE:
                self._scorecards.popitem(last=False)
        return self._scorecards[key]


# --------------------------------------------------------------------------------------------- the explorer


XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def file_link(kind: str, stem: str, csv: Callable[[], bytes], xlsx: Callable[[], bytes]) -> str:
    """'csv' or 'xlsx', file name stem, builders of each → an offline download link (only the asked one is built)."""
    if kind == "csv":
        return download_link(csv(), f"{stem}.csv", "text/csv", "Download CSV")
    if kind == "xlsx":
        return download_link(xlsx(), f"{stem}.xlsx", XLSX_MIME, "Download Excel")
    raise ValueError(f"unknown download {kind!r}")


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
        # account intelligence (internal): health, forecast, renewal with the rate what-if, invoice audit
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
        except KamError:  # no measure has data: the verdict follows the concerns alone
            verdict_from = None
        self.header.value = header_html(sc, verdict_from)
        self.cards.value = cards_html(sc)
        for name, out in self.charts.items():
            out.outputs = (chart_output(getattr(charts, name)(sc), name.replace("_", " ")),)
        self._exceptions = exceptions_table(data)
        self.download.value = ""
        self._render_table()
        if defer_analyses:
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

    def _render_analyses(self) -> None:
        a = self.analyses()
        currency = self.scorecard().account.get("currency")
        self.health.value = health_html(a.health)
        self.forecast.value = forecast_html(a.forecast, currency)
        self.renewal.value = renewal_html(a.renewal)
        self.audit.value = audit_html(a.audit, currency)
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
            except KamError as e:
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
            self.audit_download.value = _missing_note("Nothing to download", a)
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
    health_score: float | None = None  # health.health_score (0–100), None when it has no data
    health_band: str | None = None  # green / amber / red


HEALTH_ORDER = {"at_risk": 0, "watch": 1, "healthy": 2}


BOOK_SORT_CHOICES = (
    ("At risk first", "risk"),
    ("Health score, lowest first", "health_score"),
    ("Revenue, largest first", "revenue"),
    ("Renewal, soonest first", "renewal"),
)


def book_row(sc: Scorecard, health: health_mod.HealthScore | None = None) -> BookRow:
    """Scorecard (, its HealthScore) → its BookRow (assessment from narrative.assess, renewal from the
    contract end, health score and band from ``health``)."""
    rev = sc.kpis.get("revenue")
    growth = None if rev is None else (rev.growth_yoy_pct if rev.growth_yoy_pct is not None else rev.growth_qoq_pct)
    a = narrative.assess(sc, health)
    otd = sc.kpis.get("otd_pct")
    return BookRow(
        sc.account_id,
        sc.name,
        sc.account.get("currency"),
        sc.value("revenue"),
        growth,
        sc.value("otd_pct"),
        otd.rag if otd else None,
        sc.value("gross_margin_pct"),
        a.overall,
        tuple(a.concerns),
        narrative.days_to_renewal(sc),
        None if health is None else float(health.score),
        None if health is None else health.band,
    )


def rank_book(rows: Iterable[BookRow]) -> list[BookRow]:
    """Rows → at-risk accounts first, then watch, then healthy; by revenue (largest first) within each."""
    return sorted(rows, key=lambda r: (HEALTH_ORDER.get(r.health, 1), -(r.revenue or 0.0), r.account_id))


def sort_book(rows: Iterable[BookRow], by: str = "risk") -> list[BookRow]:
    """Rows → ordered by one of BOOK_SORT_CHOICES' values: 'risk' (rank_book), 'health_score' (lowest first),
    'revenue' (largest first), 'renewal' (fewest days to renewal first; ended contracts before them). Rows
    without the value go last; ties keep the at-risk-first order. Unknown ``by`` raises ValueError."""
    if by not in {v for _, v in BOOK_SORT_CHOICES}:
        raise ValueError(f"unknown sort {by!r}")
    ranked = rank_book(rows)
    if by == "risk":
        return ranked
    value = {
        "health_score": lambda r: r.health_score,
        "revenue": lambda r: None if r.revenue is None else -r.revenue,
        "renewal": lambda r: r.days_to_renewal,
    }[by]

    def key(r: BookRow) -> tuple[bool, float]:
        v = value(r)
        missing = v is None or bool(pd.isna(v))
        return (missing, 0.0 if missing else float(v))

    return sorted(ranked, key=key)  # stable: ties keep the at-risk-first order


@lru_cache(maxsize=4)
def book_rows(workspace: str, quarter: str) -> tuple[tuple[BookRow, ...], str]:
    """(workspace folder, quarter or '') → (ranked rows of every account with data, the quarter shown).
    Accounts whose data cannot be loaded are left out (the batch and `kam validate` report them)."""
    rows: list[BookRow] = []
    with Workspace.open(workspace or None) as ws:
        q = Quarter.parse(quarter) if quarter else ws.last_complete_quarter()
        for account_id in ws.account_ids():
            try:
                data = ws.account_data(account_id)
                sc = metrics.scorecard(data, q)
            except KamError:
                continue
            try:
                health = health_mod.health_score(data, q, with_history=False)
            except KamError:
                health = None
            rows.append(book_row(sc, health))
    return tuple(rank_book(rows)), str(q)


def book_html(rows: Iterable[BookRow], quarter: str) -> str:
    """Ranked rows → the book-of-business table, each account linked to its explorer and its QBR page."""
    body = []
    for r in rows:
        rag = f"kam-{r.otd_rag}" if r.otd_rag else "kam-none"
        renewal = (
            "–" if r.days_to_renewal is None else (f"{r.days_to_renewal:,}" if r.days_to_renewal >= 0 else "ended")
        )
        explorer = html.escape(app_url("account_explorer.ipynb", account_id=r.account_id, quarter=quarter))
        qbr = html.escape(app_url("qbr.ipynb", account_id=r.account_id, quarter=quarter))
        concerns = ", ".join(r.concerns[:3])
        if r.health_score is None or pd.isna(r.health_score):
            score = '<span class="kam-rag kam-none kam-x-book-score">–</span>'
        else:
            band = BAND_LABELS.get(r.health_band or "", ("", "kam-none"))[1]
            score = f'<span class="kam-rag {band} kam-x-book-score">{r.health_score:.0f}</span>'
        body.append(
            f'<tr class="kam-book-row" data-account="{html.escape(r.account_id)}">'
            f'<td><b>{html.escape(r.name)}</b><div class="kam-muted">{html.escape(r.account_id)}</div></td>'
            f'<td>{health_chip(r.health)}<div class="kam-muted">{html.escape(concerns)}</div></td>'
            f'<td class="num">{score}</td>'
            f'<td class="num">{fmt_money(r.revenue, r.currency)}</td><td class="num">{fmt_growth(r.growth_pct)}</td>'
            f'<td class="num"><span class="kam-rag {rag}">{fmt_pct(r.otd_pct)}</span></td>'
            f'<td class="num">{fmt_pct(r.gross_margin_pct)}</td><td class="num">{renewal}</td>'
            f'<td><a href="{explorer}">Explorer</a> · <a href="{qbr}">QBR</a></td></tr>'
        )
    head = (
        '<tr><th>Account</th><th>Health</th><th class="num">Score</th><th class="num">Revenue</th><th class="num">Growth YoY</th>'
        '<th class="num">OTD</th><th class="num">Gross margin</th><th class="num">Days to renewal</th>'
        "<th>Open</th></tr>"
    )
    return f'<table class="kam-table kam-book">{head}{"".join(body)}</table>'


def book_summary_html(rows: tuple[BookRow, ...], quarter: str) -> str:
    """Ranked rows → the page title and headline counts (accounts, at risk, revenue per currency)."""
    totals: dict[str, float] = {}
    for r in rows:
        totals[r.currency or ""] = totals.get(r.currency or "", 0.0) + (r.revenue or 0.0)
    revenue = " + ".join(fmt_money(v, c or None) for c, v in sorted(totals.items()))
    at_risk = sum(r.health == "at_risk" for r in rows)
    watch = sum(r.health == "watch" for r in rows)
    cards = [
        ("Accounts", fmt_count(len(rows)), "none"),
        ("At risk", fmt_count(at_risk), "red" if at_risk else "green"),
        ("Watch", fmt_count(watch), "amber" if watch else "green"),
        ("Revenue", revenue or "–", "none"),
    ]
    card_html = "".join(
        f'<div class="kam-card kam-{c}"><div class="kam-label">{html.escape(k)}</div>'
        f'<div class="kam-value">{v}</div></div>'
        for k, v, c in cards
    )
    return (
        f'<header class="kam-header"><div class="kam-eyebrow">Book of business · {html.escape(fmt_quarter(quarter))}'
        f'</div><h1>Accounts ranked by revenue, at risk first</h1><p class="kam-sub">Health from service, volume, '
        f"billing, cases and margin; growth against the same quarter last year.</p></header>"
        f'<div class="kam-cards">{card_html}</div>'
    )


class BookOfBusiness:
    """The book of business for one quarter as a page: headline counts and the linked table, at risk first or
    sorted by the "Sort by" dropdown (health score, revenue, renewal), re-rendered in place."""

    def __init__(self, workspace: str | Path = "", quarter: str = "") -> None:
        self.rows, self.quarter = book_rows(str(workspace or ""), quarter)
        self.summary = W.HTML(book_summary_html(self.rows, self.quarter))
        self.sort = W.Dropdown(
            options=list(BOOK_SORT_CHOICES), value="risk", description="Sort by", layout=W.Layout(width="320px")
        )
        self.table = W.HTML()
        self.table.add_class("kam-x-book-table")
        controls = W.HBox([self.sort])
        controls.add_class("kam-x-controls")
        self.view = W.VBox([self.summary, controls, self.table])
        self.view.add_class("kam-x-book")
        self._render()
        self.sort.observe(lambda _: self._render(), names="value")

    def visible_rows(self) -> list[BookRow]:
        """The rows in the order the dropdown asks (only one of BOOK_SORT_CHOICES' values is accepted)."""
        return sort_book(self.rows, str(self.sort.value))

    def _render(self) -> None:
        self.table.value = book_html(self.visible_rows(), self.quarter)

    @classmethod
    def for_page(cls, quarter: str = "", workspace: str = "") -> BookOfBusiness:
        """As a Voilà page: the default quarter's rows are computed before the request (preheated kernel),
        then the URL's ?quarter= picks the quarter."""
        params = page_params(warm=lambda: book_rows(str(workspace or ""), quarter), quarter=quarter)
        return cls(workspace, params["quarter"])

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.view._repr_mimebundle_(**kwargs)
