"""Metrics: one account's KPIs for a quarter, with comparisons, targets, RAG and the frames a QBR shows.

Small pure functions build the scorecard; each takes frames (and a period) and returns a number or a frame:

* shipments → :func:`active_shipments` (cancelled dropped, ``ship_date`` added) → :func:`in_period` →
  :func:`revenue`, :func:`cost`, :func:`gross_margin_pct`, :func:`weight_kg`, :func:`pallets`;
* shipments → :func:`delivery_events` → :func:`otd_pct`, :func:`otif_pct`; :func:`pickup_events` → :func:`otp_pct`;
* shipments + cases → :func:`damage_ratio_pct`, :func:`claims_cost_pct`, :func:`repeat_complaints`, ...;
* shipments + rate cards → :func:`priced_shipments` → :func:`billing_variance`, :func:`billing_variance_pct`;
* invoices (+ lines) → :func:`invoice_accuracy_pct`, :func:`unbilled_shipments`, :func:`days_to_pay`, ...;
* :func:`target_for` and :func:`rag` judge a value; :func:`scorecard` puts everything together.

Conventions: percentages are 0–100. A KPI is None ("no data") when its table is absent (``None`` in
:class:`AccountData`), when no row records its inputs (revenue when no shipment has a revenue), when it has no
denominator, or when the period lies outside the data (before the account's first record or after the as-of
date); a count is 0 only when the data covers the period and has no rows for it.
A period is a :class:`Quarter`, a quarter string like ``'2026Q3'``, or a :class:`Span`; a timestamp belongs to a
period when its calendar day does. Dates are compared as calendar days: times of day are ignored.

Which date puts a row in a period (docs/PERIODS.md): volume, revenue, cost and mix by the ship date
(pickup_actual, else pickup_planned; delivery_actual, else delivery_promised only when no pickup date is
recorded); service (OTD, OTIF, damage) by delivery_promised: the shipments due in the
period; pickups (OTP) by pickup_planned; billing by invoice issue date (days to pay: paid date); cases by opened
or closed date. A quarter the data covers only in part (as-of date before its end) is compared with the same days
of the earlier quarters (:func:`coverage`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from kam_helpers.core import paths
from kam_helpers.core.errors import ConfigError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.account_data import AccountData
from kam_helpers.data.columns import dates as _dates
from kam_helpers.data.columns import numbers as _numbers
from kam_helpers.metrics.rating import expected_charges
from kam_helpers.metrics.scorecard import Coverage, Kpi, Rag, Scorecard, TargetSource, Unit

DAMAGE_CATEGORIES = ("damage", "loss")
INACCURATE_INVOICE = ("disputed", "credited")
CLOSED_STAGES = ("won", "lost")
REPEAT_WINDOW = pd.Timedelta(days=90)
ARROW = " \u2192 "
UNKNOWN = "(unknown)"
_EPS = 1e-9  # float slack when comparing a computed value with a target

# key -> (label, unit, higher_is_better), in the order the scorecard presents them.
KPI_SPECS: dict[str, tuple[str, Unit, bool]] = {
    "revenue": ("Revenue", "money", True),
    "cost": ("Cost", "money", False),
    "gross_margin_pct": ("Gross margin", "pct", True),
    "shipments": ("Shipments", "count", True),
    "weight_kg": ("Weight", "kg", True),
    "pallets": ("Pallets", "count", True),
    "otd_pct": ("On-time delivery", "pct", True),
    "otp_pct": ("On-time pickup", "pct", True),
    "otif_pct": ("On time in full", "pct", True),
    "damage_ratio_pct": ("Damage and loss ratio", "pct", False),
    "claims_cost_pct": ("Claims cost (% of revenue)", "pct", False),
    "invoice_accuracy_pct": ("Invoice accuracy", "pct", True),
    "billing_variance": ("Billing variance (billed − rate card)", "money", True),
    "billing_variance_pct": ("Billing variance (% of rate card)", "pct", True),
    "unbilled_shipments": ("Unbilled shipments", "count", False),
    "days_to_pay": ("Days to pay", "days", False),
    "overdue_amount": ("Overdue amount", "money", False),
    "cases_opened": ("Cases opened", "count", False),
    "cases_closed": ("Cases closed", "count", True),
    "cases_backlog": ("Open cases at quarter end", "count", False),
    "median_hours_to_resolve": ("Median hours to resolve", "hours", False),
    "repeat_complaints": ("Repeat complaints", "count", False),
}

QUARTERLY_COLUMNS = {
    "quarter": "str",
    "shipments": "int64",
    "revenue": "float64",
    "cost": "float64",
    "gross_margin_pct": "float64",
    "otd_pct": "float64",
    "otp_pct": "float64",
}
MONTHLY_COLUMNS = {
    "month": "datetime64[ns]",
    "shipments": "float64",  # NaN in months the data does not reach
    "revenue": "float64",
    "cost": "float64",
    "otd_pct": "float64",
    "otd_target": "float64",
}
MODE_MIX_COLUMNS = {"mode": "str", "shipments": "int64", "revenue": "float64", "share_pct": "float64"}
TOP_LANES_COLUMNS = {
    "lane": "str",
    "origin": "str",
    "destination": "str",
    "shipments": "int64",
    "revenue": "float64",
    "otd_pct": "float64",
}
_MISSES = {"shipments": "int64", "late": "int64", "otd_pct": "float64", "share_of_misses_pct": "float64"}
WORST_LANES_COLUMNS = {"lane": "str", **_MISSES}
WORST_CARRIERS_COLUMNS = {"carrier": "str", **_MISSES}
CASES_BY_CATEGORY_COLUMNS = {
    "category": "str",
    "opened": "int64",
    "closed": "int64",
    "median_hours_to_resolve": "float64",
}
PIPELINE_COLUMNS = {
    "opp_id": "str",
    "service": "str",
    "stage": "str",
    "amount": "float64",
    "probability": "float64",
    "weighted": "float64",
    "expected_close": "datetime64[ns]",
}


# ----------------------------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Span:
    """A half-open range of days [start, stop): a quarter, a month, or any run of days."""

    start: pd.Timestamp
    stop: pd.Timestamp

    @classmethod
    def of(cls, period: Period) -> Span:
        """Quarter, '2026Q3' or Span → Span."""
        if isinstance(period, Span):
            return period
        quarter = Quarter.parse(period)
        return cls(pd.Timestamp(quarter.start), pd.Timestamp(quarter.shift(1).start))

    @property
    def last_day(self) -> pd.Timestamp:
        return self.stop - pd.Timedelta(days=1)

    def holds(self, moments: pd.Series) -> pd.Series:
        """datetime Series → True where the moment's day lies in the span (NaT → False)."""
        return (moments >= self.start) & (moments < self.stop)


Period = Quarter | str | Span


def in_period(frame: pd.DataFrame, column: str, period: Period) -> pd.DataFrame:
    """frame, datetime column, period → the rows whose ``column`` falls in the period."""
    return frame[Span.of(period).holds(_dates(frame, column))]


