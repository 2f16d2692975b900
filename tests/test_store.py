"""The workspace store: validation of exports, atomic builds, per-account reads with the filter pushed down."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import duckdb
import pytest

from kam_helpers.core.errors import DataValidationError, UnknownAccountError, WorkspaceError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data import rules
from kam_helpers.data.activity import ACTIVITY_TABLE, activity_sql
from kam_helpers.data.schema import TABLES
from kam_helpers.data.sources import changed_sources, folder_loader, refresh_if_stale
from kam_helpers.data.store import STORE_FILE, Workspace, build_workspace
from kam_helpers.data.validate import likely_first

TINY = Path(__file__).parent / "fixtures" / "tiny"


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    """A writable copy of the tiny exports."""
    folder = tmp_path / "exports"
    shutil.copytree(TINY, folder)
    return folder


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_clean_exports_build_a_typed_store(exports: Path, tmp_path: Path) -> None:
    report = build_workspace(tmp_path / "ws", folder_loader(exports))
    assert report.problems == []
    assert report.rows == {"accounts": 2, "shipments": 4, "invoices": 2, "invoice_lines": 3}
    with Workspace.open(tmp_path / "ws") as ws:
        data = ws.account_data("A1")
        assert list(data.shipments["shipment_id"]) == ["S1", "S2"]
        assert data.shipments["weight_kg"].tolist() == [1000.0, 250.5]
        assert str(data.shipments["pickup_planned"].dtype).startswith("datetime64")
        assert list(data.invoice_lines["shipment_id"]) == ["S1", "S2"]  # only A1's invoice lines
        assert data.cases is None  # no cases.csv: the table is absent, not empty
        assert ws.as_of.isoformat() == "2026-09-29T10:00:00"
        assert ws.last_complete_quarter() == Quarter(2026, 2)
        assert ws.active_accounts(Quarter(2026, 3)) == ["A1", "A2"]


def test_active_accounts_leave_out_cancelled_shipments(exports: Path, tmp_path: Path) -> None:
    """An account whose shipments of the quarter are all cancelled is not active there (as the KPIs count)."""
    path = exports / "shipments.csv"
    lines = path.read_text().splitlines(keepends=True)
    assert lines[3].startswith("S3,A2") and lines[4].startswith("S4,A2")
    lines[3] = lines[3].replace(",delivered,", ",cancelled,")
    lines[4] = lines[4].replace(",in_transit,", ",cancelled,")
    path.write_text("".join(lines))
    assert not build_workspace(tmp_path / "ws", folder_loader(exports)).problems
    with Workspace.open(tmp_path / "ws") as ws:
        assert ws.active_accounts(Quarter(2026, 3)) == ["A1"]


@pytest.mark.parametrize(
    "old, new, row, column, expected",
    [
        (",1000,10,2,1000,500,400,delivered", ",heavy,10,2,1000,500,400,delivered", 2, "weight_kg", "a number ≥ 0"),
        ("S2,A1,LTL", "S2,A1,Truck", 3, "mode", "one of FTL, LTL"),
        ("2026-07-04 12:00,250.5", "04/07/2026,250.5", 3, "delivery_actual", "a date and time written as"),
        ("S2,A1,LTL", "S1,A1,LTL", 3, "shipment_id", "a unique shipment_id (row 2 has the same)"),
        ("S3,A2,FTL", "S3,A9,FTL", 4, "account_id", "an account_id that exists in accounts.csv"),
        (
            "2026-08-01 09:00,2026-08-03 17:00,2026-08-03 12:00",
            "2026-08-01 09:00,2026-08-03 17:00,2026-07-30 12:00",
            4,
            "delivery_actual",
            "delivery_actual on or after pickup_actual",
        ),
        (",delivered,false,false\nS2", ",delivered,maybe,false\nS2", 2, "damaged", "true or false"),
    ],
)
def test_a_bad_value_is_named_by_file_row_and_column(
    exports: Path, tmp_path: Path, old: str, new: str, row: int, column: str, expected: str
) -> None:
    _edit(exports / "shipments.csv", old, new)
    before = (exports / "shipments.csv").read_bytes()
    report = build_workspace(tmp_path / "ws", folder_loader(exports))
    assert (exports / "shipments.csv").read_bytes() == before  # sources are never modified
    matching = [p for p in report.problems if p.row == row and p.column == column]
    assert matching, report.summary()
    assert expected in matching[0].expected
    assert matching[0].file == "shipments.csv"
    assert f"row {row}" in str(matching[0]) and repr(column) in str(matching[0])


def test_under_block_an_account_with_bad_rows_refuses_to_report_that_quarter_and_the_others_still_do(
    exports: Path, tmp_path: Path
) -> None:
    _edit(
        exports / "shipments.csv",
        "S2,A1,LTL,Lyon,Paris,Carrier X,2026-07-02 08:00,2026-07-02 09:00,2026-07-03 17:00,2026-07-04 12:00,250.5",
        "S2,A1,LTL,Lyon,Paris,Carrier X,2026-07-02 08:00,2026-07-02 09:00,2026-07-03 17:00,2026-07-04 12:00,about 250",
    )
    build_workspace(tmp_path / "ws", folder_loader(exports, on_problem="block"))
    with Workspace.open(tmp_path / "ws") as ws:
        for quarter in (None, "2026Q3"):
            with pytest.raises(DataValidationError) as err:
                ws.account_data("A1", quarter)
            assert "shipments.csv, row 3, column 'weight_kg'" in str(err.value)
            assert "'about 250'" in str(err.value)
        assert len(ws.account_data("A1", "2026Q2").shipments) == 1  # a quarter the row does not touch
        assert len(ws.account_data("A2").shipments) == 2


def test_under_exclude_the_default_a_bad_row_is_left_out_and_counted(exports: Path, tmp_path: Path) -> None:
    _edit(exports / "shipments.csv", "2026-07-04 12:00,250.5", "2026-07-04 12:00,about 250")
    build_workspace(tmp_path / "ws", folder_loader(exports))
    with Workspace.open(tmp_path / "ws") as ws:
        data = ws.account_data("A1", "2026Q3")
        assert list(data.shipments["shipment_id"]) == ["S1"] and data.excluded == {"shipments": 1}
        assert data.excluded_note() == (
            "1 shipment excluded (rows with problems in the source): see the import's rejects file"
        )
        assert ws.account_data("A1", "2026Q2").excluded == {}
    from kam_helpers.qbr.report import QbrReport

    header = QbrReport.load("A1", "2026Q3", tmp_path / "ws").header().data
    assert "1 shipment excluded (rows with problems in the source): see the import&#39;s rejects file" in header


# (case, how the export is spoiled, the message kam validate FOLDER prints)
HOSTILE_FOLDERS = [
    ("latin-1", lambda e: e.write_bytes(e.read_bytes().replace(b"Lyon,Madrid", "Lyon,Málaga".encode("latin-1"), 1)),
     "shipments.csv, row 2, column 'destination': expected utf-8 text (save the export as UTF-8)"),
    ("10 MB field", lambda e: _edit(e, "Lyon,Madrid", "Lyon," + "M" * 10_000_000),
     "shipments.csv, row 2, column 'destination': expected a field of at most 131,072 characters"),
    ("header only", lambda e: e.write_text(e.read_text().splitlines()[0] + "\n"),
     "shipments.csv: expected data rows after the header (the file has only a header)"),
    ("semicolons", lambda e: e.write_text(e.read_text().replace(",", ";")),
     "shipments.csv, row 1: expected columns separated by ','"),
]  # fmt: skip


@pytest.mark.parametrize("case, spoil, message", HOSTILE_FOLDERS, ids=[c[0] for c in HOSTILE_FOLDERS])
def test_kam_validate_folder_names_the_problem_never_a_raw_error(
    exports: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, spoil, message: str
) -> None:
    from kam_helpers.cli import main

    build_workspace(tmp_path / "ws", folder_loader(exports))
    store = hashlib.sha256((tmp_path / "ws" / STORE_FILE).read_bytes()).hexdigest()
    spoil(exports / "shipments.csv")
    assert main(["validate", str(exports)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "Error:" not in err.split("expected")[0]
    with pytest.raises(DataValidationError):
        build_workspace(tmp_path / "ws", folder_loader(exports))
    assert hashlib.sha256((tmp_path / "ws" / STORE_FILE).read_bytes()).hexdigest() == store


def test_a_rebuild_with_the_same_content_leaves_the_store_byte_identical(exports: Path, tmp_path: Path) -> None:
    first = build_workspace(tmp_path / "ws", folder_loader(exports))
    before = hashlib.sha256((tmp_path / "ws" / STORE_FILE).read_bytes()).hexdigest()
    again = build_workspace(tmp_path / "ws", folder_loader(exports))
    assert first.changed and not again.changed
    assert hashlib.sha256((tmp_path / "ws" / STORE_FILE).read_bytes()).hexdigest() == before
    _edit(exports / "shipments.csv", "250.5", "250.6")
    assert build_workspace(tmp_path / "ws", folder_loader(exports)).changed


def test_strict_build_refuses_and_leaves_the_store_byte_for_byte(exports: Path, tmp_path: Path) -> None:
    ws_dir = tmp_path / "ws"
    build_workspace(ws_dir, folder_loader(exports))
    before = (ws_dir / STORE_FILE).read_bytes()
    _edit(exports / "invoices.csv", "2026-08-09,2026-08-01,700,paid", "2026-08-09,2026-08-01,seven hundred,paid")
    with pytest.raises(DataValidationError) as err:
        build_workspace(ws_dir, folder_loader(exports), strict=True)
    assert "invoices.csv, row 2, column 'amount'" in str(err.value)
    assert (ws_dir / STORE_FILE).read_bytes() == before
    assert sorted(p.name for p in ws_dir.iterdir()) == [STORE_FILE]  # no half-written file left behind


def test_missing_required_column_and_empty_file_are_refused_whole(exports: Path, tmp_path: Path) -> None:
    text = (exports / "shipments.csv").read_text().replace("mode,", "transport_mode,", 1)
    (exports / "shipments.csv").write_text(text)
    with pytest.raises(DataValidationError) as err:
        build_workspace(tmp_path / "ws", folder_loader(exports))
    assert "shipments.csv, row 1, column 'mode'" in str(err.value)
    assert not (tmp_path / "ws" / STORE_FILE).exists()
    (exports / "shipments.csv").write_text("")
    with pytest.raises(DataValidationError, match="shipments.csv: expected a header row"):
        build_workspace(tmp_path / "ws", folder_loader(exports))


def test_one_account_read_pushes_the_filter_down(exports: Path, tmp_path: Path) -> None:
    build_workspace(tmp_path / "ws", folder_loader(exports))
    with Workspace.open(tmp_path / "ws") as ws:
        plan = "\n".join(
            ws.query("EXPLAIN SELECT * FROM shipments WHERE account_id = 'A2'")["explain_value"].astype(str)
        )
    # The predicate sits in the table scan itself (zone maps skip other accounts' row groups),
    # not in a filter over the whole table.
    flat = "".join(ch for ch in plan if ch.isalnum() or ch in "_='").upper()
    scan = flat[max(flat.find("SEQSCAN"), flat.find("SEQ_SCAN")) :]
    assert "FILTERSACCOUNT_ID='A2'" in scan or "ACCOUNT_ID='A2'" in scan.split("PROJECTIONS")[-1]


def test_the_book_activity_summary_equals_the_shipments_it_summarises(exports: Path, tmp_path: Path) -> None:
    """_account_activity (built once with the store) holds what a scan of the shipments gives: active shipments
    only, by account, quarter of the ship day, mode and lane; missing revenue counts 0."""
    _edit(exports / "shipments.csv", ",delivered,", ",cancelled,")  # the first delivered one (S1 of A1)
    build_workspace(tmp_path / "ws", folder_loader(exports))
    with Workspace.open(tmp_path / "ws") as ws:
        stored = ws.query(f"SELECT * FROM {ws.activity} ORDER BY ALL")
        live = ws.query(f"SELECT * FROM ({activity_sql()}) ORDER BY ALL")
        assert ws.activity == ACTIVITY_TABLE
        assert stored.equals(live)
        shipments = ws.query(f"SELECT count(*) AS n FROM shipments WHERE {rules.active_sql()}")["n"].item()
        assert stored["shipments"].sum() == shipments == 3  # S1 cancelled
        assert set(stored["quarter"]) == {"2026Q3"}


def test_invoice_lines_are_read_by_the_account_the_store_keeps_with_them(exports: Path, tmp_path: Path) -> None:
    """The store keeps each invoice line's account (from its invoice), so one account's lines are read without
    the others; what a report gets has exactly the model's columns, as the join through invoices gives."""
    build_workspace(tmp_path / "ws", folder_loader(exports))
    with Workspace.open(tmp_path / "ws") as ws:
        lines = ws.table_for_account("invoice_lines", "A1")
        joined = ws.query(
            "SELECT l.* EXCLUDE (account_id) FROM invoice_lines l WHERE l.invoice_id IN "
            "(SELECT invoice_id FROM invoices WHERE account_id = 'A1') ORDER BY l.invoice_id, l.line_no"
        )
        assert list(lines.columns) == TABLES["invoice_lines"].columns
        assert lines.equals(joined) and len(lines) == 2


