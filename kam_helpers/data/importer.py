"""``kam import``: a company's exports (CSV / Excel / Parquet files, or a SQL database) → the workspace store,
through a mapping (:mod:`kam_helpers.data.mapping`).

Flow, all in the DuckDB connection of :func:`kam_helpers.data.store.build_workspace` (so a refused import leaves
the store byte-for-byte as it was; source files are only read):

1. read   each source as text: ``src`` tables with the source's own column names, ``_row`` (header = row 1,
          for every kind of source) and ``_file``. A file with a BOM is read in the BOM's encoding, else in
          the mapping's ``encoding`` (a file not valid in it is refused, naming the row and column).
2. resolve cells such as ``See ASN-93 (ID#:1281)``: they take the value of the row they point at.
3. skip   rows the mapping leaves out on purpose (``skip: when/reason``); they go to the rejects file.
4. type   every field: SQL expression → value map → missing words → parsed with the field's formats. A value
          that cannot be read is a problem naming the SOURCE file, row and column; its row (or its group)
          is left out and charged to its account.
5. group  rows into one per key with ``group_by`` (first / min / max / sum / count); a sum counts a value
          that several rows point at once.
6. upsert the store's current rows whose key the import does not bring are kept; imported rows replace
          rows with the same key (re-importing the same data changes nothing).
7. validate (:mod:`kam_helpers.data.validate`: required, allowed values, ranges, keys, references, rules) and
          publish atomically. Problems and skipped rows are written to ``<workspace>/rejects/``.

A rejected row is handled the same way whatever rejected it (typing in step 4 or a check in step 7): it
leaves the store together with the stored version of its key, and its table's ``on_problem`` (exclude |
block) says what it costs its account's reports (:mod:`kam_helpers.data.store`).

One rule decides the outcome (:func:`refusals`): a mapped table that ends with no rows (unless
``allow_empty``) or with more rejected source rows than ``max_rejected`` (a count or a share, 5% by
default) fails the import unless ``allow_partial``. A refused import (that rule, ``strict``, or a
whole-file problem such as an empty or header-only file, a missing column, another encoding or delimiter,
an unclosed quote, an oversized field) writes nothing into the workspace, not even a rejects file: the
problems are raised (and printed by ``kam import``). ``dry_run`` does everything but write. The same
summary (:class:`ImportStats`: fill rate per field, rows and dates per account) ends every import.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import json
import os
import re
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from pathlib import Path

import duckdb
import pyarrow as pa

from kam_helpers.core import paths
from kam_helpers.core.errors import ConfigError, DataValidationError, Problem
from kam_helpers.core.safe_output import csv_writer
from kam_helpers.data.mapping import FieldMap, Mapping, TableMap, literal, load_mapping, quote, quoted_columns
from kam_helpers.data.schema import TABLES
from kam_helpers.data.sql import scalar
from kam_helpers.data.store import STORE_FILE, BuildReport, RawLoader, build_workspace, file_signature
from kam_helpers.data.validate import (
    CANONICAL_TIMESTAMPS,
    PROBLEMS_DDL,
    ROW_PERIODS_DDL,
    Formats,
    canonical_formats,
    coerce_expr,
    expectation,
    record_periods,
)

FILE_KINDS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "excel", ".xlsm": "excel", ".xls": "excel",
              ".parquet": "parquet", ".pq": "parquet"}  # fmt: skip
EXISTING = STORE_FILE  # the _file of rows kept from the current store
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


# ----------------------------------------------------------------------------------------------- report


@dataclass(frozen=True)
class ImportReport:
    """What an import did: the build, this import's rejected and skipped source rows, where they were written."""

    source: str
    build: BuildReport
    rejected: list[Problem]  # problems of this import's rows (validation and typing)
    skipped: list[Problem]  # rows the mapping's skip rules left out
    rejects_file: Path | None = None
    source_rows: dict[str, int] = field(default_factory=dict)  # table → source rows read for it
    stats: ImportStats | None = None

    @property
    def rows(self) -> dict[str, int]:
        return self.build.rows

    @property
    def dry_run(self) -> bool:
        return self.build.dry_run

    def summary(self, examples: int = 3) -> str:
        return summarize(self.source, self.build.rows, self.source_rows, self.rejected, self.skipped,
                         self.rejects_file, examples, stats=self.stats, dry_run=self.dry_run,
                         changed=self.build.changed)  # fmt: skip


def _reason(p: Problem) -> str:
    return re.sub(r"\(row \d+ has the same\)", "(an earlier row has the same)", p.expected)


