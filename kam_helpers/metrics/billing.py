"""Billing KPIs: invoice accuracy, billing variance against the rate card, unbilled shipments, days to pay,
overdue amount. The billing lag is :mod:`kam_helpers.data.rules`' one rule."""

from __future__ import annotations

import pandas as pd

from kam_helpers.data import columns as col
from kam_helpers.data import rules
from kam_helpers.metrics.basics import Period, Span, in_period, pct, ratio_pct
from kam_helpers.metrics.rating import expected_charges
from kam_helpers.metrics.service import delivered_in

INACCURATE_INVOICE = ("disputed", "credited")


def invoice_accuracy_pct(invoices: pd.DataFrame | None, period: Period) -> float | None:
    """invoices, period → % of invoices issued in the period that were neither disputed nor credited.
    None without an invoices table or without invoices issued."""
    if invoices is None:
        return None
    issued = in_period(invoices, "issued", period)
    return pct(~col.isin(col.words(issued, "status"), INACCURATE_INVOICE))


def priced_shipments(shipments: pd.DataFrame, rate_cards: pd.DataFrame | None) -> pd.DataFrame:
    """shipments, rate_cards → the shipments with the charges of rating.expected_charges (``rate_id``,
    ``linehaul``, ``fuel``, ``expected``) added, row by row (so duplicated shipment ids cannot multiply rows)."""
    charges = expected_charges(shipments, rate_cards)
    return shipments.assign(**{c: charges[c].to_numpy() for c in RATING_COLUMNS})


RATING_COLUMNS = ("rate_id", "linehaul", "fuel", "expected")


def _rated(priced: pd.DataFrame) -> pd.DataFrame:
    """priced shipments → those with a rate, a computable expected charge and a billed revenue."""
    return priced[priced["rate_id"].notna() & priced["expected"].notna() & col.numbers(priced, "revenue").notna()]


def billing_variance(priced: pd.DataFrame) -> float:
    """A period's priced shipments → Σ (revenue − expected) over shipments with a rate (positive = billed
    above the rate card). Shipments without a revenue figure are left out: nothing billed is not a variance."""
    rated = _rated(priced)
    return float((col.numbers(rated, "revenue") - rated["expected"]).sum())


def billing_variance_pct(priced: pd.DataFrame) -> float | None:
    """A period's priced shipments → billing variance as % of Σ expected; None when nothing is rated."""
    return ratio_pct(billing_variance(priced), float(_rated(priced)["expected"].sum()))


def mark_invoiced(shipments: pd.DataFrame, invoice_lines: pd.DataFrame) -> pd.DataFrame:
    """shipments, invoice_lines → the shipments with ``invoiced`` (True when an invoice line points at them)."""
    return shipments.assign(invoiced=col.isin(shipments["shipment_id"], col.ids(invoice_lines, "shipment_id")))


def count_unbilled(
    invoiced: pd.DataFrame, period: Period, billing_lag_days: int = rules.DEFAULT_BILLING_LAG_DAYS
) -> int:
    """mark_invoiced shipments, period → count delivered in the period, due for billing by its last day
    (:func:`kam_helpers.data.rules.billing_due_day`) and not invoiced. Cancelled shipments are left out."""
    span = Span.of(period)
    delivered = delivered_in(invoiced, span)
    due = delivered[rules.billing_due_day(delivered, billing_lag_days) < span.stop]
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
    days = (col.dates(paid, "paid").dt.normalize() - col.dates(paid, "issued").dt.normalize()).dt.days
    return float(days.mean())


def overdue_amount(invoices: pd.DataFrame | None, period: Period) -> float | None:
    """invoices, period → Σ amount of invoices issued by the period's last day, unpaid at its end (paid empty or
    later) and due before its last day. None without an invoices table."""
    if invoices is None:
        return None
    span = Span.of(period)
    issued, paid, due = col.dates(invoices, "issued"), col.dates(invoices, "paid"), col.dates(invoices, "due")
    open_at_end = (issued < span.stop) & (paid.isna() | (paid >= span.stop)) & (due.dt.normalize() < span.last_day)
    return float(col.numbers(invoices, "amount")[open_at_end].sum())