def test_a_store_built_before_the_summaries_still_reads(exports: Path, tmp_path: Path) -> None:
    """A store of schema version 1 (no _account_activity, invoice lines without their account) gives the same
    answers, computed from the tables themselves."""
    build_workspace(tmp_path / "ws", folder_loader(exports))
    with Workspace.open(tmp_path / "ws") as ws:
        before = (ws.active_accounts(Quarter(2026, 3)), ws.table_for_account("invoice_lines", "A1"))
    con = duckdb.connect(str(tmp_path / "ws" / STORE_FILE))
    con.execute(f"DROP TABLE {ACTIVITY_TABLE}")
    con.execute("ALTER TABLE invoice_lines DROP COLUMN account_id")
    con.close()
    with Workspace.open(tmp_path / "ws") as ws:
        assert ws.activity != ACTIVITY_TABLE
        assert ws.active_accounts(Quarter(2026, 3)) == before[0]
        assert ws.table_for_account("invoice_lines", "A1").equals(before[1])


def test_unknown_account_and_missing_workspace_say_what_to_do(exports: Path, tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="kam sample"):
        Workspace.open(tmp_path / "nowhere")
    build_workspace(tmp_path / "ws", folder_loader(exports))
    with Workspace.open(tmp_path / "ws") as ws, pytest.raises(UnknownAccountError, match="ZZZ"):
        ws.account_data("ZZZ")


