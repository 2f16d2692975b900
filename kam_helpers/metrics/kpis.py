"""Metrics: one account's KPIs for a quarter, with comparisons, targets, RAG and the frames a QBR shows.

Small pure functions build the scorecard, one module per area; each takes frames (and a period) and returns a
number or a frame:

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

This module puts them together: :func:`period_values` (every KPI of one period), :func:`build_kpis` (with
comparisons, targets and RAG), :func:`kpis` and :func:`scorecard`. Both take an :class:`AccountData` or, to
derive its frames only once for several quarters and analyses, a :class:`PreparedAccount` (:func:`prepare`).
The areas: :mod:`.shipments`, :mod:`.service`, :mod:`.billing`, :mod:`.cases`, :mod:`.targets`, :mod:`.frames`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import cache

from kam_helpers.core.quarters import Quarter
from kam_helpers.data import rules
from kam_helpers.data.account_data import AccountData
from kam_helpers.metrics.basics import Period, Span, empty_frame, in_period
from kam_helpers.metrics.billing import (
    billing_variance,
    billing_variance_pct,
    count_unbilled,
    days_to_pay,
    invoice_accuracy_pct,
    overdue_amount,
)
from kam_helpers.metrics.cases import (
    cases_backlog,
    cases_closed,
    cases_opened,
    median_hours_to_resolve,
)
from kam_helpers.metrics.frames import (
    CASES_BY_CATEGORY_COLUMNS,
    MODE_MIX_COLUMNS,
    MONTHLY_COLUMNS,
    PIPELINE_COLUMNS,
    QUARTERLY_COLUMNS,
    TOP_LANES_COLUMNS,
    WORST_CARRIERS_COLUMNS,
    WORST_LANES_COLUMNS,
    blank_uncovered,
    blank_unrecorded,
    cases_by_category,
    mode_mix,
    monthly_frame,
    pipeline,
    quarterly_frame,
    top_lanes,
    worst_by,
)
from kam_helpers.metrics.prepared import PreparedAccount, as_prepared, comparison_spans, covered, quarter_coverage
from kam_helpers.metrics.scorecard import KPI_SPECS, Kpi, Scorecard
from kam_helpers.metrics.service import claims_cost_pct, damage_ratio_pct, otd_pct, otif_pct, otp_pct
from kam_helpers.metrics.shipments import cost, gross_margin_pct, pallets, picked_up, revenue, weight_kg
from kam_helpers.metrics.targets import rag, target_with_source

DEFAULT_BILLING_LAG_DAYS = rules.DEFAULT_BILLING_LAG_DAYS
AVAILABLE_TABLES = ("shipments", "invoices", "invoice_lines", "rate_cards", "cases", "opportunities", "targets")


def period_values(
    prep: PreparedAccount,
    period: Period | None,
    billing_lag_days: int = DEFAULT_BILLING_LAG_DAYS,
    keys: Collection[str] | None = None,
) -> dict[str, float | None]:
    """Prepared frames, period → every KPI value of the period, keyed as in KPI_SPECS (the same small
    functions as above, fed with frames derived once). Every value is None when the data does not reach the
    period (:func:`covered`); a shipment measure no shipment records (revenue, cost, …) is None. ``keys`` limits
    the work to those KPIs (the others stay None): a series over many short periods asks for one."""
    out: dict[str, float | None] = dict.fromkeys(KPI_SPECS)
    span = covered(prep, None if period is None else Span.of(period))
    if span is None:
        return out
    key = ("period_values", span, billing_lag_days)
    if key in prep.memo:
        return dict(prep.memo[key])
    wanted = KPI_SPECS.keys() if keys is None else keys
    computed = {k: value() for k, value in _kpi_values(prep, span, billing_lag_days).items() if k in wanted}
    values = {**out, **computed}
    if keys is None:
        prep.memo[key] = values
    return dict(values)


def _kpi_values(prep: PreparedAccount, span: Span, billing_lag_days: int) -> dict[str, Callable[[], float | None]]:
    """KPI key → how to compute its value for a period the data covers (only the KPIs the data allows: the
    others stay None). Frames shared by several KPIs (the period's shipments, its revenue) are filtered once,
    when the first KPI that needs them is computed."""
    cases, has = prep.cases, prep.recorded
    values: dict[str, Callable[[], float | None]] = {}
    if prep.active is not None:
        active = prep.active
        ships = cache(lambda: in_period(active, "ship_date", span))
        billed = cache(lambda: revenue(ships()) if "revenue" in has else None)
        values.update(
            revenue=billed,
            cost=lambda: cost(ships()) if "cost" in has else None,
            gross_margin_pct=lambda: gross_margin_pct(ships()) if {"revenue", "cost"} <= has else None,
            shipments=lambda: len(ships()),
            weight_kg=lambda: weight_kg(ships()) if "weight_kg" in has else None,
            pallets=lambda: pallets(ships()) if "pallets" in has else None,
            otd_pct=lambda: otd_pct(prep.deliveries, span),
            otp_pct=lambda: otp_pct(prep.pickups, span),
            otif_pct=lambda: otif_pct(prep.deliveries, span),
            damage_ratio_pct=lambda: damage_ratio_pct(active, cases, span),
            claims_cost_pct=lambda: claims_cost_pct(cases, billed(), span),
        )
        if prep.rated and "revenue" in has:
            values.update(
                billing_variance=lambda: billing_variance(ships()),
                billing_variance_pct=lambda: billing_variance_pct(ships()),
            )
        if prep.invoiced:
            values["unbilled_shipments"] = lambda: count_unbilled(active, span, billing_lag_days)
        if cases is not None:
            values["repeat_complaints"] = lambda: int(in_period(cases, "opened", span)["repeat"].sum())
    values.update(
        invoice_accuracy_pct=lambda: invoice_accuracy_pct(prep.invoices, span),
        days_to_pay=lambda: days_to_pay(prep.invoices, span),
        overdue_amount=lambda: overdue_amount(prep.invoices, span),
        cases_opened=lambda: cases_opened(cases, span),
        cases_closed=lambda: cases_closed(cases, span),
        cases_backlog=lambda: cases_backlog(cases, span),
        median_hours_to_resolve=lambda: median_hours_to_resolve(cases, span),
    )
    return values


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


def _kpis(prep: PreparedAccount, quarter: Quarter, billing_lag_days: int) -> dict[str, Kpi]:
    """Prepared frames, quarter → the ordered KPIs with prior quarter, last year, target and RAG; a partial
    quarter is compared with the same days of the earlier quarters."""
    spans = comparison_spans(quarter_coverage(prep, quarter), quarter)
    now, prior, last_year = (period_values(prep, span, billing_lag_days) for span in spans)
    return build_kpis(now, prior, last_year, prep.targets, quarter)


def kpis(
    source: AccountData | PreparedAccount, quarter: Quarter | str, *, billing_lag_days: int = 14
) -> dict[str, Kpi]:
    """AccountData (or its PreparedAccount), quarter → the ordered KPIs of :func:`scorecard` alone (no frames)."""
    return _kpis(as_prepared(source), Quarter.parse(quarter), billing_lag_days)


def scorecard(
    source: AccountData | PreparedAccount, quarter: Quarter | str, *, billing_lag_days: int = 14
) -> Scorecard:
    """AccountData (or its PreparedAccount), quarter → the account's :class:`Scorecard` for that quarter (inputs
    are not modified). Figures cover the days the data covers (:func:`coverage`); frames leave out what the data
    does not record."""
    q = Quarter.parse(quarter)
    prep = as_prepared(source)
    data = prep.data
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
            "quarterly": blank_unrecorded(quarterly_frame(prep.active, prep.deliveries, prep.pickups, q), prep),
            "monthly": blank_uncovered(
                blank_unrecorded(monthly_frame(prep.active, prep.deliveries, data.targets, q), prep), prep
            ),
            "mode_mix": mode_mix(ships) if "revenue" in prep.recorded else empty_frame(MODE_MIX_COLUMNS),
            "top_lanes": top_lanes(ships, deliveries, by_revenue="revenue" in prep.recorded),
            "worst_lanes": worst_by(deliveries, "lane"),
            "worst_carriers": worst_by(deliveries, "carrier"),
        }
    else:
        frames = {
            "quarterly": empty_frame(QUARTERLY_COLUMNS),
            "monthly": empty_frame(MONTHLY_COLUMNS),
            "mode_mix": empty_frame(MODE_MIX_COLUMNS),
            "top_lanes": empty_frame(TOP_LANES_COLUMNS),
            "worst_lanes": empty_frame(WORST_LANES_COLUMNS),
            "worst_carriers": empty_frame(WORST_CARRIERS_COLUMNS),
        }
    return Scorecard(
        account=dict(data.account),
        quarter=q,
        kpis=_kpis(prep, q, billing_lag_days),
        cases_by_category=(
            empty_frame(CASES_BY_CATEGORY_COLUMNS)
            if data.cases is None or span is None
            else cases_by_category(data.cases, span)
        ),
        pipeline=empty_frame(PIPELINE_COLUMNS) if data.opportunities is None else pipeline(data.opportunities),
        available={table: data.has(table) for table in AVAILABLE_TABLES},
        coverage=cov,
        picked_up=moved,
        service_base=base,
        **frames,
    )
