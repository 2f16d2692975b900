"""`kam sample`'s store built from the generated tables while their exports are written
(kam_helpers/devtools/sample_store.py): the same store as one built from the exports, every row still validated."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from kam_helpers.data.sources import folder_loader
from kam_helpers.data.store import STORE_FILE, build_workspace, content_digest
from kam_helpers.devtools import sample_book
from kam_helpers.devtools.sample_book import draw_book, generate_book
from kam_helpers.devtools.sample_store import sample_workspace, tables_loader

ARGS = dict(accounts=6, quarters=4, shipments=6_000, end_quarter="2026Q3")


def _digest(workspace: Path) -> str:
    con = duckdb.connect(str(workspace / STORE_FILE), read_only=True)
    try:
        return content_digest(con)
    finally:
        con.close()


def test_the_store_equals_the_one_built_from_the_exports_and_the_exports_are_the_same(tmp_path: Path) -> None:
    summary, report = sample_workspace(tmp_path / "book", tmp_path / "ws", **ARGS)
    assert not report.problems and report.rows == summary.rows
    from_files = build_workspace(tmp_path / "ws-files", folder_loader(tmp_path / "book"))
    assert from_files.rows == report.rows
    assert _digest(tmp_path / "ws") == _digest(tmp_path / "ws-files")  # rows, problems, sources alike
    generate_book(tmp_path / "again", **ARGS)
    for f in sorted((tmp_path / "book").iterdir()):
        assert (tmp_path / "again" / f.name).read_bytes() == f.read_bytes(), f.name


def _with(table: pa.Table, column: str, row: int, value: object) -> pa.Table:
    """``table`` with ``column``'s value at ``row`` (0-based) replaced."""
    values = table.column(column).combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.cast(pa.string())
    mask = pa.array([i == row for i in range(len(values))])
    replaced = pc.replace_with_mask(values, mask, pa.array([value], values.type))
    return table.set_column(table.schema.get_field_index(column), column, replaced)


def test_generated_values_are_validated_and_named_by_their_row_in_the_export(tmp_path: Path) -> None:
    tables = dict(draw_book(**ARGS).tables)
    shipments = _with(tables["shipments"], "weight_kg", 4, -5.0)  # row 6 of shipments.csv
    shipments = _with(shipments, "shipment_id", 9, shipments.column("shipment_id")[0].as_py())  # row 11
    tables["shipments"] = shipments
    report = build_workspace(tmp_path / "ws", tables_loader(tables, {}))
    found = {(p.file, p.row, p.column): p for p in report.problems}
    weight = found[("shipments.csv", 6, "weight_kg")]
    assert weight.value == "-5.0" and "≥ 0" in weight.expected
    assert "a unique shipment_id (row 2 has the same)" in found[("shipments.csv", 11, "shipment_id")].expected
    assert report.rejected["shipments"] >= 2


def test_a_failed_export_leaves_neither_the_exports_nor_the_store(tmp_path: Path, monkeypatch) -> None:
    real = sample_book._write_csv

    def fail_on_cases(folder: Path, name: str, table: pa.Table) -> int:
        if name == "cases":
            raise OSError("disk full")
        return real(folder, name, table)

    monkeypatch.setattr(sample_book, "_write_csv", fail_on_cases)
    with pytest.raises(OSError, match="disk full"):
        sample_workspace(tmp_path / "book", tmp_path / "ws", **ARGS)
    assert not (tmp_path / "book").exists()
    assert not (tmp_path / "ws" / STORE_FILE).exists()


def test_kam_sample_writes_the_exports_and_loads_them_or_only_writes_them(tmp_path: Path, capsys) -> None:
    from kam_helpers.cli import main
    from kam_helpers.data.store import Workspace

    args = ["sample", "--accounts", "3", "--quarters", "2", "--shipments", "600", "--end-quarter", "2026Q3"]
    assert main([*args, "--out", str(tmp_path / "book"), "--workspace", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out
    assert "Sample book of business written to" in out and "600 shipments" in out and "Workspace" in out
    with Workspace.open(tmp_path / "ws") as ws:
        assert len(ws.account_ids()) == 3
        assert ws.sources["kind"] == "csv_folder" and len(ws.sources["files"]) == 8
    assert main([*args, "--out", str(tmp_path / "only"), "--workspace", str(tmp_path / "none"), "--no-load"]) == 0
    assert (tmp_path / "only" / "shipments.csv").exists() and not (tmp_path / "none").exists()