def summarize(
    source: str,
    rows: dict[str, int],
    source_rows: dict[str, int],
    rejected: list[Problem],
    skipped: list[Problem],
    rejects_file: Path | None,
    examples: int = 3,
    *,
    stats: ImportStats | None = None,
    dry_run: bool = False,
    changed: bool = True,
) -> str:
    """The import's summary: rows per table, rejected and skipped rows counted per table, column and reason,
    then each field's fill rate and examples and each account's rows and date range."""
    lines = [f"Dry run of the import of {source}: nothing was written" if dry_run else f"Imported {source}"]
    where = "would be in the workspace" if dry_run else "in the workspace"
    for t, n in rows.items():
        bad = len({(p.file, p.row) for p in rejected if p.table == t})
        read = f" (from {source_rows[t]:,} source rows, {bad:,} rejected)" if t in source_rows else ""
        lines.append(f"  {t:<14} {n:>8,} rows {where}{read}")
    for title, found in (("rejected", rejected), ("skipped by the mapping", skipped)):
        distinct = len({(p.table, p.file, p.row) for p in found})
        lines.append(f"{distinct:,} source row(s) {title}" + (":" if found else ""))
        groups: dict[tuple[str, str, str], list[Problem]] = {}
        for p in found:
            groups.setdefault((p.table, p.column or "", _reason(p)), []).append(p)
        for (table, column, reason), ps in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            if found is skipped:
                lines.append(f"  {len(ps):>6,}  {table}: {reason}")
                lines += [f"            e.g. {p.file}, row {p.row}, {p.column} = {p.value!r}" for p in ps[:examples]]
            else:
                lines.append(f"  {len(ps):>6,}  {table}, column {column!r}: expected {reason}")
                lines += [f"            e.g. {p}" for p in ps[:examples]]
    if stats is not None:
        lines += describe_stats(stats)
    if rejects_file:
        lines.append(f"Every rejected and skipped row: {rejects_file}")
    if not dry_run and not changed:
        lines.append("The data is the same as the workspace's: its store was left as it was.")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- reading


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
    hint = _delimiter_problem(header, label, delimiter) if len(header) == 1 else None
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


# ----------------------------------------------------------------------------------------------- SQL stages


def _register(con: duckdb.DuckDBPyConnection, name: str, frames: list[Frame]) -> list[str]:
    """Frames with the same header → DuckDB table ``name`` of text columns + _row + _file. Returns the header."""
    header = frames[0].header
    for f in frames[1:]:
        if f.header != header:
            raise DataValidationError(
                [Problem(f.label, 1, None, None, f"the same columns as {frames[0].label} ({', '.join(header)})")],
                "import refused",
            )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataValidationError(
            [Problem(frames[0].label, 1, dupes[0], None, "column names that appear once in the header")],
            "import refused",
        )
    columns: dict[str, list] = {h: [] for h in header}
    rows, files = [], []
    for f in frames:
        for i, rec in enumerate(f.rows):
            for h, v in zip(header, rec, strict=False):
                columns[h].append(v)
            rows.append(f.first_row + i)
            files.append(f.label)
    arrow = pa.table({**{h: pa.array(v, pa.string()) for h, v in columns.items()},
                      "_row": pa.array(rows, pa.int64()), "_file": pa.array(files, pa.string())})  # fmt: skip
    con.register("_arrow_in", arrow)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {quote(name)} AS SELECT * FROM _arrow_in")
    con.unregister("_arrow_in")
    return header


def _delimiter_problem(header: list[str], label: str, delimiter: str, table: str = "") -> Problem | None:
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


def _check_columns(tm: TableMap, header: list[str], label: str, note: str = "", delimiter: str = ",") -> None:
    """Every source column the mapping names must be in the header (else a whole-file problem, header row).
    A header that holds another delimiter (';', tab, '|') gets one problem saying so; an Excel sheet's
    problems name the sheet read and the workbook's sheets."""
    wanted: list[tuple[str, str]] = []
    for fm in tm.fields.values():
        for part, col in zip(fm.parts, fm.columns, strict=False):
            for c in [col] if col is not None else quoted_columns(part):
                wanted.append((c, f"{tm.name}.{fm.name}"))
    for expr in (*tm.group_by, *(s.when for s in tm.skip)):
        wanted += [(c, f"{tm.name} group_by/skip") for c in quoted_columns(expr)]
    if tm.references:
        wanted += [(c, f"{tm.name}.references") for c in (tm.references.key, *tm.references.columns)]
    absent = [(col, use) for col, use in dict.fromkeys(wanted) if col not in header]
    if not absent:
        return
    split = _delimiter_problem(header, label, delimiter, tm.name)
    if split is not None:
        raise DataValidationError([split], "import refused: the header row is not split into columns")
    where = f" ({note})" if note else ""
    problems = []
    for col, use in absent:
        close = difflib.get_close_matches(col, header, n=1, cutoff=0.5)
        hint = f"; did the export rename it to {close[0]!r}?" if close else ""
        problems.append(Problem(label, 1, col, None,
                                f"a column named {col!r} in the header row (the mapping feeds {use} from it){hint} "
                                f"The header has: {', '.join(header)}{where}", tm.name))  # fmt: skip
    raise DataValidationError(problems, "import refused: the header row lacks mapped columns")