# ----------------------------------------------------------------------------------------------- column access


def _flags(frame: pd.DataFrame, column: str) -> pd.Series:
    """Boolean column with missing values (or a missing column) read as False."""
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[column].astype("boolean").fillna(False).astype(bool)


def _recorded(frame: pd.DataFrame, column: str) -> pd.Series:
    """True where the column holds a value (False everywhere when the column is absent)."""
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[column].notna()


def _words(frame: pd.DataFrame, column: str) -> pd.Series:
    """Text column, stripped and lower-cased, '' where missing: for comparing statuses and categories."""
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype="str")
    values = frame[column]
    if not isinstance(values.dtype, pd.StringDtype):
        values = values.astype("str").where(values.notna())
    return values.str.strip().str.lower().fillna("")


def _labels(frame: pd.DataFrame, column: str) -> pd.Series:
    """Text column for display, '(unknown)' where missing."""
    if column not in frame.columns:
        return pd.Series(UNKNOWN, index=frame.index, dtype="str")
    return frame[column].astype("string").fillna(UNKNOWN).astype("str")


def _ids(frame: pd.DataFrame | None, column: str) -> pd.Series:
    """The distinct non-empty values of an id column (empty when the frame or column is absent)."""
    if frame is None or column not in frame.columns:
        return pd.Series([], dtype="str")
    return frame[column].dropna().astype("str").drop_duplicates()


def _isin(values: pd.Series, wanted: object) -> pd.Series:
    """Series.isin on plain objects: pyarrow-backed string isin is ~30× slower on thousands of ids."""
    return pd.Series(values.astype(object)).isin(pd.Series(wanted, dtype=object))


def _pct(flags: pd.Series) -> float | None:
    """bool Series → share of True in % (None when empty)."""
    return None if len(flags) == 0 else float(flags.mean() * 100)


def _ratio_pct(numerator: float, denominator: float | None) -> float | None:
    """numerator / denominator · 100, None when the denominator is missing or 0."""
    if denominator is None or pd.isna(denominator) or denominator == 0:
        return None
    return float(numerator / denominator * 100)


def _empty(columns: dict[str, str]) -> pd.DataFrame:
    """Declared columns → an empty frame with those columns and dtypes."""
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in columns.items()})


# ----------------------------------------------------------------------------------------------- shipments


def not_cancelled(shipments: pd.DataFrame) -> pd.DataFrame:
    """shipments → the shipments whose status is not 'cancelled' (cancelled ones count nowhere)."""
    return shipments[_words(shipments, "status").ne("cancelled")]


def ship_date(shipments: pd.DataFrame) -> pd.Series:
    """shipments → the moment that places each in a volume period: pickup_actual, else pickup_planned; a shipment
    with no pickup date at all (exports that record only deliveries) takes delivery_actual, else
    delivery_promised (NaT when none is known: such a shipment counts in no period's volume)."""
    moment = _dates(shipments, "pickup_actual")
    for column in ("pickup_planned", "delivery_actual", "delivery_promised"):
        moment = moment.fillna(_dates(shipments, column))
    return moment


def due_date(shipments: pd.DataFrame) -> pd.Series:
    """shipments → the moment that places each in a service period: delivery_promised (NaT without a promise)."""
    return _dates(shipments, "delivery_promised")


def lanes(shipments: pd.DataFrame) -> pd.Series:
    """shipments → 'Origin → Destination' per shipment."""
    return _labels(shipments, "origin") + ARROW + _labels(shipments, "destination")


def active_shipments(shipments: pd.DataFrame) -> pd.DataFrame:
    """shipments → not-cancelled shipments with a ``ship_date`` column added (input untouched)."""
    kept = not_cancelled(shipments)
    return kept.assign(ship_date=ship_date(kept))


def shipments_in(shipments: pd.DataFrame, period: Period) -> pd.DataFrame:
    """shipments, period → the period's shipments: not cancelled, ship date in the period."""
    return in_period(active_shipments(shipments), "ship_date", period)


def revenue(shipments: pd.DataFrame) -> float:
    """A period's shipments → total revenue (0.0 for none; missing revenues add nothing)."""
    return float(_numbers(shipments, "revenue").sum())


def cost(shipments: pd.DataFrame) -> float:
    """A period's shipments → total cost (0.0 for none)."""
    return float(_numbers(shipments, "cost").sum())


def gross_margin_pct(shipments: pd.DataFrame) -> float | None:
    """A period's shipments → (revenue − cost) / revenue · 100; None without shipments, revenue or any cost."""
    if shipments.empty or not _numbers(shipments, "cost").notna().any():
        return None
    return _ratio_pct(revenue(shipments) - cost(shipments), revenue(shipments))


def _total(values: pd.Series) -> float | None:
    """Sum of the recorded values; None when shipments exist but none records the measure (not 0)."""
    if len(values) and values.isna().all():
        return None
    return float(values.sum())


def recorded(shipments: pd.DataFrame | None, column: str) -> bool:
    """shipments, a measure column → True when at least one shipment records it (revenue, cost, weight_kg, ...).
    A measure no shipment records is absent from the data: "no data", never 0."""
    return shipments is not None and column in shipments.columns and bool(shipments[column].notna().any())


def weight_kg(shipments: pd.DataFrame) -> float | None:
    """A period's shipments → total weight in kg (None when no shipment records a weight)."""
    return _total(_numbers(shipments, "weight_kg"))


def pallets(shipments: pd.DataFrame) -> float | None:
    """A period's shipments → total pallets (None when no shipment records pallets)."""
    return _total(_numbers(shipments, "pallets"))


# ----------------------------------------------------------------------------------------------- service


