"""Reading exports into raw text tables: a folder of CSV files named after the model's tables.

Every value is read as text (typing is validation's job), each row keeps its row number in the file
(header = row 1) and the file's name, so that any problem can be pointed at.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from .errors import DataValidationError, Problem
from .schema import TABLES, Table
from .store import RawLoader, file_signature


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load_csv(con: duckdb.DuckDBPyConnection, table: Table, path: Path, label: str) -> None:
    """CSV file → raw_<table> (text columns of the model + _row + _file); missing optional columns are empty.

    Raises DataValidationError naming the file when it is empty or lacks a required column.
    """
    if path.stat().st_size == 0:
        raise DataValidationError([Problem(label, None, None, None, "a header row and data rows (file is empty)")])
    rel = con.read_csv(str(path), all_varchar=True, header=True, sep=",", quotechar='"', encoding="utf-8")
    header = [c.strip() for c in rel.columns]
    missing = [c for c in table.required_columns if c not in header]
    if missing:
        raise DataValidationError(
            [
                Problem(
                    label,
                    1,
                    c,
                    None,
                    f"a column named {c!r} (required); the header has {', '.join(header)}",
                    table.name,
                )
                for c in missing
            ]
        )
    cols = [
        f"{_q(rel.columns[header.index(f.name)])} AS {_q(f.name)}"
        if f.name in header
        else f"CAST(NULL AS VARCHAR) AS {_q(f.name)}"
        for f in table.fields
    ]
    con.execute(f"CREATE TABLE {_q('raw_' + table.name)} AS SELECT {', '.join(cols)} FROM rel")
    con.execute(f"ALTER TABLE {_q('raw_' + table.name)} ADD COLUMN _row BIGINT")
    con.execute(f"ALTER TABLE {_q('raw_' + table.name)} ADD COLUMN _file VARCHAR")
    con.execute(f"UPDATE {_q('raw_' + table.name)} SET _row = rowid + 2, _file = ?", [label])


def folder_loader(folder: Path) -> RawLoader:
    """A folder of <table>.csv exports → loader for :func:`kam_helpers.store.build_workspace`."""
    folder = Path(folder)

    def load(con: duckdb.DuckDBPyConnection) -> tuple[set[str], dict]:
        if not folder.is_dir():
            raise DataValidationError([Problem(str(folder), None, None, None, "a folder of CSV exports")])
        present, files = set(), []
        for table in TABLES.values():
            path = folder / f"{table.name}.csv"
            if path.exists():
                load_csv(con, table, path, path.name)
                present.add(table.name)
                files.append(file_signature(path))
        return present, {"kind": "csv_folder", "folder": str(folder.resolve()), "files": files}

    return load


def changed_sources(sources: dict) -> list[str]:
    """Recorded source signatures → the files that changed or vanished since (empty = up to date)."""
    changed = []
    for rec in sources.get("files", []):
        path = Path(rec["path"])
        if not path.exists():
            changed.append(f"{path} (gone)")
        elif path.stat().st_size != rec["size"] or file_signature(path)["sha256"] != rec["sha256"]:
            changed.append(str(path))
    return changed


def refresh_if_stale(workspace: Path) -> str | None:
    """Rebuild the workspace from its recorded export folder when a file there changed since the last build.

    Returns a sentence saying what was rebuilt and why, or None when the workspace is current (or was not
    built from a folder this function knows how to read again).
    """
    from .store import Workspace, build_workspace

    with Workspace.open(workspace) as ws:
        sources = ws.sources
    if sources.get("kind") != "csv_folder":
        return None
    changed = changed_sources(sources)
    if not changed:
        return None
    report = build_workspace(Path(workspace), folder_loader(Path(sources["folder"])))
    bad = f"; {len(report.problems)} problem(s) found" if report.problems else ""
    return f"reloaded {sources['folder']} into the workspace: {', '.join(changed)} changed{bad}"
