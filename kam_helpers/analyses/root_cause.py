"""Complaints and service root cause: which lanes and carriers cause the late and damaged shipments, which
complaints recur, how long cases take, and how cases link to shipments.

``root_causes(data, quarter)`` → :class:`RootCause`:

* ``lanes`` / ``carriers``: per lane (carrier) among the quarter's measured deliveries (metrics.delivery_events):
  shipments, late, damaged (damage flag or a damage/loss case), misses (late or damaged), otd_pct,
  share_of_misses_pct (its misses / all misses of the quarter · 100), cases; most misses first;
* ``hotspots``: lane × carrier cells whose late rate stands out — at least ``min_late`` late deliveries, a late
  rate of at least ``min_rate`` % and ``min_ratio`` × the account's late rate outside the cell, and at least
  ``min_share`` % of the late deliveries; ``persistent_hotspots`` the same over the last ``window`` quarters pooled (a quarter alone
  often holds too few late deliveries to tell a cluster from noise). These are where corrective action goes;
* ``recurrence``: repeat complaints (metrics.repeat_flags: same category and lane within 90 days) by category
  and lane; ``time_to_resolve``: per category opened, closed, open at quarter end, median and 90th-percentile
  hours; ``root_causes``: cases of the quarter by recorded root cause; ``cases_by_link``: how the quarter's cases
  point at shipments (linked, no shipment, unknown shipment);
* ``hotspot_since``: for each hotspot of the quarter, the first of the consecutive quarters up to it in which
  the same lane × carrier was a hotspot too (within the ``window``).

:meth:`RootCause.figures` gives the internal QBR's service section (and so the internal deck) what to say:
where late deliveries concentrate and which complaints recur; the wording is in ``templates/narrative/service.md.j2``.

Without a cases table the case frames are empty and ``no_data`` names it; without shipments NoDataError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kam_helpers import metrics
from kam_helpers.core.errors import NoDataError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data import columns as col
from kam_helpers.data.account_data import AccountData

MISS_COLUMNS = {
    "shipments": "int64", "late": "int64", "damaged": "int64", "misses": "int64", "otd_pct": "float64",
    "share_of_misses_pct": "float64", "cases": "int64",
}  # fmt: skip
HOTSPOT_COLUMNS = {
    "lane": "str", "carrier": "str", "shipments": "int64", "late": "int64", "late_rate_pct": "float64",
    "rest_late_rate_pct": "float64", "ratio": "float64", "share_of_late_pct": "float64",
}  # fmt: skip


@dataclass(frozen=True)
class RootCause:
    """Root causes of one account's misses and complaints in a quarter (frames never None; empty when none)."""

    account_id: str
    quarter: Quarter
    deliveries: int  # measured deliveries in the quarter
    late: int
    damaged: int
    lanes: pd.DataFrame  # lane + MISS_COLUMNS
    carriers: pd.DataFrame  # carrier + MISS_COLUMNS
    hotspots: pd.DataFrame  # HOTSPOT_COLUMNS, this quarter
    persistent_hotspots: pd.DataFrame  # HOTSPOT_COLUMNS, the last ``window`` quarters pooled
    window: int
    recurrence: pd.DataFrame  # category, lane, cases, repeats
    time_to_resolve: pd.DataFrame  # category, opened, closed, open_at_end, median_hours, p90_hours
    root_causes: pd.DataFrame  # root_cause, cases, share_pct
    cases_by_link: pd.DataFrame  # link, cases
    no_data: list[str] = field(default_factory=list)  # what the data lacks, in words
    hotspot_since: dict[tuple[str, str], Quarter] = field(default_factory=dict)  # (lane, carrier) → first quarter

    def figures(self, top: int = 3) -> dict[str, Any]:
        """RootCause → template-ready figures (numbers stay numbers): late (the quarter's late deliveries),
        hotspots (≤ top: lane, carrier, late, share_pct, rate_pct, rest_rate_pct, since: Quarter), pooled (the
        persistent hotspots over ``window`` quarters that are not hotspots of the quarter itself, ≤ top),
        window_start (Quarter), recurrence (≤ top: category, lane, cases, repeats)."""

        def hotspot(row: Any) -> dict[str, Any]:
            return {
                "lane": str(row.lane),
                "carrier": str(row.carrier),
                "late": int(row.late),
                "shipments": int(row.shipments),
                "share_pct": float(row.share_of_late_pct),
                "rate_pct": float(row.late_rate_pct),
                "rest_rate_pct": float(row.rest_late_rate_pct),
                "since": self.hotspot_since.get((str(row.lane), str(row.carrier)), self.quarter),
            }

        now = {(str(r.lane), str(r.carrier)) for r in self.hotspots.itertuples()}
        pooled = [r for r in self.persistent_hotspots.itertuples() if (str(r.lane), str(r.carrier)) not in now]
        return {
            "late": self.late,
            "hotspots": [hotspot(r) for r in self.hotspots.head(top).itertuples()],
            "pooled": [hotspot(r) for r in pooled[:top]],
            "window_start": self.quarter.shift(1 - self.window),
            "recurrence": [
                {"category": str(r.category), "lane": str(r.lane), "cases": int(r.cases), "repeats": int(r.repeats)}
                for r in self.recurrence.head(top).itertuples()
            ],
        }

    @property
    def top_lane(self) -> str | None:
        return None if self.lanes.empty else str(self.lanes["lane"].iloc[0])

    @property
    def top_carrier(self) -> str | None:
        return None if self.carriers.empty else str(self.carriers["carrier"].iloc[0])