def delivery_events(shipments: pd.DataFrame, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """shipments, as-of moment → one row per shipment that OTD measures, with columns
    shipment_id, lane, carrier, date, delivered, on_time, otif.

    ``date`` is the promised delivery day: service belongs to the period a shipment was *due* in.
    Measured: not cancelled, with a promise, and either delivered, or not delivered while the promise lies before
    the as-of day (then late). Without ``as_of`` undelivered shipments are not measured at all: no one knows
    whether they are late. ``on_time`` compares calendar days only; ``otif`` is on time and neither short nor
    damaged; NaN (not measured) where neither flag is recorded.
    """
    ships = not_cancelled(shipments)
    actual, promised = _dates(ships, "delivery_actual"), _dates(ships, "delivery_promised")
    delivered = actual.notna()
    overdue = ~delivered & promised.notna()
    if as_of is None or pd.isna(as_of):
        overdue &= False
    else:
        overdue &= promised.dt.normalize() < pd.Timestamp(as_of).normalize()
    on_time = delivered & (actual.dt.normalize() <= promised.dt.normalize())
    in_full = ~_flags(ships, "short") & ~_flags(ships, "damaged")
    recorded_flags = _recorded(ships, "short") | _recorded(ships, "damaged")
    events = pd.DataFrame(
        {
            "shipment_id": ships["shipment_id"],
            "lane": lanes(ships),
            "carrier": _labels(ships, "carrier"),
            "date": promised,
            "delivered": delivered,
            "on_time": on_time,
            "otif": (on_time & in_full).where(recorded_flags),
        }
    )
    return events[(delivered & promised.notna()) | overdue]


def pickup_events(shipments: pd.DataFrame) -> pd.DataFrame:
    """shipments → one row per not-cancelled shipment with pickup_actual and pickup_planned:
    shipment_id, date (= pickup_actual, which is also its ship date), on_time (picked up on or before the
    planned day)."""
    ships = not_cancelled(shipments)
    actual, planned = _dates(ships, "pickup_actual"), _dates(ships, "pickup_planned")
    events = pd.DataFrame(
        {
            "shipment_id": ships["shipment_id"],
            "date": actual,
            "on_time": actual.dt.normalize() <= planned.dt.normalize(),
        }
    )
    return events[actual.notna() & planned.notna()]


def otd_pct(deliveries: pd.DataFrame, period: Period) -> float | None:
    """delivery_events, period → % on time of the measured shipments due in the period; None when none."""
    return _pct(in_period(deliveries, "date", period)["on_time"])


def otif_pct(deliveries: pd.DataFrame, period: Period) -> float | None:
    """delivery_events, period → % on time and in full (OTD's population, where shortage or damage is recorded);
    None when none measured."""
    return _pct(in_period(deliveries, "date", period)["otif"].dropna().astype(bool))


def otp_pct(pickups: pd.DataFrame, period: Period) -> float | None:
    """pickup_events, period → % of the period's pickups on or before the planned day; None when none."""
    return _pct(in_period(pickups, "date", period)["on_time"])


def delivered_in(shipments: pd.DataFrame, period: Period) -> pd.DataFrame:
    """shipments, period → not-cancelled shipments with delivery_actual in the period."""
    return in_period(not_cancelled(shipments), "delivery_actual", period)


def damage_case_shipments(cases: pd.DataFrame) -> pd.Series:
    """cases → the distinct shipment ids that a 'damage' or 'loss' case points at."""
    return _ids(cases[_isin(_words(cases, "category"), DAMAGE_CATEGORIES)], "shipment_id")


def delivered_due_in(shipments: pd.DataFrame, period: Period) -> pd.DataFrame:
    """shipments, period → not-cancelled delivered shipments due in the period (delivery_promised in it; a
    shipment without a promise by its delivery_actual)."""
    ships = not_cancelled(shipments)
    delivered = ships[_dates(ships, "delivery_actual").notna()]
    due = _dates(delivered, "delivery_promised").fillna(_dates(delivered, "delivery_actual"))
    return delivered[Span.of(period).holds(due)]


def damage_ratio_pct(shipments: pd.DataFrame, cases: pd.DataFrame | None, period: Period) -> float | None:
    """shipments, cases, period → % of the delivered shipments due in the period (:func:`delivered_due_in`) with
    a damage/loss case (opened at any time). None without a cases table or without deliveries."""
    if cases is None:
        return None
    delivered = delivered_due_in(shipments, period)
    hit = _isin(delivered["shipment_id"], damage_case_shipments(cases))
    return _pct(hit)


def claims_cost_pct(cases: pd.DataFrame | None, period_revenue: float | None, period: Period) -> float | None:
    """cases, the period's revenue, period → claim_amount of damage/loss cases opened in the period as % of
    revenue. None without a cases table or without revenue."""
    if cases is None:
        return None
    opened = in_period(cases, "opened", period)
    claims = _numbers(opened, "claim_amount")[_isin(_words(opened, "category"), DAMAGE_CATEGORIES)]
    return _ratio_pct(float(claims.sum()), period_revenue)


# ----------------------------------------------------------------------------------------------- billing


def invoice_accuracy_pct(invoices: pd.DataFrame | None, period: Period) -> float | None:
    """invoices, period → % of invoices issued in the period that were neither disputed nor credited.
    None without an invoices table or without invoices issued."""
    if invoices is None:
        return None
    issued = in_period(invoices, "issued", period)
    return _pct(~_isin(_words(issued, "status"), INACCURATE_INVOICE))


def priced_shipments(shipments: pd.DataFrame, rate_cards: pd.DataFrame | None) -> pd.DataFrame:
    """shipments, rate_cards → the shipments with ``rate_id`` and ``expected`` (rating.expected_charges) added,
    row by row (so duplicated shipment ids cannot multiply rows)."""
    charges = expected_charges(shipments, rate_cards)
    return shipments.assign(rate_id=charges["rate_id"].to_numpy(), expected=charges["expected"].to_numpy())


def _rated(priced: pd.DataFrame) -> pd.DataFrame:
    """priced shipments → those with a rate, a computable expected charge and a billed revenue."""
    return priced[priced["rate_id"].notna() & priced["expected"].notna() & _numbers(priced, "revenue").notna()]


def billing_variance(priced: pd.DataFrame) -> float:
    """A period's priced shipments → Σ (revenue − expected) over shipments with a rate (positive = billed
    above the rate card). Shipments without a revenue figure are left out: nothing billed is not a variance."""
    rated = _rated(priced)
    return float((_numbers(rated, "revenue") - rated["expected"]).sum())


def billing_variance_pct(priced: pd.DataFrame) -> float | None:
    """A period's priced shipments → billing variance as % of Σ expected; None when nothing is rated."""
    return _ratio_pct(billing_variance(priced), float(_rated(priced)["expected"].sum()))


def mark_invoiced(shipments: pd.DataFrame, invoice_lines: pd.DataFrame) -> pd.DataFrame:
    """shipments, invoice_lines → the shipments with ``invoiced`` (True when an invoice line points at them)."""
    return shipments.assign(invoiced=_isin(shipments["shipment_id"], _ids(invoice_lines, "shipment_id")))


def count_unbilled(invoiced: pd.DataFrame, period: Period, billing_lag_days: int = 14) -> int:
    """mark_invoiced shipments, period → count delivered in the period on or before (last day − lag) and not
    invoiced. Cancelled shipments are left out."""
    span = Span.of(period)
    cutoff = Span(span.start, span.stop - pd.Timedelta(days=billing_lag_days))
    due = in_period(delivered_in(invoiced, span), "delivery_actual", cutoff)
    return int((~due["invoiced"]).sum())


def unbilled_shipments(
    shipments: pd.DataFrame,
    invoice_lines: pd.DataFrame | None,
    period: Period,
    billing_lag_days: int = 14,
) -> int | None:
    """shipments, invoice_lines, period → count of shipments delivered in the period on or before
    (period's last day − billing_lag_days) that no invoice line points at. None without invoice lines."""
    if invoice_lines is None:
        return None
    return count_unbilled(mark_invoiced(shipments, invoice_lines), period, billing_lag_days)


def days_to_pay(invoices: pd.DataFrame | None, period: Period) -> float | None:
    """invoices, period → mean (paid − issued) in days over invoices paid in the period; None when none."""
    if invoices is None:
        return None
    paid = in_period(invoices, "paid", period)
    if paid.empty:
        return None
    days = (_dates(paid, "paid").dt.normalize() - _dates(paid, "issued").dt.normalize()).dt.days
    return float(days.mean())


def overdue_amount(invoices: pd.DataFrame | None, period: Period) -> float | None:
    """invoices, period → Σ amount of invoices issued by the period's last day, unpaid at its end (paid empty or
    later) and due before its last day. None without an invoices table."""
    if invoices is None:
        return None
    span = Span.of(period)
    issued, paid, due = _dates(invoices, "issued"), _dates(invoices, "paid"), _dates(invoices, "due")
    open_at_end = (issued < span.stop) & (paid.isna() | (paid >= span.stop)) & (due.dt.normalize() < span.last_day)
    return float(_numbers(invoices, "amount")[open_at_end].sum())


# ----------------------------------------------------------------------------------------------- cases


def cases_opened(cases: pd.DataFrame | None, period: Period) -> int | None:
    """cases, period → number opened in the period (None without a cases table)."""
    return None if cases is None else len(in_period(cases, "opened", period))


def cases_closed(cases: pd.DataFrame | None, period: Period) -> int | None:
    """cases, period → number closed in the period (None without a cases table)."""
    return None if cases is None else len(in_period(cases, "closed", period))


def cases_backlog(cases: pd.DataFrame | None, period: Period) -> int | None:
    """cases, period → number open at the period's end: opened by then, not closed by then."""
    if cases is None:
        return None
    stop = Span.of(period).stop
    closed = _dates(cases, "closed")
    return int(((_dates(cases, "opened") < stop) & (closed.isna() | (closed >= stop))).sum())


def hours_to_resolve(cases: pd.DataFrame) -> pd.Series:
    """cases → hours from opened to closed per case (NaN while open)."""
    return (_dates(cases, "closed") - _dates(cases, "opened")).dt.total_seconds() / 3600


def median_hours_to_resolve(cases: pd.DataFrame | None, period: Period) -> float | None:
    """cases, period → median hours to resolve of the cases closed in the period; None when none closed."""
    if cases is None:
        return None
    hours = hours_to_resolve(in_period(cases, "closed", period)).dropna()
    return None if hours.empty else float(hours.median())


def repeat_flags(cases: pd.DataFrame, shipments: pd.DataFrame) -> pd.Series:
    """cases, shipments → bool per case (aligned with ``cases``): True when an earlier case of the same
    account, category and lane (via shipment_id → origin/destination) was opened within the 90 days before.
    Cases without a shipment, or whose shipment is unknown, are never repeats: their lane is unknown."""
    ship_lanes = (
        shipments.reindex(columns=["shipment_id", "origin", "destination"])
        .dropna()
        .astype("str")
        .drop_duplicates("shipment_id")
    )
    mine = pd.DataFrame(
        {
            "row": np.arange(len(cases)),
            "case_id": cases["case_id"].to_numpy() if "case_id" in cases else np.arange(len(cases)),
            "account_id": _words(cases, "account_id").to_numpy(),
            "category": _words(cases, "category").to_numpy(),
            "opened": _dates(cases, "opened").to_numpy(),
            "shipment_id": cases["shipment_id"].astype("string").to_numpy(dtype=object)
            if "shipment_id" in cases
            else None,
        }
    ).dropna(subset=["shipment_id", "opened"])
    mine = mine.assign(shipment_id=mine["shipment_id"].astype("str")).merge(ship_lanes, on="shipment_id")
    pairs = mine.merge(mine, on=["account_id", "category", "origin", "destination"], suffixes=("", "_prev"))
    earlier = (
        (pairs["case_id_prev"] != pairs["case_id"])
        & (pairs["opened_prev"] < pairs["opened"])
        & (pairs["opened_prev"] >= pairs["opened"] - REPEAT_WINDOW)
    )
    flags = np.zeros(len(cases), dtype=bool)
    flags[pairs.loc[earlier, "row"].to_numpy()] = True
    return pd.Series(flags, index=cases.index)


def repeat_complaints(cases: pd.DataFrame | None, shipments: pd.DataFrame | None, period: Period) -> int | None:
    """cases, shipments, period → number of cases opened in the period that repeat an earlier one
    (see :func:`repeat_flags`). None without a cases table, or without shipments to find lanes in."""
    if cases is None or shipments is None:
        return None
    flagged = cases.assign(repeat=repeat_flags(cases, shipments))
    return int(in_period(flagged, "opened", period)["repeat"].sum())


# ----------------------------------------------------------------------------------------------- targets


def _period_key(text: object) -> str:
    """A targets.period value → '2026Q3' for a quarter, 'contract' (lower-cased) otherwise."""
    try:
        return str(Quarter.parse(str(text)))
    except Exception:
        return str(text).strip().lower()


def target_table(targets: pd.DataFrame | None) -> dict[tuple[str, str], tuple[float, float | None]]:
    """targets → {(metric, period): (target, tolerance)} with period '2026Q3' or 'contract'; rows without a
    target value are left out, the first row of a duplicated key wins, an empty tolerance is None."""
    if targets is None or targets.empty or "period" not in targets:
        return {}
    frame = pd.DataFrame(
        {
            "metric": _words(targets, "metric"),
            "period": targets["period"].map(_period_key),
            "target": _numbers(targets, "target"),
            "tolerance": _numbers(targets, "tolerance"),
        }
    ).dropna(subset=["target"])
    table: dict[tuple[str, str], tuple[float, float | None]] = {}
    for metric, period, target, tolerance in frame.itertuples(index=False):
        table.setdefault((metric, period), (float(target), None if pd.isna(tolerance) else float(tolerance)))
    return table


def _lookup(
    table: dict[tuple[str, str], tuple[float, float | None]], metric: str, quarter: Quarter | str
) -> tuple[float | None, float | None]:
    """target_table, metric, quarter → (target, tolerance): the quarter's own row, else the 'contract' row."""
    for period in (str(Quarter.parse(quarter)), "contract"):
        if (metric, period) in table:
            return table[(metric, period)]
    return None, None


STANDARD_TARGETS_FILE = paths.CONFIG_DIR / "standard_targets.yml"


@lru_cache(maxsize=4)
def standard_targets(path: str | None = None) -> dict[str, tuple[float, float | None]]:
    """config/standard_targets.yml (or ``path``) → {metric: (target, tolerance)}: the targets a KPI is judged
    against when the client has no contracted one. ConfigError naming the file and key at fault."""
    source = Path(path) if path else STANDARD_TARGETS_FILE
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{source}: not a readable standard-targets file ({exc})") from exc
    out: dict[str, tuple[float, float | None]] = {}
    for metric, spec in (raw.get("targets") or {}).items():
        if metric not in KPI_SPECS:
            raise ConfigError(f"{source}: targets.{metric}: expected a KPI key of {', '.join(KPI_SPECS)}")
        try:
            tolerance = spec.get("tolerance")
            out[metric] = (float(spec["target"]), None if tolerance is None else float(tolerance))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: targets.{metric}: expected a mapping with a numeric target ({exc})") from exc
    return out


def target_with_source(
    table: dict[tuple[str, str], tuple[float, float | None]], metric: str, quarter: Quarter | str
) -> tuple[float | None, float | None, TargetSource | None]:
    """target_table, metric, quarter → (target, tolerance, 'contracted' | 'standard' | None): the client's own
    target when it has one (:func:`_lookup`), else the standard one of config/standard_targets.yml."""
    target, tolerance = _lookup(table, metric, quarter)
    if target is not None:
        return target, tolerance, "contracted"
    standard = standard_targets().get(metric)
    if standard is not None:
        return standard[0], standard[1], "standard"
    return None, None, None


def target_for(targets: pd.DataFrame | None, metric: str, quarter: Quarter | str) -> tuple[float | None, float | None]:
    """targets, metric, quarter → (target, tolerance). A row for the quarter itself wins over a 'contract' row;
    rows without a target value are ignored. (None, None) when no row applies; tolerance None when empty."""
    return _lookup(target_table(targets), metric.lower(), quarter)


def rag(
    value: float | None,
    target: float | None,
    tolerance: float | None = None,
    higher_is_better: bool = True,
) -> Rag | None:
    """value vs target → 'green' when met, 'amber' when missed by no more than ``tolerance`` (empty = 0),
    'red' otherwise; None without a value or a target."""
    if value is None or target is None or pd.isna(value) or pd.isna(target):
        return None
    shortfall = (target - value) if higher_is_better else (value - target)
    if shortfall <= _EPS:
        return "green"
    if shortfall <= (tolerance or 0.0) + _EPS:
        return "amber"
    return "red"


# ----------------------------------------------------------------------------------------------- scorecard


@dataclass(frozen=True)
class _Prepared:
    """The account's frames, derived once per scorecard; None where the source table is absent."""

    active: pd.DataFrame | None  # active_shipments (+ rate_id/expected when rated, + invoiced when lines exist)
    deliveries: pd.DataFrame | None  # delivery_events
    pickups: pd.DataFrame | None  # pickup_events
    cases: pd.DataFrame | None  # + ``repeat`` when shipments exist to find lanes in
    invoices: pd.DataFrame | None
    targets: dict[tuple[str, str], tuple[float, float | None]]
    rated: bool
    invoiced: bool
    first_day: pd.Timestamp | None = None  # the account's earliest shipment, invoice or case day
    as_of: pd.Timestamp | None = None  # the data's as-of moment (None: unknown)
    recorded: frozenset[str] = frozenset()  # shipment measures some shipment records (revenue, cost, ...)


_KPI_COLUMNS = (
    "shipment_id", "mode", "origin", "destination", "carrier", "pickup_planned", "pickup_actual",
    "delivery_promised", "delivery_actual", "weight_kg", "pallets", "revenue", "cost", "damaged", "short",
    "ship_date", "rate_id", "expected", "invoiced",
)  # fmt: skip


def _prepare(data: AccountData) -> _Prepared:
    """AccountData → the derived frames every period's KPIs are filtered from."""
    ships, cases = data.shipments, data.cases
    active = deliveries = pickups = None
    if ships is not None:
        active = active_shipments(ships)
        if data.rate_cards is not None:
            active = priced_shipments(active, data.rate_cards)
        if data.invoice_lines is not None:
            active = mark_invoiced(active, data.invoice_lines)
        # Only the columns the KPIs read: every period filter then copies a narrow frame.
        active = active[[c for c in _KPI_COLUMNS if c in active.columns]]
        deliveries = delivery_events(active, data.as_of)
        pickups = pickup_events(active)
        if cases is not None:
            cases = cases.assign(repeat=repeat_flags(cases, ships))
    firsts = [
        _dates(frame, column).min()
        for frame, column in (
            (active, "ship_date"),
            (active, "delivery_promised"),
            (data.invoices, "issued"),
            (data.cases, "opened"),
        )
        if frame is not None and column in frame.columns
    ]
    firsts = [day for day in firsts if pd.notna(day)]
    return _Prepared(
        active=active,
        deliveries=deliveries,
        pickups=pickups,
        cases=cases,
        invoices=data.invoices,
        targets=target_table(data.targets),
        rated=data.rate_cards is not None,
        invoiced=data.invoice_lines is not None,
        first_day=min(firsts).normalize() if firsts else None,
        as_of=None if data.as_of is None or pd.isna(data.as_of) else pd.Timestamp(data.as_of),
        recorded=frozenset(c for c in MEASURE_COLUMNS if recorded(active, c)),
    )


MEASURE_COLUMNS = ("revenue", "cost", "weight_kg", "pallets")


def parse_as_of(text: str | None) -> pd.Timestamp | None:
    """'2026-08-30' (any ISO date or timestamp) → that moment; '' or None → None (use the data's own as-of).
    ConfigError for anything else."""
    if text is None or not str(text).strip():
        return None
    try:
        return pd.Timestamp(str(text).strip())
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"as-of date {text!r}: expected a date like 2026-08-30") from exc


