"""kam import: exports + mapping → workspace; bad exports as a new user would produce them; upsert; file kinds."""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from kam_helpers.cli import main
from kam_helpers.core.errors import ConfigError, DataValidationError
from kam_helpers.data.importer import RejectLimit, import_source
from kam_helpers.data.schema import TABLES
from kam_helpers.data.store import STORE_FILE, Workspace

ROOT = Path(__file__).resolve().parents[1]
TMS = Path(__file__).parent / "fixtures" / "import" / "tms"
EXAMPLE = ROOT / "data" / "mappings" / "example.yml"


def tables(workspace: Path) -> dict[str, pd.DataFrame]:
    """Every model table of a workspace as a DataFrame in key order."""
    with Workspace.open(workspace) as ws:
        return {t: ws.query(f"SELECT * FROM {t} ORDER BY {', '.join(TABLES[t].key)}") for t in sorted(ws.tables)}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    shutil.copytree(TMS, folder)
    return folder


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace already built from the clean exports (so 'unchanged' means something)."""
    ws = tmp_path / "ws"
    import_source(TMS, EXAMPLE, ws)
    return ws


def test_the_example_mapping_imports_the_tms_exports(tmp_path: Path) -> None:
    report = import_source(TMS, EXAMPLE, tmp_path / "ws")
    assert report.rejected == [] and report.skipped == [] and report.rejects_file is None
    assert report.rows == {"accounts": 2, "shipments": 8}
    data = tables(tmp_path / "ws")
    ships = data["shipments"].set_index("shipment_id")
    assert ships.loc["L-1001", "mode"] == "FTL" and ships.loc["L-1003", "mode"] == "Parcel"
    assert ships.loc["L-1001", "weight_kg"] == 12000.5 and ships.loc["L-1001", "revenue"] == 2450.0
    assert pd.isna(ships.loc["L-1003", "pallets"])  # N/A is missing
    assert ships.loc["L-2003", "status"] == "in_transit" and pd.isna(ships.loc["L-2003", "delivery_actual"])
    assert ships.loc["L-1002", "delivery_actual"] == pd.Timestamp("2026-07-11 09:15")
    assert data["accounts"].set_index("account_id").loc["C200", "contract_start"] == pd.Timestamp("2024-07-01")
    assert "shipments" in data and "invoices" not in data  # unmapped tables are absent, not empty


def test_reimporting_the_same_data_changes_nothing(workspace: Path) -> None:
    before = tables(workspace)
    import_source(TMS, EXAMPLE, workspace)
    after = tables(workspace)
    assert before.keys() == after.keys()
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name])


def test_an_import_upserts_by_key_and_keeps_other_rows(workspace: Path, exports: Path) -> None:
    loads = exports / "loads.csv"
    lines = loads.read_text().splitlines()
    header, l1002 = lines[0], next(line for line in lines if line.startswith("L-1002"))
    loads.write_text("\n".join([header, l1002.replace("610.25", "650.00"), l1002.replace("L-1002", "L-1005")]) + "\n")
    (exports / "customers.csv").unlink()
    mapping = exports.parent / "loads-only.yml"
    text = EXAMPLE.read_text()
    mapping.write_text(text[: text.index("  accounts:")] + text[text.index("  shipments:") :])
    report = import_source(exports, mapping, workspace)
    assert report.rows == {"accounts": 2, "shipments": 9}
    ships = tables(workspace)["shipments"].set_index("shipment_id")
    assert ships.loc["L-1002", "revenue"] == 650.0  # replaced
    assert ships.loc["L-1005", "revenue"] == 610.25  # added
    assert ships.loc["L-2001", "carrier"] == "Delta Cargo"  # kept


def _edit(exports: Path, name: str, old: str, new: str) -> None:
    path = exports / name
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _drop_column(exports: Path, name: str, column: str) -> None:
    path = exports / name
    rows = list(csv.reader(path.read_text().splitlines()))
    i = rows[0].index(column)
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([r[:i] + r[i + 1 :] for r in rows])


def _latin1(exports: Path, name: str, old: str, new: str) -> None:
    path = exports / name
    path.write_bytes(path.read_text().replace(old, new, 1).encode("latin-1"))


# (case, how the export is spoiled, file, row, column, words of the expectation, whole-file problem)
BAD_EXPORTS = [
    ("missing required column", lambda e: _drop_column(e, "loads.csv", "Service"),
     "loads.csv", 1, "Service", "a column named 'Service' in the header row", True),
    ("renamed header", lambda e: _edit(e, "loads.csv", ",Delivered,", ",Delivered On,"),
     "loads.csv", 1, "Delivered", "did the export rename it to 'Delivered On'", True),
    ("date in another format", lambda e: _edit(e, "loads.csv", "07/11/2026 09:15", "2026-07-11T09:15"),
     "loads.csv", 3, "Delivered", "a date and time written as %m/%d/%Y %H:%M", False),
    ("text in a number column", lambda e: _edit(e, "loads.csv", "610.25", "six hundred"),
     "loads.csv", 3, "Billed Amount", "a number", False),
    ("duplicated key", lambda e: _edit(e, "loads.csv", "L-1002", "L-1001"),
     "loads.csv", 3, "Load #", "a unique shipment_id (row 2 has the same)", False),
    ("delivered before picked up", lambda e: _edit(e, "loads.csv", "07/03/2026 12:00", "06/30/2026 12:00"),
     "loads.csv", 2, "Delivered", "delivery_actual on or after pickup_actual", False),
    ("unknown account", lambda e: _edit(e, "loads.csv", "L-2001,C200", "L-2001,C999"),
     "loads.csv", 6, "Customer No", "an account_id that exists in customers.csv", False),
    ("empty file", lambda e: (e / "loads.csv").write_bytes(b""),
     "loads.csv", None, None, "the whole file is empty", True),
    ("latin-1 file", lambda e: _latin1(e, "customers.csv", "Borealis Pharma", "Boréalis Pharma"),
     "customers.csv", 3, "Customer Name", "add `encoding: latin-1`", True),
]  # fmt: skip


@pytest.mark.parametrize(
    "case, spoil, file, row, column, expected, whole_file", BAD_EXPORTS, ids=[c[0] for c in BAD_EXPORTS]
)
def test_a_bad_export_is_named_by_file_row_and_column_and_a_refused_import_changes_nothing(
    workspace: Path, exports: Path, case: str, spoil, file: str, row: int | None, column: str | None,
    expected: str, whole_file: bool,
) -> None:  # fmt: skip
    spoil(exports)
    sources = {p.name: p.read_bytes() for p in exports.iterdir()}
    store = digest(workspace / STORE_FILE)
    listing = sorted(p.name for p in workspace.iterdir())

    with pytest.raises(DataValidationError) as err:
        import_source(exports, EXAMPLE, workspace, strict=True)
    hits = [p for p in err.value.problems if p.file == file and p.row == row and p.column == column]
    assert hits, str(err.value)
    assert expected in hits[0].expected, str(err.value)
    where = f"{file}, row {row}, column {column!r}" if row is not None else f"{file}: expected"
    assert where in str(err.value)
    if row is None:
        assert "whole file" in str(err.value)  # a whole-file problem says so instead of naming a row
    assert digest(workspace / STORE_FILE) == store  # byte-for-byte unchanged
    assert sorted(p.name for p in workspace.iterdir()) == listing  # no rejects file, no temp file left
    assert {p.name: p.read_bytes() for p in exports.iterdir()} == sources  # sources are only read

    if whole_file:  # refused even without --strict
        with pytest.raises(DataValidationError):
            import_source(exports, EXAMPLE, workspace)
        assert digest(workspace / STORE_FILE) == store
    else:  # 1 rejected row of 8 is over the default --max-rejected (5%): refused, then loaded with allow_partial
        with pytest.raises(DataValidationError, match="at most 0 rejected rows in table"):
            import_source(exports, EXAMPLE, workspace)
        assert digest(workspace / STORE_FILE) == store
        assert sorted(p.name for p in workspace.iterdir()) == listing
        report = import_source(exports, EXAMPLE, workspace, allow_partial=True)
        hits = [p for p in report.rejected if p.file == file and p.row == row and p.column == column]
        assert hits and expected in hits[0].expected, report.summary()
        assert f"{file}, row {row}, column {column!r}" in report.summary()
        rejects = pd.read_csv(report.rejects_file, dtype=str, keep_default_na=False)
        assert list(rejects.columns) == ["file", "row", "column", "value", "expected", "table", "account_id"]
        assert ((rejects["file"] == file) & (rejects["row"] == str(row)) & (rejects["column"] == column)).any()
        assert {p.name: p.read_bytes() for p in exports.iterdir()} == sources


def test_a_latin1_export_is_read_when_the_mapping_says_so(exports: Path, tmp_path: Path) -> None:
    _latin1(exports, "customers.csv", "Borealis Pharma", "Boréalis Pharma")
    mapping = tmp_path / "latin1.yml"
    mapping.write_text(EXAMPLE.read_text().replace("  encoding: utf-8", "  encoding: latin-1", 1))
    import_source(exports, mapping, tmp_path / "ws")
    assert "Boréalis Pharma" in tables(tmp_path / "ws")["accounts"]["name"].tolist()


def test_excel_and_parquet_exports_give_the_same_workspace_as_csv(tmp_path: Path) -> None:
    import_source(TMS, EXAMPLE, tmp_path / "csv")
    for suffix in ("xlsx", "parquet"):
        folder = tmp_path / suffix
        folder.mkdir()
        for name in ("customers", "loads"):
            frame = pd.read_csv(TMS / f"{name}.csv", dtype=str, keep_default_na=False)
            getattr(frame, "to_excel" if suffix == "xlsx" else "to_parquet")(folder / f"{name}.{suffix}", index=False)
        mapping = tmp_path / f"{suffix}.yml"
        mapping.write_text(EXAMPLE.read_text().replace(".csv", f".{suffix}"))
        import_source(folder, mapping, tmp_path / f"ws-{suffix}")
        want, got = tables(tmp_path / "csv"), tables(tmp_path / f"ws-{suffix}")
        for name in want:
            pd.testing.assert_frame_equal(want[name], got[name])


LINES = """\ufeffID,Order,Client,Mode,Due,Arrived,Weight,Freight,Value\r1,A-1,Acme,Truck,2-Jun-06,1-Jun-06,See A-1 (ID#:2),See A-1 (ID#:2),100\r2,A-1,Acme,Truck,2-Jun-06,1-Jun-06,40,15.5,50\r3,A-2,Acme,Air Charter,5-Jun-06,9-Jun-06,Weight Captured Separately,Freight Included in Commodity Cost,7\r4,A-1,Acme,Truck,1-Jun-06,1-Jun-06,5,See A-1 (ID#:2),1"""

LINES_MAPPING = """
source: {dates: ["%d-%b-%y"], timestamps: ["%d-%b-%y"]}
tables:
  accounts:
    file: lines.csv
    group_by: ['"Client"']
    fields: {account_id: Client, name: Client}
  shipments:
    file: lines.csv
    group_by: ['"Order"']
    references: {pattern: 'ID#:(\\d+)', key: ID, columns: [Weight, Freight]}
    fields:
      shipment_id: Order
      account_id: Client
      mode: {column: Mode, map: {Truck: FTL, Air Charter: Air}}
      origin: {value: Plant}
      destination: Client
      delivery_promised: {column: Due, agg: min}
      delivery_actual: {column: Arrived, agg: max}
      status: {value: delivered}
      weight_kg: {column: Weight, agg: sum, missing: [Weight Captured Separately]}
      cost: {columns: [Freight], agg: sum, missing: [Freight Included in Commodity Cost]}
      revenue: {column: Value, agg: sum}
"""


def test_lines_are_grouped_and_references_counted_once(tmp_path: Path) -> None:
    """CR line ends, a BOM, d-Mon-yy dates, 'See ...' references: worked out by hand.
    A-1 = rows 1, 2, 4: weight = row 2's 40 (rows 1 points at it) + row 4's 5 = 45; freight = row 2's 15.5
    once (rows 1 and 4 point at it); value 100 + 50 + 1; promised = earliest Due (1-Jun-06)."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "lines.csv").write_bytes(LINES.encode("utf-8"))
    (tmp_path / "m.yml").write_text(LINES_MAPPING)
    report = import_source(tmp_path / "src", tmp_path / "m.yml", tmp_path / "ws")
    assert report.rejected == []
    ships = tables(tmp_path / "ws")["shipments"].set_index("shipment_id")
    a1, a2 = ships.loc["A-1"], ships.loc["A-2"]
    assert (a1["weight_kg"], a1["cost"], a1["revenue"], a1["mode"]) == (45.0, 15.5, 151.0, "FTL")
    assert a1["delivery_promised"] == pd.Timestamp("2006-06-01") and a1["delivery_actual"] == pd.Timestamp("2006-06-01")
    assert pd.isna(a2["weight_kg"]) and pd.isna(a2["cost"]) and a2["mode"] == "Air"


def test_kam_import_prints_a_summary_and_refuses_with_exit_code_2(
    exports: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = tmp_path / "ws"
    assert main(["import", str(exports), "--mapping", str(EXAMPLE), "--workspace", str(ws)]) == 0
    assert "shipments" in capsys.readouterr().out
    _edit(exports, "loads.csv", "610.25", "six hundred")
    assert main(["import", str(exports), "--mapping", str(EXAMPLE), "--workspace", str(ws), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "loads.csv, row 3, column 'Billed Amount'" in err and "Nothing was changed" in err
    assert main(["import", str(exports), "--mapping", str(EXAMPLE), "--workspace", str(ws)]) == 2  # 1 of 8 > 5%
    captured = capsys.readouterr()
    assert "1 source row(s) rejected" in captured.out and "at most 0 rejected rows" in captured.err
    assert main(["import", str(exports), "--mapping", str(EXAMPLE), "--workspace", str(ws), "--max-rejected", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 source row(s) rejected" in out and "rejects" in out


# ----------------------------------------------------------------------------------------------- hostile exports

CASES = Path(__file__).parent / "fixtures" / "import" / "cases"


def _case(tmp_path: Path, name: str) -> Path:
    """The TMS exports with the files of fixtures/import/cases/<name> in place of the clean ones."""
    folder = tmp_path / name
    shutil.copytree(TMS, folder)
    for f in (CASES / name).iterdir():
        shutil.copy(f, folder / f.name)
    return folder


def _mapping(tmp_path: Path, old: str = "", new: str = "", name: str = "m.yml") -> Path:
    text = EXAMPLE.read_text()
    if old:
        assert old in text, old
        text = text.replace(old, new, 1)
    (tmp_path / name).write_text(text)
    return tmp_path / name


# (case, how the mapping changes, the problem's file, row, column, words it must hold)
REFUSED = [
    ("semicolon", None, "loads.csv", 1, None, "the header row holds ';', so the file looks ';'-delimited; "
     'set `delimiter: ";"`'),
    ("header_only", None, "loads.csv", None, None, "data rows after the header for table shipments (the source "
     "has only a header); if the table may be empty, add `allow_empty: true`"),
    ("dates_iso", None, "loads.csv", None, None, "at most 0 rejected rows in table shipments (--max-rejected 5% "
     "of 8 source rows), got 5"),
    ("latin1", None, "customers.csv", 3, "Customer Name", "utf-8 text (if the export is Latin-1"),
    ("unclosed_quote", None, "loads.csv", 3, None, "fields quoted the way CSV quotes them (',' expected after "
     "'\"': a quote mark in this row's record is unbalanced"),
    ("fractional", None, "loads.csv", 2, "Delivery Appt", "a date and time written as %m/%d/%Y %H:%M or "
     "%Y-%m-%d %H:%M:%S"),
]  # fmt: skip


@pytest.mark.parametrize("case, change, file, row, column, expected", REFUSED, ids=[c[0] for c in REFUSED])
def test_a_hostile_export_is_refused_with_its_problem_and_the_store_is_unchanged(
    workspace: Path, tmp_path: Path, case: str, change, file: str, row: int | None, column: str | None, expected: str
) -> None:
    exports = _case(tmp_path, case)
    store, listing = digest(workspace / STORE_FILE), sorted(p.name for p in workspace.iterdir())
    with pytest.raises(DataValidationError) as err:
        import_source(exports, EXAMPLE, workspace)
    hits = [p for p in err.value.problems if p.file == file and p.row == row and p.column == column]
    assert hits and expected in hits[0].expected, str(err.value)
    assert digest(workspace / STORE_FILE) == store  # SHA-256 of the store unchanged
    assert sorted(p.name for p in workspace.iterdir()) == listing  # no rejects file, no temporary file


def test_an_oversized_field_is_a_problem_naming_file_row_and_column(workspace: Path, exports: Path) -> None:
    _edit(exports, "loads.csv", "Chicago,Denver", "Chicago," + "D" * 10_000_000)
    store = digest(workspace / STORE_FILE)
    with pytest.raises(DataValidationError) as err:
        import_source(exports, EXAMPLE, workspace)
    assert "loads.csv, row 3, column 'Destination': expected a field of at most 131,072 characters" in str(err.value)
    assert "(this one has 10,000,000" in str(err.value)
    assert digest(workspace / STORE_FILE) == store


def test_a_table_may_be_empty_when_the_mapping_says_so(tmp_path: Path) -> None:
    exports = _case(tmp_path, "header_only")
    mapping = _mapping(tmp_path, "    file: loads.csv\n", "    file: loads.csv\n    allow_empty: true\n")
    report = import_source(exports, mapping, tmp_path / "ws")
    assert report.rows == {"accounts": 2, "shipments": 0}


def test_the_mappings_formats_are_the_formats_including_fractional_seconds(tmp_path: Path) -> None:
    exports = _case(tmp_path, "fractional")
    mapping = _mapping(tmp_path, 'timestamps: ["%m/%d/%Y %H:%M", "%Y-%m-%d %H:%M:%S"]',
                       'timestamps: ["%Y-%m-%d %H:%M:%S.%f"]')  # fmt: skip
    report = import_source(exports, mapping, tmp_path / "ws")
    assert report.rejected == [] and report.rows["shipments"] == 8
    ships = tables(tmp_path / "ws")["shipments"].set_index("shipment_id")
    assert ships.loc["L-1002", "delivery_actual"] == pd.Timestamp("2026-07-11 09:15:00.447")
    # a value that fits none of the mapping's formats: the problem lists those formats and the value as written
    _edit(exports, "loads.csv", "2026-07-11 09:15:00.447000", "11.07.2026 09:15")
    with pytest.raises(DataValidationError) as err:
        import_source(exports, mapping, tmp_path / "ws", strict=True)
    assert str(err.value).count("problem") and "loads.csv, row 3, column 'Delivered': expected a date and time " \
        "written as %Y-%m-%d %H:%M:%S.%f, got '11.07.2026 09:15'" in str(err.value)  # fmt: skip


def test_the_mapping_may_give_the_as_of_date(tmp_path: Path, exports: Path) -> None:
    from kam_helpers.data.store import Workspace

    mapping = _mapping(tmp_path, "  # as_of: 2026-09-30", "  as_of: 2026-09-30")
    import_source(exports, mapping, tmp_path / "ws")
    with Workspace.open(tmp_path / "ws") as ws:
        assert ws.as_of == pd.Timestamp("2026-09-30")
    import_source(exports, _mapping(tmp_path, name="plain.yml"), tmp_path / "plain")
    with Workspace.open(tmp_path / "plain") as ws:
        assert ws.as_of is not None and ws.as_of != pd.Timestamp("2026-09-30")  # the newest event instead
    with pytest.raises(ConfigError, match=r"source\.as_of.*expected a date as YYYY-MM-DD, got '30/09/2026'"):
        import_source(
            exports, _mapping(tmp_path, "  # as_of: 2026-09-30", '  as_of: "30/09/2026"', "bad.yml"), tmp_path / "x"
        )


def test_missing_words_apply_to_the_inputs_of_an_expression(tmp_path: Path, exports: Path) -> None:
    _edit(exports, "loads.csv", ",12.4,", ",N/A,")
    mapping = _mapping(tmp_path, "      weight_kg: Weight (kg)",
                       """      weight_kg:\n        expr: TRY_CAST(replace("Weight (kg)", ',', '') AS DOUBLE) * 1""")  # fmt: skip
    report = import_source(exports, mapping, tmp_path / "ws")
    assert report.rejected == []
    ships = tables(tmp_path / "ws")["shipments"].set_index("shipment_id")
    assert pd.isna(ships.loc["L-1003", "weight_kg"]) and ships.loc["L-1001", "weight_kg"] == 12000.5


def test_an_expression_that_fails_on_a_value_names_the_file_row_and_field(tmp_path: Path, exports: Path) -> None:
    _edit(exports, "loads.csv", ",850,", ",eight hundred,")
    mapping = _mapping(tmp_path, "      weight_kg: Weight (kg)",
                       """      weight_kg:\n        expr: CAST(replace("Weight (kg)", ',', '') AS DOUBLE)""")  # fmt: skip
    with pytest.raises(DataValidationError) as err:
        import_source(exports, mapping, tmp_path / "ws")
    assert "loads.csv, row 3, column 'Weight (kg)': expected a value the mapping's expression for " \
        "shipments.weight_kg can compute" in str(err.value)  # fmt: skip
    assert "_src" not in str(err.value)


def test_excel_date_cells_are_dates_and_a_wrong_sheet_lists_the_workbooks_sheets(tmp_path: Path) -> None:
    folder = tmp_path / "xlsx"
    folder.mkdir()
    customers = pd.read_csv(TMS / "customers.csv", dtype=str, keep_default_na=False)
    loads = pd.read_csv(TMS / "loads.csv", dtype=str, keep_default_na=False)
    for c in ("Pickup Appt", "Picked Up", "Delivery Appt", "Delivered"):  # real date cells, not text
        loads[c] = pd.to_datetime(loads[c], format="%m/%d/%Y %H:%M")
    customers.to_excel(folder / "customers.xlsx", index=False)
    with pd.ExcelWriter(folder / "loads.xlsx") as book:
        pd.DataFrame({"Weekly load report": ["prepared by the TMS"]}).to_excel(book, sheet_name="Cover", index=False)
        loads.to_excel(book, sheet_name="Loads", index=False)
    mapping = _mapping(tmp_path, "", "", "x.yml")
    mapping.write_text(mapping.read_text().replace(".csv", ".xlsx"))
    with pytest.raises(DataValidationError) as err:
        import_source(folder, mapping, tmp_path / "ws")
    assert "read sheet 'Cover' (the first sheet, as the mapping names no `sheet:`); the workbook's sheets: Cover, Loads" \
        in str(err.value)  # fmt: skip
    mapping.write_text(
        mapping.read_text().replace("    file: loads.xlsx\n", "    file: loads.xlsx\n    sheet: Loads\n")
    )
    report = import_source(folder, mapping, tmp_path / "ws")
    assert report.rejected == []
    ships = tables(tmp_path / "ws")["shipments"].set_index("shipment_id")
    assert ships.loc["L-1002", "delivery_actual"] == pd.Timestamp("2026-07-11 09:15")


# ----------------------------------------------------------------------------------------------- one rule


def test_one_rule_max_rejected_as_a_count_or_a_share_and_allow_partial(workspace: Path, tmp_path: Path) -> None:
    exports = _case(tmp_path, "dates_iso")  # 5 of 8 shipments have an unreadable delivery date
    store = digest(workspace / STORE_FILE)
    for limit in ("5%", "50%", 4):
        with pytest.raises(DataValidationError, match="rejected rows in table shipments"):
            import_source(exports, EXAMPLE, workspace, max_rejected=limit)
        assert digest(workspace / STORE_FILE) == store
    assert import_source(exports, EXAMPLE, workspace, max_rejected="5").rows["shipments"] == 3
    assert RejectLimit.parse("5%").allowed(8) == 0 and RejectLimit.parse("5%").allowed(100) == 5
    with pytest.raises(ConfigError, match="--max-rejected 'many'"):
        RejectLimit.parse("many")


def test_a_rejected_row_is_handled_the_same_whatever_rejected_it(workspace: Path, exports: Path) -> None:
    """A row rejected for its type and one rejected by a rule both leave the store, old version included."""
    _edit(exports, "loads.csv", "610.25", "six hundred")  # L-1002: type
    _edit(exports, "loads.csv", "08/04/2026 11:00", "07/30/2026 11:00")  # L-1003: delivered before picked up
    report = import_source(exports, EXAMPLE, workspace, allow_partial=True)
    ids = set(tables(workspace)["shipments"]["shipment_id"])
    assert "L-1002" not in ids and "L-1003" not in ids and len(ids) == 6
    assert {p.row for p in report.rejected} == {3, 4}
    with Workspace.open(workspace) as ws:
        assert ws.excluded("C100", "2026Q3") == {"shipments": 2}


def test_reimporting_the_same_exports_leaves_the_store_byte_identical(workspace: Path) -> None:
    before = digest(workspace / STORE_FILE)
    report = import_source(TMS, EXAMPLE, workspace)
    assert not report.build.changed and "left as it was" in report.summary()
    assert digest(workspace / STORE_FILE) == before


def test_dry_run_writes_nothing_and_says_what_would_load(tmp_path: Path, workspace: Path, capsys) -> None:
    fresh = tmp_path / "fresh"
    report = import_source(TMS, EXAMPLE, fresh, dry_run=True)
    assert not fresh.exists() and report.rejects_file is None
    text = report.summary()
    assert "Dry run" in text and "8 rows would be in the workspace" in text
    assert "shipments.pallets" in text and "87.5%" in text  # 7 of 8 loads have pallets
    assert re.search(r"C100 +shipments 4  2026-07-01 – 2026-09-23", text), text
    exports = _case(tmp_path, "dates_iso")
    store, listing = digest(workspace / STORE_FILE), sorted(p.name for p in workspace.iterdir())
    args = ["import", str(exports), "--mapping", str(EXAMPLE), "--workspace", str(workspace), "--dry-run"]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert "Dry run" in out and "5 source row(s) rejected" in out and "at most 0 rejected rows" in err
    assert "nothing was written" in err
    assert main([*args, "--allow-partial"]) == 0
    assert digest(workspace / STORE_FILE) == store and sorted(p.name for p in workspace.iterdir()) == listing


# ----------------------------------------------------------------------------------------------- on_problem


def test_exclude_leaves_a_bad_row_out_and_counts_it_for_its_quarter(workspace: Path, exports: Path) -> None:
    _edit(exports, "loads.csv", "610.25", "six hundred")  # L-1002, picked up and delivered in July 2026
    import_source(exports, EXAMPLE, workspace, allow_partial=True)
    with Workspace.open(workspace) as ws:
        data = ws.account_data("C100", "2026Q3")
        assert data.excluded == {"shipments": 1} and "L-1002" not in set(data.shipments["shipment_id"])
        assert data.excluded_note().startswith("1 shipment excluded")
        assert ws.account_data("C100", "2026Q2").excluded == {}
        assert ws.account_data("C200", "2026Q3").excluded == {}


def test_block_blocks_only_the_quarters_a_bad_row_touches(workspace: Path, exports: Path, tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, "    file: loads.csv\n", "    file: loads.csv\n    on_problem: block\n")
    _edit(exports, "loads.csv", "610.25", "six hundred")
    import_source(exports, mapping, workspace, allow_partial=True)
    with Workspace.open(workspace) as ws:
        with pytest.raises(DataValidationError, match="account C100 has rows in 2026Q3 the workspace could not load"):
            ws.account_data("C100", "2026Q3")
        assert ws.account_data("C100", "2026Q2").excluded == {}  # another quarter is not blocked
        ws.account_data("C200", "2026Q3")


def test_a_blocking_row_without_a_usable_date_blocks_every_quarter(tmp_path: Path) -> None:
    exports = _case(tmp_path, "no_date")  # L-1001's dates are all 'soon'
    mapping = _mapping(tmp_path, "    file: loads.csv\n", "    file: loads.csv\n    on_problem: block\n")
    import_source(exports, mapping, tmp_path / "ws", allow_partial=True)
    with Workspace.open(tmp_path / "ws") as ws:
        for quarter in ("2026Q3", "2020Q1"):
            with pytest.raises(DataValidationError, match="'Pickup Appt'"):
                ws.account_data("C100", quarter)


def test_kam_accounts_prints_blanks_not_none(tmp_path: Path, exports: Path, capsys) -> None:
    _edit(exports, "customers.csv", "Dana Smith,01/01/2025,12/31/2026", ",01/01/2025,")
    import_source(exports, EXAMPLE, tmp_path / "ws")
    capsys.readouterr()
    assert main(["accounts", "--workspace", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out
    assert "None" not in out and "NaT" not in out and "nan" not in out
    assert "2027-06-30" in out


def test_a_skip_rule_that_fails_on_a_value_names_the_file_and_row(tmp_path: Path, exports: Path) -> None:
    mapping = _mapping(tmp_path, "    file: loads.csv\n",
                       "    file: loads.csv\n    skip: [{when: 'CAST(\"Weight (kg)\" AS INTEGER) > 99999', "
                       "reason: too heavy}]\n")  # fmt: skip
    with pytest.raises(DataValidationError) as err:
        import_source(exports, mapping, tmp_path / "ws")
    assert "loads.csv, row 2, column 'Weight (kg)': expected a value the mapping's skip rule of shipments " \
        "(too heavy) can compute" in str(err.value)  # fmt: skip
    assert "got '12,000.5'" in str(err.value)  # the thousands mark a CAST does not read


def test_a_quote_mark_never_closed_is_refused_naming_its_row(workspace: Path, exports: Path) -> None:
    _edit(exports, "loads.csv", "L-2004,C200,LTL,Newark,Boston,Estes", 'L-2004,C200,LTL,Newark,"Boston,Estes')
    store = digest(workspace / STORE_FILE)
    with pytest.raises(DataValidationError) as err:
        import_source(exports, EXAMPLE, workspace)
    assert "loads.csv, row 9: expected a closing quote mark for the quoted field that starts in this row" in str(
        err.value
    )
    assert digest(workspace / STORE_FILE) == store
