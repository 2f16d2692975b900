"""Validation of raw text tables against the data model, executed as SQL in DuckDB.

Input: a raw table per model table whose columns are the model's field names, every value text, plus
``_row`` (the row number in the source file, header = row 1) and ``_file`` (the source file's name).
Output: a typed temp table ``typed_<table>`` with only the rows that passed (published as ``<table>`` once every
table is checked), and every problem found in ``_problems`` (table, file, row, column, value, expected,
account_id). The SQL is generated from
:mod:`kam_helpers.data.schema`, so the same checks can run in a company's warehouse.

A loader whose raw columns come from differently named source columns (``kam import``) may create the temp
table ``_column_labels (table_name, field, label)``: problems then name ``label``, the source's column.
A raw column that already has its field's SQL type (a loader handing over values it generated, not text) is
taken as it is: nothing to parse, every other check runs; a problem shows its value as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import duckdb

from kam_helpers.core.errors import Problem
from kam_helpers.data.schema import TABLES, Field, Table, safe_id_sql
from kam_helpers.data.sql import quote_identifier as _q
from kam_helpers.data.sql import scalar

PROBLEMS_DDL = """
CREATE TABLE IF NOT EXISTS _problems (
  table_name VARCHAR, file VARCHAR, "row" BIGINT, "column" VARCHAR, value VARCHAR, expected VARCHAR,
  account_id VARCHAR
)"""

# The calendar quarters a rejected row's dates touch (none for a row without a usable date): what the
# ``block`` policy blocks and where an ``exclude``d row is counted (see :mod:`kam_helpers.data.store`).
ROW_PERIODS_DDL = """
CREATE TEMP TABLE IF NOT EXISTS _row_periods (table_name VARCHAR, file VARCHAR, "row" BIGINT, quarter VARCHAR)"""

# The text form of every value once typed (how an importer hands typed values to final validation): read
# back with these formats only, so the source's own formats are applied once, by the importer.
CANONICAL_TIMESTAMPS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d")

TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")


@dataclass(frozen=True)
class Formats:
    """How a source writes values: date and timestamp formats (strptime), words that mean "missing"."""

    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    timestamp_formats: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")
    missing: tuple[str, ...] = ("",)
    decimal: str = "."
    thousands: str = ""
    per_column: dict[str, Formats] = field(default_factory=dict)  # "table.column" -> formats for it


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _clean(col: str, fmt: Formats, text_type: bool = True) -> str:
    """SQL: the trimmed text of ``col`` (cast to text unless ``text_type``), NULL when it is one of the 'missing'
    words."""
    words = sorted({m.lower() for m in fmt.missing})
    text = f"trim({_q(col)})" if text_type else f"trim(CAST({_q(col)} AS VARCHAR))"
    if words == [""]:  # the default: only an empty value is missing
        return f"nullif({text}, '')"
    probe = text if all(w.lower() == w.upper() for w in words) else f"lower({text})"  # no letters: no case to fold
    return f"CASE WHEN {probe} IN ({', '.join(_lit(w) for w in words)}) THEN NULL ELSE {text} END"


def _number(v: str, fmt: Formats) -> str:
    if fmt.thousands:
        v = f"replace({v}, {_lit(fmt.thousands)}, '')"
    if fmt.decimal != ".":
        v = f"replace({v}, {_lit(fmt.decimal)}, '.')"
    return v


def coerce_expr(f: Field, v: str, fmt: Formats) -> str:
    """SQL turning the cleaned text ``v`` into the field's type; NULL when it cannot be read."""
    if f.kind == "text":
        return v
    if f.kind == "float":
        return f"TRY_CAST({_number(v, fmt)} AS DOUBLE)"
    if f.kind == "int":
        d = f"TRY_CAST({_number(v, fmt)} AS DOUBLE)"
        return f"CASE WHEN {d} = floor({d}) THEN CAST({d} AS BIGINT) END"
    if f.kind == "bool":
        t = ", ".join(_lit(w) for w in TRUE_WORDS)
        n = ", ".join(_lit(w) for w in FALSE_WORDS)
        return f"CASE WHEN lower({v}) IN ({t}) THEN TRUE WHEN lower({v}) IN ({n}) THEN FALSE END"
    formats = fmt.date_formats if f.kind == "date" else fmt.timestamp_formats
    tries = ", ".join(f"try_strptime({v}, {_lit(x)})" for x in formats)
    cast = "DATE" if f.kind == "date" else "TIMESTAMP"
    return f"CAST(COALESCE({tries}) AS {cast})"


_DIGIT_DIRECTIVES = frozenset("YymdHIMSfj")  # strptime directives that read digits only


