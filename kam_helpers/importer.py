"""``kam import``: a company's exports (CSV / Excel / Parquet files, or a SQL database) → the workspace store,
through a mapping (:mod:`kam_helpers.mapping`).

Flow, all in the DuckDB connection of :func:`kam_helpers.store.build_workspace` (so a refused import leaves
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
7. validate (:mod:`kam_helpers.validate`: required, allowed values, ranges, keys, references, rules) and
          publish atomically. Problems and skipped rows are written to ``<workspace>/rejects/``.

A refused import (``strict``, or a whole-file problem such as an empty file or a missing column) writes
nothing into the workspace, not even a rejects file: the problems are raised (and printed by ``kam import``).
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
from pathlib import Path

import duckdb
import pyarrow as pa

from . import paths
from .errors import ConfigError, DataValidationError, Problem
from .mapping import FieldMap, Mapping, TableMap, literal, load_mapping, quote, quoted_columns
from .schema import TABLES
from .sql import scalar
from .store import STORE_FILE, BuildReport, RawLoader, build_workspace, file_signature
from .validate import PROBLEMS_DDL, coerce_expr, expectation

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

    @property
    def rows(self) -> dict[str, int]:
        return self.build.rows

    def summary(self, examples: int = 3) -> str:
        return summarize(self.source, self.build.rows, self.source_rows, self.rejected, self.skipped,
                         self.rejects_file, examples)  # fmt: skip


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
) -> str:
    """The import's summary: rows per table, then rejected and skipped rows counted per table, column and reason."""
    lines = [f"Imported {source}"]
    for t, n in rows.items():
        read = f" (from {source_rows[t]:,} source rows)" if t in source_rows else ""
        lines.append(f"  {t:<14} {n:>8,} rows in the workspace{read}")
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
    if rejects_file:
        lines.append(f"Every rejected and skipped row: {rejects_file}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Frame:
    """A source read as text: its label (file name or table), header, rows of text."""

    label: str
    header: list[str]
    rows: list[list[str | None]]
    first_row: int = 2  # the row number of rows[0] (header = row 1)


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


def read_csv_text(path: Path, label: str, encoding: str, delimiter: str) -> Frame:
    data = path.read_bytes()
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        raise DataValidationError(
            [Problem(label, None, None, None, "a header row and data rows (the whole file is empty)")], "import refused"
        )
    text = _decode(data, label, encoding)
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    while records and not any(c.strip() for c in records[-1]):
        records.pop()  # trailing blank lines
    header = [h.strip().lstrip("\ufeff") for h in records[0]]
    rows: list[list[str | None]] = []
    for i, rec in enumerate(records[1:], start=2):
        if len(rec) > len(header) and any(c.strip() for c in rec[len(header) :]):
            raise DataValidationError(
                [Problem(label, i, None, delimiter.join(rec[len(header):])[:60],
                         f"at most {len(header)} fields like the header (got {len(rec)}: check the delimiter and quoting)")],
                "import refused",
            )  # fmt: skip
        padded: list[str | None] = [*rec, *[""] * len(header)]
        rows.append(padded[: len(header)])
    return Frame(label, header, rows)


def read_excel(path: Path, label: str, sheet: str | int) -> Frame:
    import pandas as pd

    frame = pd.read_excel(path, sheet_name=sheet, dtype=str, keep_default_na=False, na_filter=False)
    header = [str(c).strip() for c in frame.columns]
    return Frame(label, header, [[None if v is None else str(v) for v in r] for r in frame.itertuples(index=False)])


def read_parquet(path: Path, label: str) -> Frame:
    con = duckdb.connect()
    try:
        rel = con.read_parquet(str(path))
        header = list(rel.columns)
        cols = ", ".join(f"CAST({quote(c)} AS VARCHAR)" for c in header)
        rows = [list(r) for r in con.execute(f"SELECT {cols} FROM rel").fetchall()]
    finally:
        con.close()
    return Frame(label, header, rows)


def read_file(path: Path, label: str, mapping: Mapping, table: TableMap) -> Frame:
    kind = FILE_KINDS.get(path.suffix.lower(), "csv")
    if path.stat().st_size == 0:
        raise DataValidationError(
            [Problem(label, None, None, None, "a header row and data rows (the whole file is empty)")], "import refused"
        )
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
    return Frame(label, header, rows)


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


def _check_columns(tm: TableMap, header: list[str], label: str) -> None:
    """Every source column the mapping names must be in the header (else a whole-file problem, header row)."""
    wanted: list[tuple[str, str]] = []
    for fm in tm.fields.values():
        for part, col in zip(fm.parts, fm.columns, strict=False):
            for c in [col] if col is not None else quoted_columns(part):
                wanted.append((c, f"{tm.name}.{fm.name}"))
    for expr in (*tm.group_by, *(s.when for s in tm.skip)):
        wanted += [(c, f"{tm.name} group_by/skip") for c in quoted_columns(expr)]
    if tm.references:
        wanted += [(c, f"{tm.name}.references") for c in (tm.references.key, *tm.references.columns)]
    problems = []
    for col, use in dict.fromkeys(wanted):
        if col not in header:
            close = difflib.get_close_matches(col, header, n=1, cutoff=0.5)
            hint = f"; did the export rename it to {close[0]!r}?" if close else ""
            problems.append(Problem(label, 1, col, None,
                                    f"a column named {col!r} in the header row (the mapping feeds {use} from it){hint} "
                                    f"The header has: {', '.join(header)}", tm.name))  # fmt: skip
    if problems:
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


def _stage_table(
    con: duckdb.DuckDBPyConnection, mapping: Mapping, tm: TableMap, src: str, skipped: list[Problem]
) -> int:
    """Resolved source → raw_<table> in canonical text; typing problems into _problems. Returns source rows read."""
    table, name = tm.table, tm.name
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
        except duckdb.Error as exc:
            raise ConfigError(f"{mapping.path}: tables.{name}.skip: the SQL does not run on {src} ({exc})") from None
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
    account = None
    for fm in tm.fields.values():
        fmt = mapping.formats(name, fm.name)
        for j, part in enumerate(fm.parts):
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
    except duckdb.Error as exc:
        raise ConfigError(
            f"{mapping.path}: tables.{name}: an expression does not run on {src} ({str(exc).splitlines()[0]})"
        ) from None

    typed, bad = ["t.*"], []
    for fm in tm.fields.values():
        model, fmt = table.field(fm.name), mapping.formats(name, fm.name)
        for j in range(len(fm.parts)):
            text_col = quote(f"{fm.name}#{j}")
            typed.append(f"{coerce_expr(model, text_col, fmt)} AS {quote(f'{fm.name}#{j}#v')}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _lines AS SELECT {', '.join(typed)} FROM _text t")

    acct = account or "NULL"
    for fm in tm.fields.values():
        model, fmt = table.field(fm.name), mapping.formats(name, fm.name)
        for j, label in enumerate(fm.labels):
            text_col, value_col = quote(f"{fm.name}#{j}"), quote(f"{fm.name}#{j}#v")
            cond = f"{text_col} IS NOT NULL AND {value_col} IS NULL"
            con.execute(
                f"INSERT INTO _problems SELECT ?, _file, _row, ?, {text_col}, ?, {acct} FROM _lines WHERE {cond}",
                [name, label, expectation(model, fmt)],
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
    """Upsert: the current store's rows whose key this import does not bring → raw tables (as canonical text);
    its problems from other source files are kept. Returns the tables the store held and its sources."""
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
            con.execute(
                f"INSERT INTO {quote('raw_' + name)} ({cols}, _row, _file) SELECT {canon}, "
                f"row_number() OVER () + 1, {literal(EXISTING)} FROM _old.{quote(name)} o "
                f"WHERE NOT EXISTS (SELECT 1 FROM {quote('raw_' + name)} n WHERE {same})"
            )
        con.execute(
            "INSERT INTO _problems SELECT * FROM _old._problems WHERE file NOT IN (SELECT unnest(?::VARCHAR[]))",
            [sorted(labels)],
        )
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


def mapping_loader(source: Source, mapping: Mapping, workspace: Path, collected: _Collected | None = None) -> RawLoader:
    """Source + mapping (+ the workspace's current store, for the upsert) → loader for build_workspace."""
    collected = collected if collected is not None else _Collected()

    def load(con: duckdb.DuckDBPyConnection) -> tuple[set[str], dict]:
        con.execute(PROBLEMS_DDL)
        con.execute("CREATE TEMP TABLE _column_labels (table_name VARCHAR, field VARCHAR, label VARCHAR)")
        url = source.url() if source.kind == "sql" else None
        cache: dict[tuple, tuple[str, list[str], list[str]]] = {}
        signatures = []
        present: set[str] = set()
        for n, tm in enumerate(tm for name, tm in mapping.tables.items()):
            if source.kind == "sql":
                key: tuple = ("sql", tm.sql)
                if key not in cache:
                    label = tm.sql[14:] if tm.sql.startswith("SELECT * FROM ") else f"query for {tm.name}"
                    frames = [read_sql(url, tm.sql, label)]  # type: ignore[arg-type]
                    cache[key] = (f"_src{n}", _register(con, f"_src{n}", frames), [label])
            else:
                files = source.files(tm)
                key = ("files", tuple(files), tm.sheet)
                if key not in cache:
                    frames = [read_file(p, p.name, mapping, tm) for p in files]
                    signatures += [file_signature(p) for p in files]
                    cache[key] = (f"_src{n}", _register(con, f"_src{n}", frames), [f.label for f in frames])
            src, header, labels = cache[key]
            _check_columns(tm, header, labels[0])
            collected.labels.update(labels)
            _create_raw(con, tm.name)
            collected.source_rows[tm.name] = _stage_table(con, mapping, tm, src, collected.skipped)
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


def import_source(
    source: str | Path | Source | None,
    mapping: str | Path | Mapping,
    workspace: str | Path | None = None,
    *,
    strict: bool = False,
    url_env: str | None = None,
) -> ImportReport:
    """Exports + mapping → the workspace store updated atomically (upsert by key), rejects written.

    ``source``: a folder, a file, or ``'env:VAR'`` (or ``url_env='VAR'``) for a SQLAlchemy URL held in $VAR.
    Raises DataValidationError (nothing changed, no rejects file) for a whole-file problem, or for any
    problem with ``strict``; ConfigError for an unusable mapping or source.
    """
    src = source if isinstance(source, Source) else Source.parse(source, url_env)
    mp = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    ws = Path(workspace) if workspace else paths.default_workspace()
    collected = _Collected()
    build = build_workspace(ws, mapping_loader(src, mp, ws, collected), strict=strict)
    mine = [p for p in build.problems if p.file in collected.labels]
    rejects_file = None
    if mine or collected.skipped:
        rejects_file = write_rejects(ws / "rejects", src.name, mine + collected.skipped)
    return ImportReport(src.name if src.kind != "folder" else str(src.path), build, mine, collected.skipped,
                        rejects_file, collected.source_rows)  # fmt: skip


def write_rejects(folder: Path, name: str, found: list[Problem]) -> Path:
    """Problems → ``<folder>/<timestamp>-<name>.csv`` (file,row,column,value,expected,table,account_id),
    written to a temporary name and renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "import"
    path = folder / f"{stamp}-{safe}.csv"
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "row", "column", "value", "expected", "table", "account_id"])
        for p in sorted(found, key=lambda p: (p.file, p.row or 0, p.column or "")):
            w.writerow([p.file, p.row, p.column, p.value, p.expected, p.table, p.account_id])
    os.replace(tmp, path)
    return path
