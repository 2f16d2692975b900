"""The explorer's drill-down: late and damaged shipments and open cases of one account as a table, filtered,
searched and sorted by what the page's controls send (each value matched against fixed choices or used as
plain text in a substring match: nothing a page sends is evaluated).
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import pandas as pd

from kam_helpers.core.formatting import fmt_date, fmt_money
from kam_helpers.metrics import lanes, not_cancelled

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
TABLE_ROWS = 200  # rows shown in the drill-down table (the download holds them all)


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
        s = not_cancelled(ships)
        actual = pd.to_datetime(s["delivery_actual"]).dt.normalize()
        promised = pd.to_datetime(s["delivery_promised"]).dt.normalize()
        today = pd.Timestamp(as_of).normalize() if as_of is not None else actual.max()
        late_days = (actual.where(actual.notna(), today) - promised).dt.days
        late = promised.notna() & (late_days > 0) & (actual.notna() | (promised < today))
        damaged = s["damaged"].fillna(False).astype(bool) if "damaged" in s.columns else pd.Series(False, s.index)
        lane = lanes(s)
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
            by_id = {} if ships is None else dict(zip(ships["shipment_id"], lanes(ships), strict=False))
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
