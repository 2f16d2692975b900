"""The explorer's HTML panels, each a pure function of a result: the title block and KPI cards of a scorecard,
and the KAM's internal panels of the analyses (health, forecast, invoice audit, renewal and the rate what-if,
where late deliveries concentrate).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jinja2
import pandas as pd

from kam_helpers.analyses import audit as audit_mod
from kam_helpers.analyses import forecast as forecast_mod
from kam_helpers.analyses import health as health_mod
from kam_helpers.analyses import renewal as renewal_mod
from kam_helpers.analyses import root_cause as root_cause_mod
from kam_helpers.analyses.assessment import assess, days_to_renewal
from kam_helpers.core.errors import NoDataError
from kam_helpers.core.formatting import (
    fmt_change,
    fmt_count,
    fmt_date,
    fmt_money,
    fmt_money_exact,
    fmt_pct,
    fmt_pp,
    fmt_quarter,
)
from kam_helpers.core.paths import TEMPLATES_DIR
from kam_helpers.core.quarters import Quarter
from kam_helpers.metrics import prepare
from kam_helpers.metrics.scorecard import Scorecard
from kam_helpers.qbr.outline import CARD_KPIS
from kam_helpers.qbr.report import kpi_row
from kam_helpers.qbr.styles import SCOPE, stylesheet

if TYPE_CHECKING:
    import ipywidgets as W

QUARTERS_SHOWN = 8

_cards = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR / "report")), autoescape=True, undefined=jinja2.StrictUndefined
).get_template("cards.html.j2")


def header_html(sc: Scorecard, health: health_mod.HealthScore | None = None, *, verdict: bool = True) -> str:
    """Scorecard (, its HealthScore) → the explorer's title block: client, quarter, tier, KAM, renewal, and the
    account's verdict (assessment.assess: the same one as the health band, the index and the QBR's tone), or
    with ``verdict=False`` a chip that says the verdict is being computed."""
    a = sc.account
    chip = (
        health_chip(assess(sc, health).overall)
        if verdict
        else '<span class="kam-rag kam-none kam-health kam-loading">verdict…</span>'
    )
    days = days_to_renewal(sc)
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
        f'<h1>{html.escape(sc.name)} {chip}</h1><p class="kam-sub">{sub}</p></header>'
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
    root_cause: root_cause_mod.RootCause | str


# each analysis of the panels, from the account's prepared frames (or its data) and the quarter
ANALYSES: dict[str, Callable[[Any, Any, Quarter], Any]] = {
    "health": lambda prepared, data, q: health_mod.health_score(prepared, q),
    "forecast": lambda prepared, data, q: forecast_mod.forecast(prepared, q),
    "audit": lambda prepared, data, q: audit_mod.invoice_audit(prepared, q),
    "renewal": lambda prepared, data, q: renewal_mod.renewal(prepared, q),
    "root_cause": lambda prepared, data, q: root_cause_mod.root_causes(data, q),
}


def analysis_or_why(key: str, prepared: Any, data: Any, quarter: Quarter) -> Any:
    """One of ANALYSES → its result, or when it has no data for it (NoDataError) that message."""
    try:
        return ANALYSES[key](prepared, data, quarter)
    except NoDataError as e:
        return str(e)


def compute_analyses(data: Any, quarter: Quarter | str) -> Analyses:
    """AccountData, quarter → Analyses: health (with history), forecast of the next 4 quarters, invoice audit
    of the quarter, renewal status, root causes of the quarter's misses; the account's frames are prepared once
    for all of them. An analysis without data for it (NoDataError) is replaced by that message."""
    q = Quarter.parse(quarter)
    prepared = prepare(data)
    return Analyses(**{key: analysis_or_why(key, prepared, data, q) for key in ANALYSES})


def missing_note(what: str, why: str) -> str:
    return f'<div class="kam-note">{html.escape(what)}: {html.escape(why)}</div>'


def loading_note(selection: str) -> str:
    """'Name (Q3 2026)' → the note an analysis panel shows while that selection's analyses are computed."""
    return f'<div class="kam-note kam-loading">Computing the analyses of {html.escape(selection)}…</div>'