def with_as_of(data: AccountData, as_of: str | pd.Timestamp | None) -> AccountData:
    """AccountData, an as-of date the user gives ('' / None: keep the data's) → the same data judged as of it."""
    moment = as_of if isinstance(as_of, pd.Timestamp) else parse_as_of(as_of)
    return data if moment is None else replace(data, as_of=moment)


def coverage(quarter: Quarter | str, first_day: pd.Timestamp | None, as_of: pd.Timestamp | None) -> Coverage:
    """quarter, the account's first day, the as-of moment → the days of the quarter the data covers.

    The data covers a quarter from its start (or nothing, when the account's first record comes after it) to
    its end or the as-of day, whichever is first: data to 30 Aug 2026 covers 1 Jul – 30 Aug of 2026Q3,
    ``Coverage(months=2.0 (rounded from 1.97), partial=True)``. No as-of date: the whole quarter is assumed.
    """
    q = Quarter.parse(quarter)
    start, stop = q.start, q.shift(1).start
    data_to = None if as_of is None else pd.Timestamp(as_of).date()
    if data_to is not None:
        stop = max(start, min(stop, data_to + dt.timedelta(days=1)))
    if first_day is not None and pd.Timestamp(first_day).date() >= q.shift(1).start:
        stop = start
    months = 0.0
    for first in q.months():
        last = (pd.Timestamp(first) + pd.offsets.MonthEnd(0)).date()
        covered = (min(stop, last + dt.timedelta(days=1)) - first).days
        months += max(0, covered) / ((last - first).days + 1)
    partial = start < stop < q.shift(1).start
    return Coverage(start=start, stop=stop, data_to=data_to, months=round(months, 2), partial=partial)


