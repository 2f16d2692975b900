"""Import mappings: which source column (or SQL expression) feeds each field of each table, read from YAML.

``load_mapping(path)`` → :class:`Mapping`, checked against :mod:`kam_helpers.data.schema`: an unknown table, field
or key, a required field left unmapped or a malformed value is a :class:`ConfigError` that names the mapping
file and the key at fault. ``data/mappings/example.yml`` is the commented reference users read.

Every mapped field compiles to one or more DuckDB SQL expressions over the source's columns (``parts``); the
importer (:mod:`kam_helpers.data.importer`) evaluates them, applies value maps and missing words, types them with
the field's formats and aggregates them when the table has ``group_by``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kam_helpers.core.errors import ConfigError
from kam_helpers.data.schema import TABLES, Field, Table
from kam_helpers.data.sql import quote_identifier as quote
from kam_helpers.data.validate import Formats

AGGREGATES = ("first", "min", "max", "sum", "count")
_TOP_KEYS = {"version", "description", "source", "tables"}
_SOURCE_KEYS = {
    "as_of",
    "encoding",
    "delimiter",
    "missing",
    "dates",
    "timestamps",
    "decimal",
    "thousands",
    "sheet",
    "on_problem",
}
_TABLE_KEYS = {
    "file",
    "table",
    "query",
    "sheet",
    "group_by",
    "skip",
    "references",
    "fields",
    "allow_empty",
    "on_problem",
}
ON_PROBLEM = ("exclude", "block")  # what a row with a problem costs its account (kam_helpers.data.store)
_FIELD_KEYS = {"column", "columns", "expr", "value", "map", "missing", "format", "agg", "label"}
_REFERENCE_KEYS = {"pattern", "key", "columns"}
_SKIP_KEYS = {"when", "reason"}
_DEFAULT_TIMESTAMPS = Formats().timestamp_formats


def literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def quoted_columns(sql: str) -> list[str]:
    """The double-quoted identifiers of an SQL expression, in order: the source columns it reads."""
    return [m.replace('""', '"') for m in re.findall(r'"((?:[^"]|"")*)"', sql)]


@dataclass(frozen=True)
class SourceFormats:
    """How the source writes things (``source:`` of the mapping)."""

    encoding: str = "utf-8"
    delimiter: str = ","
    missing: tuple[str, ...] = ("",)
    dates: tuple[str, ...] = ("%Y-%m-%d",)
    timestamps: tuple[str, ...] = _DEFAULT_TIMESTAMPS
    decimal: str = "."
    thousands: str = ""
    sheet: str | int | None = None  # None: the first sheet (an unexpected header then lists the others)
    on_problem: str = "exclude"
    as_of: dt.date | None = None  # the date the data is judged at; None: its newest event (docs/PERIODS.md)


@dataclass(frozen=True)
class FieldMap:
    """One model field: the SQL expressions (``parts``; several are summed) and how to read their text."""

    name: str
    parts: tuple[str, ...]
    labels: tuple[str, ...]  # the source column each part is named by in problems
    columns: tuple[str | None, ...]  # the plain source column a part reads, None for an expression
    value_map: dict[str, str] = field(default_factory=dict)  # lower-cased source text → model text
    missing: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    agg: str = "first"

    @property
    def label(self) -> str:
        return " + ".join(self.labels)


@dataclass(frozen=True)
class References:
    """Cells of ``columns`` matching ``pattern`` take the value of the row whose ``key`` equals group 1."""

    pattern: str
    key: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Skip:
    """Source rows for which the SQL condition ``when`` is true are left out, for ``reason``."""

    when: str
    reason: str

    @property
    def label(self) -> str | None:
        cols = quoted_columns(self.when)
        return cols[0] if cols else None


@dataclass(frozen=True)
class TableMap:
    """One model table: where its rows come from and how each field is filled."""

    table: Table
    file: str  # file name or glob inside a source folder
    sql: str  # SQL query for a database source
    sheet: str | int | None
    group_by: tuple[str, ...]
    skip: tuple[Skip, ...]
    references: References | None
    fields: dict[str, FieldMap]
    allow_empty: bool = False  # may the table have no rows (else a header-only file or query is refused)
    on_problem: str = "exclude"  # exclude | block: what a row with a problem costs its account

    @property
    def name(self) -> str:
        return self.table.name


@dataclass(frozen=True)
class Mapping:
    path: Path
    source: SourceFormats
    tables: dict[str, TableMap]

    def formats(self, table: str, name: str) -> Formats:
        """The :class:`Formats` a field's text is read with (its own formats and missing words first)."""
        fm = self.tables[table].fields[name]
        src = self.source
        kind = self.tables[table].table.field(name).kind
        dates = fm.formats if fm.formats and kind == "date" else src.dates
        stamps = fm.formats if fm.formats and kind == "timestamp" else src.timestamps
        return Formats(
            date_formats=tuple(dates),
            timestamp_formats=tuple(stamps),
            missing=tuple(dict.fromkeys((*src.missing, *fm.missing))),
            decimal=src.decimal,
            thousands=src.thousands,
        )