def _skeleton(fmt: str) -> str | None:
    """A strptime format → the characters other than digits and whitespace that any text it reads holds, in order
    ('%Y-%m-%d %H:%M' → '--:'); None when a directive may read letters or signs (month names, AM/PM, zones).
    DuckDB's strptime lets whitespace in the format match any whitespace, so whitespace is left out."""
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            directive = fmt[i + 1]
            if directive == "%":
                out.append("%")
            elif directive not in _DIGIT_DIRECTIVES:
                return None
            i += 2
            continue
        if not (fmt[i].isspace() or fmt[i].isdigit()):
            out.append(fmt[i])
        i += 1
    return "".join(out)


def likely_first(
    con: duckdb.DuckDBPyConnection, relation: str, clean: str, formats: tuple[str, ...]
) -> tuple[str, ...]:
    """Date formats tried in order, the cleaned text of a column of ``relation`` → the same formats with those
    most of its first 1,000 values are written in first, so COALESCE parses most values once.

    Only when no text can match two of the formats (their skeletons differ, :func:`_skeleton`): then the order
    cannot change a result. Otherwise (say %d/%m/%Y and %m/%d/%Y) the order is the user's and is kept."""
    skeletons = [_skeleton(x) for x in formats]
    if len(formats) < 2 or None in skeletons or len(set(skeletons)) < len(skeletons):
        return formats
    counts = con.execute(
        f"SELECT {', '.join(f'count(try_strptime(c, {_lit(x)}))' for x in formats)} "
        f"FROM (SELECT {clean} AS c FROM {relation} LIMIT 1000)"
    ).fetchone() or (0,) * len(formats)
    return tuple(formats[i] for i in sorted(range(len(formats)), key=lambda i: -counts[i]))


def expectation(f: Field, fmt: Formats) -> str:
    """What a readable value of ``f`` looks like in this source, e.g. 'a date like 2026-07-14 (%Y-%m-%d)'."""
    if f.kind in ("date", "timestamp") and not f.allowed:
        formats = fmt.date_formats if f.kind == "date" else fmt.timestamp_formats
        return f"{'a date' if f.kind == 'date' else 'a date and time'} written as " + " or ".join(formats)
    return f.expectation()


def canonical_formats() -> Formats:
    """The Formats that read back the canonical text of typed values (ISO dates, '.' decimals)."""
    return Formats(date_formats=("%Y-%m-%d",), timestamp_formats=CANONICAL_TIMESTAMPS)


def quarter_sql(value: str) -> str:
    """SQL: a date or timestamp expression → its calendar quarter as text ('2026Q3'), NULL for NULL."""
    return f"(CAST(year({value}) AS VARCHAR) || 'Q' || CAST(quarter({value}) AS VARCHAR))"


def record_periods(con: duckdb.DuckDBPyConnection, table: str, relation: str, dates: list[str], where: str) -> None:
    """The quarters that the ``dates`` columns (typed) of the rows of ``relation`` matching ``where`` touch →
    _row_periods (relation must have _file and _row)."""
    con.execute(ROW_PERIODS_DDL)
    for d in dates:
        con.execute(
            f"INSERT INTO _row_periods SELECT DISTINCT ?, _file, _row, {quarter_sql(d)} FROM {relation} "
            f"WHERE ({where}) AND {d} IS NOT NULL",
            [table],
        )


def _date_columns(table: Table) -> list[str]:
    return [_q(f.name) for f in table.fields if f.kind in ("date", "timestamp")]


def _formats_for(table: Table, f: Field, fmt: Formats) -> Formats:
    return fmt.per_column.get(f"{table.name}.{f.name}", fmt)


def _account_expr(table: Table, con: duckdb.DuckDBPyConnection) -> str:
    """SQL giving the account a raw row belongs to (so a bad row can be charged to its account)."""
    if "account_id" in table.columns:
        return "trim(r.account_id)"
    if table.name == "invoice_lines" and _exists(con, "raw_invoices"):
        return "(SELECT max(trim(i.account_id)) FROM raw_invoices i WHERE trim(i.invoice_id) = trim(r.invoice_id))"
    return "NULL"


