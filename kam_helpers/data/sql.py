"""Small helpers for the SQL the workspace runs in DuckDB (and, through SQLAlchemy, in a warehouse)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> Any:
    """Connection, a query that returns one row → its first value (a query that returns no row is a bug)."""
    row = con.execute(sql, params).fetchone() if params is not None else con.execute(sql).fetchone()
    if row is None:
        raise RuntimeError(f"expected one row from: {sql}")
    return row[0]


def quote_identifier(name: str) -> str:
    """A table or column name → a quoted SQL identifier: ``Load #`` → ``"Load #"`` (a ``"`` inside is doubled)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Text → an SQL string literal for it (quotes doubled): where a statement takes no parameters (DDL).

    >>> quote_literal("O'Brien.csv")
    "'O''Brien.csv'"
    """
    return "'" + str(text).replace("'", "''") + "'"
