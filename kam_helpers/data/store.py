"""The workspace store: one DuckDB file holding the validated tables of a book of business.

Building (:func:`build_workspace`) reads raw text tables, validates them (:mod:`kam_helpers.data.validate`),
and replaces the store atomically: a failed build leaves the previous store byte-for-byte as it was, and so
does a build whose content equals the store's (its ``_meta.content_digest``; ``built_at`` then stays that of
the build that last changed something).

Rows with problems never reach the tables. Each is listed in ``_problems`` (one row per value at fault) and
once in ``_rejected_rows`` with its account, the policy of its table and the quarters its dates touch:
``exclude`` (the default) leaves it out and the account's reports say how many rows of their quarter were
excluded; ``block`` refuses the account's reports for those quarters (for every quarter when the row has no
usable date). :meth:`Workspace.account_data` applies both.

Reading (:class:`Workspace`) is SQL with the account pushed down, so a report loads one account's rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from kam_helpers.core import paths
from kam_helpers.core.errors import DataValidationError, Problem, UnknownAccountError, WorkspaceError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.account_data import AccountData
from kam_helpers.data.activity import activity_source, create_activity_sql
from kam_helpers.data.schema import TABLES, Table
from kam_helpers.data.sql import quote_identifier as _sql_name
from kam_helpers.data.sql import scalar
from kam_helpers.data.validate import (
    LINE_ACCOUNT,
    ROW_PERIODS_DDL,
    Formats,
    check_references,
    problems,
    publish_table,
    validate_table,
)
from kam_helpers.data.warehouse import WarehouseConnection, is_warehouse

STORE_FILE = "kam.duckdb"
SCHEMA_VERSION = "2"  # 2: invoice_lines keep their invoice's account; _account_activity
# DuckDB's own default is 80% of the machine's memory; a build spills to disk beyond this instead
BUILD_MEMORY_LIMIT = "3GB"
POLICIES = ("exclude", "block")  # what a row with a problem costs its account (see the module docstring)

# Raw loader: fills raw_<table> tables (VARCHAR, or a field's own type, + _row, _file) in the connection;
# returns the tables it filled and a description of its sources (recorded so a changed source can be detected),
# or a function giving it, called once the tables are validated (the loader may still be writing those sources).
Sources = dict | Callable[[], dict]
RawLoader = Callable[[duckdb.DuckDBPyConnection], "tuple[set[str], Sources]"]


@dataclass(frozen=True)
class BuildReport:
    """What a build did: rows kept and rejected per table, and every problem."""

    workspace: Path
    rows: dict[str, int]
    rejected: dict[str, int]
    problems: list[Problem]
    changed: bool = True  # False when the store was kept as it was (same content) or in a dry run
    dry_run: bool = False

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


# Called on the finished build before it replaces the store: may compute what to report, or raise to refuse.
BuildCheck = Callable[[duckdb.DuckDBPyConnection, "BuildReport"], None]


def build_workspace(
    workspace: Path,
    loader: RawLoader,
    *,
    strict: bool = False,
    formats: Formats | None = None,
    check: BuildCheck | None = None,
    dry_run: bool = False,
    as_of: dt.date | None = None,
) -> BuildReport:
    """Raw tables from ``loader`` → validated store at ``workspace/kam.duckdb``, replaced atomically.

    With ``strict`` any problem refuses the build (DataValidationError) and nothing changes. Otherwise bad
    rows are left out, recorded in ``_problems`` / ``_rejected_rows`` and charged to their account (the
    loader's temp table ``_on_problem (table_name, policy)`` says exclude or block per table). ``check`` sees
    the finished build before it is published and may refuse it by raising. With ``dry_run`` (or when the
    content equals the current store's) the store is left untouched; a dry run writes nothing at all.
    ``as_of`` is the date the data is judged at (default: its newest event; docs/PERIODS.md).
    """
    workspace = Path(workspace)
    # a dry run builds in memory; what does not fit spills to a private temporary folder, removed at the end
    scratch = Path(tempfile.mkdtemp(prefix="kam-dry-run-")) if dry_run else None
    created = scratch is None and not workspace.exists()  # removed again when the build fails
    if scratch is None:
        workspace.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".kam-build-", suffix=".duckdb", dir=scratch or workspace)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # duckdb wants to create the file itself
    changed = False
    try:
        config: dict[str, str | bool | int | float | list[str]] = {"memory_limit": BUILD_MEMORY_LIMIT}
        if scratch is not None:
            config["temp_directory"] = str(scratch)
        con = duckdb.connect(":memory:" if dry_run else str(tmp), config=config)
        try:
            con.execute(ROW_PERIODS_DDL)
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
            for name in present:  # read no more: freed before the sorts (a loader's raw table may be a view)
                kind = "VIEW" if _is_view(con, "raw_" + name) else "TABLE"
                con.execute(f"DROP {kind} {_sql_name('raw_' + name)}")
            found = problems(con)
            if strict and found:
                raise DataValidationError(found, "import refused (--strict)")
            _write_rejected_rows(con)
            rows = {}
            for table in TABLES.values():
                if table.name in present:
                    publish_table(con, table)
                    rows[table.name] = scalar(con, f"SELECT count(*) FROM {_sql_name(table.name)}")
                    rejected[table.name] = scalar(
                        con, 'SELECT count(DISTINCT (file, "row")) FROM _problems WHERE table_name = ?', [table.name]
                    )
            if "shipments" in present:
                con.execute(create_activity_sql())
            _write_meta(con, present, sources() if callable(sources) else sources, as_of)
            _write_fingerprints(con, present)
            report = BuildReport(workspace, rows, rejected, found, dry_run=dry_run)
            if check is not None:
                check(con, report)
            digest = content_digest(con)
            con.execute("INSERT INTO _meta VALUES ('content_digest', ?)", [digest])
            con.execute("CHECKPOINT")
        finally:
            con.close()
        store = workspace / STORE_FILE
        if not dry_run and stored_digest(store) != digest:
            os.replace(tmp, store)
            changed = True
    finally:
        for leftover in (tmp, tmp.with_suffix(".duckdb.wal")):
            leftover.unlink(missing_ok=True)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        if created and not changed and not any(workspace.iterdir()):
            workspace.rmdir()
    return BuildReport(workspace, rows, rejected, found, changed=changed, dry_run=dry_run)


def content_digest(con: duckdb.DuckDBPyConnection) -> str:
    """SHA-256 over the content of every table of a store (row order and ``_meta.built_at`` aside)."""
    digest = hashlib.sha256()
    names = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND NOT temporary "
        "ORDER BY table_name"
    ).fetchall()]  # fmt: skip
    for name in names:
        where = "WHERE key NOT IN ('built_at', 'content_digest')" if name == "_meta" else ""
        n = scalar(con, f"SELECT count(*) FROM {_sql_name(name)} t {where}")
        total = scalar(con, f"SELECT coalesce(sum(hash(t)::HUGEINT), 0) FROM {_sql_name(name)} t {where}")
        digest.update(f"{name}:{n}:{total};".encode())
    return digest.hexdigest()


def stored_digest(store: Path) -> str | None:
    """The content digest recorded in an existing store (None when there is no store or it has none)."""
    if not store.exists():
        return None
    try:
        con = duckdb.connect(str(store), read_only=True)
    except duckdb.Error:
        return None
    try:
        row = con.execute("SELECT value FROM _meta WHERE key = 'content_digest'").fetchone()
    except duckdb.Error:
        row = None
    finally:
        con.close()
    return row[0] if row else None


def _is_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(scalar(con, "SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [name]))


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]))


def _write_rejected_rows(con: duckdb.DuckDBPyConnection) -> None:
    """_problems + the loader's policies + _row_periods → _rejected_rows: one row per rejected source row and
    quarter it touches (quarter NULL: no usable date), with its account and policy. Rows kept from the
    previous store (temp table _old_rejected, from other sources) keep the policy they were loaded with."""
    con.execute(
        'CREATE TABLE _rejected_rows (table_name VARCHAR, file VARCHAR, "row" BIGINT, account_id VARCHAR, '
        "policy VARCHAR, quarter VARCHAR)"
    )
    if _exists(con, "_old_rejected"):
        con.execute(
            "INSERT INTO _rejected_rows SELECT DISTINCT o.* FROM _old_rejected o WHERE EXISTS (SELECT 1 FROM "
            '_problems p WHERE p.table_name = o.table_name AND p.file = o.file AND p."row" = o."row")'
        )
    policy, join = "'exclude'", ""
    if _exists(con, "_on_problem"):
        policy, join = "coalesce(o.policy, 'exclude')", "LEFT JOIN _on_problem o ON o.table_name = p.table_name"
    con.execute(
        f"""
        INSERT INTO _rejected_rows
        SELECT DISTINCT p.table_name, p.file, p."row", p.account_id, {policy}, r.quarter
        FROM (SELECT DISTINCT table_name, file, "row", account_id FROM _problems) p {join}
        LEFT JOIN _row_periods r ON r.table_name = p.table_name AND r.file = p.file AND r."row" = p."row"
        WHERE NOT EXISTS (SELECT 1 FROM _rejected_rows x WHERE x.table_name = p.table_name AND x.file = p.file
                          AND x."row" = p."row")
        """
    )


def _write_meta(con: duckdb.DuckDBPyConnection, present: set[str], sources: dict, given: dt.date | None = None) -> None:
    """The store's _meta: schema version, build time, as-of (``given``, else the newest event), tables, sources."""
    as_of = pd.Timestamp(given) if given is not None else _latest_event(con, present)
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
    """SQL: (account_id, h) for every row of ``table`` that belongs to an account, h the hash of the row's
    columns in the model (without the account the store adds to invoice lines)."""
    row = ", ".join(f"t.{_sql_name(c)}" for c in table.columns)
    if "account_id" in table.columns:
        return f"SELECT t.account_id, hash({row}) AS h FROM {table.name} t"
    if table.name == "invoice_lines":
        return f"SELECT t.{LINE_ACCOUNT} AS account_id, hash({row}) AS h FROM invoice_lines t"
    raise WorkspaceError(f"table {table.name} is not tied to an account")


def _write_fingerprints(con: duckdb.DuckDBPyConnection, present: set[str]) -> None:
    """Per account, one digest over all its rows and problems: a report whose digest is unchanged is current.
    A table's rows count by their number and the sum of their hashes (as :func:`content_digest`: one pass that
    hashes the row's values, no text of the rows built and sorted)."""
    parts = []
    for table in TABLES.values():
        if table.name in present and not (table.name == "invoice_lines" and "invoices" not in present):
            parts.append(
                f"SELECT account_id, '{table.name}' AS tname, count(*) || ':' || sum(h::HUGEINT) AS d "
                f"FROM ({_account_rows_sql(table)}) GROUP BY account_id"
            )
    parts.append(
        "SELECT account_id, '_problems', md5(string_agg(CAST(p AS VARCHAR), chr(10) ORDER BY p.file, p.row, "
        'p."column")) FROM _problems p WHERE account_id IS NOT NULL GROUP BY account_id'
    )
    parts.append(  # the policy and quarters of its rejected rows: what its reports refuse or say was excluded
        "SELECT account_id, '_rejected_rows', md5(string_agg(CAST(r AS VARCHAR), chr(10) ORDER BY CAST(r AS VARCHAR))) "
        "FROM _rejected_rows r WHERE account_id IS NOT NULL GROUP BY account_id"
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
        self._con: Any
        if is_warehouse(folder):  # env:VAR: the same tables and read SQL in a warehouse (data/warehouse.py)
            self.path = self.folder
            self._con = WarehouseConnection(str(folder))
        elif not self.path.exists():
            raise WorkspaceError(
                f"no workspace store at {self.path}: run `kam sample` for the sample book or `kam import` "
                "to load your own data"
            )
        else:
            try:
                self._con = duckdb.connect(str(self.path), read_only=True)
            except duckdb.Error as exc:
                raise WorkspaceError(f"{self.path}: not a readable workspace store ({exc})") from exc
        self.meta = dict(self._con.execute("SELECT key, value FROM _meta").fetchall())
        self.tables: set[str] = set(json.loads(self.meta["tables"]))
        self._stored = {r[0] for r in self._con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        # a store built before invoice lines kept their account reads them through the invoices
        self._lines_keep_account = bool(
            scalar(
                self._con,
                "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'invoice_lines' AND column_name = ?",
                [LINE_ACCOUNT],
            )
        )

    @classmethod
    def open(cls, folder: str | Path | None = None) -> Workspace:
        """Folder (or '' / None for the default data/workspace; ``env:VAR`` for a warehouse whose SQLAlchemy URL
        is in $VAR) → opened Workspace."""
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

    def report_quarter(self, quarter: Quarter | str | None = None, as_of: pd.Timestamp | None = None) -> Quarter:
        """The quarter a report covers: ``quarter`` when given, else the last one complete at ``as_of`` (a date
        the user gives), else the last one the data covers to its end."""
        if quarter:
            return Quarter.parse(quarter)
        if as_of is not None:
            return Quarter.of((as_of + pd.Timedelta(days=1)).date()).prior
        return self.last_complete_quarter()

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
        """Accounts with at least one active (not cancelled) shipment whose ship day lies in ``quarter`` (all
        accounts when there is no shipments table): the rules of :mod:`kam_helpers.data.rules`, as the KPIs
        count shipments, read from the book's activity summary."""
        if "shipments" not in self.tables:
            return self.account_ids()
        rows = self._con.execute(
            f"SELECT DISTINCT account_id FROM {self.activity} WHERE quarter = ? ORDER BY account_id", [str(quarter)]
        ).fetchall()
        return [r[0] for r in rows]

    @property
    def activity(self) -> str:
        """What to select the book's activity per account and quarter FROM (:mod:`kam_helpers.data.activity`)."""
        return activity_source(self._stored)

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
            model = ", ".join(f"l.{_sql_name(c)}" for c in TABLES[table].columns)
            by_account = (
                f"l.{LINE_ACCOUNT} = ?"
                if self._lines_keep_account
                else "l.invoice_id IN (SELECT invoice_id FROM invoices WHERE account_id = ?)"
            )
            sql = f"SELECT {model} FROM invoice_lines l WHERE {by_account} ORDER BY l.invoice_id, l.line_no"
        else:
            key = ", ".join(TABLES[table].key)
            sql = f"SELECT * FROM {table} WHERE account_id = ? ORDER BY {key}"
        return self.query(sql, [account_id])

    def _rejected(self, account_id: str, policy: str, quarter: Quarter | None) -> pd.DataFrame:
        """The account's rejected source rows under ``policy`` that touch ``quarter`` (all when None), or have
        no usable date: table_name, file, row."""
        if not self._has("_rejected_rows"):  # a store built before policies: every problem blocks
            if policy == "exclude":
                return pd.DataFrame(columns=["table_name", "file", "row"])
            return self.query(
                'SELECT DISTINCT table_name, file, "row" FROM _problems WHERE account_id = ?', [account_id]
            )
        when = "" if quarter is None else "AND (quarter IS NULL OR quarter = ?)"
        args = [account_id, policy] + ([] if quarter is None else [str(quarter)])
        return self.query(
            f'SELECT DISTINCT table_name, file, "row" FROM _rejected_rows WHERE account_id = ? AND policy = ? {when} '
            'ORDER BY table_name, file, "row"',
            args,
        )

    def _has(self, table: str) -> bool:
        return table in self._stored

    def blocking_problems(self, account_id: str, quarter: Quarter | str | None = None) -> list[Problem]:
        """The problems of the account's rows that block its reports for ``quarter`` (policy ``block``: rows
        whose dates fall in the quarter, or that have no usable date; with no quarter, every blocking row)."""
        q = Quarter.parse(quarter) if quarter is not None else None
        rows = self._rejected(account_id, "block", q)
        keys = set(zip(rows["table_name"], rows["file"], rows["row"], strict=True))
        return [p for p in self.problems(account_id) if (p.table, p.file, p.row) in keys]

    def excluded(self, account_id: str, quarter: Quarter | str | None = None) -> dict[str, int]:
        """Table → the account's source rows left out under policy ``exclude`` that touch ``quarter`` (with no
        quarter: all of them); rows without a usable date count for every quarter."""
        q = Quarter.parse(quarter) if quarter is not None else None
        rows = self._rejected(account_id, "exclude", q)
        return {str(t): int(n) for t, n in rows.groupby("table_name").size().items()} if len(rows) else {}

    def account_data(self, account_id: str, quarter: Quarter | str | None = None) -> AccountData:
        """account_id (and the quarter a report is for) → AccountData with that account's rows only.

        Raises UnknownAccountError for an unknown id and DataValidationError when rows with problems under
        the ``block`` policy touch ``quarter`` (any quarter when None): the report would be computed from
        incomplete data. Rows under ``exclude`` are left out and counted in ``AccountData.excluded``.
        """
        account = self.account(account_id)
        bad = self.blocking_problems(account_id, quarter)
        if bad:
            where = f" in {Quarter.parse(quarter)}" if quarter is not None else ""
            raise DataValidationError(bad, f"account {account_id} has rows{where} the workspace could not load")
        tables: dict[str, Any] = {t: self.table_for_account(t, account_id) for t in TABLES if t != "accounts"}
        return AccountData(account=account, as_of=self.as_of, excluded=self.excluded(account_id, quarter), **tables)


def file_signature(path: Path) -> dict:
    """A source file → {path, size, sha256}: enough to tell later whether it changed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(Path(path).resolve()), "size": path.stat().st_size, "sha256": digest.hexdigest()}