def comparison_spans(cov: Coverage, quarter: Quarter | str) -> tuple[Span | None, Span | None, Span | None]:
    """Coverage of a quarter → the spans compared: (this quarter, the prior quarter, the same quarter last year).
    None where the data covers nothing. A partial quarter is compared with the same days of the earlier ones:
    1 Jul – 30 Aug with 1 Apr – 30 May and 1 Jul – 30 Aug of the year before."""
    q = Quarter.parse(quarter)
    if cov.days <= 0:
        return None, None, None
    now = Span(pd.Timestamp(cov.start), pd.Timestamp(cov.stop))
    if not cov.partial:
        return now, Span.of(q.prior), Span.of(q.last_year)

    def same_days(earlier: Quarter) -> Span:
        begin = pd.Timestamp(earlier.start)
        return Span(begin, min(begin + pd.Timedelta(days=cov.days), pd.Timestamp(earlier.shift(1).start)))

    return now, same_days(q.prior), same_days(q.last_year)


def _covered(prep: _Prepared, span: Span | None) -> Span | None:
    """A span → itself when the data covers any of it (after the account's first record, before the as-of
    day), else None: a period the data does not reach has no data, not zeros."""
    if span is None:
        return None
    if prep.first_day is not None and span.stop <= prep.first_day:
        return None
    if prep.as_of is not None and span.start > prep.as_of.normalize():
        return None
    return span