def _resolved(con: duckdb.DuckDBPyConnection, tm: TableMap, src: str) -> str:
    """src → view where reference cells carry the referenced row's value; adds _orig_k, _carrier_k, _dangling_k."""
    view = f"{src}_resolved"
    refs = tm.references
    if refs is None:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(view)} AS SELECT * FROM {quote(src)}")
        return view
    pattern, key = literal(refs.pattern), quote(refs.key)
    replace, extra, joins = [], [], []
    for k, col in enumerate(refs.columns):
        c, t = quote(col), f"t{k}"
        target = f"NULLIF(regexp_extract(s.{c}, {pattern}, 1), '')"
        joins.append(
            f"LEFT JOIN (SELECT trim({key}) AS _k, min_by({c}, _row) AS _v, min(_row) AS _r FROM {quote(src)} "
            f"GROUP BY 1) {t} ON {t}._k = {target}"
        )
        replace.append(f"CASE WHEN {target} IS NOT NULL THEN {t}._v ELSE s.{c} END AS {c}")
        extra += [
            f"s.{c} AS _orig_{k}",
            f"CASE WHEN {target} IS NOT NULL THEN {t}._r ELSE s._row END AS _carrier_{k}",
            f"{target} IS NOT NULL AND {t}._r IS NULL AS _dangling_{k}",
        ]
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {quote(view)} AS SELECT s.* REPLACE ({', '.join(replace)}), {', '.join(extra)} "
        f"FROM {quote(src)} s {' '.join(joins)}"
    )
    return view


def _text(fm: FieldMap, part: str, missing: tuple[str, ...]) -> str:
    """SQL: a part's text after the value map and missing words (NULL = no value)."""
    v = f"trim(CAST(({part}) AS VARCHAR))"
    if fm.value_map:
        whens = " ".join(f"WHEN {literal(k)} THEN {literal(m)}" for k, m in fm.value_map.items())
        v = f"(CASE lower({v}) {whens} ELSE {v} END)"
    words = ", ".join(literal(m.strip().lower()) for m in missing)
    return f"(CASE WHEN lower({v}) IN ({words}) THEN NULL ELSE {v} END)"


def _clean_inputs(sql: str, header: list[str], missing: tuple[str, ...]) -> str:
    """An ``expr:`` → the same SQL where every source column it reads is NULL when it holds a missing word."""
    words = ", ".join(literal(m.strip().lower()) for m in missing)
    known = set(header)

    def clean(m: re.Match) -> str:
        if m.group(1).replace('""', '"') not in known:
            return m.group(0)
        return f"(CASE WHEN lower(trim(CAST({m.group(0)} AS VARCHAR))) IN ({words}) THEN NULL ELSE {m.group(0)} END)"

    return re.sub(r'"((?:[^"]|"")*)"', clean, sql)


def _reading(fmt: Formats, typed: bool) -> Formats:
    """The formats a field is read with: the mapping's, plus ISO text for a source that stores dates as dates."""
    if not typed:
        return fmt
    return dc_replace(
        fmt,
        date_formats=tuple(dict.fromkeys((*fmt.date_formats, "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"))),
        timestamp_formats=tuple(dict.fromkeys((*fmt.timestamp_formats, *CANONICAL_TIMESTAMPS))),
    )


def _first_failure(con: duckdb.DuckDBPyConnection, relation: str, sql: str) -> tuple[str, int, str, str] | None:
    """An SQL expression that raises on some row of ``relation`` → (file, row, the values of the columns it
    reads, DuckDB's message) of the first such row; None when it runs on every row."""
    try:
        con.execute(f"SELECT ({sql}) FROM {relation}").fetchall()
        return None
    except duckdb.Error as err:
        message = str(err).strip().splitlines()[0]
    shown = " || ' | ' || ".join(f"coalesce(CAST({quote(c)} AS VARCHAR), '')" for c in quoted_columns(sql)) or "NULL"
    try:
        candidates = con.execute(
            f"SELECT _file, _row, {shown} FROM {relation} WHERE try({sql}) IS NULL ORDER BY _file, _row LIMIT 500"
        ).fetchall()
    except duckdb.Error:
        candidates = []
    for file, row, value in candidates:
        try:
            con.execute(f"SELECT ({sql}) FROM {relation} WHERE _file = ? AND _row = ?", [file, row]).fetchall()
        except duckdb.Error:
            return file, row, value, message
    return "", 0, "", message


def _failing_row(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    tm: TableMap,
    labels: list[str],
    exc: duckdb.Error,
    parts: dict[tuple[str, int], str] | None = None,
) -> DataValidationError:
    """An expression of the mapping that fails on some row (a DuckDB error) → a problem naming the file, row
    and column (or, when no single row can be named, the files and DuckDB's message). ``parts``: the SQL
    each field part really ran as (its inputs' missing words cleaned)."""
    parts = parts or {}
    exprs: list[tuple[str, str | None, str]] = [
        (parts.get((fm.name, j), part), label, f"the mapping's expression for {tm.name}.{fm.name}")
        for fm in tm.fields.values() for j, (part, label) in enumerate(zip(fm.parts, fm.labels, strict=False))
    ]  # fmt: skip
    exprs += [(g, next(iter(quoted_columns(g)), None), f"the mapping's group_by of {tm.name}") for g in tm.group_by]
    exprs += [(sk.when, sk.label, f"the mapping's skip rule of {tm.name} ({sk.reason})") for sk in tm.skip]
    for sql, label, what in exprs:
        found = _first_failure(con, relation, sql)
        if found is None:
            continue
        file, row, value, message = found
        if file:
            problem = Problem(file, row, label, value, f"a value {what} can compute ({message})", tm.name)
        else:
            problem = Problem(", ".join(labels), None, label, None, f"{what} to run ({message})", tm.name)
        return DataValidationError([problem], "import refused")
    first = str(exc).strip().splitlines()[0]
    return DataValidationError(
        [Problem(", ".join(labels), None, None, None, f"rows the mapping can read ({first})", tm.name)],
        "import refused",
    )


