"""A KPI over time: the periods of a few quarters (days, weeks, months, quarters) and the KPI's value in each,
computed by the scorecard's own :func:`kam_helpers.metrics.kpis.period_values` (no KPI is defined twice)."""

from __future__ import annotations

import difflib
from typing import Literal

import pandas as pd

from kam_helpers import metrics
from kam_helpers.core.errors import ConfigError
from kam_helpers.core.quarters import Quarter

Freq = Literal["D", "W", "M", "Q"]
FREQS: dict[str, str] = {"D": "day", "W": "week (Monday to Sunday)", "M": "month", "Q": "quarter"}
SERIES_COLUMNS = ("period", "last_day", "quarter", "kpi", "value", "target")


def check_kpi(kpi: str) -> str:
    """A KPI key → itself when the scorecard has it; ConfigError naming the closest keys and all of them.

    >>> check_kpi("otd")
    Traceback (most recent call last):
    ...
    kam_helpers.core.errors.ConfigError: KPI 'otd' is not a KPI of the scorecard; did you mean otd_pct? The KPIs: revenue, cost, gross_margin_pct, shipments, ...
    """
    if kpi in metrics.KPI_SPECS:
        return kpi
    close = difflib.get_close_matches(str(kpi), list(metrics.KPI_SPECS), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else "."
    raise ConfigError(f"KPI {kpi!r} is not a KPI of the scorecard{hint} The KPIs: {', '.join(metrics.KPI_SPECS)}")


def periods(freq: str, last: Quarter, quarters: int, as_of: pd.Timestamp | None = None) -> list[metrics.Span]:
    """Frequency, last quarter, number of quarters, as-of moment → the periods covering those quarters, oldest
    first: every day, every Monday-to-Sunday week that overlaps them (whole weeks), every month or quarter. A
    period is cut at the as-of day as the scorecard cuts a partial quarter, and periods starting after it are
    dropped: the data describes nothing there yet.

    >>> [(s.start.date().isoformat(), s.last_day.date().isoformat()) for s in periods("M", Quarter(2026, 3), 1)]
    [('2026-07-01', '2026-07-31'), ('2026-08-01', '2026-08-31'), ('2026-09-01', '2026-09-30')]
    >>> [s.start.date().isoformat() for s in periods("W", Quarter(2026, 3), 1)][:2]
    ['2026-06-29', '2026-07-06']
    """
    if freq not in FREQS:
        raise ConfigError(f"freq {freq!r}: expected one of {', '.join(f'{k} ({v})' for k, v in FREQS.items())}")
    if quarters < 1:
        raise ConfigError(f"quarters={quarters}: expected 1 or more")
    first = last.shift(1 - quarters)
    start, stop = pd.Timestamp(first.start), pd.Timestamp(last.shift(1).start)
    if freq == "Q":
        starts = [pd.Timestamp(first.shift(i).start) for i in range(quarters)]
    else:
        step = {"D": "D", "W": "W-MON", "M": "MS"}[freq]
        begin = start - pd.Timedelta(days=start.weekday()) if freq == "W" else start
        starts = list(pd.date_range(begin, stop - pd.Timedelta(days=1), freq=step))
    ends = [*starts[1:], _next_start(starts[-1], freq)]
    data_end = None if as_of is None else pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    spans = []
    for begin, end in zip(starts, ends, strict=True):
        if data_end is not None:
            if begin >= data_end:
                break
            end = min(end, data_end)
        spans.append(metrics.Span(begin, end))
    return spans


def _next_start(start: pd.Timestamp, freq: str) -> pd.Timestamp:
    """The first day after the period of ``freq`` that begins on ``start``."""
    if freq == "D":
        return start + pd.Timedelta(days=1)
    if freq == "W":
        return start + pd.Timedelta(days=7)
    if freq == "M":
        return start + pd.offsets.MonthBegin(1)
    return pd.Timestamp(Quarter.of(start.date()).shift(1).start)


def kpi_series(prep: metrics.PreparedAccount, kpi: str, spans: list[metrics.Span]) -> pd.DataFrame:
    """Prepared account, KPI key, periods → one row per period: period (first day), last_day, quarter (of the
    first day), kpi, value (NaN: no data in the period), target (contracted for that quarter, else standard;
    NaN without one). Each value is :func:`~kam_helpers.metrics.kpis.period_values` of its period."""
    rows = []
    for span in spans:
        quarter = Quarter.of(span.start.date())
        target = metrics.target_with_source(prep.targets, kpi, quarter)[0]
        value = metrics.period_values(prep, span, keys=(kpi,))[kpi]
        rows.append((span.start, span.last_day, str(quarter), kpi, value, target))
    frame = pd.DataFrame(rows, columns=list(SERIES_COLUMNS))
    return frame.astype({"value": "float64", "target": "float64"})