def _empty(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in columns.items()})


def marked_deliveries(data: AccountData) -> pd.DataFrame:
    """AccountData → every delivery_event of its history with ``late``, ``damaged`` (damage flag or a damage/loss
    case on the shipment), ``miss`` (late or damaged) and ``cases`` (cases pointing at it); computed once per
    account, then cut by period (:func:`quarter_deliveries`)."""
    ships = data.shipments
    if ships is None:
        raise NoDataError(f"{data.account_id}: no data — the workspace has no shipments table")
    events = metrics.delivery_events(ships, data.as_of)
    flagged = ships.set_index(ships["shipment_id"].astype(str))["damaged"] if "damaged" in ships else None
    sid = events["shipment_id"].astype(str)
    damaged = (
        flagged.astype("boolean").fillna(False).reindex(sid).fillna(False).to_numpy(dtype=bool)
        if flagged is not None
        else np.zeros(len(events), dtype=bool)
    )
    cases_per = pd.Series(dtype="int64")
    if data.cases is not None:
        damaged |= col.isin(sid, metrics.damage_case_shipments(data.cases).astype(str)).to_numpy()
        cases_per = data.cases["shipment_id"].dropna().astype(str).value_counts()
    late = ~events["on_time"].to_numpy(dtype=bool)
    return events.assign(
        late=late,
        damaged=damaged,
        miss=late | damaged,
        cases=cases_per.reindex(sid).fillna(0).astype("int64").to_numpy(),
    )


def quarter_deliveries(marked: pd.DataFrame, quarter: metrics.Period) -> pd.DataFrame:
    """marked_deliveries, quarter (or Span) → those due in it (by delivery date, as OTD counts them)."""
    return metrics.in_period(marked, "date", quarter)


def misses_by(deliveries: pd.DataFrame, column: str) -> pd.DataFrame:
    """quarter_deliveries, 'lane' or 'carrier' → one row per value with at least one miss: <column>,
    shipments, late, damaged, misses, otd_pct, share_of_misses_pct, cases; most misses first (then most late,
    then name)."""
    columns = {column: "str", **MISS_COLUMNS}
    total = int(deliveries["miss"].sum())
    if total == 0:
        return _empty(columns)
    g = deliveries.groupby(column, sort=False).agg(
        shipments=("miss", "size"),
        late=("late", "sum"),
        damaged=("damaged", "sum"),
        misses=("miss", "sum"),
        on_time=("on_time", "sum"),
        cases=("cases", "sum"),
    )
    g = g[g["misses"] > 0].reset_index()
    g = g.assign(otd_pct=g["on_time"] / g["shipments"] * 100, share_of_misses_pct=g["misses"] / total * 100)
    g = g.sort_values(["misses", "late", column], ascending=[False, False, True], kind="stable")
    return g[list(columns)].astype(columns).reset_index(drop=True)


def hotspots(
    deliveries: pd.DataFrame, min_late: int = 5, min_ratio: float = 1.5, min_share: float = 10.0, min_rate: float = 10.0
) -> pd.DataFrame:
    """quarter_deliveries → lane × carrier cells with ≥ min_late late deliveries, a late rate ≥ min_rate % and
    ≥ min_ratio × the late rate of all other deliveries, and ≥ min_share % of the period's late ones; most late
    first.
    E.g. 40 deliveries, 12 late (30%) in a cell, 10 late in 460 elsewhere (2.2%) → ratio 13.8, share 54.5%."""
    total_late = int(deliveries["late"].sum())
    if total_late == 0:
        return _empty(HOTSPOT_COLUMNS)
    g = deliveries.groupby(["lane", "carrier"], sort=False).agg(shipments=("late", "size"), late=("late", "sum"))
    g = g.reset_index()
    rest_n = len(deliveries) - g["shipments"]
    rest_late = total_late - g["late"]
    rate = g["late"] / g["shipments"] * 100
    rest_rate = (rest_late / rest_n.where(rest_n > 0)) * 100
    # a cell with no late delivery elsewhere: compare against half a late delivery (avoids dividing by zero)
    ratio = rate / rest_rate.where(rest_rate > 0, 50 / rest_n.where(rest_n > 0))
    g = g.assign(
        late_rate_pct=rate, rest_late_rate_pct=rest_rate, ratio=ratio, share_of_late_pct=g["late"] / total_late * 100
    )
    hot = g[
        (g["late"] >= min_late)
        & (g["ratio"] >= min_ratio)
        & (g["share_of_late_pct"] >= min_share)
        & (g["late_rate_pct"] >= min_rate)
    ]
    hot = hot.sort_values(["late", "lane", "carrier"], ascending=[False, True, True], kind="stable")
    return hot[list(HOTSPOT_COLUMNS)].astype(HOTSPOT_COLUMNS).reset_index(drop=True)