def _values(prep: _Prepared, period: Period | None, billing_lag_days: int) -> dict[str, float | None]:
    """Prepared frames, period → every KPI value of the period, keyed as in KPI_SPECS (the same small
    functions as above, fed with frames derived once). Every value is None when the data does not reach the
    period (:func:`_covered`); a shipment measure no shipment records (revenue, cost, …) is None."""
    out: dict[str, float | None] = dict.fromkeys(KPI_SPECS)
    span = _covered(prep, None if period is None else Span.of(period))
    if span is None:
        return out
    cases = prep.cases
    if prep.active is not None:
        ships = in_period(prep.active, "ship_date", span)
        has = prep.recorded
        billed = revenue(ships) if "revenue" in has else None
        out.update(
            revenue=billed,
            cost=cost(ships) if "cost" in has else None,
            gross_margin_pct=gross_margin_pct(ships) if {"revenue", "cost"} <= has else None,
            shipments=len(ships),
            weight_kg=weight_kg(ships) if "weight_kg" in has else None,
            pallets=pallets(ships) if "pallets" in has else None,
            otd_pct=otd_pct(prep.deliveries, span),
            otp_pct=otp_pct(prep.pickups, span),
            otif_pct=otif_pct(prep.deliveries, span),
            damage_ratio_pct=damage_ratio_pct(prep.active, cases, span),
            claims_cost_pct=claims_cost_pct(cases, billed, span),
        )
        if prep.rated and "revenue" in has:
            out.update(billing_variance=billing_variance(ships), billing_variance_pct=billing_variance_pct(ships))
        if prep.invoiced:
            out["unbilled_shipments"] = count_unbilled(prep.active, span, billing_lag_days)
        if cases is not None:
            out["repeat_complaints"] = int(in_period(cases, "opened", span)["repeat"].sum())
    out.update(
        invoice_accuracy_pct=invoice_accuracy_pct(prep.invoices, span),
        days_to_pay=days_to_pay(prep.invoices, span),
        overdue_amount=overdue_amount(prep.invoices, span),
        cases_opened=cases_opened(cases, span),
        cases_closed=cases_closed(cases, span),
        cases_backlog=cases_backlog(cases, span),
        median_hours_to_resolve=median_hours_to_resolve(cases, span),
    )
    return out


def quarter_coverage(prep: _Prepared, quarter: Quarter | str) -> Coverage:
    """Prepared frames, quarter → the quarter's :class:`Coverage` by the account's data."""
    return coverage(quarter, prep.first_day, prep.as_of)


def build_kpis(
    now: dict[str, float | None],
    prior: dict[str, float | None],
    last_year: dict[str, float | None],
    targets: dict[tuple[str, str], tuple[float, float | None]],
    quarter: Quarter,
) -> dict[str, Kpi]:
    """The values of this period, the prior and last year's, target_table, quarter → the ordered KPIs with
    target (contracted, else standard), its source and RAG."""
    out: dict[str, Kpi] = {}
    for key, (label, unit, higher_is_better) in KPI_SPECS.items():
        target, tolerance, source = target_with_source(targets, key, quarter)
        out[key] = Kpi(
            key=key,
            label=label,
            unit=unit,
            value=now[key],
            prior=prior[key],
            last_year=last_year[key],
            target=target,
            tolerance=tolerance,
            higher_is_better=higher_is_better,
            rag=rag(now[key], target, tolerance, higher_is_better),
            target_source=source,
        )
    return out


def _kpis(prep: _Prepared, quarter: Quarter, billing_lag_days: int) -> dict[str, Kpi]:
    """Prepared frames, quarter → the ordered KPIs with prior quarter, last year, target and RAG; a partial
    quarter is compared with the same days of the earlier quarters."""
    spans = comparison_spans(quarter_coverage(prep, quarter), quarter)
    now, prior, last_year = (_values(prep, span, billing_lag_days) for span in spans)
    return build_kpis(now, prior, last_year, prep.targets, quarter)


def kpis(data: AccountData, quarter: Quarter | str, *, billing_lag_days: int = 14) -> dict[str, Kpi]:
    """AccountData, quarter → the ordered KPIs of :func:`scorecard` alone (no frames)."""
    return _kpis(_prepare(data), Quarter.parse(quarter), billing_lag_days)


# ----------------------------------------------------------------------------------------------- frames


def _month_number(moments: pd.Series) -> np.ndarray:
    """datetime Series → months since year 0 (year·12 + month − 1) as float, NaN for NaT."""
    months = moments.to_numpy().astype("datetime64[M]")
    return np.where(np.isnat(months), np.nan, months.astype("float64") + 1970 * 12)


def _quarter_number(moments: pd.Series) -> np.ndarray:
    """datetime Series → quarters since year 0 (year·4 + quarter − 1) as float, NaN for NaT."""
    return np.floor(_month_number(moments) / 3)


