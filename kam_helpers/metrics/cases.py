"""Case KPIs: opened, closed, backlog at period end, hours to resolve, repeat complaints."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kam_helpers.data import columns as col
from kam_helpers.metrics.basics import Period, Span, in_period

REPEAT_WINDOW = pd.Timedelta(days=90)


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
    closed = col.dates(cases, "closed")
    return int(((col.dates(cases, "opened") < stop) & (closed.isna() | (closed >= stop))).sum())


def hours_to_resolve(cases: pd.DataFrame) -> pd.Series:
    """cases → hours from opened to closed per case (NaN while open)."""
    return (col.dates(cases, "closed") - col.dates(cases, "opened")).dt.total_seconds() / 3600


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
            "account_id": col.words(cases, "account_id").to_numpy(),
            "category": col.words(cases, "category").to_numpy(),
            "opened": col.dates(cases, "opened").to_numpy(),
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