def recurrence(cases: pd.DataFrame, shipments: pd.DataFrame, quarter: Quarter) -> pd.DataFrame:
    """cases, shipments, quarter → category, lane, cases (opened in the quarter), repeats (of those, how many
    repeat an earlier one: metrics.repeat_flags), for pairs with at least one repeat; most repeats first."""
    columns = {"category": "str", "lane": "str", "cases": "int64", "repeats": "int64"}
    flagged = cases.assign(repeat=metrics.repeat_flags(cases, shipments).to_numpy())
    opened = metrics.in_period(flagged, "opened", quarter)
    if opened.empty or not opened["repeat"].any():
        return _empty(columns)
    lanes = pd.Series(metrics.lanes(shipments).to_numpy(), index=shipments["shipment_id"].astype(str))
    lanes = lanes[~lanes.index.duplicated()]
    lane = lanes.reindex(opened["shipment_id"].astype("string").fillna("").astype(str)).fillna(metrics.UNKNOWN)
    frame = pd.DataFrame(
        {
            "category": col.labels(opened, "category").to_numpy(),
            "lane": lane.to_numpy(),
            "repeat": opened["repeat"].to_numpy(),
        }
    )
    g = frame.groupby(["category", "lane"]).agg(cases=("repeat", "size"), repeats=("repeat", "sum")).reset_index()
    g = g[g["repeats"] > 0].sort_values(
        ["repeats", "cases", "category", "lane"], ascending=[False, False, True, True], kind="stable"
    )
    return g[list(columns)].astype(columns).reset_index(drop=True)


def time_to_resolve(cases: pd.DataFrame, quarter: Quarter) -> pd.DataFrame:
    """cases, quarter → per category: opened (in the quarter), closed (in the quarter), open_at_end,
    median_hours and p90_hours (of those closed in the quarter; NaN when none)."""
    span = metrics.Span.of(quarter)
    opened, closed = col.dates(cases, "opened"), col.dates(cases, "closed")
    cat = col.labels(cases, "category")
    hours = metrics.hours_to_resolve(cases)
    frame = pd.DataFrame(
        {
            "category": cat.to_numpy(),
            "opened": span.holds(opened).to_numpy(),
            "closed": span.holds(closed).to_numpy(),
            "open_at_end": ((opened < span.stop) & (closed.isna() | (closed >= span.stop))).to_numpy(),
            "hours": hours.where(span.holds(closed)).to_numpy(),
        }
    )
    frame = frame[frame[["opened", "closed", "open_at_end"]].any(axis=1)]
    columns = {
        "category": "str",
        "opened": "int64",
        "closed": "int64",
        "open_at_end": "int64",
        "median_hours": "float64",
        "p90_hours": "float64",
    }
    if frame.empty:
        return _empty(columns)
    g = frame.groupby("category").agg(
        opened=("opened", "sum"),
        closed=("closed", "sum"),
        open_at_end=("open_at_end", "sum"),
        median_hours=("hours", "median"),
        p90_hours=("hours", lambda h: h.quantile(0.9)),
    )
    g = g.reset_index().sort_values(["opened", "category"], ascending=[False, True], kind="stable")
    return g[list(columns)].astype(columns).reset_index(drop=True)


def root_cause_shares(cases: pd.DataFrame, quarter: Quarter) -> pd.DataFrame:
    """cases, quarter → root_cause ('(not found yet)' when empty), cases, share_pct of the quarter's opened cases."""
    opened = metrics.in_period(cases, "opened", quarter)
    columns = {"root_cause": "str", "cases": "int64", "share_pct": "float64"}
    if opened.empty:
        return _empty(columns)
    causes = (
        opened["root_cause"].astype("string").fillna("(not found yet)")
        if "root_cause" in opened
        else (pd.Series("(not found yet)", index=opened.index))
    )
    counts = causes.value_counts().rename_axis("root_cause").reset_index(name="cases")
    counts = counts.sort_values(["cases", "root_cause"], ascending=[False, True], kind="stable")
    return (
        counts.assign(share_pct=counts["cases"] / len(opened) * 100)[list(columns)]
        .astype(columns)
        .reset_index(drop=True)
    )


