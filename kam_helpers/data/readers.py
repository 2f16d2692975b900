"""Reading a company's exports as text frames for ``kam import``: CSV (its encoding and delimiter checked), Excel,
Parquet and a SQL query, each row keeping its file (or query) and row number; :class:`Source` names what to read.

An unusable file (another encoding, a field over MAX_FIELD characters, an unclosed quote, the wrong sheet) is a
DataValidationError naming its file, row and column, never a traceback.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kam_helpers.core.errors import ConfigError, DataValidationError, Problem
from kam_helpers.data.mapping import Mapping, TableMap, quote

FILE_KINDS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "excel", ".xlsm": "excel", ".xls": "excel",
              ".parquet": "parquet", ".pq": "parquet"}  # fmt: skip


_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


@dataclass(frozen=True)
class Frame:
    """A source read as text: its label (file name or table), header, rows of text."""

    label: str
    header: list[str]
    rows: list[list[str | None]]
    first_row: int = 2  # the row number of rows[0] (header = row 1)
    note: str = ""  # where in the file the rows come from (an Excel workbook's sheet), for problems
    typed: bool = False  # the source stores dates as dates (Excel cells, Parquet, a database), written as ISO text


def _decode(data: bytes, label: str, encoding: str) -> str:
    for bom, enc in _BOMS:
        if data.startswith(bom):
            return data.decode(enc)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode(encoding, errors="replace")
        lines = re.split(r"\r\n|\r|\n", before)
        row = len(lines)
        header = next(csv.reader([re.split(r"\r\n|\r|\n", data.decode(encoding, errors="replace"), maxsplit=1)[0]]), [])
        col_index = len(next(csv.reader([lines[-1]]), [""])) - 1
        column = header[col_index].strip() if 0 <= col_index < len(header) else None
        bad = data[exc.start : exc.start + 1].hex()
        hint = (
            "if the export is Latin-1 / Windows-1252, add `encoding: latin-1` (or cp1252) under `source:` in the mapping"
            if encoding.lower().replace("_", "-") in ("utf-8", "utf8")
            else "set `encoding:` under `source:` in the mapping to the export's encoding"
        )
        raise DataValidationError(
            [Problem(label, row, column, f"byte 0x{bad}", f"{encoding} text ({hint})")], "import refused"
        ) from None


MAX_FIELD = 131_072  # characters in one CSV field (the csv module's own default limit)


def _refused(label: str, row: int | None, column: str | None, value: str | None, expected: str) -> DataValidationError:
    return DataValidationError([Problem(label, row, column, value, expected)], "import refused")


def _csv_records(text: str, label: str, delimiter: str) -> list[list[str]]:
    """CSV text → records, parsed strictly: a quote mark that is never closed (it would swallow every row
    after it), or closed in the middle of a field, is refused naming the row where its record starts."""
    records: list[list[str]] = []
    try:
        for rec in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True):
            records.append(rec)
    except csv.Error as exc:
        why = (
            "a closing quote mark for the quoted field that starts in this row (unclosed, it swallows every row "
            "after it)"
            if "unexpected end of data" in str(exc)
            else f"fields quoted the way CSV quotes them ({exc}: a quote mark in this row's record is unbalanced "
            "or stray; check the quoting and the delimiter)"
        )
        raise _refused(label, len(records) + 1, None, None, why) from None
    return records


def read_csv_text(path: Path, label: str, encoding: str, delimiter: str) -> Frame:
    """A CSV file → Frame of text. Refused (DataValidationError naming file, row and column) when it is empty,
    not valid in ``encoding``, not parseable as CSV, or holds a field longer than MAX_FIELD characters."""
    data = path.read_bytes()
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        raise _refused(label, None, None, None, "a header row and data rows (the whole file is empty)")
    text = _decode(data, label, encoding)
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))  # read long fields, then refuse them below with their row
    try:
        records = _csv_records(text, label, delimiter)
    finally:
        csv.field_size_limit(limit)
    while records and not any(c.strip() for c in records[-1]):
        records.pop()  # trailing blank lines
    header = [h.strip().lstrip("\ufeff") for h in records[0]]
    hint = delimiter_problem(header, label, delimiter) if len(header) == 1 else None
    if hint is not None:
        raise DataValidationError([hint], "import refused: the header row is not split into columns")
    rows: list[list[str | None]] = []
    for i, rec in enumerate(records[1:], start=2):
        for j, cell in enumerate(rec):
            if len(cell) > MAX_FIELD:
                raise _refused(label, i, header[j] if j < len(header) else None, cell[:40] + "…",
                               f"a field of at most {MAX_FIELD:,} characters (this one has {len(cell):,}: "
                               "an unbalanced quote mark may have swallowed the rows after it)")  # fmt: skip
        if len(rec) > len(header) and any(c.strip() for c in rec[len(header) :]):
            raise _refused(label, i, None, delimiter.join(rec[len(header):])[:60],
                           f"at most {len(header)} fields like the header (got {len(rec)}: check the delimiter and quoting)")  # fmt: skip
        padded: list[str | None] = [*rec, *[""] * len(header)]
        rows.append(padded[: len(header)])
    return Frame(label, header, rows)


def read_excel(path: Path, label: str, sheet: str | int | None) -> Frame:
    """One sheet of a workbook → Frame of text; date cells become ISO text (read as dates whatever the
    mapping's formats). ``sheet`` None: the first sheet (an unexpected header then lists the others)."""
    import pandas as pd

    try:
        book = pd.ExcelFile(path)
    except Exception as exc:  # a file that is not a workbook: openpyxl / zipfile / xlrd raise their own errors
        raise _refused(label, None, None, None, f"a readable Excel workbook ({type(exc).__name__}: {exc})") from None
    with book:
        sheets = [str(n) for n in book.sheet_names]
        if isinstance(sheet, str) and sheet not in sheets or isinstance(sheet, int) and not 0 <= sheet < len(sheets):
            raise _refused(label, None, None, str(sheet), f"a sheet named like `sheet:` in the mapping "
                           f"(the workbook's sheets: {', '.join(sheets)})")  # fmt: skip
        name = sheets[sheet] if isinstance(sheet, int) else sheet or sheets[0]
        frame = pd.read_excel(book, sheet_name=name, dtype=str, keep_default_na=False, na_filter=False)
    header = [str(c).strip() for c in frame.columns]
    how = "the sheet chosen by `sheet:`" if sheet is not None else "the first sheet, as the mapping names no `sheet:`"
    note = f"read sheet {name!r} ({how}); the workbook's sheets: {', '.join(sheets)}"
    rows = [[None if v is None else str(v) for v in r] for r in frame.itertuples(index=False)]
    return Frame(label, header, rows, note=note, typed=True)


def read_parquet(path: Path, label: str) -> Frame:
    con = duckdb.connect()
    try:
        rel = con.read_parquet(str(path))
        header = list(rel.columns)
        cols = ", ".join(f"CAST({quote(c)} AS VARCHAR)" for c in header)
        rows = [list(r) for r in con.execute(f"SELECT {cols} FROM rel").fetchall()]
    except duckdb.Error as exc:
        raise _refused(label, None, None, None, f"a readable Parquet file ({str(exc).splitlines()[0]})") from None
    finally:
        con.close()
    return Frame(label, header, rows, typed=True)


def read_file(path: Path, label: str, mapping: Mapping, table: TableMap) -> Frame:
    kind = FILE_KINDS.get(path.suffix.lower(), "csv")
    if path.stat().st_size == 0:
        raise _refused(label, None, None, None, "a header row and data rows (the whole file is empty)")
    if kind == "excel":
        return read_excel(path, label, table.sheet)
    if kind == "parquet":
        return read_parquet(path, label)
    delimiter = "\t" if path.suffix.lower() == ".tsv" and mapping.source.delimiter == "," else mapping.source.delimiter
    return read_csv_text(path, label, mapping.source.encoding, delimiter)


def _sql_text(value: object) -> str | None:
    """A database value → the text a CSV export of it would hold (dates ISO, numbers as written)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def safe_url(url: str) -> str:
    """A SQLAlchemy URL with its password hidden (what may be printed or recorded)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unreadable URL)"


