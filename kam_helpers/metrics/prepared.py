"""An account prepared once: the derived frames every period's KPIs, every analysis and every export filter.

``prepare(data)`` → :class:`PreparedAccount`: the active shipments (ship date added, rated against the rate card,
marked invoiced), the delivery and pickup events, cases with their repeat flags, the targets table, the
account's first day and as-of moment. Computing it is the expensive part of a scorecard, so a report prepares
its account once and hands the result to the scorecard of every quarter, the analyses and the exports
(:func:`as_prepared` accepts either).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import pandas as pd

from kam_helpers.core.errors import ConfigError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data import columns as col
from kam_helpers.data.account_data import AccountData
from kam_helpers.metrics.basics import Span
from kam_helpers.metrics.billing import mark_invoiced, priced_shipments
from kam_helpers.metrics.cases import repeat_flags
from kam_helpers.metrics.scorecard import Coverage
from kam_helpers.metrics.service import delivery_events, pickup_events
from kam_helpers.metrics.shipments import active_shipments, recorded
from kam_helpers.metrics.targets import target_table


@dataclass(frozen=True, eq=False)
class PreparedAccount:
    """An account's data with the frames derived from it once; None where the source table is absent."""

    data: AccountData
    shipments: pd.DataFrame | None  # active_shipments with every column of the table (what exports list)
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
    # results computed from these frames, by what computed them and its arguments (a period's KPI values):
    # the scorecards of two quarters and the health score ask for the same periods
    memo: dict = field(default_factory=dict, repr=False)


_KPI_COLUMNS = (
    "shipment_id", "mode", "origin", "destination", "carrier", "pickup_planned", "pickup_actual",
    "delivery_promised", "delivery_actual", "weight_kg", "pallets", "revenue", "cost", "damaged", "short",
    "ship_date", "rate_id", "linehaul", "fuel", "expected", "invoiced",
)  # fmt: skip


def prepare(data: AccountData) -> PreparedAccount:
    """AccountData → the derived frames every period's KPIs are filtered from (inputs are not modified)."""
    ships, cases = data.shipments, data.cases
    shipments = active = deliveries = pickups = None
    if ships is not None:
        shipments = active = active_shipments(ships)
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
        col.dates(frame, column).min()
        for frame, column in (
            (active, "ship_date"),
            (active, "delivery_promised"),
            (data.invoices, "issued"),
            (data.cases, "opened"),
        )
        if frame is not None and column in frame.columns
    ]
    firsts = [day for day in firsts if pd.notna(day)]
    return PreparedAccount(
        data=data,
        shipments=shipments,
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


def as_prepared(source: AccountData | PreparedAccount) -> PreparedAccount:
    """AccountData or an already prepared account → the prepared account (prepares only what is not yet)."""
    return source if isinstance(source, PreparedAccount) else prepare(source)


def data_of(source: AccountData | PreparedAccount) -> AccountData:
    """AccountData or a prepared account → the account's data."""
    return source.data if isinstance(source, PreparedAccount) else source


def active_of(source: AccountData | PreparedAccount) -> pd.DataFrame | None:
    """AccountData or a prepared account → its active shipments with ``ship_date`` (None without a shipments
    table): the prepared ones when given, else selected now, without the rating and events of a full
    preparation (an analysis that reads volume alone stays cheap on plain data)."""
    if isinstance(source, PreparedAccount):
        return source.active
    return None if source.shipments is None else active_shipments(source.shipments)


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
        days_covered = (min(stop, last + dt.timedelta(days=1)) - first).days
        months += max(0, days_covered) / ((last - first).days + 1)
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


def covered(prep: PreparedAccount, span: Span | None) -> Span | None:
    """A span → itself when the data covers any of it (after the account's first record, before the as-of
    day), else None: a period the data does not reach has no data, not zeros."""
    if span is None:
        return None
    if prep.first_day is not None and span.stop <= prep.first_day:
        return None
    if prep.as_of is not None and span.start > prep.as_of.normalize():
        return None
    return span


def quarter_coverage(prep: PreparedAccount, quarter: Quarter | str) -> Coverage:
    """Prepared frames, quarter → the quarter's :class:`Coverage` by the account's data."""
    return coverage(quarter, prep.first_day, prep.as_of)