def cases_by_link(cases: pd.DataFrame, shipments: pd.DataFrame, quarter: Quarter) -> pd.DataFrame:
    """cases, shipments, quarter → link ('shipment', 'no shipment', 'unknown shipment'), cases, for the cases
    opened in the quarter (every link listed, 0 when none)."""
    opened = metrics.in_period(cases, "opened", quarter)
    sid = opened["shipment_id"].astype("string")
    known = col.isin(sid.fillna("").astype(str), shipments["shipment_id"].astype(str))
    counts = {
        "shipment": int((sid.notna() & known).sum()),
        "no shipment": int(sid.isna().sum()),
        "unknown shipment": int((sid.notna() & ~known).sum()),
    }
    return pd.DataFrame({"link": list(counts), "cases": list(counts.values())}).astype(
        {"link": "str", "cases": "int64"}
    )


def trailing(quarter: Quarter, quarters: int) -> metrics.Span:
    """quarter, n → the Span of the n quarters ending with it (trailing(2026Q3, 3) = 2026-01-01 … 2026-09-30)."""
    return metrics.Span(pd.Timestamp(quarter.shift(1 - quarters).start), pd.Timestamp(quarter.shift(1).start))


def hotspot_since(
    marked: pd.DataFrame, quarter: Quarter, hot: pd.DataFrame, window: int, **thresholds: Any
) -> dict[tuple[str, str], Quarter]:
    """marked_deliveries, quarter, its hotspots, window → (lane, carrier) → the earliest quarter of the unbroken run of
    quarters (at most ``window``, ending with ``quarter``) in which that cell was a hotspot; ``quarter`` itself
    when it was not one the quarter before."""
    since = {(str(r.lane), str(r.carrier)): quarter for r in hot.itertuples()}
    open_cells = set(since)
    for back in range(1, window):
        if not open_cells:
            break
        earlier = quarter.shift(-back)
        found = hotspots(quarter_deliveries(marked, earlier), **thresholds)
        cells = {(str(r.lane), str(r.carrier)) for r in found.itertuples()}
        for cell in open_cells & cells:
            since[cell] = earlier
        open_cells &= cells
    return since


def root_causes(
    data: AccountData,
    quarter: Quarter | str,
    *,
    window: int = 3,
    min_late: int = 5,
    min_ratio: float = 1.5,
    min_share: float = 10.0,
    min_rate: float = 10.0,
) -> RootCause:
    """AccountData, quarter → RootCause. NoDataError without a shipments table; without cases the case
    frames are empty and ``no_data`` says 'cases'."""
    q = Quarter.parse(quarter)
    if data.shipments is None:
        raise NoDataError(f"{data.account_id}: no data — the workspace has no shipments table for root causes")
    marked = marked_deliveries(data)
    deliveries = quarter_deliveries(marked, q)
    no_data = []
    if data.cases is None:
        no_data.append("cases: the workspace has no cases table (no complaints, recurrence or resolution times)")
        rec = _empty({"category": "str", "lane": "str", "cases": "int64", "repeats": "int64"})
        ttr = time_to_resolve(pd.DataFrame({"opened": [], "closed": [], "category": []}), q)
        rc = _empty({"root_cause": "str", "cases": "int64", "share_pct": "float64"})
        link = _empty({"link": "str", "cases": "int64"})
    else:
        rec = recurrence(data.cases, data.shipments, q)
        ttr = time_to_resolve(data.cases, q)
        rc = root_cause_shares(data.cases, q)
        link = cases_by_link(data.cases, data.shipments, q)
    has_carrier = "carrier" in data.shipments.columns and data.shipments["carrier"].notna().any()
    thresholds: dict[str, Any] = {
        "min_late": min_late,
        "min_ratio": min_ratio,
        "min_share": min_share,
        "min_rate": min_rate,
    }
    hot = hotspots(deliveries, **thresholds)
    if not has_carrier:
        no_data.append("carriers: the shipments have no carrier")
    return RootCause(
        account_id=data.account_id,
        quarter=q,
        deliveries=len(deliveries),
        late=int(deliveries["late"].sum()),
        damaged=int(deliveries["damaged"].sum()),
        lanes=misses_by(deliveries, "lane"),
        carriers=misses_by(deliveries, "carrier") if has_carrier else _empty({"carrier": "str", **MISS_COLUMNS}),
        hotspots=hot,
        persistent_hotspots=hotspots(quarter_deliveries(marked, trailing(q, window)), **thresholds),
        window=window,
        recurrence=rec,
        time_to_resolve=ttr,
        root_causes=rc,
        cases_by_link=link,
        no_data=no_data,
        hotspot_since=hotspot_since(marked, q, hot, window, **thresholds),
    )