def _stage_table(
    con: duckdb.DuckDBPyConnection,
    mapping: Mapping,
    tm: TableMap,
    src: str,
    skipped: list[Problem],
    header: list[str],
    labels: list[str],
    typed: bool = False,
) -> int:
    """Resolved source → raw_<table> in canonical text; typing problems into _problems, the keys of rejected
    rows into _rejected_keys and the quarters they touch into _row_periods. Returns source rows read."""
    table, name = tm.table, tm.name
    files = ", ".join(labels)
    view = _resolved(con, tm, src)
    ref_index = {c: k for k, c in enumerate(tm.references.columns)} if tm.references else {}

    # 3. skip rules
    if tm.skip:
        reason = (
            "CASE " + " ".join(f"WHEN COALESCE(({s.when}), FALSE) THEN {literal(s.reason)}" for s in tm.skip) + " END"
        )
        skip_labels = {s.reason: s.label for s in tm.skip}
        shown = {s.reason: (quote(s.label) if s.label else "NULL") for s in tm.skip}
        value = (
            "CASE "
            + " ".join(f"WHEN _skip = {literal(r)} THEN CAST({v} AS VARCHAR)" for r, v in shown.items())
            + " END"
        )
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _src_skip AS SELECT *, {reason} AS _skip FROM {quote(view)}")
        except (duckdb.BinderException, duckdb.ParserException, duckdb.CatalogException) as exc:
            raise ConfigError(
                f"{mapping.path}: tables.{name}.skip: the SQL does not run on {files} ({str(exc).splitlines()[0]})"
            ) from None
        except duckdb.Error as exc:  # it runs, but fails on some row's value
            raise _failing_row(con, quote(view), tm, labels, exc) from None
        for file, row, why, val in con.execute(
            f"SELECT _file, _row, _skip, {value} FROM _src_skip WHERE _skip IS NOT NULL ORDER BY _file, _row"
        ).fetchall():
            skipped.append(Problem(file, row, skip_labels[why], val, f"skipped by the mapping: {why}", name))
        lines_from = "(SELECT * FROM _src_skip WHERE _skip IS NULL)"
    else:
        lines_from = quote(view)
    n_rows = scalar(con, f"SELECT count(*) FROM {lines_from}")

    # 4. text, then typed value, per part of every field
    sel = ["_row", "_file"]
    ran: dict[tuple[str, int], str] = {}
    account = None
    for fm in tm.fields.values():
        fmt = mapping.formats(name, fm.name)
        for j, part in enumerate(fm.parts):
            if fm.columns[j] is None:  # an expr: its input columns' missing words are NULL before it runs
                part = _clean_inputs(part, header, fmt.missing)
                ran[(fm.name, j)] = part
            sel.append(f"{_text(fm, part, fmt.missing)} AS {quote(f'{fm.name}#{j}')}")
            col = fm.columns[j]
            if col in ref_index:
                sel += [f"_carrier_{ref_index[col]} AS {quote(f'{fm.name}#{j}#carrier')}",
                        f"_dangling_{ref_index[col]} AS {quote(f'{fm.name}#{j}#dangling')}",
                        f"_orig_{ref_index[col]} AS {quote(f'{fm.name}#{j}#orig')}"]  # fmt: skip
    if "account_id" in tm.fields:
        account = quote("account_id#0")
    for g, expr in enumerate(tm.group_by):
        sel.append(f"CAST(({expr}) AS VARCHAR) AS _g{g}")
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _text AS SELECT {', '.join(sel)} FROM {lines_from}")
    except (duckdb.BinderException, duckdb.ParserException, duckdb.CatalogException) as exc:
        raise ConfigError(
            f"{mapping.path}: tables.{name}: an expression does not run on {files} ({str(exc).splitlines()[0]})"
        ) from None
    except duckdb.Error as exc:  # it runs, but fails on some row's value
        raise _failing_row(con, lines_from, tm, labels, exc, ran) from None

    values, bad = ["t.*"], []
    for fm in tm.fields.values():
        model, fmt = table.field(fm.name), _reading(mapping.formats(name, fm.name), typed)
        for j in range(len(fm.parts)):
            text_col = quote(f"{fm.name}#{j}")
            values.append(f"{coerce_expr(model, text_col, fmt)} AS {quote(f'{fm.name}#{j}#v')}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _lines AS SELECT {', '.join(values)} FROM _text t")

    acct = account or "NULL"
    for fm in tm.fields.values():
        model, fmt = table.field(fm.name), mapping.formats(name, fm.name)
        expected = expectation(model, fmt)
        if typed and model.kind in ("date", "timestamp"):
            expected += " (or a date cell)"
        for j, label in enumerate(fm.labels):
            text_col, value_col = quote(f"{fm.name}#{j}"), quote(f"{fm.name}#{j}#v")
            cond = f"{text_col} IS NOT NULL AND {value_col} IS NULL"
            con.execute(
                f"INSERT INTO _problems SELECT ?, _file, _row, ?, {text_col}, ?, {acct} FROM _lines WHERE {cond}",
                [name, label, expected],
            )
            bad.append(f"({cond})")
            if fm.columns[j] in ref_index and tm.references is not None:
                dangling, orig = quote(f"{fm.name}#{j}#dangling"), quote(f"{fm.name}#{j}#orig")
                con.execute(
                    f"INSERT INTO _problems SELECT ?, _file, _row, ?, {orig}, ?, {acct} FROM _lines WHERE {dangling}",
                    [name, label, f"a reference to an existing {tm.references.key} (no row has the one it names)"],
                )
                bad.append(dangling)
    bad_sql = " OR ".join(bad) if bad else "FALSE"
    dates = [quote(f"{fm.name}#{j}#v") for fm in tm.fields.values() if table.field(fm.name).kind in ("date", "timestamp")
             for j in range(len(fm.parts))]  # fmt: skip
    record_periods(con, name, "_lines", dates, bad_sql)
    if all(k in tm.fields for k in table.key):  # a rejected row also takes its key's stored version out
        key = " || chr(31) || ".join(f"CAST({quote(k + '#0#v')} AS VARCHAR)" for k in table.key)
        con.execute(f"INSERT INTO _rejected_keys SELECT ?, {key} FROM _lines WHERE ({bad_sql}) AND {key} IS NOT NULL",
                    [name])  # fmt: skip

    # 5. one row per line, or per group
    out = []
    if tm.group_by:
        keys = ", ".join(f"_g{g}" for g in range(len(tm.group_by)))
        once = []
        for fm in tm.fields.values():
            for j in range(len(fm.parts)):
                carrier = quote(f"{fm.name}#{j}#carrier") if fm.columns[j] in ref_index else "_row"
                once.append(
                    f"row_number() OVER (PARTITION BY {keys}, {carrier} ORDER BY _row) = 1 AS {quote(f'{fm.name}#{j}#once')}"
                )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _good AS SELECT *, {', '.join(once)} FROM _lines l "
            f"WHERE ({keys}) NOT IN (SELECT ({keys}) FROM _lines WHERE {bad_sql})"
        )
        for fm in tm.fields.values():
            vs = [quote(f"{fm.name}#{j}#v") for j in range(len(fm.parts))]
            if fm.agg == "sum":
                sums = [f"sum({v}) FILTER (WHERE {quote(f'{fm.name}#{j}#once')})" for j, v in enumerate(vs)]
                expr = (
                    sums[0]
                    if len(sums) == 1
                    else f"CASE WHEN {' AND '.join(s + ' IS NULL' for s in sums)} THEN NULL ELSE {' + '.join(f'coalesce({s}, 0)' for s in sums)} END"
                )
            elif fm.agg == "count":
                expr = f"count({vs[0]})"
            elif fm.agg in ("min", "max"):
                expr = f"{fm.agg}({vs[0]})"
            else:
                expr = f"min_by({vs[0]}, _row) FILTER (WHERE {vs[0]} IS NOT NULL)"
            out.append(f"CAST({expr} AS VARCHAR) AS {quote(fm.name)}")
        body = f"SELECT {', '.join(out)}, min(_row) AS _row, min_by(_file, _row) AS _file FROM _good GROUP BY {keys}"
    else:
        for fm in tm.fields.values():
            vs = [quote(f"{fm.name}#{j}#v") for j in range(len(fm.parts))]
            expr = (
                vs[0]
                if len(vs) == 1
                else f"CASE WHEN {' AND '.join(v + ' IS NULL' for v in vs)} THEN NULL ELSE {' + '.join(f'coalesce({v}, 0)' for v in vs)} END"
            )
            out.append(f"CAST({expr} AS VARCHAR) AS {quote(fm.name)}")
        body = f"SELECT {', '.join(out)}, _row, _file FROM _lines WHERE NOT ({bad_sql})"
    raw = quote("raw_" + name)
    cols = [f.name for f in table.fields]
    mapped = ", ".join(quote(c) for c in cols if c in tm.fields)
    con.execute(
        f"INSERT INTO {raw} ({mapped}, _row, _file) SELECT {mapped}, _row, _file FROM ({body}) ORDER BY _file, _row"
    )
    con.executemany(
        "INSERT INTO _column_labels VALUES (?, ?, ?)", [(name, fm.name, fm.label) for fm in tm.fields.values()]
    )
    for t in ("_text", "_lines", "_good", "_src_skip"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return int(n_rows)


def _create_raw(con: duckdb.DuckDBPyConnection, name: str) -> None:
    cols = ", ".join(f"{quote(f.name)} VARCHAR" for f in TABLES[name].fields)
    con.execute(f"CREATE TABLE {quote('raw_' + name)} ({cols}, _row BIGINT, _file VARCHAR)")


def _keep_existing(
    con: duckdb.DuckDBPyConnection, store: Path, present: set[str], labels: set[str]
) -> tuple[set[str], dict]:
    """Upsert: the current store's rows whose key this import does not bring (neither as a row nor as a
    rejected row) → raw tables (as canonical text); its problems from other source files are kept, with the
    policy and quarters of their rows. Returns the tables the store held and its sources."""
    if not store.exists():
        return set(), {}
    con.execute(f"ATTACH {literal(str(store))} AS _old (READ_ONLY)")
    try:
        meta = dict(con.execute("SELECT key, value FROM _old._meta").fetchall())
        old_tables = set(json.loads(meta.get("tables", "[]")))
        for name in sorted(old_tables):
            table = TABLES[name]
            if name not in present:
                _create_raw(con, name)
            cols = ", ".join(quote(f.name) for f in table.fields)
            canon = ", ".join(f"CAST(o.{quote(f.name)} AS VARCHAR)" for f in table.fields)
            same = " AND ".join(f"trim(n.{quote(k)}) = CAST(o.{quote(k)} AS VARCHAR)" for k in table.key)
            key = " || chr(31) || ".join(f"CAST(o.{quote(k)} AS VARCHAR)" for k in table.key)
            con.execute(
                f"INSERT INTO {quote('raw_' + name)} ({cols}, _row, _file) SELECT {canon}, "
                f"row_number() OVER () + 1, {literal(EXISTING)} FROM _old.{quote(name)} o "
                f"WHERE NOT EXISTS (SELECT 1 FROM {quote('raw_' + name)} n WHERE {same}) "
                f"AND {key} NOT IN (SELECT k FROM _rejected_keys WHERE table_name = {literal(name)})"
            )
        con.execute(
            "INSERT INTO _problems SELECT * FROM _old._problems WHERE file NOT IN (SELECT unnest(?::VARCHAR[]))",
            [sorted(labels)],
        )
        if scalar(
            con, "SELECT count(*) FROM duckdb_tables() WHERE database_name = '_old' AND table_name = '_rejected_rows'"
        ):
            con.execute("CREATE TEMP TABLE _old_rejected AS SELECT * FROM _old._rejected_rows")
        sources = json.loads(meta.get("sources") or "{}")
    finally:
        con.execute("DETACH _old")
    return old_tables, sources


# ----------------------------------------------------------------------------------------------- loader


@dataclass
class _Collected:
    skipped: list[Problem] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)
    source_rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)  # table → the source files (or query) it read
    stats: ImportStats | None = None


