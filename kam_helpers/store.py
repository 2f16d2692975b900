"""The workspace store: one DuckDB file holding the validated tables of a book of business.

Building (:func:`build_workspace`) reads raw text tables, validates them (:mod:`kam_helpers.validate`),
and replaces the store atomically: a failed build leaves the previous store byte-for-byte as it was.
Reading (:class:`Workspace`) is SQL with the account pushed down, so a report loads one account's rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from . import paths
from .account_data import AccountData
from .errors import DataValidationError, Problem, UnknownAccountError, WorkspaceError
from .quarters import Quarter
from .schema import TABLES, Table
from .sql import scalar
from .validate import Formats, check_references, problems, publish_table, validate_table

STORE_FILE = "kam.duckdb"
SCHEMA_VERSION = "1"

# Raw loader: fills raw_<table> tables (all VARCHAR + _row, _file) in the connection; returns the tables
# it filled and a description of its sources (recorded so a changed source can be detected).
RawLoader = Callable[[duckdb.DuckDBPyConnection], "tuple[set[str], dict]"]


@dataclass(frozen=True)
class BuildReport:
    """What a build did: rows kept and rejected per table, and every problem."""

    workspace: Path
    rows: dict[str, int]
    rejected: dict[str, int]
    problems: list[Problem]

    def summary(self) -> str:
        lines = [f"Workspace {self.workspace}"]
        for t, n in self.rows.items():
            bad = self.rejected.get(t, 0)
            lines.append(f"  {t:<14} {n:>10,} rows" + (f"   {bad:,} rejected" if bad else ""))
        if self.problems:
            lines.append(f"{len(self.problems)} problem(s):")
            lines += [f"  {p}" for p in self.problems[:20]]
            if len(self.problems) > 20:
                lines.append(f"  … and {len(self.problems) - 20} more (kam validate lists them all)")
        return "\n".join(lines)


def _sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def build_workspace(
    workspace: Path, loader: RawLoader, *, strict: bool = False, formats: Formats | None = None
) -> BuildReport:
    """Raw tables from ``loader`` → validated store at ``workspace/kam.duckdb``, replaced atomically.

    With ``strict`` any problem refuses the build (DataValidationError) and nothing changes. Otherwise bad
    rows are left out, recorded in ``_problems`` and charged to their account, whose reports then refuse to
    run until the source is fixed.
    """
    workspace = Path(workspace)
    workspace.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".kam-build-", suffix=".duckdb", dir=workspace)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # duckdb wants to create the file itself
    try:
        con = duckdb.connect(str(tmp))
        try:
            present, sources = loader(con)
            if "accounts" not in present:
                raise DataValidationError(
                    [Problem("accounts", None, None, None, "an accounts table (every workspace needs one)")],
                    "workspace build",
                )
            rejected = {}
            for table in TABLES.values():
                if table.name in present:
                    rejected[table.name] = validate_table(con, table, formats or Formats())
            check_references(con, present)
            found = problems(con)
            if strict and found:
                raise DataValidationError(found, "import refused (--strict)")
            rows = {}
            for table in TABLES.values():
                if table.name in present:
                    publish_table(con, table)
                    rows[table.name] = scalar(con, f"SELECT count(*) FROM {_sql_name(table.name)}")
                    rejected[table.name] = scalar(
                        con, 'SELECT count(DISTINCT (file, "row")) FROM _problems WHERE table_name = ?', [table.name]
                    )
            for name in present:
                con.execute(f"DROP TABLE {_sql_name('raw_' + name)}")
            _write_meta(con, present, sources)
            _write_fingerprints(con, present)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, workspace / STORE_FILE)
    finally:
        for leftover in (tmp, tmp.with_suffix(".duckdb.wal")):
            leftover.unlink(missing_ok=True)
    return BuildReport(workspace, rows, rejected, found)


def _write_meta(con: duckdb.DuckDBPyConnection, present: set[str], sources: dict) -> None:
    as_of = _latest_event(con, present)
    con.execute("CREATE TABLE _meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    meta = {
        "schema_version": SCHEMA_VERSION,
        "built_at": dt.datetime.now().isoformat(timespec="seconds"),
        "as_of": as_of.isoformat() if as_of is not None else "",
        "tables": json.dumps(sorted(present)),
        "sources": json.dumps(sources),
    }
    con.executemany("INSERT INTO _meta VALUES (?, ?)", list(meta.items()))


def _latest_event(con: duckdb.DuckDBPyConnection, present: set[str]) -> dt.datetime | None:
    """The moment the data describes: the latest pickup, delivery, invoice or case event."""
    events = {
        "shipments": ["pickup_actual", "delivery_actual"],
        "invoices": ["issued", "paid"],
        "cases": ["opened", "closed"],
    }
    parts = [
        f"SELECT max(CAST({c} AS TIMESTAMP)) AS t FROM {t}" for t, cols in events.items() if t in present for c in cols
    ]
    if not parts:
        return None
    value = scalar(con, f"SELECT max(t) FROM ({' UNION ALL '.join(parts)})")
    return value


def _account_rows_sql(table: Table) -> str:
    """SQL: (account_id, row text, sort key) for every row of ``table`` that belongs to an account."""
    key = " || '|' || ".join(f"CAST(t.{_sql_name(k)} AS VARCHAR)" for k in table.key)
    if "account_id" in table.columns:
        return f"SELECT t.account_id, CAST(t AS VARCHAR) AS r, {key} AS k FROM {table.name} t"
    if table.name == "invoice_lines":
        return (
            f"SELECT i.account_id, CAST(t AS VARCHAR) AS r, {key} AS k FROM invoice_lines t "
            "JOIN invoices i USING (invoice_id)"
        )
    raise WorkspaceError(f"table {table.name} is not tied to an account")


def _write_fingerprints(con: duckdb.DuckDBPyConnection, present: set[str]) -> None:
    """Per account, one digest over all its rows and problems: a report whose digest is unchanged is current."""
    parts = []
    for table in TABLES.values():
        if table.name in present and not (table.name == "invoice_lines" and "invoices" not in present):
            parts.append(
                f"SELECT account_id, '{table.name}' AS tname, md5(string_agg(r, chr(10) ORDER BY k)) AS d "
                f"FROM ({_account_rows_sql(table)}) GROUP BY account_id"
            )
    parts.append(
        "SELECT account_id, '_problems', md5(string_agg(CAST(p AS VARCHAR), chr(10) ORDER BY p.file, p.row, "
        'p."column")) FROM _problems p WHERE account_id IS NOT NULL GROUP BY account_id'
    )
    con.execute(
        "CREATE TABLE _fingerprints AS SELECT a.account_id, md5(string_agg(tname || ':' || coalesce(d, ''), ';' "
        f"ORDER BY tname)) AS digest FROM accounts a LEFT JOIN ({' UNION ALL '.join(parts)}) x USING (account_id) "
        "GROUP BY a.account_id"
    )


class Workspace:
    """A built workspace, opened read-only. ``Workspace.open()`` uses the project's default workspace."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / STORE_FILE
        if not self.path.exists():
            raise WorkspaceError(
                f"no workspace store at {self.path}: run `kam sample` for the sample book or `kam import` "
                "to load your own data"
            )
        try:
            self._con = duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error as exc:
            raise WorkspaceError(f"{self.path}: not a readable workspace store ({exc})") from exc
        self.meta = dict(self._con.execute("SELECT key, value FROM _meta").fetchall())
        self.tables: set[str] = set(json.loads(self.meta["tables"]))

    @classmethod
    def open(cls, folder: str | Path | None = None) -> Workspace:
        """Folder (or '' / None for the default data/workspace) → opened Workspace."""
        return cls(Path(folder) if folder else paths.default_workspace())

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run SQL against the store → DataFrame."""
        return self._con.execute(sql, params or []).df()

    @property
    def as_of(self) -> pd.Timestamp | None:
        return pd.Timestamp(self.meta["as_of"]) if self.meta.get("as_of") else None

    @property
    def sources(self) -> dict:
        return json.loads(self.meta.get("sources") or "{}")

    def last_complete_quarter(self) -> Quarter:
        """The last quarter that the data covers to its end (quarter of as_of+1 day, minus one)."""
        if self.as_of is None:
            raise WorkspaceError(f"{self.path}: the workspace holds no dated events, so it has no last quarter")
        return Quarter.of((self.as_of + pd.Timedelta(days=1)).date()).prior

    def accounts(self) -> pd.DataFrame:
        return self.query("SELECT * FROM accounts ORDER BY account_id")

    def account_ids(self) -> list[str]:
        return [r[0] for r in self._con.execute("SELECT account_id FROM accounts ORDER BY account_id").fetchall()]

    def active_accounts(self, quarter: Quarter) -> list[str]:
        """Accounts with at least one shipment dated in ``quarter`` (all accounts when there is no shipments
        table). A shipment's date is its first known of pickup_actual, pickup_planned, delivery_actual,
        delivery_promised."""
        if "shipments" not in self.tables:
            return self.account_ids()
        rows = self._con.execute(
            "SELECT DISTINCT account_id FROM shipments WHERE CAST(coalesce(pickup_actual, pickup_planned, "
            "delivery_actual, delivery_promised) AS DATE) BETWEEN ? AND ? ORDER BY account_id",
            [quarter.start, quarter.end],
        ).fetchall()
        return [r[0] for r in rows]

    def account(self, account_id: str) -> dict:
        """One accounts row as a dict; UnknownAccountError when the workspace has no such account."""
        rows = self.query("SELECT * FROM accounts WHERE account_id = ?", [account_id])
        if rows.empty:
            known = self.account_ids()
            hint = f" (it has {len(known)} accounts; `kam accounts` lists them)" if known else ""
            raise UnknownAccountError(f"account {account_id!r} is not in the workspace {self.folder}{hint}")
        return {k: (None if pd.isna(v) else v) for k, v in rows.iloc[0].to_dict().items()}

    def problems(self, account_id: str | None = None) -> list[Problem]:
        return problems(self._con, account_id)

    def fingerprint(self, account_id: str) -> str:
        row = self._con.execute("SELECT digest FROM _fingerprints WHERE account_id = ?", [account_id]).fetchone()
        return row[0] if row else ""

    def table_for_account(self, table: str, account_id: str) -> pd.DataFrame | None:
        """One account's rows of ``table`` (the filter is pushed down to the store); None if the table is absent."""
        if table not in self.tables:
            return None
        if table == "invoice_lines":
            if "invoices" not in self.tables:
                return None
            sql = (
                "SELECT l.* FROM invoice_lines l WHERE l.invoice_id IN "
                "(SELECT invoice_id FROM invoices WHERE account_id = ?) ORDER BY l.invoice_id, l.line_no"
            )
        else:
            key = ", ".join(TABLES[table].key)
            sql = f"SELECT * FROM {table} WHERE account_id = ? ORDER BY {key}"
        return self.query(sql, [account_id])

    def account_data(self, account_id: str) -> AccountData:
        """account_id → AccountData with that account's rows only.

        Raises UnknownAccountError for an unknown id and DataValidationError when the account's source rows
        had problems (its report would otherwise be computed from incomplete data).
        """
        account = self.account(account_id)
        bad = self.problems(account_id)
        if bad:
            raise DataValidationError(bad, f"account {account_id} has rows the workspace could not load")
        tables: dict[str, Any] = {t: self.table_for_account(t, account_id) for t in TABLES if t != "accounts"}
        return AccountData(account=account, as_of=self.as_of, **tables)


def file_signature(path: Path) -> dict:
    """A source file → {path, size, sha256}: enough to tell later whether it changed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(Path(path).resolve()), "size": path.stat().st_size, "sha256": digest.hexdigest()}
