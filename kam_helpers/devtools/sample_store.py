"""``kam sample`` in one go: the sample book drawn in memory, its CSV exports written while its store is built.

The store is loaded from the same Arrow tables the exports are written from, so the files just written are not
parsed back: every value already has its field's type (:mod:`kam_helpers.data.validate` takes such columns as
they are) and every row is still validated, with the file and row it has in the exports. The exports are
written in a thread while DuckDB builds (both release the GIL), and the store records the files' signatures once
they are in place, as a build from the folder does (:func:`kam_helpers.data.sources.folder_sources`).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from kam_helpers.core.errors import DataValidationError, Problem
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.schema import TABLES
from kam_helpers.data.sources import folder_sources
from kam_helpers.data.sql import quote_identifier, quote_literal
from kam_helpers.data.store import BuildReport, RawLoader, Sources, build_workspace
from kam_helpers.devtools.sample_book import SampleSummary, draw_book, summarize, write_book


def tables_loader(tables: dict[str, pa.Table], sources: Sources) -> RawLoader:
    """Generated tables (model columns) → loader for :func:`build_workspace`: raw_<table> views over them (no
    copy: the tables must stay alive during the build) with each field in its model type, ``_row`` as in the
    table's CSV export (header = row 1) and ``_file`` = ``<table>.csv``."""

    def load(con: duckdb.DuckDBPyConnection) -> tuple[set[str], Sources]:
        for name, table in tables.items():
            label = f"{name}.csv"
            if not table.num_rows:  # as a header-only export is refused
                raise DataValidationError(
                    [Problem(label, None, None, None, "data rows after the header (the file has only a header)", name)]
                )
            rows = pa.array(np.arange(2, table.num_rows + 2, dtype=np.int64))
            generated = f"_generated_{name}"
            con.register(generated, table.append_column("_row", rows))
            columns = ", ".join(
                f"CAST({quote_identifier(f.name)} AS {f.sql_type}) AS {quote_identifier(f.name)}"
                for f in TABLES[name].fields
            )
            con.execute(
                f"CREATE TEMP VIEW {quote_identifier('raw_' + name)} AS "
                f"SELECT {columns}, _row, {quote_literal(label)} AS _file FROM {quote_identifier(generated)}"
            )
        return set(tables), sources

    return load


def sample_workspace(
    out_dir: Path,
    workspace: Path,
    *,
    accounts: int = 12,
    end_quarter: Quarter | str | None = None,
    quarters: int = 8,
    shipments: int | None = None,
    seed: int = 7,
) -> tuple[SampleSummary, BuildReport]:
    """The arguments of :func:`~kam_helpers.devtools.sample_book.generate_book` → the exports written to
    ``out_dir`` and the store built in ``workspace`` from the same tables; → (what was written, the build).

    The exports are swapped in whole once written, the store once built: a failure leaves neither half-written
    (the build waits for the files, whose signatures it records)."""
    t0 = time.perf_counter()
    book = draw_book(accounts=accounts, end_quarter=end_quarter, quarters=quarters, shipments=shipments, seed=seed)

    def write() -> tuple[dict[str, int], dict]:
        rows = write_book(Path(out_dir), book)
        return rows, folder_sources(Path(out_dir), set(book.tables))

    with ThreadPoolExecutor(1, thread_name_prefix="kam-sample-csv") as pool:
        written = pool.submit(write)
        report = build_workspace(Path(workspace), tables_loader(book.tables, lambda: written.result()[1]))
        rows = written.result()[0]
    return summarize(out_dir, book, rows, time.perf_counter() - t0), report