def _per_period(keys: np.ndarray, first: int, count: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Period numbers, the first wanted and how many → per period the number of rows (or Σ weights; NaN
    weights count as 0)."""
    inside = ~np.isnan(keys) & (keys >= first) & (keys < first + count)
    slots = keys[inside].astype("int64") - first
    if weights is None:
        return np.bincount(slots, minlength=count).astype("int64")
    return np.bincount(slots, weights=np.nan_to_num(weights[inside]), minlength=count)


def _share_per_period(keys: np.ndarray, flags: pd.Series, first: int, count: int) -> np.ndarray:
    """Period numbers and flags → % True per period (NaN where a period has no rows)."""
    rows = _per_period(keys, first, count)
    hits = _per_period(keys, first, count, flags.to_numpy(dtype="float64"))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rows > 0, hits / rows * 100, np.nan)


def _rollup(
    active: pd.DataFrame,
    deliveries: pd.DataFrame,
    number: Callable[[pd.Series], np.ndarray],
    first: int,
    count: int,
) -> pd.DataFrame:
    """Active shipments, delivery events, a period-number function, the first period and how many →
    shipments, revenue, cost, gross_margin_pct, otd_pct per period (0 / NaN where a period has no data)."""
    keys = number(active["ship_date"])
    shipments = _per_period(keys, first, count)
    revenue = _per_period(keys, first, count, _numbers(active, "revenue").to_numpy())
    cost = _per_period(keys, first, count, _numbers(active, "cost").to_numpy())
    with np.errstate(invalid="ignore", divide="ignore"):
        margin = np.where((shipments > 0) & (revenue != 0), (revenue - cost) / revenue * 100, np.nan)
    return pd.DataFrame(
        {
            "shipments": shipments,
            "revenue": revenue,
            "cost": cost,
            "gross_margin_pct": margin,
            "otd_pct": _share_per_period(number(deliveries["date"]), deliveries["on_time"], first, count),
        }
    )


def quarterly_frame(
    active: pd.DataFrame, deliveries: pd.DataFrame, pickups: pd.DataFrame, quarter: Quarter | str
) -> pd.DataFrame:
    """active_shipments, delivery_events, pickup_events, quarter → one row per quarter from the first with a
    shipment (or the requested one, if earlier) up to the requested one: quarter, shipments, revenue, cost,
    gross_margin_pct, otd_pct, otp_pct."""
    q = Quarter.parse(quarter)
    last = q.year * 4 + q.q - 1
    first = np.nanmin(_quarter_number(active["ship_date"]), initial=last)
    count = last - int(first) + 1
    frame = _rollup(active, deliveries, _quarter_number, int(first), count).assign(
        otp_pct=_share_per_period(_quarter_number(pickups["date"]), pickups["on_time"], int(first), count),
        quarter=pd.Series([str(q.shift(i - count + 1)) for i in range(count)], dtype="str"),
    )
    return frame[list(QUARTERLY_COLUMNS)]


def monthly_frame(
    active: pd.DataFrame,
    deliveries: pd.DataFrame,
    targets: pd.DataFrame | None,
    quarter: Quarter | str,
) -> pd.DataFrame:
    """active_shipments, delivery_events, targets, quarter → the 15 months of the quarter and the four before:
    month (first day), shipments, revenue, cost, otd_pct, otd_target (the month's quarter's OTD target or NaN)."""
    start = Quarter.parse(quarter).shift(-4)
    first = start.year * 12 + 3 * (start.q - 1)
    months = [pd.Timestamp(k // 12, k % 12 + 1, 1) for k in range(first, first + 15)]
    table = target_table(targets)
    otd_target = [_lookup(table, "otd_pct", Quarter.of(m.date()))[0] for m in months]
    frame = _rollup(active, deliveries, _month_number, first, 15).assign(
        month=pd.Series(months, dtype="datetime64[ns]"),
        otd_target=pd.Series(otd_target, dtype="float64"),
    )
    return frame[list(MONTHLY_COLUMNS)].astype(MONTHLY_COLUMNS)


def _tally(labels: pd.Series, **weights: pd.Series) -> pd.DataFrame:
    """labels, named weight columns → one row per distinct label (first-seen order): label, rows, and Σ of
    each weight (NaN counted as 0)."""
    codes, names = pd.factorize(labels.to_numpy(dtype=object))
    out: dict[str, object] = {"label": names, "rows": np.bincount(codes, minlength=len(names))}
    for name, values in weights.items():
        w = np.nan_to_num(values.to_numpy(dtype="float64"))
        out[name] = np.bincount(codes, weights=w, minlength=len(names))
    return pd.DataFrame(out)


def _ranked(frame: pd.DataFrame, by: list[str], ascending: list[bool], n: int, columns: dict[str, str]) -> pd.DataFrame:
    """frame → its first ``n`` rows sorted by ``by``, with exactly the declared columns and dtypes."""
    top = frame.sort_values(by, ascending=ascending, kind="stable").head(n).reset_index(drop=True)
    return top[list(columns)].astype(columns)


def mode_mix(shipments: pd.DataFrame) -> pd.DataFrame:
    """A period's shipments → mode, shipments, revenue, share_pct (of revenue), by revenue descending."""
    if shipments.empty:
        return _empty(MODE_MIX_COLUMNS)
    mix = _tally(_labels(shipments, "mode"), revenue=_numbers(shipments, "revenue"))
    total = mix["revenue"].sum()
    share = mix["revenue"] / total * 100 if total else np.nan
    mix = mix.assign(mode=mix["label"], shipments=mix["rows"], share_pct=share)
    return _ranked(mix, ["revenue", "shipments", "mode"], [False, False, True], len(mix), MODE_MIX_COLUMNS)


def top_lanes(
    shipments: pd.DataFrame, deliveries: pd.DataFrame, n: int = 10, *, by_revenue: bool = True
) -> pd.DataFrame:
    """A period's shipments and delivery events → the ``n`` lanes with most revenue (most shipments when
    ``by_revenue`` is False, revenue then NaN): lane, origin, destination, shipments, revenue, otd_pct (of the
    lane's measured deliveries in the period; NaN when none). A lane whose origin or destination is unknown is
    never ranked."""
    shipments = shipments[_recorded(shipments, "origin") & _recorded(shipments, "destination")]
    if shipments.empty:
        return _empty(TOP_LANES_COLUMNS)
    origin, destination = _labels(shipments, "origin"), _labels(shipments, "destination")
    by_lane = _tally(origin + ARROW + destination, revenue=_numbers(shipments, "revenue"))
    ends = pd.DataFrame({"origin": origin.to_numpy(), "destination": destination.to_numpy()}).drop_duplicates()
    ends.index = (ends["origin"] + ARROW + ends["destination"]).to_numpy(dtype=object)
    ends = ends[~ends.index.duplicated()]
    otd = _tally(deliveries["lane"], on_time=deliveries["on_time"])
    otd_by_lane = pd.Series((otd["on_time"] / otd["rows"] * 100).to_numpy(), index=otd["label"])
    by_lane = by_lane.assign(
        lane=by_lane["label"],
        origin=ends["origin"].reindex(by_lane["label"]).to_numpy(),
        destination=ends["destination"].reindex(by_lane["label"]).to_numpy(),
        shipments=by_lane["rows"],
        otd_pct=otd_by_lane.reindex(by_lane["label"]).to_numpy(),
    )
    if not by_revenue:
        by_lane = by_lane.assign(revenue=np.nan)
        return _ranked(by_lane, ["shipments", "lane"], [False, True], n, TOP_LANES_COLUMNS)
    return _ranked(by_lane, ["revenue", "shipments", "lane"], [False, False, True], n, TOP_LANES_COLUMNS)


def worst_by(deliveries: pd.DataFrame, column: str, n: int = 5) -> pd.DataFrame:
    """A period's delivery events, 'lane' or 'carrier' → the ``n`` with most late deliveries (at least one):
    <column>, shipments (measured), late, otd_pct, share_of_misses_pct (late / all late of the period · 100).
    An unknown lane or carrier ('(unknown)' anywhere in the label) is never ranked; its misses still count in
    the shares' denominator."""
    columns = {column: "str", **_MISSES}
    late = ~deliveries["on_time"]
    if not late.any():
        return _empty(columns)
    misses = _tally(deliveries[column], late=late)
    misses = misses[(misses["late"] >= 1) & ~misses["label"].astype(str).str.contains(UNKNOWN, regex=False)]
    if misses.empty:
        return _empty(columns)
    misses = misses.assign(
        **{column: misses["label"]},
        shipments=misses["rows"],
        otd_pct=(misses["rows"] - misses["late"]) / misses["rows"] * 100,
        share_of_misses_pct=misses["late"] / late.sum() * 100,
    )
    return _ranked(misses, ["late", "otd_pct", column], [False, True, True], n, columns)


def cases_by_category(cases: pd.DataFrame, period: Period) -> pd.DataFrame:
    """cases, period → per category occurring among the period's cases (opened or closed in it): category,
    opened, closed, median_hours_to_resolve (of those closed in the period), most opened first."""
    opened = in_period(cases, "opened", period)
    closed = in_period(cases, "closed", period)
    if opened.empty and closed.empty:
        return _empty(CASES_BY_CATEGORY_COLUMNS)
    opened_n = _labels(opened, "category").value_counts()
    closed_frame = pd.DataFrame({"category": _labels(closed, "category"), "hours": hours_to_resolve(closed)})
    closed_n = closed_frame["category"].value_counts()
    hours = closed_frame.groupby("category")["hours"].median()
    categories = sorted(set(opened_n.index) | set(closed_n.index))
    frame = pd.DataFrame(
        {
            "category": pd.Series(categories, dtype="str"),
            "opened": opened_n.reindex(categories, fill_value=0).to_numpy().astype("int64"),
            "closed": closed_n.reindex(categories, fill_value=0).to_numpy().astype("int64"),
            "median_hours_to_resolve": hours.reindex(categories).to_numpy().astype("float64"),
        }
    )
    return frame.sort_values(["opened", "closed", "category"], ascending=[False, False, True]).reset_index(drop=True)


def pipeline(opportunities: pd.DataFrame) -> pd.DataFrame:
    """opportunities → the open ones (stage not won/lost) with weighted = amount · probability, by weighted
    descending: opp_id, service, stage, amount, probability, weighted, expected_close."""
    open_deals = opportunities[~_isin(_words(opportunities, "stage"), CLOSED_STAGES)]
    if open_deals.empty:
        return _empty(PIPELINE_COLUMNS)
    amount, probability = _numbers(open_deals, "amount"), _numbers(open_deals, "probability")
    frame = pd.DataFrame(
        {
            "opp_id": open_deals["opp_id"],
            "service": open_deals.get("service"),
            "stage": open_deals.get("stage"),
            "amount": amount,
            "probability": probability,
            "weighted": amount * probability,
            "expected_close": _dates(open_deals, "expected_close"),
        }
    )
    return frame.sort_values(["weighted", "opp_id"], ascending=[False, True], na_position="last").reset_index(drop=True)


AVAILABLE_TABLES = ("shipments", "invoices", "invoice_lines", "rate_cards", "cases", "opportunities", "targets")


def _blank_unrecorded(frame: pd.DataFrame, prep: _Prepared) -> pd.DataFrame:
    """A per-period frame → revenue / cost / margin columns NaN when no shipment records them (no ₹0 line)."""
    blank = [c for c in ("revenue", "cost") if c in frame.columns and c not in prep.recorded]
    if "gross_margin_pct" in frame.columns and not {"revenue", "cost"} <= prep.recorded:
        blank.append("gross_margin_pct")
    return frame.assign(**{c: np.nan for c in blank}) if blank else frame


def _blank_uncovered(monthly: pd.DataFrame, prep: _Prepared) -> pd.DataFrame:
    """The monthly frame → every measure NaN in months the data does not reach (before the account's first
    record, after the as-of day): such a month has no data, not zero shipments."""
    stops = monthly["month"] + pd.offsets.MonthBegin(1)
    outside = pd.Series(False, index=monthly.index)
    if prep.first_day is not None:
        outside |= stops <= prep.first_day
    if prep.as_of is not None:
        outside |= monthly["month"] > prep.as_of.normalize()
    measures = [c for c in monthly.columns if c not in ("month", "otd_target")]
    return monthly.assign(**{c: monthly[c].where(~outside) for c in measures})


def picked_up(shipments: pd.DataFrame) -> int:
    """A period's shipments → how many were actually picked up (pickup_actual or delivery_actual known): the
    shipments "moved", as opposed to booked ones."""
    return int((_dates(shipments, "pickup_actual").notna() | _dates(shipments, "delivery_actual").notna()).sum())


def scorecard(data: AccountData, quarter: Quarter | str, *, billing_lag_days: int = 14) -> Scorecard:
    """AccountData, quarter → the account's :class:`Scorecard` for that quarter (inputs are not modified).
    Figures cover the days the data covers (:func:`coverage`); frames leave out what the data does not record."""
    q = Quarter.parse(quarter)
    prep = _prepare(data)
    cov = quarter_coverage(prep, q)
    span = comparison_spans(cov, q)[0]
    moved = base = None
    if prep.active is not None and prep.deliveries is not None and prep.pickups is not None:
        ships, deliveries = prep.active.iloc[0:0], prep.deliveries.iloc[0:0]
        if span is not None:
            ships = in_period(prep.active, "ship_date", span)
            deliveries = in_period(prep.deliveries, "date", span)
            moved, base = picked_up(ships), len(deliveries)
        frames = {
            "quarterly": _blank_unrecorded(quarterly_frame(prep.active, prep.deliveries, prep.pickups, q), prep),
            "monthly": _blank_uncovered(
                _blank_unrecorded(monthly_frame(prep.active, prep.deliveries, data.targets, q), prep), prep
            ),
            "mode_mix": mode_mix(ships) if "revenue" in prep.recorded else _empty(MODE_MIX_COLUMNS),
            "top_lanes": top_lanes(ships, deliveries, by_revenue="revenue" in prep.recorded),
            "worst_lanes": worst_by(deliveries, "lane"),
            "worst_carriers": worst_by(deliveries, "carrier"),
        }
    else:
        frames = {
            "quarterly": _empty(QUARTERLY_COLUMNS),
            "monthly": _empty(MONTHLY_COLUMNS),
            "mode_mix": _empty(MODE_MIX_COLUMNS),
            "top_lanes": _empty(TOP_LANES_COLUMNS),
            "worst_lanes": _empty(WORST_LANES_COLUMNS),
            "worst_carriers": _empty(WORST_CARRIERS_COLUMNS),
        }
    return Scorecard(
        account=dict(data.account),
        quarter=q,
        kpis=_kpis(prep, q, billing_lag_days),
        cases_by_category=(
            _empty(CASES_BY_CATEGORY_COLUMNS)
            if data.cases is None or span is None
            else cases_by_category(data.cases, span)
        ),
        pipeline=_empty(PIPELINE_COLUMNS) if data.opportunities is None else pipeline(data.opportunities),
        available={table: data.has(table) for table in AVAILABLE_TABLES},
        coverage=cov,
        picked_up=moved,
        service_base=base,
        **frames,
    )
