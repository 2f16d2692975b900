"""Service KPIs: on-time delivery, on time in full, on-time pickup, damage and claims.

Service belongs to the period a shipment was *due* in (delivery_promised); pickups to their pickup day.
"""

from __future__ import annotations

import pandas as pd

from kam_helpers.data import columns as col
from kam_helpers.data import rules
from kam_helpers.metrics.basics import Period, Span, in_period, pct, ratio_pct
from kam_helpers.metrics.shipments import lanes, not_cancelled

DAMAGE_CATEGORIES = ("damage", "loss")


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
    actual, promised = col.dates(ships, "delivery_actual"), col.dates(ships, "delivery_promised")
    delivered = actual.notna()
    overdue = ~delivered & promised.notna()
    if as_of is None or pd.isna(as_of):
        overdue &= False
    else:
        overdue &= promised.dt.normalize() < pd.Timestamp(as_of).normalize()
    on_time = rules.on_time(ships)
    in_full = rules.in_full(ships)
    recorded_flags = col.present(ships, "short") | col.present(ships, "damaged")
    events = pd.DataFrame(
        {
            "shipment_id": ships["shipment_id"],
            "lane": lanes(ships),
            "carrier": col.labels(ships, "carrier"),
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
    actual, planned = col.dates(ships, "pickup_actual"), col.dates(ships, "pickup_planned")
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
    return pct(in_period(deliveries, "date", period)["on_time"])


def otif_pct(deliveries: pd.DataFrame, period: Period) -> float | None:
    """delivery_events, period → % on time and in full (OTD's population, where shortage or damage is recorded);
    None when none measured."""
    return pct(in_period(deliveries, "date", period)["otif"].dropna().astype(bool))


def otp_pct(pickups: pd.DataFrame, period: Period) -> float | None:
    """pickup_events, period → % of the period's pickups on or before the planned day; None when none."""
    return pct(in_period(pickups, "date", period)["on_time"])


def delivered_in(shipments: pd.DataFrame, period: Period) -> pd.DataFrame:
    """shipments, period → not-cancelled shipments with delivery_actual in the period."""
    return in_period(not_cancelled(shipments), "delivery_actual", period)


def damage_case_shipments(cases: pd.DataFrame) -> pd.Series:
    """cases → the distinct shipment ids that a 'damage' or 'loss' case points at."""
    return col.ids(cases[col.isin(col.words(cases, "category"), DAMAGE_CATEGORIES)], "shipment_id")


def delivered_due_in(shipments: pd.DataFrame, period: Period) -> pd.DataFrame:
    """shipments, period → not-cancelled delivered shipments due in the period (delivery_promised in it; a
    shipment without a promise by its delivery_actual)."""
    ships = not_cancelled(shipments)
    delivered = ships[col.dates(ships, "delivery_actual").notna()]
    due = col.dates(delivered, "delivery_promised").fillna(col.dates(delivered, "delivery_actual"))
    return delivered[Span.of(period).holds(due)]


def damage_ratio_pct(shipments: pd.DataFrame, cases: pd.DataFrame | None, period: Period) -> float | None:
    """shipments, cases, period → % of the delivered shipments due in the period (:func:`delivered_due_in`) with
    a damage/loss case (opened at any time). None without a cases table or without deliveries."""
    if cases is None:
        return None
    delivered = delivered_due_in(shipments, period)
    hit = col.isin(delivered["shipment_id"], damage_case_shipments(cases))
    return pct(hit)


def claims_cost_pct(cases: pd.DataFrame | None, period_revenue: float | None, period: Period) -> float | None:
    """cases, the period's revenue, period → claim_amount of damage/loss cases opened in the period as % of
    revenue. None without a cases table or without revenue."""
    if cases is None:
        return None
    opened = in_period(cases, "opened", period)
    claims = col.numbers(opened, "claim_amount")[col.isin(col.words(opened, "category"), DAMAGE_CATEGORIES)]
    return ratio_pct(float(claims.sum()), period_revenue)