def test_a_changed_export_is_detected_and_reloaded(exports: Path, tmp_path: Path) -> None:
    ws_dir = tmp_path / "ws"
    build_workspace(ws_dir, folder_loader(exports))
    assert refresh_if_stale(ws_dir) is None
    _edit(exports / "shipments.csv", ",250.5,", ",260.5,")
    with Workspace.open(ws_dir) as ws:
        assert changed_sources(ws.sources) == [str((exports / "shipments.csv").resolve())]
        old = ws.fingerprint("A1"), ws.fingerprint("A2")
    assert "shipments.csv changed" in refresh_if_stale(ws_dir)
    with Workspace.open(ws_dir) as ws:
        assert ws.account_data("A1").shipments["weight_kg"].tolist() == [1000.0, 260.5]
        assert ws.fingerprint("A1") != old[0]
        assert ws.fingerprint("A2") == old[1]  # only the changed account's reports go stale


def test_date_formats_are_tried_most_used_first_only_where_the_order_cannot_matter() -> None:
    """Formats no text can match two of are reordered (the one most values use first, so most values are parsed
    once); a day-first and a month-first format both read 01/02/2026, so their order stays the user's."""
    con = duckdb.connect()
    con.execute("CREATE TABLE raw (v VARCHAR)")
    con.executemany("INSERT INTO raw VALUES (?)", [["2026-07-01 12:00"]] * 3 + [["2026-07-01"]])
    given = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")
    assert likely_first(con, "raw", "v", given) == (
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    )
    ambiguous = ("%d/%m/%Y", "%m/%d/%Y")
    con.execute("DELETE FROM raw")
    con.executemany("INSERT INTO raw VALUES (?)", [["12/31/2026"]] * 3)
    assert likely_first(con, "raw", "v", ambiguous) == ambiguous
    assert likely_first(con, "raw", "v", ("%d %b %Y", "%Y-%m-%d")) == ("%d %b %Y", "%Y-%m-%d")  # month names
