"""One account of the analyst's workspace: its shipments, scorecard, KPI series and QBR for any quarter.

The account's rows are read from the store once and prepared once (:func:`kam_helpers.metrics.prepare`); every
quarter asked for reuses them, after checking that no row blocked under the import's ``block`` policy touches
that quarter (the store's rule for reports).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import TYPE_CHECKING

import pandas as pd

from kam_helpers import metrics
from kam_helpers.api.series import Freq, check_kpi, kpi_series, periods
from kam_helpers.core.quarters import Quarter
from kam_helpers.qbr.report import QbrReport

if TYPE_CHECKING:
    from kam_helpers.api.workspace import Workspace

QuarterLike = str | dt.date | Quarter


class Account:
    """One account of a :class:`~kam_helpers.api.workspace.Workspace` (``ws.account("ACC-002")``).

    Every method takes the quarter as '2026Q3', '2026-Q3', '2026q3' or a date (its quarter); left out, the
    last quarter the data covers to its end (``ws.last_quarter``).

    >>> a = kam.open().account("A1")
    >>> a
    <Account A1: Alpha Foods>
    >>> a.info["owner"], a.info["contract_end"].date()
    ('Kim Lee', datetime.date(2027, 6, 30))
    """

    def __init__(self, workspace: Workspace, info: dict) -> None:
        self.workspace = workspace
        self.info = info  # the accounts row: account_id, name, industry, tier, region, owner, contract dates, ...
        self.id = str(info["account_id"])
        self.name = str(info.get("name") or self.id)
        self._rows: metrics.PreparedAccount | None = None
        self._by_quarter: dict[Quarter, metrics.PreparedAccount] = {}
        self._scorecards: dict[Quarter, metrics.Scorecard] = {}
        self._reports: dict[tuple[Quarter, str], QbrReport] = {}

    def __repr__(self) -> str:
        return f"<Account {self.id}: {self.name}>"

    def _quarter(self, quarter: QuarterLike | None) -> Quarter:
        return self.workspace.last_quarter if quarter is None else Quarter.coerce(quarter)

    def prepared(self, quarter: QuarterLike | None = None) -> metrics.PreparedAccount:
        """The account's data and derived frames as the reports of ``quarter`` compute from them (for the
        functions of :mod:`kam_helpers.metrics` and :mod:`kam_helpers.analyses`). DataValidationError when rows
        the import blocked touch the quarter, as for its QBR.

        >>> prep = kam.open().account("A1").prepared("2026Q3")
        >>> list(prep.shipments["shipment_id"]), prep.as_of
        (['S1', 'S2'], Timestamp('2026-09-29 10:00:00'))
        """
        q = self._quarter(quarter)
        if q not in self._by_quarter:
            store = self.workspace.store
            if self._rows is None:
                self._rows = metrics.prepare(store.account_data(self.id, q))
                self._by_quarter[q] = self._rows
            else:
                if store.blocking_problems(self.id, q):
                    store.account_data(self.id, q)  # raises the store's own error naming the rows
                excluded = store.excluded(self.id, q)  # what a report of this quarter says was left out
                self._by_quarter[q] = replace(self._rows, data=replace(self._rows.data, excluded=excluded))
        return self._by_quarter[q]

    def shipments(self, quarter: QuarterLike | None = None) -> pd.DataFrame:
        """The quarter's shipments exactly as the report counts them (its ``shipments`` KPI, the batch
        manifest's count): every shipment not cancelled whose ship day falls in the quarter. The ship day is
        pickup_actual, else pickup_planned, else (a shipment recording only deliveries) delivery_actual, else
        delivery_promised (:func:`kam_helpers.metrics.ship_date`). In a quarter the data covers only in part,
        the days up to the as-of day. Every column of the shipments table, plus ``ship_date``.

        >>> a = kam.open().account("A1")
        >>> a.shipments("2026Q3")[["shipment_id", "ship_date", "status"]]
          shipment_id           ship_date     status
        0          S1 2026-07-01 09:00:00  delivered
        1          S2 2026-07-02 09:00:00  delivered
        >>> len(a.shipments("2026-08-15")) == a.scorecard("2026Q3").value("shipments")
        True
        """
        q = self._quarter(quarter)
        prep = self.prepared(q)
        if prep.shipments is None:
            return pd.DataFrame(columns=["shipment_id", "ship_date"])
        span = metrics.comparison_spans(metrics.quarter_coverage(prep, q), q)[0]  # the scorecard's own span
        if span is None:
            return prep.shipments.iloc[0:0]
        return metrics.in_period(prep.shipments, "ship_date", span).reset_index(drop=True)

    def scorecard(self, quarter: QuarterLike | None = None) -> metrics.Scorecard:
        """The quarter's full scorecard (cost and margin included: the KAM's view), the object every report
        is built from; ``.to_frame()`` is one row per KPI with value, prior, change, target and RAG, and
        ``.kpis``, ``.monthly``, ``.worst_lanes``, ``.worst_carriers``, ``.mode_mix``, ... hold the rest.

        >>> sc = kam.open().account("A1").scorecard("2026Q3")
        >>> sc.to_frame().set_index("kpi").loc[["shipments", "revenue", "otd_pct"], ["value", "target", "rag"]]
                   value  target  rag
        kpi
        shipments    2.0     NaN  NaN
        revenue    700.0     NaN  NaN
        otd_pct     50.0    95.0  red
        >>> sc.worst_lanes[["lane", "shipments", "late"]]
                      lane  shipments  late
        0  Lyon → Paris          1     1
        """
        q = self._quarter(quarter)
        if q not in self._scorecards:
            self._scorecards[q] = metrics.scorecard(self.prepared(q), q)
        return self._scorecards[q]

    def series(self, kpi: str, freq: Freq = "W", quarters: int = 4, quarter: QuarterLike | None = None) -> pd.DataFrame:
        """One KPI per day ("D"), week ("W", Monday to Sunday), month ("M") or quarter ("Q") over ``quarters``
        quarters ending with ``quarter``: one row per period with period (first day), last_day, quarter, kpi,
        value (NaN: no data in the period) and target (the SLA or target in force, contracted else standard).
        Each value comes from the scorecard's own KPI functions applied to that period, so the "Q" value of a
        quarter is its scorecard's. Periods are cut at the data's as-of day.

        >>> a = kam.open().account("A1")
        >>> a.series("otd_pct", freq="M", quarters=1, quarter="2026Q3")[["period", "value", "target"]]
              period  value  target
        0 2026-07-01   50.0    95.0
        1 2026-08-01    NaN    95.0
        2 2026-09-01    NaN    95.0
        >>> a.series("shipments", freq="Q", quarters=2, quarter="2026Q3")[["quarter", "value"]]
          quarter  value
        0  2026Q2    NaN
        1  2026Q3    2.0
        """
        key = check_kpi(kpi)
        last = self._quarter(quarter)
        spans = periods(freq, last, quarters, self.workspace.store.as_of)
        prep = self.prepared(last)
        for earlier in range(1, quarters):  # each quarter's blocked rows refuse it, as its report would
            self.prepared(last.shift(-earlier))
        return kpi_series(prep, key, spans)

    def qbr(self, quarter: QuarterLike | None = None, audience: str = "client") -> QbrReport:
        """The quarter's Quarterly Business Review, as ``notebooks/qbr.ipynb`` shows it and ``kam qbr`` renders
        it: a notebook cell ending with it displays the whole report; its methods (``header()``,
        ``kpi_cards()``, ``section(key)``, ``charts(key)``, ``scorecard_table()``, ``action_items()``) show one
        part each. ``audience`` 'client' (without our cost and margin) or 'internal'.

        >>> report = kam.open().account("A1").qbr("2026Q3")
        >>> report
        <QbrReport A1 2026Q3 for the client>
        >>> report.scorecard.value("shipments"), "cost" in report.scorecard.kpis
        (2, False)
        """
        q = self._quarter(quarter)
        if (q, audience) not in self._reports:
            prepared = self.prepared(q)  # this account as read and prepared once, shared with its scorecards
            self._reports[(q, audience)] = QbrReport.from_prepared(prepared, q, self.workspace.store, audience=audience)
        return self._reports[(q, audience)]