def health_html(h: health_mod.HealthScore | str) -> str:
    """HealthScore → the health panel: score /100 in its band colour, change vs the prior quarter, the drivers'
    sentences, the redistribution notes and the score of the last quarters."""
    if isinstance(h, str):
        return missing_note("No health score", h)
    label, cls = BAND_LABELS.get(h.band, (str(h.band), "kam-none"))
    hist = h.history
    if len(hist) >= 2 and not pd.isna(hist["change"].iloc[-1]):
        change = float(hist["change"].iloc[-1])
        delta = (
            f"{fmt_change(change, suffix=' points')} vs {fmt_quarter(hist['quarter'].iloc[-2])}"
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
        return missing_note("No forecast", fc)
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
        return missing_note("No invoice audit", a)
    period = fmt_quarter(a.quarter) if a.quarter else "all shipments"
    n = len(a.exceptions)
    lead = (
        f'<p class="kam-x-audit-lead">{fmt_count(a.shipments_checked)} shipment(s) of {period} re-rated against '
        f"the rate card: <b>{fmt_count(n)}</b> exception(s), net {html.escape(fmt_money_exact(a.net_amount, currency))}"
        " (billed − expected; positive = the client was over-charged).</p>"
    )

    def totals(frame: pd.DataFrame, column: str, title: str, labels: Mapping[str, str]) -> str:
        if frame.empty:
            return ""
        rows = "".join(
            f'<tr><td>{html.escape(labels.get(str(k), str(k)))}</td><td class="num">{int(c):,}</td>'
            f'<td class="num">{html.escape(fmt_money_exact(v, currency))}</td></tr>'
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
            f'<td class="num">{html.escape(fmt_money_exact(r.billed, currency))}</td>'
            f'<td class="num">{html.escape(fmt_money_exact(r.expected, currency))}</td>'
            f'<td class="num">{html.escape(fmt_money_exact(r.amount, currency))}</td>'
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


def renewal_html(r: renewal_mod.Renewal | str) -> str:
    """Renewal → cards: days to renewal, shipments of the last four quarters against the commitment, pace of the
    contract year and its projection."""
    if isinstance(r, str):
        return missing_note("No renewal status", r)
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
        return missing_note("No what-if", w)
    volume = "volume unchanged" if not w.volume_change_pct else f"volume {fmt_change(w.volume_change_pct, suffix='%')}"
    span = f"{fmt_quarter(w.quarters[0])} – {fmt_quarter(w.quarters[-1])}"

    def diff(before: float | None, after: float | None, pct: bool = False) -> str:
        if before is None or after is None:
            return "–"
        if pct:
            return fmt_pp(after - before)
        return fmt_money_exact(after - before, currency, plus=True)

    rows = [
        (
            "Revenue",
            "revenue",
            fmt_money_exact(w.revenue_before, currency),
            fmt_money_exact(w.revenue_after, currency),
            diff(w.revenue_before, w.revenue_after),
        ),
        (
            "Cost",
            "cost",
            fmt_money_exact(w.cost_before, currency),
            fmt_money_exact(w.cost_after, currency),
            diff(w.cost_before, w.cost_after),
        ),
        (
            "Gross margin",
            "margin",
            fmt_money_exact(w.margin_before, currency),
            fmt_money_exact(w.margin_after, currency),
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
        f'<div class="kam-x-whatif" data-change="{w.change_pct:+.1f}"><p>Rates <b>{fmt_change(w.change_pct, suffix="%")}</b>'
        f" applied to the activity of the last four quarters ({span}), {volume}:</p>"
        f'<table class="kam-table kam-x-whatif-table"><tr><th></th><th class="num">Actual</th>'
        f'<th class="num">With the change</th><th class="num">Difference</th></tr>{body}</table></div>'
    )


def root_cause_html(rc: root_cause_mod.RootCause | str) -> str:
    """RootCause → where the quarter's late deliveries concentrate (lane with carrier, against the rest of the
    account, recurring since), the hotspots of the last quarters pooled, and the lanes of repeat complaints."""
    if isinstance(rc, str):
        return missing_note("No root causes", rc)
    fig = rc.figures()
    quarter = fmt_quarter(rc.quarter)
    if not rc.deliveries:
        return missing_note("No root causes", f"no delivery of {quarter} has a recorded delivery date")

    def hotspot_rows(rows: list[dict[str, Any]]) -> str:
        return "".join(
            f"<tr><td>{html.escape(h['lane'])}</td><td>{html.escape(h['carrier'])}</td>"
            f'<td class="num">{fmt_count(h["late"])} of {fmt_count(h["shipments"])}</td>'
            f'<td class="num">{fmt_pct(h["rate_pct"])}</td><td class="num">{fmt_pct(h["rest_rate_pct"])}</td>'
            f"<td>{html.escape(fmt_quarter(h['since']))}</td></tr>"
            for h in rows
        )

    head = (
        '<tr><th>Lane</th><th>Carrier</th><th class="num">Late</th><th class="num">Late rate</th>'
        '<th class="num">Late rate elsewhere</th><th>Since</th></tr>'
    )
    parts = [
        f'<p class="kam-x-rc-lead">{fmt_count(fig["late"])} of {fmt_count(rc.deliveries)} deliveries due in '
        f"{quarter} were late.</p>"
    ]
    if fig["hotspots"]:
        parts.append(f'<table class="kam-table kam-x-rc-hotspots">{head}{hotspot_rows(fig["hotspots"])}</table>')
    elif fig["late"]:
        parts.append('<div class="kam-note">The late deliveries are spread: no lane and carrier stands out.</div>')
    if fig["pooled"]:
        since = fmt_quarter(fig["window_start"])
        parts.append(f"<h3>Pooled from {html.escape(since)} to {quarter}</h3>")
        parts.append(f'<table class="kam-table kam-x-rc-pooled">{head}{hotspot_rows(fig["pooled"])}</table>')
    if fig["recurrence"]:
        rows = "".join(
            f"<tr><td>{html.escape(r['category'])}</td><td>{html.escape(r['lane'])}</td>"
            f'<td class="num">{fmt_count(r["repeats"])} of {fmt_count(r["cases"])}</td></tr>'
            for r in fig["recurrence"]
        )
        parts.append(
            '<h3>Repeat complaints</h3><table class="kam-table kam-x-rc-recurrence"><tr><th>Category</th>'
            f'<th>Lane</th><th class="num">Repeats</th></tr>{rows}</table>'
        )
    parts.extend(f'<div class="kam-muted">{html.escape(x)}</div>' for x in rc.no_data)
    return "".join(parts)


def scoped_view(view: W.Widget) -> W.Box:
    """An app's widget → the same inside a box of class ``kam-scoped`` that carries the workspace's stylesheet
    (scoped, :mod:`kam_helpers.qbr.styles`): the app looks the same in JupyterLab as on its Voilà page."""
    import ipywidgets as W

    style = W.HTML(f"<style>{stylesheet()}</style>", layout=W.Layout(display="none"))
    box = W.VBox([style, view])
    box.add_class(SCOPE)
    return box
