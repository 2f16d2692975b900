"""The workspace's tables in a SQL warehouse (PostgreSQL, ...) instead of the DuckDB file: read account by account.

``Workspace.open("env:VAR")`` (``kam qbr --workspace env:VAR``, the form ``kam import`` takes: $VAR holds the
SQLAlchemy URL, so no password is written on a command line or into a job) reads the same tables through a
:class:`WarehouseConnection`: the workspace's own read SQL, unchanged, with the account as a bound parameter
(``WHERE account_id = ?`` becomes the driver's placeholder), so the warehouse filters and sends one account's rows.
Only the DuckDB idioms that SQL uses are put in the warehouse's terms (:func:`portable_sql`: the catalog
functions), and each result comes back as DuckDB would hand it over: the warehouse's column types cast to DuckDB's
(:data:`PG_TYPES`) and converted by DuckDB, so a report computes the same figures from either store.

:func:`export_to_warehouse` (``kam export-sql env:VAR``) copies a workspace's tables into a warehouse, with an index
on ``account_id`` for every table that has one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from kam_helpers.core.errors import ConfigError, WorkspaceError
from kam_helpers.data.sql import quote_identifier

PREFIX = "env:"
# The DuckDB catalog functions the workspace's read SQL uses → the same rows from the standard catalog.
CATALOG = {
    "duckdb_tables()": "(SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema())",
    "duckdb_views()": "(SELECT table_name AS view_name FROM information_schema.views WHERE table_schema = current_schema())",
    "duckdb_columns()": (
        "(SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema())"
    ),
}
# PostgreSQL type oids (what psycopg reports for each result column) → the DuckDB type of the store's column.
PG_TYPES = {16: "BOOLEAN", 20: "BIGINT", 21: "INTEGER", 23: "INTEGER", 25: "VARCHAR", 700: "DOUBLE", 701: "DOUBLE",
            1043: "VARCHAR", 1082: "DATE", 1114: "TIMESTAMP", 1184: "TIMESTAMPTZ", 1700: "DOUBLE"}  # fmt: skip
# DuckDB column types → the warehouse's, for the export.
WAREHOUSE_TYPES = {"VARCHAR": "text", "BIGINT": "bigint", "INTEGER": "integer", "DOUBLE": "double precision",
                   "FLOAT": "real", "DATE": "date", "TIMESTAMP": "timestamp", "BOOLEAN": "boolean",
                   "HUGEINT": "numeric"}  # fmt: skip


def is_warehouse(workspace: object) -> bool:
    """True when ``workspace`` names a warehouse (``env:VAR``) rather than a folder."""
    return str(workspace).startswith(PREFIX)


def warehouse_url(spec: str) -> str:
    """``env:VAR`` → the SQLAlchemy URL held in $VAR; ConfigError when it is not set."""
    var = str(spec)[len(PREFIX) :]
    url = os.environ.get(var, "")
    if not var or not url:
        raise ConfigError(
            f"{spec}: the environment variable {var or '(none)'} must hold the warehouse's SQLAlchemy URL"
        )
    return url


def portable_sql(sql: str, paramstyle: str) -> str:
    """The workspace's read SQL (DuckDB: ``?`` placeholders, its catalog functions) → the same query for a DBAPI
    driver of ``paramstyle`` (qmark, format, pyformat, numeric or named; ``?`` inside quotes left alone)."""
    for name, standard in CATALOG.items():
        sql = sql.replace(name, f"{standard} AS {name[:-2]}")
    out, n = [], 0
    for part in re.split(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")", sql):  # quoted parts at odd positions
        if part[:1] in ("'", '"'):
            out.append(part.replace("%", "%%") if paramstyle in ("format", "pyformat") else part)
            continue
        if paramstyle in ("format", "pyformat"):
            part = part.replace("%", "%%")
        pieces = part.split("?")
        for piece in pieces[:-1]:
            n += 1
            marks = {"qmark": "?", "format": "%s", "pyformat": "%s", "numeric": f":{n}", "named": f":p{n}"}
            out.append(piece + marks[paramstyle])
        out.append(pieces[-1])
    return "".join(out)


class WarehouseResult:
    """One query's rows with their column names and DuckDB types: fetchall / fetchone / df as DuckDB's results."""

    def __init__(self, columns: list[str], types: list[str | None], rows: list[tuple]) -> None:
        self.columns, self.types, self.rows = columns, types, rows

    def fetchall(self) -> list[tuple]:
        return list(self.rows)

    def fetchone(self) -> tuple | None:
        return self.rows[0] if self.rows else None

    def df(self) -> pd.DataFrame:
        """The rows → DataFrame with the dtypes DuckDB gives the same columns (cast in an in-memory DuckDB)."""
        frame = pd.DataFrame.from_records(self.rows, columns=[f"c{i}" for i in range(len(self.columns))])
        casts = ", ".join(
            (f"CAST(c{i} AS {t})" if t else f"c{i}") + f" AS {quote_identifier(name)}"
            for i, (name, t) in enumerate(zip(self.columns, self.types, strict=True))
        )
        with duckdb.connect() as con:
            con.register("warehouse_rows", frame)
            return con.execute(f"SELECT {casts} FROM warehouse_rows").df()


class WarehouseConnection:
    """What :class:`kam_helpers.data.store.Workspace` reads through, on a warehouse: ``execute(sql, params)``."""

    def __init__(self, spec: str) -> None:
        import sqlalchemy as sa

        self.spec = spec
        try:
            self.engine = sa.create_engine(warehouse_url(spec), pool_pre_ping=True)
            self._conn = self.engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            raise WorkspaceError(f"{spec}: the warehouse cannot be reached ({str(exc).splitlines()[0]})") from None
        self.paramstyle = self.engine.dialect.paramstyle

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> WarehouseResult:
        """Run one read query with its parameters bound by the driver → its rows."""
        args = list(params or [])
        if self.paramstyle in ("named", "pyformat") and args:
            bound: Any = {f"p{i}": v for i, v in enumerate(args, 1)} if self.paramstyle == "named" else tuple(args)
        else:
            bound = tuple(args)
        style = self.paramstyle if args else "qmark"  # without parameters the driver sends the text as it is
        result = self._conn.exec_driver_sql(portable_sql(sql, style), bound)
        description = result.cursor.description if result.cursor is not None else []
        rows = [tuple(r) for r in result.fetchall()]
        self._conn.rollback()  # read-only: end the transaction the driver opened
        columns = [d[0] for d in description]
        return WarehouseResult(
            columns, [PG_TYPES.get(d[1]) if isinstance(d[1], int) else None for d in description], rows
        )

    def close(self) -> None:
        self._conn.close()
        self.engine.dispose()


def export_to_warehouse(workspace: Path, spec: str, chunk_rows: int = 50_000) -> dict[str, int]:
    """Every table of the workspace's DuckDB store → the warehouse at ``spec`` (``env:VAR``), replaced in one
    transaction, with an index on ``account_id`` where the table has it → rows per table."""
    import sqlalchemy as sa

    from kam_helpers.data.sql import scalar

    store = Path(workspace) / "kam.duckdb"
    if not store.is_file():
        raise WorkspaceError(f"no workspace store at {store}")
    engine = sa.create_engine(warehouse_url(spec))
    copied: dict[str, int] = {}
    with duckdb.connect(str(store), read_only=True) as src, engine.begin() as dst:
        names = [r[0] for r in src.execute("SELECT table_name FROM duckdb_tables() ORDER BY table_name").fetchall()]
        for name in names:
            cols = src.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index", [name]
            ).fetchall()
            table = quote_identifier(name)
            ddl = ", ".join(f"{quote_identifier(c)} {WAREHOUSE_TYPES.get(t, 'text')}" for c, t in cols)
            dst.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
            dst.exec_driver_sql(f"CREATE TABLE {table} ({ddl})")
            marks = ", ".join(["%s" if engine.dialect.paramstyle in ("format", "pyformat") else "?"] * len(cols))
            insert = f"INSERT INTO {table} VALUES ({marks})"
            cursor = src.execute(f"SELECT * FROM {table}")
            while batch := cursor.fetchmany(chunk_rows):
                dst.exec_driver_sql(insert, [tuple(r) for r in batch])
            if any(c == "account_id" for c, _ in cols):
                dst.exec_driver_sql(f"CREATE INDEX ON {table} (account_id)")
            copied[name] = int(scalar(src, f"SELECT count(*) FROM {table}"))
    engine.dispose()
    return copied
