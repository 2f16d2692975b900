"""The SQL stages of ``kam import`` in DuckDB: source frames registered as text tables, cells resolved, rows
skipped, every field typed through its mapping, rows grouped, and the store's rows the import does not bring
kept (:func:`mapping_loader`, the raw loader :func:`kam_helpers.data.store.build_workspace` runs).

A value that cannot be read is a problem naming the source file, row and column; its row (or its group) is
left out and charged to its account.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import replace as dc_replace
from pathlib import Path

import duckdb
import pyarrow as pa

from kam_helpers.core.errors import ConfigError, DataValidationError, Problem
from kam_helpers.data.import_report import Collected
from kam_helpers.data.mapping import FieldMap, Mapping, TableMap, literal, quote, quoted_columns
from kam_helpers.data.readers import Frame, Source, delimiter_problem, read_file, read_sql
from kam_helpers.data.schema import TABLES
from kam_helpers.data.sql import scalar
from kam_helpers.data.store import STORE_FILE, RawLoader, file_signature
from kam_helpers.data.validate import (
    CANONICAL_TIMESTAMPS,
    PROBLEMS_DDL,
    ROW_PERIODS_DDL,
    Formats,
    coerce_expr,
    expectation,
    record_periods,
)

EXISTING = STORE_FILE  # the _file of rows kept from the current store


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
    split = delimiter_problem(header, label, delimiter, tm.name)
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
    con.execute(f"CREATE TEMP TABLE {quote('raw_' + name)} ({cols}, _row BIGINT, _file VARCHAR)")


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


def mapping_loader(source: Source, mapping: Mapping, workspace: Path, collected: Collected | None = None) -> RawLoader:
    """Source + mapping (+ the workspace's current store, for the upsert) → loader for build_workspace."""
    collected = collected if collected is not None else Collected()

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