def _where(path: Path, key: str) -> str:
    return f"{path}: {key}"


def _strings(value: object, path: Path, key: str) -> tuple[str, ...]:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return (str(value),)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return tuple(str(v) for v in value)
    raise ConfigError(f"{_where(path, key)}: expected a text or a list of texts, got {value!r}")


def _check_keys(given: object, allowed: set[str], path: Path, key: str) -> None:
    if not isinstance(given, dict):
        raise ConfigError(f"{_where(path, key)}: expected a mapping of keys, got {given!r}")
    unknown = sorted(set(map(str, given)) - allowed)
    if unknown:
        raise ConfigError(
            f"{_where(path, key)}: unknown key {unknown[0]!r} (expected one of {', '.join(sorted(allowed))})"
        )


def _source(raw: dict, path: Path) -> SourceFormats:
    _check_keys(raw, _SOURCE_KEYS, path, "source")
    out = SourceFormats()
    kw: dict[str, Any] = {}
    if "as_of" in raw:
        value = raw["as_of"]
        try:
            kw["as_of"] = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"{_where(path, 'source.as_of')}: expected a date as YYYY-MM-DD, got {value!r}") from None
    for name in ("encoding", "delimiter", "decimal", "thousands"):
        if name in raw:
            if not isinstance(raw[name], str):
                raise ConfigError(f"{_where(path, 'source.' + name)}: expected a text, got {raw[name]!r}")
            kw[name] = raw[name]
    for name in ("missing", "dates", "timestamps"):
        if name in raw:
            kw[name] = _strings(raw[name], path, f"source.{name}")
    if "missing" in kw:
        kw["missing"] = tuple(dict.fromkeys(("", *kw["missing"])))  # an empty cell is always missing
    if "sheet" in raw:
        kw["sheet"] = raw["sheet"]
    if "on_problem" in raw:
        kw["on_problem"] = _on_problem(raw["on_problem"], path, "source.on_problem")
    if "encoding" in kw:
        import codecs

        try:
            codecs.lookup(str(kw["encoding"]))
        except LookupError:
            raise ConfigError(f"{_where(path, 'source.encoding')}: unknown encoding {kw['encoding']!r}") from None
    if len(str(kw.get("delimiter", ","))) != 1:
        raise ConfigError(f"{_where(path, 'source.delimiter')}: expected one character")
    return SourceFormats(**{**out.__dict__, **kw})


def _on_problem(value: object, path: Path, key: str) -> str:
    if value not in ON_PROBLEM:
        raise ConfigError(f"{_where(path, key)}: expected one of {', '.join(ON_PROBLEM)}, got {value!r}")
    return str(value)


def _field(table: Table, name: str, raw: object, grouped: bool, path: Path) -> FieldMap:
    key = f"tables.{table.name}.fields.{name}"
    try:
        model: Field = table.field(name)
    except KeyError:
        raise ConfigError(
            f"{_where(path, key)}: {table.name} has no field {name!r} (fields: {', '.join(table.columns)})"
        ) from None
    if isinstance(raw, str):
        raw = {"column": raw}
    if not isinstance(raw, dict):
        raise ConfigError(f"{_where(path, key)}: expected a source column name or a mapping with column/expr/value")
    _check_keys(raw, _FIELD_KEYS, path, key)
    given = [k for k in ("column", "columns", "expr", "value") if k in raw]
    if len(given) != 1:
        raise ConfigError(
            f"{_where(path, key)}: give exactly one of column, columns, expr, value (got {given or 'none'})"
        )
    how = given[0]
    parts: tuple[str, ...]
    labels: tuple[str, ...]
    columns: tuple[str | None, ...]
    if how == "column":
        col = str(raw["column"])
        parts, labels, columns = (quote(col),), (col,), (col,)
    elif how == "columns":
        cols = _strings(raw["columns"], path, key + ".columns")
        if model.kind not in ("int", "float"):
            raise ConfigError(
                f"{_where(path, key)}.columns: several columns are added up, so only a number field may have them"
            )
        parts, labels, columns = tuple(quote(c) for c in cols), cols, cols
    elif how == "expr":
        sql = str(raw["expr"])
        used = quoted_columns(sql)
        parts, labels, columns = (sql,), (str(raw.get("label") or (used[0] if len(used) == 1 else sql)),), (None,)
    else:
        parts, labels, columns = (literal(raw["value"]),), (str(raw.get("label") or f"(value for {name})"),), (None,)
    if "label" in raw and how != "columns":
        labels = (str(raw["label"]),)
    value_map = raw.get("map") or {}
    if not isinstance(value_map, dict):
        raise ConfigError(f"{_where(path, key)}.map: expected source value: model value pairs")
    agg = str(raw.get("agg", "first"))
    if agg not in AGGREGATES:
        raise ConfigError(f"{_where(path, key)}.agg: expected one of {', '.join(AGGREGATES)}, got {agg!r}")
    if agg != "first" and not grouped:
        raise ConfigError(f"{_where(path, key)}.agg: only a table with group_by aggregates its rows")
    if agg == "sum" and model.kind not in ("int", "float"):
        raise ConfigError(f"{_where(path, key)}.agg: sum needs a number field; {name} is {model.kind}")
    if agg == "count" and model.kind != "int":
        raise ConfigError(f"{_where(path, key)}.agg: count needs a whole-number field; {name} is {model.kind}")
    if how == "columns" and grouped and agg != "sum":
        raise ConfigError(f"{_where(path, key)}.agg: several columns are added up, so agg must be sum")
    formats = _strings(raw["format"], path, key + ".format") if "format" in raw else ()
    if formats and model.kind not in ("date", "timestamp"):
        raise ConfigError(f"{_where(path, key)}.format: only date and timestamp fields take a format")
    return FieldMap(
        name=name,
        parts=parts,
        labels=labels,
        columns=columns,
        value_map={str(k).strip().lower(): str(v) for k, v in value_map.items()},
        missing=_strings(raw["missing"], path, key + ".missing") if "missing" in raw else (),
        formats=formats,
        agg=agg,
    )


