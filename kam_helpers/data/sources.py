"""Reading exports into raw text tables: a folder of CSV files named after the model's tables.

Every value is read as text (typing is validation's job), each row keeps its row number in the file
(header = row 1) and the file's name, so that any problem can be pointed at.
"""

from __future__ import annotations

import re
from dataclasses import replace as dc_replace
from pathlib import Path

import duckdb

from kam_helpers.core.errors import ConfigError, DataValidationError, Problem
from kam_helpers.data.schema import TABLES, Table
from kam_helpers.data.sql import quote_identifier as _q
from kam_helpers.data.sql import quote_literal, scalar
from kam_helpers.data.store import POLICIES, RawLoader, file_signature


def _diagnose(path: Path, label: str, table: Table, exc: duckdb.Error) -> DataValidationError:
    """A file DuckDB could not read → the problem naming its file, row and column (read again with the
    importer's reader, which says where: encoding, quoting, an oversized field, the number of fields)."""
    from kam_helpers.data.readers import read_csv_text

    try:
        read_csv_text(path, label, "utf-8", ",")
    except DataValidationError as found:
        fixed = [
            dc_replace(
                p,
                table=table.name,
                expected=re.sub(r" \(if the export is .*\)$", " (save the export as UTF-8)", p.expected),
            )
            for p in found.problems
        ]
        return DataValidationError(fixed, "export refused")
    first = str(exc).strip().splitlines()[0]
    return DataValidationError([Problem(label, None, None, None, f"a readable CSV file ({first})", table.name)])


def load_csv(con: duckdb.DuckDBPyConnection, table: Table, path: Path, label: str) -> None:
    """CSV file → raw_<table> (text columns of the model + _row + _file); missing optional columns are empty.

    Raises DataValidationError naming the file (and row and column where it can) when it is empty, holds
    only a header, cannot be read as UTF-8 CSV or lacks a required column.
    """
    if path.stat().st_size == 0:
        raise DataValidationError([Problem(label, None, None, None, "a header row and data rows (file is empty)")])
    try:
        rel = con.read_csv(
            str(path), all_varchar=True, header=True, sep=",", quotechar='"', encoding="utf-8"
        )  # fmt: skip
        header = [c.strip() for c in rel.columns]
    except duckdb.Error as exc:
        raise _diagnose(path, label, table, exc) from None
    if len(header) == 1 and any(d in header[0] for d in (";", "\t", "|")):
        raise DataValidationError([Problem(label, 1, None, header[0][:80],
                                           "columns separated by ',' (the header row holds another delimiter: "
                                           "write the export with commas)", table.name)])  # fmt: skip
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
    raw = _q("raw_" + table.name)
    try:  # one pass over the file (rel: DuckDB reads this frame's variable); rows keep the file's order
        con.execute(f"CREATE TEMP TABLE {raw} AS SELECT {', '.join(cols)}, CAST(NULL AS BIGINT) AS _row, "
                    f"{quote_literal(label)} AS _file FROM rel")  # fmt: skip
    except duckdb.Error as exc:
        raise _diagnose(path, label, table, exc) from None
    if not scalar(con, f"SELECT count(*) FROM {raw}"):
        raise DataValidationError(
            [Problem(label, None, None, None, "data rows after the header (the file has only a header)", table.name)]
        )
    con.execute(f"UPDATE {raw} SET _row = rowid + 2")


def folder_loader(folder: Path, on_problem: str = "exclude") -> RawLoader:
    """A folder of <table>.csv exports → loader for :func:`kam_helpers.data.store.build_workspace`. ``on_problem``
    (exclude | block, see :mod:`kam_helpers.data.store`) is recorded so that a reload applies it again."""
    folder = Path(folder)
    if on_problem not in POLICIES:
        raise ConfigError(f"on_problem {on_problem!r}: expected one of {', '.join(POLICIES)}")

    def load(con: duckdb.DuckDBPyConnection) -> tuple[set[str], dict]:
        if not folder.is_dir():
            raise DataValidationError([Problem(str(folder), None, None, None, "a folder of CSV exports")])
        con.execute("CREATE TEMP TABLE _on_problem AS SELECT unnest(?::VARCHAR[]) AS table_name, ? AS policy",
                    [list(TABLES), on_problem])  # fmt: skip
        present = set()
        for table in TABLES.values():
            path = folder / f"{table.name}.csv"
            if path.exists():
                load_csv(con, table, path, path.name)
                present.add(table.name)
        return present, folder_sources(folder, present, on_problem)

    return load


def folder_sources(folder: Path, present: set[str], on_problem: str = "exclude") -> dict:
    """What a store built from a folder of exports records of it: the folder, the signature of each table's
    file (in the model's order) and the policy, so that a changed file is reloaded the same way."""
    return {
        "kind": "csv_folder",
        "folder": str(Path(folder).resolve()),
        "files": [file_signature(Path(folder) / f"{name}.csv") for name in TABLES if name in present],
        **({"on_problem": on_problem} if on_problem != "exclude" else {}),
    }


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
    from kam_helpers.data.store import Workspace, build_workspace

    with Workspace.open(workspace) as ws:
        sources = ws.sources
    if sources.get("kind") != "csv_folder":
        return None
    changed = changed_sources(sources)
    if not changed:
        return None
    loader = folder_loader(Path(sources["folder"]), sources.get("on_problem", "exclude"))
    report = build_workspace(Path(workspace), loader)
    bad = f"; {len(report.problems)} problem(s) found" if report.problems else ""
    return f"reloaded {sources['folder']} into the workspace: {', '.join(changed)} changed{bad}"
