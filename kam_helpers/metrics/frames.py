"""The frames a QBR charts and tables show: per quarter and month, mode mix, top and worst lanes, worst
carriers, cases by category, the open pipeline. Each has its declared columns and dtypes (empty when no data).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from kam_helpers.core.quarters import Quarter
from kam_helpers.data import columns as col
from kam_helpers.metrics.basics import Period, empty_frame, in_period
from kam_helpers.metrics.cases import hours_to_resolve
from kam_helpers.metrics.prepared import PreparedAccount
from kam_helpers.metrics.shipments import ARROW
from kam_helpers.metrics.targets import lookup_target, target_table

CLOSED_STAGES = ("won", "lost")
UNKNOWN = col.UNKNOWN


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
    revenue = _per_period(keys, first, count, col.numbers(active, "revenue").to_numpy())
    cost = _per_period(keys, first, count, col.numbers(active, "cost").to_numpy())
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
    otd_target = [lookup_target(table, "otd_pct", Quarter.of(m.date()))[0] for m in months]
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
        return empty_frame(MODE_MIX_COLUMNS)
    mix = _tally(col.labels(shipments, "mode"), revenue=col.numbers(shipments, "revenue"))
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
    shipments = shipments[col.present(shipments, "origin") & col.present(shipments, "destination")]
    if shipments.empty:
        return empty_frame(TOP_LANES_COLUMNS)
    origin, destination = col.labels(shipments, "origin"), col.labels(shipments, "destination")
    by_lane = _tally(origin + ARROW + destination, revenue=col.numbers(shipments, "revenue"))
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
        return empty_frame(columns)
    misses = _tally(deliveries[column], late=late)
    misses = misses[(misses["late"] >= 1) & ~misses["label"].astype(str).str.contains(UNKNOWN, regex=False)]
    if misses.empty:
        return empty_frame(columns)
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
        return empty_frame(CASES_BY_CATEGORY_COLUMNS)
    opened_n = col.labels(opened, "category").value_counts()
    closed_frame = pd.DataFrame({"category": col.labels(closed, "category"), "hours": hours_to_resolve(closed)})
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
    open_deals = opportunities[~col.isin(col.words(opportunities, "stage"), CLOSED_STAGES)]
    if open_deals.empty:
        return empty_frame(PIPELINE_COLUMNS)
    amount, probability = col.numbers(open_deals, "amount"), col.numbers(open_deals, "probability")
    frame = pd.DataFrame(
        {
            "opp_id": open_deals["opp_id"],
            "service": open_deals.get("service"),
            "stage": open_deals.get("stage"),
            "amount": amount,
            "probability": probability,
            "weighted": amount * probability,
            "expected_close": col.dates(open_deals, "expected_close"),
        }
    )
    return frame.sort_values(["weighted", "opp_id"], ascending=[False, True], na_position="last").reset_index(drop=True)


def blank_unrecorded(frame: pd.DataFrame, prep: PreparedAccount) -> pd.DataFrame:
    """A per-period frame → revenue / cost / margin columns NaN when no shipment records them (no ₹0 line)."""
    blank = [c for c in ("revenue", "cost") if c in frame.columns and c not in prep.recorded]
    if "gross_margin_pct" in frame.columns and not {"revenue", "cost"} <= prep.recorded:
        blank.append("gross_margin_pct")
    return frame.assign(**{c: np.nan for c in blank}) if blank else frame


def blank_uncovered(monthly: pd.DataFrame, prep: PreparedAccount) -> pd.DataFrame:
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
