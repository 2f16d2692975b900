"""Contract and renewal: days to renewal, committed vs actual volume, and what a rate change would have done.

* ``renewal(data, quarter)`` → :class:`Renewal`: days from the quarter's end to contract_end; the contract year
  in progress (from the last anniversary of contract_start); shipments committed per year
  (accounts.committed_shipments) vs shipments of the last four quarters and of the contract year so far, the
  pace (actual / committed pro rata) and the year-end projection at that pace; ``by_quarter``: shipments and
  the committed quarter (the 'shipments' target, else committed/4) for the last four quarters.
* ``rate_change_what_if(data, quarter, change_pct, volume_change_pct=0)`` → :class:`WhatIf` on the activity of
  the four quarters ending with ``quarter``: revenue × (1 + change) × (1 + volume change), cost × (1 + volume
  change); margin before/after in money and %. The volume response is an assumption the caller states (0 =
  the client ships the same); nothing in the data estimates it. ``what_if_curve`` tabulates several changes
  (for a slider or a chart).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from kam_helpers import metrics
from kam_helpers.core.errors import NoDataError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.account_data import AccountData


@dataclass(frozen=True)
class Renewal:
    """Renewal status at the end of ``quarter``; None where the accounts row or the data lacks the figure."""

    account_id: str
    quarter: Quarter
    contract_end: dt.date | None
    days_to_renewal: int | None  # negative once the contract has ended
    contract_year_start: dt.date | None
    committed_annual: float | None
    actual_last_4q: int | None
    pct_of_commitment_4q: float | None  # actual_last_4q / committed_annual · 100
    contract_year_to_date: int | None
    pace_pct: float | None  # contract-year-to-date / (committed × elapsed days / year length) · 100
    projected_year: float | None  # contract-year-to-date × year length / elapsed days
    by_quarter: pd.DataFrame  # quarter, shipments, committed


@dataclass(frozen=True)
class WhatIf:
    """A rate change applied to the last four quarters' activity."""

    account_id: str
    quarters: tuple[str, ...]
    change_pct: float
    volume_change_pct: float
    revenue_before: float
    revenue_after: float
    cost_before: float
    cost_after: float

    @property
    def margin_before(self) -> float:
        return self.revenue_before - self.cost_before

    @property
    def margin_after(self) -> float:
        return self.revenue_after - self.cost_after

    @property
    def margin_pct_before(self) -> float | None:
        return None if not self.revenue_before else self.margin_before / self.revenue_before * 100

    @property
    def margin_pct_after(self) -> float | None:
        return None if not self.revenue_after else self.margin_after / self.revenue_after * 100


def _date(value: object) -> dt.date | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()


def _on_year(start: dt.date, year: int) -> dt.date:
    """The anniversary of ``start`` in ``year`` (29 Feb → 28 Feb)."""
    try:
        return start.replace(year=year)
    except ValueError:
        return dt.date(year, 2, 28)


def _anniversary(start: dt.date, on_or_before: dt.date) -> dt.date:
    """contract_start, a day → the latest anniversary of start on or before that day."""
    this_year = _on_year(start, on_or_before.year)
    return this_year if this_year <= on_or_before else _on_year(start, on_or_before.year - 1)


def _last_4q(quarter: Quarter) -> metrics.Span:
    return metrics.Span(pd.Timestamp(quarter.shift(-3).start), pd.Timestamp(quarter.shift(1).start))


