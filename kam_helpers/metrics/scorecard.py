"""The scorecard of one account for one quarter: the numbers every report, deck and narrative shows.

This module only declares the shapes (and the KPIs: key, label, unit, direction); :mod:`kam_helpers.metrics.kpis`
computes them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Literal

import pandas as pd

from kam_helpers.core.quarters import Quarter

# What a client never sees: our cost of serving them and the margin we make on them.
INTERNAL_KPIS = ("cost", "gross_margin_pct")
INTERNAL_COLUMNS = ("cost", "gross_margin_pct")
_FRAME_COLUMNS = ("kpi", "label", "unit", "value", "prior", "change", "last_year", "target", "target_source", "rag")

Unit = Literal["money", "pct", "count", "days", "hours", "kg"]
Rag = Literal["green", "amber", "red"]
TargetSource = Literal["contracted", "standard"]

# key -> (label, unit, higher_is_better), in the order the scorecard presents them.
KPI_SPECS: dict[str, tuple[str, Unit, bool]] = {
    "revenue": ("Revenue", "money", True),
    "cost": ("Cost", "money", False),
    "gross_margin_pct": ("Gross margin", "pct", True),
    "shipments": ("Shipments", "count", True),
    "weight_kg": ("Weight", "kg", True),
    "pallets": ("Pallets", "count", True),
    "otd_pct": ("On-time delivery", "pct", True),
    "otp_pct": ("On-time pickup", "pct", True),
    "otif_pct": ("On time in full", "pct", True),
    "damage_ratio_pct": ("Damage and loss ratio", "pct", False),
    "claims_cost_pct": ("Claims cost (% of revenue)", "pct", False),
    "invoice_accuracy_pct": ("Invoice accuracy", "pct", True),
    "billing_variance": ("Billing variance (billed − rate card)", "money", True),
    "billing_variance_pct": ("Billing variance (% of rate card)", "pct", True),
    "unbilled_shipments": ("Unbilled shipments", "count", False),
    "days_to_pay": ("Days to pay", "days", False),
    "overdue_amount": ("Overdue amount", "money", False),
    "cases_opened": ("Cases opened", "count", False),
    "cases_closed": ("Cases closed", "count", True),
    "cases_backlog": ("Open cases at quarter end", "count", False),
    "median_hours_to_resolve": ("Median hours to resolve", "hours", False),
    "repeat_complaints": ("Repeat complaints", "count", False),
}


@dataclass(frozen=True)
class Kpi:
    """One KPI for the quarter, with its comparisons.

    Percentages are on a 0–100 scale. ``value`` is None when the data holds nothing to compute it from.
    ``rag`` is None when there is no target. ``target_source`` says whose target it is: 'contracted' (the
    client's targets table) or 'standard' (config/standard_targets.yml, when the client has none).
    """

    key: str  # e.g. "otd_pct"; the same key as targets.metric where one exists
    label: str  # e.g. "On-time delivery"
    unit: Unit
    value: float | None
    prior: float | None = None  # previous quarter
    last_year: float | None = None  # same quarter one year earlier
    target: float | None = None
    tolerance: float | None = None
    higher_is_better: bool = True
    rag: Rag | None = None
    target_source: TargetSource | None = None

    @property
    def change_qoq(self) -> float | None:
        """value − prior (percentage points for pct units)."""
        return None if self.value is None or self.prior is None else self.value - self.prior

    @property
    def change_yoy(self) -> float | None:
        return None if self.value is None or self.last_year is None else self.value - self.last_year

    @property
    def growth_qoq_pct(self) -> float | None:
        """Relative change vs prior quarter in % (None when prior is 0 or missing)."""
        if self.value is None or not self.prior:
            return None
        return (self.value - self.prior) / abs(self.prior) * 100

    @property
    def growth_yoy_pct(self) -> float | None:
        if self.value is None or not self.last_year:
            return None
        return (self.value - self.last_year) / abs(self.last_year) * 100

    @property
    def gap_to_target(self) -> float | None:
        """value − target (positive = better than target when higher_is_better)."""
        return None if self.value is None or self.target is None else self.value - self.target


@dataclass(frozen=True)
class Coverage:
    """How much of a quarter the data covers: ``start``/``stop`` the covered days [start, stop) within it,
    ``data_to`` the as-of day (None when unknown), ``months`` covered (e.g. 2.0 of 3), ``partial`` when the data
    ends before the quarter does (comparisons then use the same days of earlier quarters)."""

    start: dt.date
    stop: dt.date
    data_to: dt.date | None
    months: float
    partial: bool

    @property
    def days(self) -> int:
        return (self.stop - self.start).days


@dataclass(frozen=True)
class Scorecard:
    """Everything computed for one account and quarter. Frames are never None; empty when no data."""

    account: dict
    quarter: Quarter
    kpis: dict[str, Kpi]  # ordered as presented
    quarterly: pd.DataFrame  # quarter(str), shipments, revenue, cost, gross_margin_pct, otd_pct, otp_pct
    monthly: pd.DataFrame  # month(datetime64, first day), shipments, revenue, cost, otd_pct, otd_target
    mode_mix: pd.DataFrame  # mode, shipments, revenue, share_pct (of revenue)
    top_lanes: pd.DataFrame  # lane, origin, destination, shipments, revenue, otd_pct  (by revenue, top 10)
    worst_lanes: pd.DataFrame  # lane, shipments, late, otd_pct, share_of_misses_pct  (most late first)
    worst_carriers: pd.DataFrame  # carrier, shipments, late, otd_pct, share_of_misses_pct
    cases_by_category: pd.DataFrame  # category, opened, closed, median_hours_to_resolve
    pipeline: pd.DataFrame  # opp_id, service, stage, amount, probability, weighted, expected_close (open only)
    available: dict[str, bool] = field(default_factory=dict)  # table name -> the workspace holds it
    coverage: Coverage | None = None  # how much of the quarter the data covers (None: not computed)
    picked_up: int | None = None  # shipments of the quarter actually picked up (None without shipments data)
    service_base: int | None = None  # shipments due in the quarter that OTD measures (None without shipments)

    @property
    def account_id(self) -> str:
        return str(self.account["account_id"])

    @property
    def name(self) -> str:
        return str(self.account.get("name") or self.account_id)

    def value(self, key: str) -> float | None:
        kpi = self.kpis.get(key)
        return None if kpi is None else kpi.value

    def for_client(self) -> Scorecard:
        """The same scorecard without what a client never sees (INTERNAL_KPIS and their columns)."""

        def drop(frame: pd.DataFrame) -> pd.DataFrame:
            return frame.drop(columns=[c for c in INTERNAL_COLUMNS if c in frame.columns])

        return replace(
            self,
            kpis={k: v for k, v in self.kpis.items() if k not in INTERNAL_KPIS},
            quarterly=drop(self.quarterly),
            monthly=drop(self.monthly),
        )

    def to_frame(self) -> pd.DataFrame:
        """The KPIs as a table, one row per KPI in the scorecard's order: kpi, label, unit, value, prior,
        change (value − prior; percentage points for pct units), last_year, target, target_source, rag.
        Numbers are floats (NaN: no data, no prior, no target); rag and target_source are missing without a target.

        >>> frame = kam.open().account("A1").scorecard("2026Q3").to_frame()
        >>> frame.loc[frame.kpi == "otd_pct", ["label", "value", "prior", "target", "rag"]].to_dict("records")
        [{'label': 'On-time delivery', 'value': 50.0, 'prior': nan, 'target': 95.0, 'rag': 'red'}]
        """
        rows = [
            {
                "kpi": k.key,
                "label": k.label,
                "unit": k.unit,
                "value": k.value,
                "prior": k.prior,
                "change": k.change_qoq,
                "last_year": k.last_year,
                "target": k.target,
                "target_source": k.target_source,
                "rag": k.rag,
            }
            for k in self.kpis.values()
        ]
        frame = pd.DataFrame(rows, columns=list(_FRAME_COLUMNS))
        numbers = ["value", "prior", "change", "last_year", "target"]
        return frame.astype(dict.fromkeys(numbers, "float64"))

    def _repr_html_(self) -> str:
        """In a notebook a scorecard shows as its :meth:`to_frame` table."""
        return str(self.to_frame()._repr_html_())

    def headline(self) -> dict[str, float | None]:
        """The manifest's ``kpis``: revenue, shipments, otd_pct, gross_margin_pct, invoice_accuracy_pct,
        cases_opened (percentages 0–100, None where the data has none)."""
        keys = ("revenue", "shipments", "otd_pct", "gross_margin_pct", "invoice_accuracy_pct", "cases_opened")
        return {k: self.value(k) for k in keys}
