"""The workspace's tables in PostgreSQL (`kam export-sql`, then `--workspace env:VAR`): the same data and figures as
the DuckDB store, each account's rows read with its id bound into a filtered query."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from conftest import Book
from test_postgres import postgres_server

from kam_helpers import cli
from kam_helpers.core.errors import ConfigError
from kam_helpers.data.store import Workspace
from kam_helpers.data.warehouse import portable_sql, warehouse_url

VAR = "KAM_TEST_WAREHOUSE_URL"
SPEC = f"env:{VAR}"


@dataclass(frozen=True)
class Warehouse:
    url: str
    log: Path


@pytest.fixture(scope="module")
def warehouse(book: Book) -> Iterator[Warehouse]:
    """A PostgreSQL server logging every statement, holding the sample book's workspace (``kam export-sql``)."""
    with postgres_server("log_statement=all", "log_line_prefix=%p:") as (url, log), pytest.MonkeyPatch.context() as mp:
        mp.setenv(VAR, url)
        assert cli.main(["export-sql", SPEC, "--workspace", str(book.workspace)]) == 0
        yield Warehouse(url, log)


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("qmark", "SELECT * FROM t WHERE a = ? AND b = 'why?' AND c LIKE '5%'"),
        ("pyformat", "SELECT * FROM t WHERE a = %s AND b = 'why?' AND c LIKE '5%%'"),
        ("named", "SELECT * FROM t WHERE a = :p1 AND b = 'why?' AND c LIKE '5%'"),
    ],
)
def test_read_sql_keeps_its_text_with_the_drivers_placeholders(style: str, expected: str) -> None:
    assert portable_sql("SELECT * FROM t WHERE a = ? AND b = 'why?' AND c LIKE '5%'", style) == expected


def test_the_catalog_functions_read_the_standard_catalog() -> None:
    sql = portable_sql("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", "pyformat")
    assert "information_schema.tables" in sql and sql.endswith("AS duckdb_tables WHERE table_name = %s")


def test_a_warehouse_names_its_url_by_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VAR, raising=False)
    with pytest.raises(ConfigError, match=VAR):
        warehouse_url(SPEC)


@pytest.mark.postgres
def test_an_account_reads_the_same_from_the_warehouse_as_from_the_store(
    warehouse: Warehouse, book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VAR, warehouse.url)
    with Workspace.open(book.workspace) as store, Workspace.open(SPEC) as wh:
        assert wh.account_ids() == store.account_ids()
        assert wh.active_accounts(book.quarter) == store.active_accounts(book.quarter)
        assert wh.as_of == store.as_of and wh.report_quarter() == store.report_quarter()
        for account in (book.healthy, book.at_risk):
            assert wh.fingerprint(account) == store.fingerprint(account)
            want, got = store.account_data(account, book.quarter), wh.account_data(account, book.quarter)
            assert got.account == want.account and got.excluded == want.excluded and got.as_of == want.as_of
            for table in ("shipments", "invoices", "invoice_lines", "rate_cards", "cases", "opportunities", "targets"):
                pd.testing.assert_frame_equal(getattr(got, table), getattr(want, table), obj=f"{account} {table}")


def _statements(log: str) -> list[tuple[str, str]]:
    """The server log (lines prefixed with the server process id) → (statement, its bound parameters or '') for
    every statement the server ran; a statement's parameters follow it in its own process's lines."""
    found: list[list[str]] = []
    last: dict[str, list[str]] = {}
    for line in log.splitlines():
        ran = re.match(r"(\d+):LOG:\s+(?:statement|execute [^:]*):\s+(.*)", line)
        bound = re.match(r"(\d+):DETAIL:\s+parameters: (.*)", line)
        if ran:
            last[ran[1]] = [ran[2].strip(), ""]
            found.append(last[ran[1]])
        elif bound and bound[1] in last:
            last[bound[1]][1] = bound[2]
    return [(sql, params) for sql, params in found]


@pytest.mark.postgres
@pytest.mark.batch
def test_a_batch_on_the_warehouse_gives_the_stores_figures_reading_account_by_account(
    warehouse: Warehouse, book: Book, tmp_path: Path
) -> None:
    accounts = [book.healthy, book.at_risk, book.first]
    common = ["--quarter", str(book.quarter), "--accounts", ",".join(accounts), "--formats", "html", "--quiet"]
    assert cli.main(["qbr", *common, "--workspace", str(book.workspace), "--out", str(tmp_path / "duckdb")]) == 0
    seen = len(warehouse.log.read_text())
    run = subprocess.run(
        [sys.executable, "-m", "kam_helpers.cli", "qbr", *common, "--workspace", SPEC, "--out", str(tmp_path / "pg")],
        env={**os.environ, VAR: warehouse.url}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    want, got = (json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("duckdb", "pg"))
    fields = ("account_id", "status", "kpis", "action_items", "name", "fingerprint")
    assert [{k: a[k] for k in fields} for a in got["accounts"]] == [{k: a[k] for k in fields} for a in want["accounts"]]
    assert got["workspace"] == SPEC  # no password in the manifest

    statements = _statements(warehouse.log.read_text()[seen:])
    shipments = [(sql, params) for sql, params in statements if re.search(r"\bFROM shipments\b", sql)]
    assert shipments, "no query read the shipments"
    assert all(re.search(r"WHERE account_id = \$1", sql) for sql, _ in shipments), shipments
    for account in accounts:  # each account's rows came from a query filtered on it
        assert any(f"$1 = '{account}'" in params for _, params in shipments), account