def mapping_loader(source: Source, mapping: Mapping, workspace: Path, collected: _Collected | None = None) -> RawLoader:
    """Source + mapping (+ the workspace's current store, for the upsert) → loader for build_workspace."""
    collected = collected if collected is not None else _Collected()

    def load(con: duckdb.DuckDBPyConnection) -> tuple[set[str], dict]:
        con.execute(PROBLEMS_DDL)
        con.execute(ROW_PERIODS_DDL)
        con.execute("CREATE TEMP TABLE _column_labels (table_name VARCHAR, field VARCHAR, label VARCHAR)")
        con.execute("CREATE TEMP TABLE _rejected_keys (table_name VARCHAR, k VARCHAR)")
        con.execute("CREATE TEMP TABLE _on_problem (table_name VARCHAR, policy VARCHAR)")
        url = source.url() if source.kind == "sql" else None
        cache: dict[tuple, tuple[str, list[str], list[str], str, bool, int]] = {}
        signatures = []
        present: set[str] = set()
        for n, tm in enumerate(tm for name, tm in mapping.tables.items()):
            if source.kind == "sql":
                key: tuple = ("sql", tm.sql)
                if key not in cache:
                    label = tm.sql[14:] if tm.sql.startswith("SELECT * FROM ") else f"query for {tm.name}"
                    assert url is not None  # a sql source always has one (source.url() raises otherwise)
                    frames = [read_sql(url, tm.sql, label)]
            else:
                files = source.files(tm)
                key = ("files", tuple(files), tm.sheet)
                if key not in cache:
                    frames = [read_file(p, p.name, mapping, tm) for p in files]
                    signatures += [file_signature(p) for p in files]
            if key not in cache:
                header = _register(con, f"_src{n}", frames)
                cache[key] = (f"_src{n}", header, [f.label for f in frames], frames[0].note,
                              all(f.typed for f in frames), sum(len(f.rows) for f in frames))  # fmt: skip
            src, header, labels, note, typed, n_rows = cache[key]
            _check_columns(tm, header, labels[0], note, mapping.source.delimiter)
            if n_rows == 0 and not tm.allow_empty:
                raise DataValidationError(
                    [Problem(", ".join(labels), None, None, None,
                             f"data rows after the header for table {tm.name} (the source has only a header); "
                             f"if the table may be empty, add `allow_empty: true` under tables.{tm.name} in the mapping",
                             tm.name)],
                    "import refused",
                )  # fmt: skip
            collected.labels.update(labels)
            collected.files[tm.name] = labels
            con.execute("INSERT INTO _on_problem VALUES (?, ?)", [tm.name, tm.on_problem])
            _create_raw(con, tm.name)
            collected.source_rows[tm.name] = _stage_table(
                con, mapping, tm, src, collected.skipped, header, labels, typed
            )
            present.add(tm.name)
        old_tables, old_sources = _keep_existing(con, Path(workspace) / STORE_FILE, present, collected.labels)
        this = {"mapping": str(mapping.path.resolve()), "source": source.describe(), "files": signatures}
        imports = [i for i in old_sources.get("imports", []) if i.get("source") != this["source"]]
        return present | old_tables, {
            "kind": "import",
            "imports": [*imports, this],
            "files": [f for i in [*imports, this] for f in i.get("files", [])],
        }

    return load