def read_sql(url: str, query: str, label: str) -> Frame:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            result = conn.execute(sa.text(query))
            header = [str(c) for c in result.keys()]
            rows = [[_sql_text(v) for v in r] for r in result]
    except sa.exc.SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        raise ConfigError(f"{label}: the database refused {query!r} ({str(orig).strip().splitlines()[0]})") from None
    finally:
        engine.dispose()
    return Frame(label, header, rows, typed=True)


# ----------------------------------------------------------------------------------------------- sources


def delimiter_problem(header: list[str], label: str, delimiter: str, table: str = "") -> Problem | None:
    """A header that holds another delimiter (';', tab, '|', ',') → the problem saying which to set."""
    joined = delimiter.join(header)
    other = next((d for d in (";", "\t", "|", ",") if d != delimiter and d in joined), None)
    if other is None:
        return None
    shown = {"\t": "a tab", ";": "';'", "|": "'|'", ",": "','"}[other]
    yaml = {"\t": '"\\t"', ";": '";"', "|": '"|"', ",": '","'}[other]
    return Problem(label, 1, None, joined[:80],
                   f"columns separated by {delimiter!r}: the header row holds {shown}, so the file looks "
                   f"{shown}-delimited; set `delimiter: {yaml}` under source: in the mapping", table)  # fmt: skip


