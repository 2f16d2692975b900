"""The book's activity per account and quarter, summarised once when the store is built.

Questions about the whole book (which accounts shipped in a quarter, what every account bought by mode and lane)
would otherwise scan every shipment of every account for each report. :func:`activity_sql` groups the active
shipments (:mod:`kam_helpers.data.rules`) by account, quarter of their ship day, mode and lane; the store keeps the
result as ``_account_activity`` (a few rows per account and quarter) and :func:`activity_source` reads it, or
computes the same rows on the fly from a store built before the table existed.
"""

from __future__ import annotations

from kam_helpers.data import rules

ACTIVITY_TABLE = "_account_activity"


def activity_sql() -> str:
    """SQL: account_id, quarter ('2026Q3'), mode, origin, destination, shipments, revenue (Σ, missing = 0) over
    the active shipments with a ship day."""
    day = rules.ship_day_sql()
    return (
        f"SELECT account_id, CAST(year({day}) AS VARCHAR) || 'Q' || CAST(quarter({day}) AS VARCHAR) AS quarter, "
        "mode, origin, destination, count(*) AS shipments, sum(coalesce(revenue, 0)) AS revenue "
        f"FROM shipments WHERE {rules.active_sql()} AND {day} IS NOT NULL GROUP BY ALL"
    )


def create_activity_sql() -> str:
    """SQL that creates ``_account_activity`` in a store with a shipments table (ordered by account)."""
    return f"CREATE TABLE {ACTIVITY_TABLE} AS {activity_sql()} ORDER BY account_id, quarter, mode, origin, destination"


def activity_source(tables: set[str]) -> str:
    """The store's table names → what to select the activity FROM: the stored summary when the store has it,
    else the same rows computed from its shipments."""
    return ACTIVITY_TABLE if ACTIVITY_TABLE in tables else f"({activity_sql()}) AS activity"