# ----------------------------------------------------------------------------------------------- the rule


DEFAULT_MAX_REJECTED = "5%"


@dataclass(frozen=True)
class RejectLimit:
    """How many rejected source rows a table may have before the import fails: a count ('20') or a share of
    the table's source rows ('5%', rounded down: 5% of 8 rows allows none)."""

    count: int | None = None
    share: float | None = None

    @classmethod
    def parse(cls, value: str | int | float | RejectLimit) -> RejectLimit:
        """'5%' / '0.5%' / '20' / 20 → RejectLimit; ConfigError otherwise."""
        if isinstance(value, RejectLimit):
            return value
        text = str(value).strip()
        try:
            if text.endswith("%"):
                share = float(text[:-1]) / 100
                if 0 <= share <= 1:
                    return cls(share=share)
            elif float(text) >= 0 and float(text).is_integer():
                return cls(count=int(float(text)))
        except ValueError:
            pass
        raise ConfigError(f"--max-rejected {value!r}: expected a number of rows (20) or a percentage (5%)")

    def allowed(self, rows: int) -> int:
        return self.count if self.count is not None else int(rows * (self.share or 0) + 1e-9)

    def __str__(self) -> str:
        return f"{self.count:,} rows" if self.count is not None else f"{(self.share or 0) * 100:g}%"


