"""What every KPI module shares: periods (a quarter, a month, any run of days) and shares in %.

A period is a :class:`Quarter`, a quarter string like ``'2026Q3'``, or a :class:`Span`; a timestamp belongs to a
period when its calendar day does.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from kam_helpers.core.quarters import Quarter
from kam_helpers.data import columns as col


@dataclass(frozen=True)
class Span:
    """A half-open range of days [start, stop): a quarter, a month, or any run of days."""

    start: pd.Timestamp
    stop: pd.Timestamp

    @classmethod
    def of(cls, period: Period) -> Span:
        """Quarter, '2026Q3' or Span → Span."""
        if isinstance(period, Span):
            return period
        quarter = Quarter.parse(period)
        return cls(pd.Timestamp(quarter.start), pd.Timestamp(quarter.shift(1).start))

    @property
    def last_day(self) -> pd.Timestamp:
        return self.stop - pd.Timedelta(days=1)

    def holds(self, moments: pd.Series) -> pd.Series:
        """datetime Series → True where the moment's day lies in the span (NaT → False)."""
        return (moments >= self.start) & (moments < self.stop)


Period = Quarter | str | Span


def in_period(frame: pd.DataFrame, column: str, period: Period) -> pd.DataFrame:
    """frame, datetime column, period → the rows whose ``column`` falls in the period."""
    return frame[Span.of(period).holds(col.dates(frame, column))]


def pct(flags: pd.Series) -> float | None:
    """bool Series → share of True in % (None when empty)."""
    return None if len(flags) == 0 else float(flags.mean() * 100)


def ratio_pct(numerator: float, denominator: float | None) -> float | None:
    """numerator / denominator · 100, None when the denominator is missing or 0."""
    if denominator is None or pd.isna(denominator) or denominator == 0:
        return None
    return float(numerator / denominator * 100)


def empty_frame(columns: dict[str, str]) -> pd.DataFrame:
    """Declared columns → an empty frame with those columns and dtypes."""
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in columns.items()})
