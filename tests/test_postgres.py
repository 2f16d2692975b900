"""kam import from a real PostgreSQL server (started here on 127.0.0.1): the same workspace as the CSV import.

The server is Debian's (``/usr/lib/postgresql/<version>/bin``, installed by .ci/run when missing). As root,
initdb refuses to run, so the cluster is created and started as the ``postgres`` system user.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from test_importer import EXAMPLE, TMS, tables

from kam_helpers.core.errors import DataValidationError
from kam_helpers.data.importer import import_source
from kam_helpers.data.store import Workspace

PASSWORD = "s3cret-never-stored"


def _pg_bin() -> Path | None:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0
    )
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_server(*settings: str) -> Iterator[tuple[str, Path]]:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (trust auth, user kam; ``settings`` such as
    ``log_statement=all``) → (its SQLAlchemy URL, its server log)."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="kam-pg-"))
    data, log = root / "data", root / "server.log"
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        runuser = shutil.which("runuser")
        as_user = [runuser, "-u", "postgres", "--"] if runuser else ["su", "postgres", "-s", "/bin/sh", "-c"]
    port = _free_port()

    def run(*args: str) -> None:
        cmd = [str(a) for a in args]
        full = as_user + cmd if not as_user or as_user[0] != "su" else as_user + [" ".join(cmd)]
        subprocess.run(full, check=True, capture_output=True, text=True, timeout=120)

    run(bindir / "initdb", "-D", data, "-U", "kam", "--auth=trust", "-E", "UTF8", "--no-sync")
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off" + "".join(f" -c {s}" for s in settings)
    run(bindir / "pg_ctl", "-D", data, "-l", log, "-o", opts, "-w", "-t", "60", "start")
    try:
        yield f"postgresql+psycopg://kam:{PASSWORD}@127.0.0.1:{port}/postgres", log
    finally:
        run(bindir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throw-away PostgreSQL cluster's SQLAlchemy URL (:func:`postgres_server`)."""
    with postgres_server() as (url, _log):
        yield url


# The TMS exports as typed warehouse tables (column names as in the CSV headers).
TYPES = {
    "customers": {"Contract Start": "date", "Contract End": "date"},
    "loads": {"Pickup Appt": "timestamp", "Picked Up": "timestamp", "Delivery Appt": "timestamp",
              "Delivered": "timestamp", "Weight (kg)": "numeric", "Pallets": "integer",
              "Billed Amount": "numeric(12,2)", "Carrier Cost": "numeric(12,2)"},
}  # fmt: skip
CSV_FORMATS = {"date": "%m/%d/%Y", "timestamp": "%m/%d/%Y %H:%M"}


def _typed(value: str, kind: str) -> object:
    """A CSV cell → the Python value a typed column holds (plain parsing, independent of the importer)."""
    if value in ("", "N/A"):
        return None
    if kind in CSV_FORMATS:
        moment = pd.to_datetime(value, format=CSV_FORMATS[kind])
        return moment.date() if kind == "date" else moment.to_pydatetime()
    if kind == "integer":
        return int(value)
    return float(value.replace(",", ""))


def _load(url: str, extra_loads: list[list[str]] | None = None) -> None:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name, types in TYPES.items():
            frame = pd.read_csv(TMS / f"{name}.csv", dtype=str, keep_default_na=False)
            rows = frame.values.tolist() + (extra_loads or [] if name == "loads" else [])
            cols = ", ".join(f'"{c}" {types.get(c, "text")}' for c in frame.columns)
            conn.execute(f"DROP TABLE IF EXISTS {name}")
            conn.execute(f"CREATE TABLE {name} ({cols})")
            typed = [
                [_typed(v, types[c]) if c in types else v for c, v in zip(frame.columns, r, strict=False)] for r in rows
            ]
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {name} VALUES ({', '.join(['%s'] * len(frame.columns))})", typed)


def test_postgres_import_gives_the_same_workspace_as_the_csv_import(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _load(pg_url)
    monkeypatch.setenv("KAM_TEST_PG_URL", pg_url)
    from_csv = import_source(TMS, EXAMPLE, tmp_path / "csv")
    from_pg = import_source("env:KAM_TEST_PG_URL", EXAMPLE, tmp_path / "pg")
    assert from_pg.rows == from_csv.rows == {"accounts": 2, "shipments": 8}
    want, got = tables(tmp_path / "csv"), tables(tmp_path / "pg")
    assert want.keys() == got.keys()
    for name in want:
        pd.testing.assert_frame_equal(want[name], got[name])
    with Workspace.open(tmp_path / "pg") as ws:
        recorded = json.dumps(ws.sources)
    assert "KAM_TEST_PG_URL" in recorded and PASSWORD not in recorded  # the password is never stored
    assert PASSWORD not in from_pg.summary()


def test_a_bad_database_row_is_named_by_table_row_and_column(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = ["L-3001", "C999", "LTL", "Newark", "Boston", "Estes", "09/09/2026 10:00", "", "09/10/2026 17:00", "",
           "700", "2", "420.00", "0", "Booked"]  # fmt: skip
    _load(pg_url, extra_loads=[bad])
    monkeypatch.setenv("KAM_TEST_PG_URL", pg_url)
    import_source(TMS, EXAMPLE, tmp_path / "ws")
    before = (tmp_path / "ws" / "kam.duckdb").read_bytes()
    with pytest.raises(DataValidationError) as err:
        import_source(None, EXAMPLE, tmp_path / "ws", url_env="KAM_TEST_PG_URL", strict=True)
    assert "loads, row 10, column 'Customer No'" in str(err.value)  # header = row 1, so the 9th row is row 10
    assert PASSWORD not in str(err.value)
    assert (tmp_path / "ws" / "kam.duckdb").read_bytes() == before