def refusals(
    mapping: Mapping, collected: _Collected, rows: dict[str, int], mine: list[Problem], limit: RejectLimit
) -> list[Problem]:
    """The one rule of the import's outcome, per mapped table: it fails when it ends with no rows (unless the
    mapping allows it to be empty) or when more of its source rows were rejected than ``limit`` allows."""
    found = []
    for name, tm in mapping.tables.items():
        read = collected.source_rows.get(name, 0)
        rejected = len({(p.file, p.row) for p in mine if p.table == name})
        where = ", ".join(collected.files.get(name, [name]))
        if rows.get(name, 0) == 0 and not tm.allow_empty:
            found.append(Problem(where, None, None, None,
                                 f"rows in table {name} after the import (none of its {read:,} source rows loaded: "
                                 f"{rejected:,} rejected)", name))  # fmt: skip
        elif rejected > limit.allowed(read):
            found.append(Problem(where, None, None, None,
                                 f"at most {limit.allowed(read):,} rejected rows in table {name} (--max-rejected "
                                 f"{limit} of {read:,} source rows), got {rejected:,}", name))  # fmt: skip
    return found


class ImportRefused(DataValidationError):
    """The import read everything but its outcome breaks the rule (too many rejected rows, an empty table);
    ``summary`` is what it would have loaded."""

    def __init__(self, problems: list[Problem], context: str, summary: str) -> None:
        super().__init__(problems, context)
        self.summary = summary


# ----------------------------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class ImportStats:
    """What the imported tables hold: per field its fill rate and examples, per account its rows and dates."""

    fields: list[tuple[str, str, float, list[str]]]  # (table, field, filled share 0-1, example values)
    accounts: list[tuple[str, dict[str, int], str | None, str | None]]  # (account, table → rows, first, last date)


