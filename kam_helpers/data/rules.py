"""The domain rules about shipments, each written once for pandas and once for SQL, side by side.

Every KPI (pandas, :mod:`kam_helpers.metrics`) and every query over the store (DuckDB: the store's active
accounts, the peer comparison, the explorer) takes its rules from here, and a test checks on the sample book
that both forms agree for every account (tests/test_rules.py):

* **active**: a shipment counts unless its status is 'cancelled' (case and spaces ignored);
* **ship day**: the day that puts a shipment in a volume period: pickup_actual, else pickup_planned, else
  delivery_actual, else delivery_promised (a shipment that records only deliveries);
* **late**: delivered on a later calendar day than promised (times of day ignored); on time: delivered on or
  before the promised day;
* **in full**: neither short nor damaged (a missing flag reads as not short / not damaged);
* **billing lag**: a delivered shipment is due for billing ``billing_lag_days`` days after its delivery day;
  before that, no invoice line yet is not a miss.

The SQL expressions read the columns of the store's ``shipments`` table (optionally through a table alias).
"""

from __future__ import annotations

import pandas as pd

from kam_helpers.data.columns import dates, flags, words

DEFAULT_BILLING_LAG_DAYS = 14
SHIP_DAY_COLUMNS = ("pickup_actual", "pickup_planned", "delivery_actual", "delivery_promised")

# ----------------------------------------------------------------------------------------------- SQL


def _col(alias: str, column: str) -> str:
    return f"{alias}.{column}" if alias else column


def active_sql(alias: str = "") -> str:
    """The SQL condition 'the shipment is active (not cancelled)'."""
    return f"coalesce(lower(trim({_col(alias, 'status')})), '') <> 'cancelled'"


def ship_day_sql(alias: str = "") -> str:
    """The SQL expression of a shipment's ship day (a DATE; NULL when no date is known)."""
    return f"CAST(coalesce({', '.join(_col(alias, c) for c in SHIP_DAY_COLUMNS)}) AS DATE)"


def late_sql(alias: str = "") -> str:
    """The SQL condition 'delivered on a later day than promised' (NULL-safe: false when either is missing)."""
    actual, promised = _col(alias, "delivery_actual"), _col(alias, "delivery_promised")
    return f"coalesce(CAST({actual} AS DATE) > CAST({promised} AS DATE), false)"


def in_full_sql(alias: str = "") -> str:
    """The SQL condition 'neither short nor damaged'."""
    short, damaged = _col(alias, '"short"'), _col(alias, "damaged")
    return f"NOT coalesce({short}, false) AND NOT coalesce({damaged}, false)"


def billing_due_day_sql(billing_lag_days: int = DEFAULT_BILLING_LAG_DAYS, alias: str = "") -> str:
    """The SQL expression of the day a delivered shipment is due for billing (NULL while undelivered)."""
    return f"CAST({_col(alias, 'delivery_actual')} AS DATE) + {int(billing_lag_days)}"


# ----------------------------------------------------------------------------------------------- pandas


def is_active(shipments: pd.DataFrame) -> pd.Series:
    """shipments → True per shipment that counts (status not 'cancelled')."""
    return words(shipments, "status").ne("cancelled")


def ship_date(shipments: pd.DataFrame) -> pd.Series:
    """shipments → the moment that places each in a volume period (its day is the ship day; NaT when no date
    is known: such a shipment counts in no period's volume)."""
    moment = dates(shipments, SHIP_DAY_COLUMNS[0])
    for column in SHIP_DAY_COLUMNS[1:]:
        moment = moment.fillna(dates(shipments, column))
    return moment


def late(shipments: pd.DataFrame) -> pd.Series:
    """shipments → True where delivered on a later calendar day than promised (False when either is missing)."""
    actual, promised = dates(shipments, "delivery_actual"), dates(shipments, "delivery_promised")
    return (actual.dt.normalize() > promised.dt.normalize()).fillna(False).astype(bool)


def on_time(shipments: pd.DataFrame) -> pd.Series:
    """shipments → True where delivered, promised, and not late."""
    actual, promised = dates(shipments, "delivery_actual"), dates(shipments, "delivery_promised")
    return actual.notna() & promised.notna() & ~late(shipments)


def in_full(shipments: pd.DataFrame) -> pd.Series:
    """shipments → True where neither short nor damaged is flagged."""
    return ~flags(shipments, "short") & ~flags(shipments, "damaged")


def billing_due_day(shipments: pd.DataFrame, billing_lag_days: int = DEFAULT_BILLING_LAG_DAYS) -> pd.Series:
    """shipments → the day each delivered shipment is due for billing (delivery day + lag; NaT undelivered)."""
    return dates(shipments, "delivery_actual").dt.normalize() + pd.Timedelta(days=billing_lag_days)
