"""kam import --dry-run writes nothing and says what would load; the exit status tells the truth (issue 20)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import pytest
from test_importer import EXAMPLE, TMS, _edit, _mapping

from kam_helpers.cli import main
from kam_helpers.data.import_report import printable


def tree(*folders: Path) -> dict[str, str]:
    """Every file and folder under ``folders`` → its SHA-256 (folders: 'dir')."""
    found = {}
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            for name in dirs:
                found[os.path.join(root, name)] = "dir"
            for name in files:
                path = Path(root, name)
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder and working directory of the test's own, to see any file an import leaves there."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.chdir(folder)
    return folder


def _import(exports: Path, mapping: Path, workspace: Path, *flags: str) -> int:
    return main(["import", str(exports), "--mapping", str(mapping), "--workspace", str(workspace), *flags])


def test_a_dry_run_writes_no_file_and_states_how_many_shipments_would_load(
    tmp_path: Path, private_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exports, workspace = tmp_path / "exports", tmp_path / "ws"
    exports.mkdir()
    for f in TMS.iterdir():
        (exports / f.name).write_bytes(f.read_bytes())
    before = tree(tmp_path)
    assert _import(exports, EXAMPLE, workspace, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "Dry run of the import" in out and "nothing was written" in out
    assert "shipments" in out and "8 rows would be in the workspace (from 8 source rows, 0 rejected)" in out
    assert tree(tmp_path) == before  # no store, no workspace folder, no rejects, no temporary file anywhere

    assert _import(exports, EXAMPLE, workspace) == 0  # a real import ends with the same summary
    out = capsys.readouterr().out
    assert out.startswith("Imported") and "8 rows in the workspace (from 8 source rows, 0 rejected)" in out
    assert "Fields (share of rows filled" in out and "Accounts (2:" in out
    before = tree(tmp_path)
    assert _import(exports, EXAMPLE, workspace, "--dry-run") == 0
    assert tree(tmp_path) == before


def test_a_wrong_date_format_fails_with_nothing_changed_and_passes_with_allow_partial(
    tmp_path: Path, private_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = tmp_path / "ws"
    assert _import(TMS, EXAMPLE, workspace) == 0
    mapping = _mapping(
        tmp_path, 'timestamps: ["%m/%d/%Y %H:%M", "%Y-%m-%d %H:%M:%S"]', 'timestamps: ["%d.%m.%Y %H:%M"]'
    )
    capsys.readouterr()
    before = tree(tmp_path)
    assert _import(TMS, mapping, workspace) == 2
    out, err = capsys.readouterr()
    assert tree(tmp_path) == before  # the store, and no rejects file
    assert "rows in table shipments after the import (none of its 8 source rows loaded: 8 rejected)" in err
    assert "loads.csv, row 2, column 'Pickup Appt': expected a date and time written as %d.%m.%Y %H:%M" in err
    assert "Nothing was changed" in err and "8 source row(s) rejected" in out

    assert _import(TMS, mapping, workspace, "--allow-partial") == 0
    out = capsys.readouterr().out
    assert "shipments" in out and "0 rows in the workspace (from 8 source rows, 8 rejected)" in out
    assert len(list((workspace / "rejects").iterdir())) == 1


def test_a_mapped_table_that_ends_empty_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every load skipped into a new workspace: shipments would end with no rows (an existing workspace keeps its
    rows whose key the import does not bring, so its table would not be empty)."""
    workspace = tmp_path / "ws"
    skip_all = "    file: loads.csv\n    skip: [{when: 'true', reason: not ours}]\n"
    mapping = _mapping(tmp_path, "    file: loads.csv\n", skip_all)
    before = tree(tmp_path)
    assert _import(TMS, mapping, workspace) == 2
    err = capsys.readouterr().err
    assert "rows in table shipments after the import (none of its 0 source rows loaded: 0 rejected)" in err
    assert tree(tmp_path) == before
    assert _import(TMS, mapping, workspace, "--allow-partial") == 0
    assert "shipments             0 rows in the workspace" in capsys.readouterr().out


def test_a_hostile_file_name_and_value_are_printed_as_data(
    tmp_path: Path, private_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    for f in TMS.iterdir():
        (exports / f.name).write_bytes(f.read_bytes())
    hostile = "loads\x1b[2J\nImported everything\u202e.csv"
    (exports / "loads.csv").rename(exports / hostile)
    _edit(exports, hostile, "610.25", "\x1b]0;pwned\x07")
    _edit(exports, "customers.csv", "Acme Foods", "Acme\u202e\x1b[8mFoods")
    mapping = _mapping(tmp_path, "    file: loads.csv\n", "    file: loads*.csv\n")
    assert _import(exports, mapping, tmp_path / "ws", "--dry-run") == 2  # 1 of 8 rejected: over 5%
    out, err = capsys.readouterr()
    for text in (out, err):
        assert not any(ch in text for ch in "\x1b\x07\u202e"), text
        assert not any(line.startswith("Imported everything") for line in text.splitlines())
    assert r"loads\x1b[2J\nImported everything\u202e.csv, row 3, column 'Billed Amount'" in err
    assert r"'\x1b]0;pwned\x07'" in out and r"'Acme\u202e\x1b[8mFoods'" in out
    assert printable("C100 \u200b\x00") == r"C100 \u200b\x00"
