"""What an import ends with: the rule that refuses it (:class:`RejectLimit`, :func:`refusals`), the summary of
what it loads and rejects (:class:`ImportReport`, :func:`summarize`, :class:`ImportStats`) and the rejects files.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from kam_helpers.core.errors import ConfigError, DataValidationError, Problem
from kam_helpers.core.safe_output import csv_writer
from kam_helpers.data.mapping import Mapping, quote
from kam_helpers.data.store import BuildReport


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


def printable(text: str) -> str:
    r"""Text from the data → one line safe to print: control, format and line-breaking characters (terminal
    escapes, newlines, bidi overrides) written as escapes, so a file name or value never acts on the terminal
    or fakes a line. 'a\x1b[2Jb' → 'a\\x1b[2Jb'."""
    return "".join(
        ch if unicodedata.category(ch) not in _UNPRINTABLE else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


_UNPRINTABLE = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


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
                lines += [f"            e.g. {p.file}, row {p.row}" + (f", {p.column} = {p.value!r}" if p.column else "")
                          for p in ps[:examples]]  # fmt: skip
            else:
                lines.append(f"  {len(ps):>6,}  {table}, column {column!r}: expected {reason}")
                lines += [f"            e.g. {p}" for p in ps[:examples]]
    if stats is not None:
        lines += describe_stats(stats)
    if rejects_file:
        lines.append(f"Every rejected and skipped row: {rejects_file}")
    if not dry_run and not changed:
        lines.append("The data is the same as the workspace's: its store was left as it was.")
    return "\n".join(printable(line) for line in lines)


def refusal_text(error: DataValidationError, shown: int = 20) -> str:
    """A refused import's error → its message with each problem on one printable line (a hostile file name or
    value cannot break a line or reach the terminal as a control sequence)."""
    head = str(error).split("\n", 1)[0]
    lines = [printable(head)] + [f"  {printable(str(p))}" for p in error.problems[:shown]]
    if len(error.problems) > shown:
        lines.append(f"  … and {len(error.problems) - shown:,} more")
    return "\n".join(lines)


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
    mapping: Mapping, collected: Collected, rows: dict[str, int], mine: list[Problem], limit: RejectLimit
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


@dataclass(frozen=True)
class ImportStats:
    """What the imported tables hold: per field its fill rate and examples, per account its rows and dates."""

    fields: list[tuple[str, str, float, list[str]]]  # (table, field, filled share 0-1, example values)
    accounts: list[tuple[str, dict[str, int], str | None, str | None]]  # (account, table → rows, first, last date)


@dataclass
class Collected:
    """What the loader gathers for the import's report: skipped rows, column labels, source rows and files per
    table, and the statistics of what it loads."""

    skipped: list[Problem] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)
    source_rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)  # table → the source files (or query) it read
    stats: ImportStats | None = None


def collect_stats(con: duckdb.DuckDBPyConnection, mapping: Mapping) -> ImportStats:
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