def _table(name: str, raw: object, source: SourceFormats, path: Path) -> TableMap:
    key = f"tables.{name}"
    if name not in TABLES:
        raise ConfigError(f"{_where(path, key)}: unknown table {name!r} (tables: {', '.join(TABLES)})")
    table = TABLES[name]
    _check_keys(raw, _TABLE_KEYS, path, key)
    assert isinstance(raw, dict)
    if "table" in raw and "query" in raw:
        raise ConfigError(f"{_where(path, key)}: give table or query, not both")
    sql = str(raw["query"]) if "query" in raw else f"SELECT * FROM {raw.get('table', name)}"
    group_by = _strings(raw["group_by"], path, key + ".group_by") if "group_by" in raw else ()
    skips = []
    for i, s in enumerate(raw.get("skip") or []):
        _check_keys(s, _SKIP_KEYS, path, f"{key}.skip[{i}]")
        if "when" not in s or "reason" not in s:
            raise ConfigError(f"{_where(path, f'{key}.skip[{i}]')}: needs when (SQL) and reason")
        skips.append(Skip(str(s["when"]), str(s["reason"])))
    refs = None
    if raw.get("references") is not None:
        r = raw["references"]
        _check_keys(r, _REFERENCE_KEYS, path, key + ".references")
        missing = sorted(_REFERENCE_KEYS - set(r))
        if missing:
            raise ConfigError(f"{_where(path, key + '.references')}: missing {missing[0]!r}")
        try:
            if re.compile(str(r["pattern"])).groups < 1:
                raise ConfigError(f"{_where(path, key + '.references.pattern')}: needs a (group) that captures the key")
        except re.error as exc:
            raise ConfigError(
                f"{_where(path, key + '.references.pattern')}: not a regular expression ({exc})"
            ) from None
        refs = References(str(r["pattern"]), str(r["key"]), _strings(r["columns"], path, key + ".references.columns"))
    fields_raw = raw.get("fields")
    if not isinstance(fields_raw, dict) or not fields_raw:
        raise ConfigError(f"{_where(path, key + '.fields')}: map at least the table's required fields")
    fields = {str(f): _field(table, str(f), spec, bool(group_by), path) for f, spec in fields_raw.items()}
    unmapped = [f for f in table.required_columns if f not in fields]
    if unmapped:
        raise ConfigError(
            f"{_where(path, key + '.fields')}: required field {unmapped[0]!r} is not mapped "
            f"(map it to a source column, an expr, or a constant value)"
        )
    allow_empty = raw.get("allow_empty", False)
    if not isinstance(allow_empty, bool):
        raise ConfigError(f"{_where(path, key + '.allow_empty')}: expected true or false, got {allow_empty!r}")
    return TableMap(
        table=table,
        file=str(raw.get("file", f"{name}.csv")),
        sql=sql,
        sheet=raw.get("sheet", source.sheet),
        group_by=group_by,
        skip=tuple(skips),
        references=refs,
        fields=fields,
        allow_empty=allow_empty,
        on_problem=_on_problem(raw["on_problem"], path, key + ".on_problem")
        if "on_problem" in raw
        else source.on_problem,
    )


def load_mapping(path: str | Path) -> Mapping:
    """A mapping YAML file → checked :class:`Mapping` (ConfigError naming the file and key when it is not usable)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such mapping file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with source: and tables:")
    _check_keys(raw, _TOP_KEYS, path, "(top level)")
    source = _source(raw.get("source") or {}, path)
    tables_raw = raw.get("tables")
    if not isinstance(tables_raw, dict) or not tables_raw:
        raise ConfigError(f"{_where(path, 'tables')}: map at least one table")
    tables = {str(n): _table(str(n), spec, source, path) for n, spec in tables_raw.items()}
    return Mapping(path=path, source=source, tables=tables)