def _stats(con: duckdb.DuckDBPyConnection, mapping: Mapping) -> ImportStats:
    fields: list[tuple[str, str, float, list[str]]] = []
    per_account: dict[str, list] = {}
    for name, tm in mapping.tables.items():
        table = tm.table
        cols = [quote(f) for f in tm.fields]
        got = con.execute(
            f"SELECT count(*), {', '.join(f'count({c}), approx_top_k(CAST({c} AS VARCHAR), 3)' for c in cols)} "
            f"FROM {quote(name)}"
        ).fetchone()
        assert got is not None  # an aggregate query returns one row
        n = got[0]
        for i, fname in enumerate(tm.fields):
            filled, top = got[1 + 2 * i], got[2 + 2 * i]
            fields.append((name, fname, filled / n if n else 0.0, [str(v) for v in top or [] if v is not None]))
        if "account_id" not in table.columns:
            continue
        dates = [quote(f.name) for f in table.fields if f.kind in ("date", "timestamp")]
        lo = f"CAST(min(least({', '.join(dates)})) AS DATE)" if dates else "NULL"
        hi = f"CAST(max(greatest({', '.join(dates)})) AS DATE)" if dates else "NULL"
        for acct, count, first, last in con.execute(
            f"SELECT account_id, count(*), {lo}, {hi} FROM {quote(name)} GROUP BY 1 ORDER BY 1"
        ).fetchall():
            rec = per_account.setdefault(acct, [{}, None, None])
            rec[0][name] = int(count)
            if name != "accounts" and first is not None:
                rec[1] = min(rec[1], first) if rec[1] else first
                rec[2] = max(rec[2], last) if rec[2] else last
    accounts = [(a, r[0], r[1] and r[1].isoformat(), r[2] and r[2].isoformat()) for a, r in per_account.items()]
    return ImportStats(fields, accounts)


def describe_stats(stats: ImportStats, max_accounts: int = 50) -> list[str]:
    """ImportStats → lines of the summary."""
    lines = ["Fields (share of rows filled, most frequent values):"]
    for table, name, filled, top in stats.fields:
        lines.append(f"  {table + '.' + name:<32} {filled:>6.1%}  {', '.join(repr(v[:30]) for v in top)}")
    lines.append(f"Accounts ({len(stats.accounts):,}: rows per table, dates from first to last):")
    for acct, counts, first, last in stats.accounts[:max_accounts]:
        rows = ", ".join(f"{t} {n:,}" for t, n in counts.items() if t != "accounts") or "no rows"
        span = f"  {first} – {last}" if first else ""
        lines.append(f"  {acct:<16} {rows}{span}")
    if len(stats.accounts) > max_accounts:
        lines.append(f"  … and {len(stats.accounts) - max_accounts:,} more")
    return lines


# ----------------------------------------------------------------------------------------------- import


def import_source(
    source: str | Path | Source | None,
    mapping: str | Path | Mapping,
    workspace: str | Path | None = None,
    *,
    strict: bool = False,
    url_env: str | None = None,
    dry_run: bool = False,
    max_rejected: str | int | float | RejectLimit = DEFAULT_MAX_REJECTED,
    allow_partial: bool = False,
) -> ImportReport:
    """Exports + mapping → the workspace store updated atomically (upsert by key), rejects written.

    ``source``: a folder, a file, or ``'env:VAR'`` (or ``url_env='VAR'``) for a SQLAlchemy URL held in $VAR.
    The import fails with nothing changed (DataValidationError, no rejects file) on a whole-file problem,
    on any problem with ``strict``, and when a mapped table ends with no rows or has more rejected source
    rows than ``max_rejected`` (a count or a percentage; ImportRefused) unless ``allow_partial``.
    ``dry_run`` reads and checks everything and writes nothing: the report says what would be loaded.
    ConfigError for an unusable mapping or source.
    """
    src = source if isinstance(source, Source) else Source.parse(source, url_env)
    mp = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    ws = Path(workspace) if workspace else paths.default_workspace()
    limit = RejectLimit.parse(max_rejected)
    collected = _Collected()
    name = src.name if src.kind != "folder" else str(src.path)

    def check(con: duckdb.DuckDBPyConnection, build: BuildReport) -> None:
        collected.stats = _stats(con, mp)
        mine = [p for p in build.problems if p.file in collected.labels]
        refused = refusals(mp, collected, build.rows, mine, limit)
        if refused and not allow_partial:
            text = summarize(name, build.rows, collected.source_rows, mine, collected.skipped, None,
                             stats=collected.stats, dry_run=dry_run)  # fmt: skip
            raise ImportRefused(
                refused + mine,
                "import refused (--allow-partial loads the rest anyway; --max-rejected sets the limit)",
                text,
            )

    build = build_workspace(ws, mapping_loader(src, mp, ws, collected), strict=strict, formats=canonical_formats(),
                            check=check, dry_run=dry_run, as_of=mp.source.as_of)  # fmt: skip
    mine = [p for p in build.problems if p.file in collected.labels]
    rejects_file = None
    if (mine or collected.skipped) and not dry_run:
        rejects_file = write_rejects(ws / "rejects", src.name, mine + collected.skipped)
    return ImportReport(name, build, mine, collected.skipped, rejects_file, collected.source_rows, collected.stats)


def write_rejects(folder: Path, name: str, found: list[Problem]) -> Path:
    """Problems → ``<folder>/<timestamp>-<name>.csv`` (file,row,column,value,expected,table,account_id),
    written to a temporary name and renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "import"
    path = folder / f"{stamp}-{safe}.csv"
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv_writer(fh)  # formula-like values get a leading "'"
        w.writerow(["file", "row", "column", "value", "expected", "table", "account_id"])
        for p in sorted(found, key=lambda p: (p.file, p.row or 0, p.column or "")):
            w.writerow([p.file, p.row, p.column, p.value, p.expected, p.table, p.account_id])
    os.replace(tmp, path)
    return path
