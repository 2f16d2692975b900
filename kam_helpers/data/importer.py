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

One rule decides the outcome (:func:`kam_helpers.data.import_report.refusals`): a mapped table that ends with no rows (unless
``allow_empty``) or with more rejected source rows than ``max_rejected`` (a count or a share, 5% by
default) fails the import unless ``allow_partial``. A refused import (that rule, ``strict``, or a
whole-file problem such as an empty or header-only file, a missing column, another encoding or delimiter,
an unclosed quote, an oversized field) writes nothing into the workspace, not even a rejects file: the
problems are raised (and printed by ``kam import``). ``dry_run`` does everything but write. The same
summary (:class:`kam_helpers.data.import_report.ImportStats`: fill rate per field, rows and dates per account)
ends every import. Reading is :mod:`kam_helpers.data.readers`, the SQL stages :mod:`kam_helpers.data.staging`,
the rule and the summary :mod:`kam_helpers.data.import_report`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from kam_helpers.core import paths
from kam_helpers.core.errors import ImportRefused
from kam_helpers.data.import_report import (
    DEFAULT_MAX_REJECTED,
    Collected,
    ImportReport,
    RejectLimit,
    collect_stats,
    refusals,
    summarize,
    write_rejects,
)
from kam_helpers.data.mapping import Mapping, load_mapping
from kam_helpers.data.readers import Source
from kam_helpers.data.staging import mapping_loader
from kam_helpers.data.store import BuildReport, build_workspace
from kam_helpers.data.validate import canonical_formats


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
    collected = Collected()
    name = src.name if src.kind != "folder" else str(src.path)

    def check(con: duckdb.DuckDBPyConnection, build: BuildReport) -> None:
        collected.stats = collect_stats(con, mp)
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