@dataclass(frozen=True)
class Source:
    """Where an import reads from: a folder, one file, or a database URL held in an environment variable."""

    kind: str  # "folder" | "file" | "sql"
    path: Path | None = None
    url_env: str | None = None

    @classmethod
    def parse(cls, source: str | Path | None, url_env: str | None = None) -> Source:
        """'exports/' / 'loads.csv' / 'env:KAM_SOURCE_URL' (or url_env=...) → Source."""
        text = str(source) if source is not None else ""
        if url_env or text.startswith("env:"):
            return cls("sql", url_env=url_env or text[4:])
        if not text:
            raise ConfigError("kam import needs a SOURCE (folder or file of exports, or env:VAR for a database URL)")
        path = Path(text)
        if path.is_dir():
            return cls("folder", path)
        if path.is_file():
            return cls("file", path)
        raise ConfigError(f"{path}: no such file or folder")

    @property
    def name(self) -> str:
        if self.kind == "sql":
            return f"sql-{self.url_env}"
        assert self.path is not None
        return self.path.resolve().name if self.kind == "folder" else self.path.stem

    def url(self) -> str:
        assert self.url_env
        url = os.environ.get(self.url_env)
        if not url:
            raise ConfigError(
                f"environment variable {self.url_env} is not set: it must hold the SQLAlchemy URL of the source database"
            )
        return url

    def files(self, table: TableMap) -> list[Path]:
        if self.kind == "file":
            assert self.path is not None
            return [self.path]
        assert self.path is not None
        found = sorted(p for p in self.path.glob(table.file) if p.is_file())
        if not found:
            raise DataValidationError(
                [Problem(table.file, None, None, None,
                         f"a file matching {table.file!r} in {self.path} for table {table.name} (none found)", table.name)],
                "import refused",
            )  # fmt: skip
        return found

    def describe(self) -> dict:
        if self.kind == "sql":
            return {"kind": "sql", "url_env": self.url_env, "url": safe_url(self.url())}
        assert self.path is not None
        return {"kind": self.kind, "path": str(self.path.resolve())}
