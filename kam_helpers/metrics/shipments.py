"""Volume KPIs of a period's shipments: which shipments count, when, and what they weigh and earn.

The rules (active shipment, ship day) are :mod:`kam_helpers.data.rules`; the store's SQL takes the same ones.
"""

from __future__ import annotations

import pandas as pd

from kam_helpers.data import columns as col
from kam_helpers.data import rules
from kam_helpers.metrics.basics import Period, in_period, ratio_pct

ARROW = " \u2192 "


def not_cancelled(shipments: pd.DataFrame) -> pd.DataFrame:
    """shipments → the shipments whose status is not 'cancelled' (cancelled ones count nowhere)."""
    return shipments[rules.is_active(shipments)]


def ship_date(shipments: pd.DataFrame) -> pd.Series:
    """shipments → the moment that places each in a volume period: pickup_actual, else pickup_planned; a shipment
    with no pickup date at all (exports that record only deliveries) takes delivery_actual, else
    delivery_promised (NaT when none is known: such a shipment counts in no period's volume). The rule is
    :func:`kam_helpers.data.rules.ship_date`."""
    return rules.ship_date(shipments)


def due_date(shipments: pd.DataFrame) -> pd.Series:
    """shipments → the moment that places each in a service period: delivery_promised (NaT without a promise)."""
    return col.dates(shipments, "delivery_promised")


def lanes(shipments: pd.DataFrame) -> pd.Series:
    """shipments → 'Origin → Destination' per shipment."""
    return col.labels(shipments, "origin") + ARROW + col.labels(shipments, "destination")


def active_shipments(shipments: pd.DataFrame) -> pd.DataFrame:
    """shipments → not-cancelled shipments with a ``ship_date`` column added (input untouched)."""
    kept = not_cancelled(shipments)
    return kept.assign(ship_date=ship_date(kept))


def shipments_in(shipments: pd.DataFrame, period: Period) -> pd.DataFrame:
    """shipments, period → the period's shipments: not cancelled, ship date in the period."""
    return in_period(active_shipments(shipments), "ship_date", period)


def revenue(shipments: pd.DataFrame) -> float:
    """A period's shipments → total revenue (0.0 for none; missing revenues add nothing)."""
    return float(col.numbers(shipments, "revenue").sum())


def cost(shipments: pd.DataFrame) -> float:
    """A period's shipments → total cost (0.0 for none)."""
    return float(col.numbers(shipments, "cost").sum())


def gross_margin_pct(shipments: pd.DataFrame) -> float | None:
    """A period's shipments → (revenue − cost) / revenue · 100; None without shipments, revenue or any cost."""
    if shipments.empty or not col.numbers(shipments, "cost").notna().any():
        return None
    return ratio_pct(revenue(shipments) - cost(shipments), revenue(shipments))


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
    return _total(col.numbers(shipments, "weight_kg"))


def pallets(shipments: pd.DataFrame) -> float | None:
    """A period's shipments → total pallets (None when no shipment records pallets)."""
    return _total(col.numbers(shipments, "pallets"))


def picked_up(shipments: pd.DataFrame) -> int:
    """A period's shipments → how many were actually picked up (pickup_actual or delivery_actual known): the
    shipments "moved", as opposed to booked ones."""
    return int((col.dates(shipments, "pickup_actual").notna() | col.dates(shipments, "delivery_actual").notna()).sum())