def _labels(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """field → the column name problems give it (the source's own name when the loader recorded one)."""
    if not scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = '_column_labels'"):
        return {}
    return dict(con.execute("SELECT field, label FROM _column_labels WHERE table_name = ?", [table]).fetchall())


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the connection has a table or a view (a loader's raw table may be one) called ``name``."""
    return bool(
        scalar(
            con,
            "SELECT count(*) FROM (SELECT table_name AS n FROM duckdb_tables() UNION ALL "
            "SELECT view_name FROM duckdb_views()) AS objects WHERE n = ?",  # aliased: standard SQL (warehouses)
            [name],
        )
    )


def _column_types(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """A table's name → its columns' SQL types."""
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE {_q(relation)}").fetchall()}


def validate_table(con: duckdb.DuckDBPyConnection, table: Table, fmt: Formats = Formats()) -> int:
    """raw_<table> (text, or columns already of their field's type) → typed_<table> with the good rows;
    problems appended to _problems.

    Returns the number of rows rejected. Reference checks to other tables run later, in
    :func:`check_references`, once every table is typed.
    """
    raw = f"raw_{table.name}"
    con.execute(PROBLEMS_DDL)
    account = _account_expr(table, con)
    types = _column_types(con, raw)
    # a problem shows the value as the source wrote it: its cleaned text; a column already of the field's type
    # (or a text field, whose value is that text) shows the value itself
    read_as_is = {f.name for f in table.fields if f.kind == "text" or types.get(f.name) == f.sql_type}
    shown = {f.name: _q(f.name) if f.name in read_as_is else _q("_raw_" + f.name) for f in table.fields}
    select = ["r._row AS _row", "r._file AS _file", f"{account} AS _account"]
    for f in table.fields:
        ff = _formats_for(table, f, fmt)
        if f.name in read_as_is:
            value = _clean(f.name, ff, types.get(f.name) == "VARCHAR") if f.kind == "text" else f"r.{_q(f.name)}"
            select.append(f"{value} AS {_q(f.name)}")
            continue
        clean = _clean(f.name, ff, types.get(f.name) == "VARCHAR")
        if f.kind == "date":
            ff = replace(ff, date_formats=likely_first(con, raw, clean, ff.date_formats))
        elif f.kind == "timestamp":
            ff = replace(ff, timestamp_formats=likely_first(con, raw, clean, ff.timestamp_formats))
        select.append(f"{clean} AS {shown[f.name]}")
        select.append(f"{coerce_expr(f, clean, ff)} AS {_q(f.name)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _typed AS SELECT {', '.join(select)} FROM {raw} r")

    checks: list[tuple[str, str, str, str]] = []  # (column, condition that marks a bad row, value sql, expected)
    for f in table.fields:
        col, rawcol = _q(f.name), shown[f.name]
        ff = _formats_for(table, f, fmt)
        if f.name not in read_as_is:
            checks.append((f.name, f"{rawcol} IS NOT NULL AND {col} IS NULL", rawcol, expectation(f, ff)))
        if f.required:
            checks.append((f.name, f"{rawcol} IS NULL", "NULL", f"a value ({f.name} is required)"))
        if f.names_files:
            checks.append((f.name, f"{col} IS NOT NULL AND NOT {safe_id_sql(col)}", rawcol, f.expectation()))
        if f.allowed:
            allowed = ", ".join(_lit(a) for a in f.allowed)
            checks.append((f.name, f"{col} IS NOT NULL AND {col} NOT IN ({allowed})", rawcol, f.expectation()))
        elif f.min_value is not None or f.max_value is not None:
            bad = []
            if f.min_value is not None:
                bad.append(f"{col} < {f.min_value!r}")
            if f.max_value is not None:
                bad.append(f"{col} > {f.max_value!r}")
            checks.append((f.name, f"{col} IS NOT NULL AND ({' OR '.join(bad)})", rawcol, f.expectation()))
    for rule in table.rules:
        last = rule.columns[-1]
        checks.append((last, f"NOT COALESCE({rule.sql}, TRUE)", shown[last], rule.expected))

    labels = _labels(con, table.name)
    for column, condition, value, expected in checks:
        con.execute(
            f"INSERT INTO _problems SELECT ?, _file, _row, ?, CAST({value} AS VARCHAR), ?, _account "
            f"FROM _typed WHERE {condition}",
            [table.name, labels.get(column, column), expected],
        )
    _check_keys(con, table)
    record_periods(
        con, table.name, "_typed t", _date_columns(table),
        f"EXISTS (SELECT 1 FROM _problems p WHERE p.table_name = {_lit(table.name)} AND p.file = t._file "
        "AND p.row = t._row)",
    )  # fmt: skip

    # the good rows stay where they are (a temp table renamed, not copied): _typed becomes typed_<table>
    rejected = 0
    if scalar(con, "SELECT count(*) FROM _problems WHERE table_name = ?", [table.name]):
        rejected = scalar(
            con,
            f"DELETE FROM _typed t WHERE EXISTS (SELECT 1 FROM _problems p WHERE p.table_name = {_lit(table.name)} "
            "AND p.file = t._file AND p.row = t._row)",
        )
    con.execute(f"DROP TABLE IF EXISTS {_q('typed_' + table.name)}")
    con.execute(f"ALTER TABLE _typed RENAME TO {_q('typed_' + table.name)}")
    return int(rejected)


LINE_ACCOUNT = "account_id"  # the store's invoice_lines also hold their invoice's account (see publish_table)


def publish_table(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """typed_<table> → <table>: the model's columns only, ordered by account and key so that a query for
    one account reads few row groups. Invoice lines (published after invoices) also keep their invoice's
    account as a last column, :data:`LINE_ACCOUNT`, so one account's lines are read without scanning the book's."""
    keep = ", ".join(f"t.{_q(f.name)}" for f in table.fields)
    source, order = f"{_q('typed_' + table.name)} t", "t.account_id, " if "account_id" in table.columns else ""
    if table.name == "invoice_lines" and _exists(con, "invoices"):
        keep += f", i.account_id AS {_q(LINE_ACCOUNT)}"
        source += " LEFT JOIN invoices i USING (invoice_id)"
        order = "i.account_id, "
    con.execute(
        f"CREATE OR REPLACE TABLE {_q(table.name)} AS SELECT {keep} FROM {source} "
        f"ORDER BY {order}{', '.join('t.' + _q(k) for k in table.key)}"
    )
    con.execute(f"DROP TABLE {_q('typed_' + table.name)}")


def _check_keys(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Every row whose key repeats an earlier row's is a problem (the first one is kept). The repeated keys
    are found first (one hash aggregate), so only their rows are ordered."""
    key = ", ".join(_q(k) for k in table.key)
    shown = table.key[-1]
    filled = " AND ".join(_q(k) + " IS NOT NULL" for k in table.key)
    con.execute(
        f"""
        INSERT INTO _problems
        SELECT ?, _file, _row, ?, CAST({_q(shown)} AS VARCHAR),
               'a unique ' || ? || ' (row ' || first_row || ' has the same)', _account
        FROM (
          SELECT *, first_value(_row) OVER (PARTITION BY {key} ORDER BY _file, _row) AS first_row,
                 row_number() OVER (PARTITION BY {key} ORDER BY _file, _row) AS n
          FROM _typed SEMI JOIN (SELECT {key} FROM _typed WHERE {filled} GROUP BY ALL HAVING count(*) > 1) USING ({key})
        ) WHERE n > 1
        """,
        [table.name, _labels(con, table.name).get(shown, shown), " + ".join(table.key)],
    )


def check_references(con: duckdb.DuckDBPyConnection, present: set[str]) -> int:
    """Rows whose references (account_id → accounts, invoice_id → invoices) point nowhere become problems
    and leave the typed tables. Run after every table is typed; returns the number of rows removed."""
    removed = 0
    for table in TABLES.values():
        if table.name not in present:
            continue
        for column, ref in table.references.items():
            ref_table, ref_col = ref.split(".")
            if ref_table not in present:
                continue
            typed, target = _q("typed_" + table.name), _q("typed_" + ref_table)
            ref_file = scalar(con, f"SELECT min(_file) FROM {_q('raw_' + ref_table)}")
            orphan = f"{_q(column)} IS NOT NULL AND {_q(column)} NOT IN (SELECT {_q(ref_col)} FROM {target})"
            con.execute(
                f"INSERT INTO _problems SELECT ?, _file, _row, ?, {_q(column)}, ?, _account FROM {typed} WHERE {orphan}",
                [
                    table.name,
                    _labels(con, table.name).get(column, column),
                    f"an {ref_col} that exists in {ref_file or ref_table}"
                    if ref_col[0] in "aeiou"
                    else f"a {ref_col} that exists in {ref_file or ref_table}",
                ],
            )
            record_periods(con, table.name, typed, _date_columns(table), orphan)
            removed += scalar(con, f"DELETE FROM {typed} WHERE {orphan}")
    return removed


def problems(con: duckdb.DuckDBPyConnection, account_id: str | None = None) -> list[Problem]:
    """The problems recorded in a store, all or one account's, in file and row order."""
    if not _exists(con, "_problems"):
        return []
    where, args = ("WHERE account_id = ?", [account_id]) if account_id else ("", [])
    rows = con.execute(
        f'SELECT file, "row", "column", value, expected, table_name, account_id FROM _problems {where} '
        f'ORDER BY file, "row", "column"',
        args,
    ).fetchall()
    return [
        Problem(file=r[0], row=r[1], column=r[2], value=r[3], expected=r[4], table=r[5], account_id=r[6]) for r in rows
    ]