def renewal(source: AccountData | metrics.PreparedAccount, quarter: Quarter | str) -> Renewal:
    """AccountData (or its PreparedAccount), quarter → Renewal (see the module doc). Example: committed 1200/year, contract started
    1 April, quarter 2026Q3 (ends 30 Sep): 183 days elapsed of 365; 660 shipments so far → pace 660 /
    (1200 × 183/365) = 109.7%, projected 1316."""
    q = Quarter.parse(quarter)
    data = metrics.data_of(source)
    end_day = q.end
    contract_end = _date(data.account.get("contract_end"))
    contract_start = _date(data.account.get("contract_start"))
    committed = data.account.get("committed_shipments")
    committed = None if committed is None or pd.isna(committed) else float(committed)
    year_start = _anniversary(contract_start, end_day) if contract_start and contract_start <= end_day else None
    actual = ytd = None
    rows = []
    active = metrics.active_of(source)
    if active is not None:
        actual = len(metrics.in_period(active, "ship_date", _last_4q(q)))
        if year_start:
            ytd = len(
                metrics.in_period(
                    active,
                    "ship_date",
                    metrics.Span(pd.Timestamp(year_start), pd.Timestamp(end_day) + pd.Timedelta(days=1)),
                )
            )
        for i in range(3, -1, -1):
            qi = q.shift(-i)
            target, _ = metrics.target_for(data.targets, "shipments", qi)
            rows.append(
                dict(
                    quarter=str(qi),
                    shipments=len(metrics.in_period(active, "ship_date", qi)),
                    committed=target if target is not None else (committed / 4 if committed else None),
                )
            )
    pace = projected = None
    if contract_start and year_start and ytd is not None and committed:
        year_len = (_on_year(contract_start, year_start.year + 1) - year_start).days
        elapsed = (end_day - year_start).days + 1
        pace = ytd / (committed * elapsed / year_len) * 100
        projected = ytd * year_len / elapsed
    by_quarter = pd.DataFrame(rows, columns=["quarter", "shipments", "committed"]).astype(
        {"quarter": "str", "shipments": "int64", "committed": "float64"}
    )
    return Renewal(
        account_id=data.account_id,
        quarter=q,
        contract_end=contract_end,
        days_to_renewal=None if contract_end is None else (contract_end - end_day).days,
        contract_year_start=year_start,
        committed_annual=committed,
        actual_last_4q=actual,
        pct_of_commitment_4q=None if actual is None or not committed else actual / committed * 100,
        contract_year_to_date=ytd,
        pace_pct=pace,
        projected_year=projected,
        by_quarter=by_quarter,
    )


def rate_change_what_if(
    source: AccountData | metrics.PreparedAccount,
    quarter: Quarter | str,
    change_pct: float,
    volume_change_pct: float = 0.0,
) -> WhatIf:
    """AccountData, quarter, rate change in % (+3 = rates up 3%), assumed volume change in % → WhatIf on the
    last four quarters' shipments. Example: revenue 1000, cost 800, +5% rates, volume 0 → revenue 1050, cost
    800, margin 200 → 250 (20.0% → 23.8%). NoDataError without shipments."""
    q = Quarter.parse(quarter)
    data, active = metrics.data_of(source), metrics.active_of(source)
    if active is None:
        raise NoDataError(f"{data.account_id}: no data — the workspace has no shipments table for a what-if")
    ships = metrics.in_period(active, "ship_date", _last_4q(q))
    revenue, cost = metrics.revenue(ships), metrics.cost(ships)
    volume = 1 + volume_change_pct / 100
    return WhatIf(
        account_id=data.account_id,
        quarters=tuple(str(q.shift(-i)) for i in range(3, -1, -1)),
        change_pct=float(change_pct),
        volume_change_pct=float(volume_change_pct),
        revenue_before=revenue,
        revenue_after=revenue * (1 + change_pct / 100) * volume,
        cost_before=cost,
        cost_after=cost * volume,
    )


def what_if_curve(
    source: AccountData | metrics.PreparedAccount,
    quarter: Quarter | str,
    changes: list[float] | range = range(-10, 11),
    volume_change_pct: float = 0.0,
) -> pd.DataFrame:
    """AccountData, quarter, rate changes → change_pct, revenue, margin, margin_pct per change (the data of a
    Voilà slider or a chart; one pass over the shipments)."""
    base = rate_change_what_if(source, quarter, 0.0, volume_change_pct)
    rows = []
    for c in changes:
        w = WhatIf(
            base.account_id,
            base.quarters,
            float(c),
            base.volume_change_pct,
            base.revenue_before,
            base.revenue_before * (1 + c / 100) * (1 + volume_change_pct / 100),
            base.cost_before,
            base.cost_after,
        )
        rows.append(
            dict(change_pct=float(c), revenue=w.revenue_after, margin=w.margin_after, margin_pct=w.margin_pct_after)
        )
    return pd.DataFrame(rows)
