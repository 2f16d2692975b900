"""How a figure is written wherever it is shown: narrative, HTML report, deck, workbook.

Every function takes a raw number (or None) and returns a string; None and NaN become ``"n/a"``.
Negative numbers carry a real minus sign (U+2212), never a hyphen. The functions are pure and
deterministic, so a test can rebuild the exact strings a report is allowed to contain.

>>> fmt_money(1_240_000, "EUR"), fmt_money(312_500, "USD"), fmt_money(940, "EUR")
('€1.24M', '$312.5k', '€940')
>>> fmt_pct(96.43), fmt_pp(1.23), fmt_pp(-0.8), fmt_growth(4.1)
('96.4%', '+1.2 pp', '−0.8 pp', '+4.1%')
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, SupportsFloat

import pandas as pd

if TYPE_CHECKING:
    from kam_helpers.core.quarters import Quarter

NA = "n/a"
MINUS = "\u2212"

CURRENCY_SYMBOLS: dict[str, str] = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹"}


def _number(x: object) -> float | None:
    """A number as float, or None for None, NaN and pandas NA/NaT."""
    if _missing(x):
        return None
    if isinstance(x, SupportsFloat | str):
        return float(x)
    raise TypeError(f"expected a number, got {x!r}")


def _missing(x: object) -> bool:
    """True for None, NaN and pandas NA/NaT."""
    if x is None:
        return True
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def _sign(x: float, *, plus: bool) -> str:
    if x < 0:
        return MINUS
    return "+" if plus and x > 0 else ""


def _fixed(x: float, digits: int) -> str:
    """Absolute value with ``digits`` decimals and thousands separators; '-0.0' never appears."""
    return f"{abs(x):,.{digits}f}"


def _is_zero(x: float, digits: int) -> bool:
    return round(abs(x), digits) == 0


def currency_symbol(currency: str | None) -> str:
    """'EUR' → '€', 'USD' → '$', 'CHF' → 'CHF ' (code and a space), None → ''."""
    if not currency:
        return ""
    code = str(currency).strip().upper()
    return CURRENCY_SYMBOLS.get(code, f"{code} ")


def fmt_money(x: float | None, currency: str | None = None) -> str:
    """Money, compact: 1_240_000 → '€1.24M', 312_500 → '$312.5k', 940 → '€940', −1_200 → '−€1.2k'.

    Millions carry 2 decimals, thousands 1, units none; a value that rounds up into the next band
    moves there (999_960 → '€1.00M'). ``currency`` is an ISO code; None writes no symbol.
    """
    v = _number(x)
    if v is None:
        return NA
    sym = currency_symbol(currency)
    a = abs(v)
    if round(a) < 1_000:
        body = f"{round(a):.0f}"
    elif round(a / 1_000, 1) < 1_000:
        body = f"{a / 1_000:.1f}k"
    else:
        body = f"{a / 1_000_000:,.2f}M"
    sign = MINUS if v < 0 and round(a) >= 1 else ""
    return f"{sign}{sym}{body}"


def fmt_money_change(x: float | None, currency: str | None = None) -> str:
    """Signed money for a difference: 1_200 → '+€1.2k', −300 → '−€300', 0 → '€0'."""
    v = _number(x)
    if v is None:
        return NA
    text = fmt_money(v, currency)
    return "+" + text if round(v) >= 1 else text


def fmt_money_exact(x: float | None, currency: str | None = None, missing: str = "–", plus: bool = False) -> str:
    """Money to the unit, for figures compared side by side: 2_091_553.28 → '€2,091,553', −1_200.4 → '−€1,200'
    (with ``plus``, 1_200 → '+€1,200'); ``missing`` for None and NaN."""
    v = _number(x)
    if v is None:
        return missing
    rounded = round(v)
    sign = MINUS if rounded < 0 else ("+" if plus and rounded >= 1 else "")
    return f"{sign}{currency_symbol(currency)}{abs(rounded):,.0f}"


def fmt_change(x: float, digits: int = 1, suffix: str = "") -> str:
    """A change shown beside its base, signed even at zero: 1.23 → '+1.2', −0.8 → '−0.8', 0 → '±0.0'."""
    sign = "+" if x > 0 else (MINUS if x < 0 else "±")
    return f"{sign}{_fixed(x, digits)}{suffix}"


def _signed(x: float | None, digits: int, plus: bool, suffix: str) -> str:
    """x rounded to ``digits`` with a real minus (and '+' when ``plus``), no sign when it rounds to 0."""
    v = _number(x)
    if v is None:
        return NA
    sign = "" if _is_zero(v, digits) else _sign(v, plus=plus)
    return f"{sign}{_fixed(v, digits)}{suffix}"


def fmt_pct(x: float | None, digits: int = 1) -> str:
    """A percentage on the 0–100 scale: 96.43 → '96.4%'."""
    return _signed(x, digits, plus=False, suffix="%")


def fmt_pp(delta: float | None, digits: int = 1) -> str:
    """A change of a percentage, in points: 1.23 → '+1.2 pp', −0.8 → '−0.8 pp', 0.01 → '0.0 pp'."""
    return _signed(delta, digits, plus=True, suffix=" pp")


def fmt_growth(pct: float | None, digits: int = 1) -> str:
    """A relative change in %: 4.12 → '+4.1%', −3 → '−3.0%', 0 → '0.0%'."""
    return _signed(pct, digits, plus=True, suffix="%")


def fmt_count(n: float | None) -> str:
    """A count with thousands separators: 1234 → '1,234', 3.6 → '4'."""
    number = _number(n)
    if number is None:
        return NA
    v = round(number)
    return f"{_sign(v, plus=False)}{abs(v):,}"


def fmt_days(x: float | None) -> str:
    """Days, whole: 41.6 → '42 days', 1 → '1 day', −3 → '−3 days'."""
    number = _number(x)
    if number is None:
        return NA
    v = round(number)
    return f"{_sign(v, plus=False)}{abs(v):,} {'day' if abs(v) == 1 else 'days'}"


def fmt_hours(x: float | None) -> str:
    """Hours: 18.46 → '18.5 h', 126.2 → '126 h' (one decimal below 100 h)."""
    v = _number(x)
    if v is None:
        return NA
    digits = 1 if abs(v) < 100 else 0
    sign = "" if _is_zero(v, digits) else _sign(v, plus=False)
    return f"{sign}{_fixed(v, digits)} h"


def fmt_weight(kg: float | None) -> str:
    """Weight: 850 → '850 kg', 12_340 → '12.3 t', 1_234_000 → '1,234.0 t'."""
    v = _number(kg)
    if v is None:
        return NA
    if round(abs(v)) < 1_000:
        return f"{_sign(round(v), plus=False)}{abs(round(v))} kg"
    return f"{_sign(v, plus=False)}{_fixed(v / 1_000, 1)} t"


def fmt_date(d: dt.date | dt.datetime | pd.Timestamp | str | None) -> str:
    """A calendar date for a client: date(2026, 11, 14) → '14 Nov 2026' (ISO text accepted)."""
    if _missing(d):
        return NA
    ts = pd.Timestamp(d)
    return f"{ts.day} {ts.strftime('%b')} {ts.year}"


def fmt_month(d: dt.date | pd.Timestamp | None) -> str:
    """A month: date(2026, 7, 1) → 'Jul 2026'."""
    if _missing(d):
        return NA
    ts = pd.Timestamp(d)
    return f"{ts.strftime('%b')} {ts.year}"


def fmt_quarter(q: Quarter | str | None) -> str:
    """A quarter as people say it: Quarter(2026, 3) or '2026Q3' → 'Q3 2026'."""
    if q is None or _missing(q):
        return NA
    from kam_helpers.core.quarters import Quarter

    qq = Quarter.parse(q)
    return f"Q{qq.q} {qq.year}"


def fmt_value(x: float | None, unit: str, currency: str | None = None) -> str:
    """A value in a Kpi unit ('money', 'pct', 'count', 'days', 'hours', 'kg') → its string."""
    formatter = {
        "money": lambda v: fmt_money(v, currency),
        "pct": fmt_pct,
        "count": fmt_count,
        "days": fmt_days,
        "hours": fmt_hours,
        "kg": fmt_weight,
    }.get(unit)
    if formatter is None:
        raise ValueError(f"unit {unit!r}: expected one of money, pct, count, days, hours, kg")
    return formatter(x)


def is_number(x: object) -> bool:
    """True for a finite int/float (bools excluded); used by templates through the ``known`` test."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
