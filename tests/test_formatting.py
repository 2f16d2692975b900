"""Tests of kam_helpers.core.formatting: every figure's written form, table-driven."""

from __future__ import annotations

import datetime as dt

import pytest

from kam_helpers.core import formatting as f
from kam_helpers.core.quarters import Quarter
from kam_helpers.metrics import kpi_text as kt
from kam_helpers.metrics.scorecard import Kpi

M = "\u2212"  # the real minus sign


@pytest.mark.parametrize(
    ("x", "currency", "expected"),
    [
        (1_240_000, "EUR", "€1.24M"),
        (312_500, "USD", "$312.5k"),
        (940, "EUR", "€940"),
        (12_345_678, "GBP", "£12.35M"),
        (-1_200, "EUR", f"{M}€1.2k"),
        (999.6, "EUR", "€1.0k"),  # rounds up into the next band
        (999_960, "EUR", "€1.00M"),
        (0.3, "EUR", "€0"),
        (-0.3, "EUR", "€0"),  # no '−€0'
        (5_000, "CHF", "CHF 5.0k"),
        (5_000, "chf", "CHF 5.0k"),
        (5_000, None, "5.0k"),
        (None, "EUR", "n/a"),
        (float("nan"), "EUR", "n/a"),
    ],
)
def test_fmt_money(x: float | None, currency: str | None, expected: str) -> None:
    assert f.fmt_money(x, currency) == expected


@pytest.mark.parametrize(
    ("fn", "x", "expected"),
    [
        (f.fmt_pct, 96.43, "96.4%"),
        (f.fmt_pct, 100, "100.0%"),
        (f.fmt_pct, -0.04, "0.0%"),
        (f.fmt_pct, -2.5, f"{M}2.5%"),
        (f.fmt_pp, 1.23, "+1.2 pp"),
        (f.fmt_pp, -0.8, f"{M}0.8 pp"),
        (f.fmt_pp, -0.04, "0.0 pp"),
        (f.fmt_growth, 4.12, "+4.1%"),
        (f.fmt_growth, -3, f"{M}3.0%"),
        (f.fmt_growth, 0, "0.0%"),
        (f.fmt_count, 1234, "1,234"),
        (f.fmt_count, 3.6, "4"),
        (f.fmt_count, -12, f"{M}12"),
        (f.fmt_days, 41.6, "42 days"),
        (f.fmt_days, 1, "1 day"),
        (f.fmt_days, -3, f"{M}3 days"),
        (f.fmt_hours, 18.46, "18.5 h"),
        (f.fmt_hours, 126.2, "126 h"),
        (f.fmt_weight, 850, "850 kg"),
        (f.fmt_weight, 12_340, "12.3 t"),
        (f.fmt_date, dt.date(2026, 11, 4), "4 Nov 2026"),
        (f.fmt_date, "2026-11-14", "14 Nov 2026"),
        (f.fmt_month, dt.date(2026, 7, 1), "Jul 2026"),
        (f.fmt_quarter, Quarter(2026, 3), "Q3 2026"),
        (f.fmt_quarter, "2026Q3", "Q3 2026"),
    ],
)
def test_formatters(fn, x, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert fn(x) == expected


@pytest.mark.parametrize(
    "fn",
    [
        f.fmt_pct,
        f.fmt_pp,
        f.fmt_growth,
        f.fmt_count,
        f.fmt_days,
        f.fmt_hours,
        f.fmt_weight,
        f.fmt_date,
        f.fmt_month,
        f.fmt_quarter,
        f.fmt_money,
        f.fmt_money_change,
    ],
)
def test_missing_is_na(fn) -> None:  # type: ignore[no-untyped-def]
    assert fn(None) == "n/a"


def test_no_hyphen_minus_anywhere() -> None:
    for text in (
        f.fmt_money(-5_000, "EUR"),
        f.fmt_pct(-1),
        f.fmt_pp(-1),
        f.fmt_growth(-1),
        f.fmt_count(-1),
        f.fmt_days(-2),
        f.fmt_hours(-1),
        f.fmt_money_change(-300, "EUR"),
    ):
        assert "-" not in text and M in text


def test_fmt_money_change() -> None:
    assert f.fmt_money_change(14_820, "EUR") == "+€14.8k"
    assert f.fmt_money_change(-300, "EUR") == f"{M}€300"
    assert f.fmt_money_change(0.2, "EUR") == "€0"


@pytest.mark.parametrize(
    ("kpi", "expected"),
    [
        (Kpi("otd_pct", "On-time delivery", "pct", 96.43), "96.4%"),
        (Kpi("revenue", "Revenue", "money", 1_240_000.0), "€1.24M"),
        (Kpi("shipments", "Shipments", "count", 4_212), "4,212"),
        (Kpi("days_to_pay", "Days to pay", "days", 31.4), "31 days"),
        (Kpi("median_hours_to_resolve", "Median time to resolve", "hours", 11.5), "11.5 h"),
        (Kpi("weight_kg", "Weight", "kg", 123_400.0), "123.4 t"),
        (Kpi("otd_pct", "On-time delivery", "pct", None), "n/a"),
        (None, "n/a"),
    ],
)
def test_fmt_kpi_by_unit(kpi: Kpi | None, expected: str) -> None:
    assert kt.fmt_kpi(kpi, "EUR") == expected


def test_fmt_target_and_change() -> None:
    otd = Kpi("otd_pct", "On-time delivery", "pct", 96.4, prior=95.2, last_year=97.0, target=95.0)
    assert kt.fmt_target(otd) == "95.0%"
    assert (kt.fmt_change(otd, "qoq"), kt.fmt_change(otd, "yoy")) == ("+1.2 pp", f"{M}0.6 pp")
    revenue = Kpi("revenue", "Revenue", "money", 110.0, prior=100.0)
    assert (kt.fmt_change(revenue, "qoq"), kt.fmt_change(revenue, "yoy")) == ("+10.0%", "n/a")
    with pytest.raises(ValueError, match="qoq"):
        kt.fmt_change(revenue, "mom")


def test_unknown_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="unit 'parsec'"):
        f.fmt_value(1.0, "parsec")
