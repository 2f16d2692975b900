"""How a Kpi is written: its value, target and change in its unit (pct in points, money and counts as growth).

>>> otd = Kpi("otd_pct", "On-time delivery", "pct", 96.43, prior=95.2)
>>> fmt_kpi(otd), fmt_change(otd)
('96.4%', '+1.2 pp')
"""

from __future__ import annotations

from kam_helpers.core import formatting as f
from kam_helpers.metrics.scorecard import Kpi


def fmt_change(kpi: Kpi, which: str = "qoq", currency: str | None = None) -> str:
    """The comparison a reader expects for a Kpi: pp for percentages, relative % growth for the rest.

    Kpi(unit='pct', value=96.4, prior=95.2), 'qoq' → '+1.2 pp'; Kpi(unit='money', value=110, prior=100) → '+10.0%'.
    ``which`` is 'qoq' or 'yoy'. Missing comparison → 'n/a'.
    """
    if which not in ("qoq", "yoy"):
        raise ValueError(f"which={which!r}: expected 'qoq' or 'yoy'")
    if kpi.unit == "pct":
        return f.fmt_pp(kpi.change_qoq if which == "qoq" else kpi.change_yoy)
    return f.fmt_growth(kpi.growth_qoq_pct if which == "qoq" else kpi.growth_yoy_pct)


def fmt_kpi(kpi: Kpi | None, currency: str | None = None) -> str:
    """A Kpi's value in its unit: Kpi(unit='pct', value=96.43) → '96.4%'; None or value None → 'n/a'."""
    if kpi is None:
        return f.NA
    return f.fmt_value(kpi.value, kpi.unit, currency)


def fmt_target(kpi: Kpi | None, currency: str | None = None) -> str:
    """A Kpi's target in its unit: Kpi(unit='pct', target=95) → '95.0%'; no target → 'n/a'."""
    if kpi is None:
        return f.NA
    return f.fmt_value(kpi.target, kpi.unit, currency)
