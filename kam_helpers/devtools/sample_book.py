"""A deterministic sample book of business: every table of :mod:`kam_helpers.data.schema` as CSV, plus
``planted.json``, the ground truth of the problems planted in it (billing errors, duplicate lines, unbilled
shipments, late clusters, account profiles) so analyses can be demoed and scored.

``generate_book(Path("data/sample"))`` → twelve accounts, eight quarters ending at the last complete quarter.
Everything is drawn from ``numpy.random.default_rng(seed)``: the same arguments give the same bytes.

The generators are split by what they make: :mod:`.sample_catalogue`, :mod:`.sample_accounts`,
:mod:`.sample_shipments`, :mod:`.sample_billing`, :mod:`.sample_cases`; this module writes the book.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from kam_helpers.core.errors import ConfigError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.schema import (
    CASE_CATEGORIES,
    CASE_SEVERITIES,
    CASE_STATUSES,
    CHARGE_TYPES,
    INVOICE_STATUSES,
    MODES,
    RATE_BASES,
    SHIPMENT_STATUSES,
    TABLES,
)
from kam_helpers.devtools.sample_accounts import (
    make_accounts,
    make_calendar,
    make_rate_cards,
    make_services,
    season_trend,
)
from kam_helpers.devtools.sample_billing import make_invoices
from kam_helpers.devtools.sample_cases import make_cases, make_opportunities, make_targets
from kam_helpers.devtools.sample_catalogue import (
    _CARRIER_NAMES,
    _CITY_IDX,
    _CITY_NAMES,
    _ERROR_KINDS,
    _ROOT_CAUSES,
    _cat,
    _date,
    _dates,
    _day,
    _ids,
    _money,
    _stamps,
    _ts,
)
from kam_helpers.devtools.sample_shipments import draw_shipments, make_shipments


@dataclass(frozen=True)
class SampleSummary:
    """What :func:`generate_book` wrote."""

    out_dir: Path
    accounts: int
    quarters: tuple[str, ...]
    rows: dict[str, int]
    seconds: float


# --- output -----------------------------------------------------------------------------------------------


_CSV_SLICE = 1 << 20  # rows converted and written at a time (bounds the memory of the timestamps' text)


def _table(name: str, columns: dict[str, pa.Array | list | np.ndarray]) -> pa.Table:
    """Columns (in schema order) → an Arrow table; AssertionError when they are not the schema's."""
    fields = TABLES[name].columns
    if list(columns) != fields:
        raise AssertionError(f"{name}: columns {list(columns)} differ from the schema {fields}")
    return pa.table([c if isinstance(c, pa.Array) else pa.array(c) for c in columns.values()], names=fields)


def _minute_text(column: pa.ChunkedArray) -> pa.Array:
    """A timestamp column → its text as the exports write it, to the minute ('2026-07-14 08:30')."""
    null = column.is_null().to_numpy(zero_copy_only=False)
    micros = column.cast(pa.int64()).fill_null(0).to_numpy()
    return _ts(micros // 60_000_000, null if null.any() else None)


def _write_csv(folder: Path, name: str, table: pa.Table) -> int:
    """A generated table → ``<name>.csv`` with a plain header (timestamps to the minute); → rows written."""
    stamps = [i for i, f in enumerate(table.schema) if pa.types.is_timestamp(f.type)]
    with open(folder / f"{name}.csv", "wb") as fh:
        fh.write((",".join(table.column_names) + "\n").encode())
        for start in range(0, table.num_rows, _CSV_SLICE):
            part = table.slice(start, _CSV_SLICE)
            for i in stamps:
                part = part.set_column(i, part.field(i).name, _minute_text(part.column(i)))
            # quoting 'none' fails loudly on a comma or quote in a value instead of writing a broken file
            pacsv.write_csv(part, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return table.num_rows


def _publish(out_dir: Path, write: Callable[[Path], None]) -> None:
    """Run ``write`` into a temporary folder beside ``out_dir``, then swap it into place."""
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: exists and is not a folder")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=parent))
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the book should get the usual permissions
        if out_dir.exists():
            old = tmp.with_suffix(".old")
            out_dir.rename(old)
            try:
                tmp.rename(out_dir)
            except BaseException:
                old.rename(out_dir)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _planted_json(planted: dict) -> str:
    """Ground truth as JSON with one planted item per line (diffable, and fast at millions of items)."""
    out = []
    for k, v in planted.items():
        if isinstance(v, list) and v:
            items = ",\n    ".join(json.dumps(x, ensure_ascii=False) for x in v)
            out.append(f"  {json.dumps(k)}: [\n    {items}\n  ]")
        else:
            out.append(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False, indent=None)}")
    return "{\n" + ",\n".join(out) + "\n}\n"


def _allocate(weights: np.ndarray, total: int) -> np.ndarray:
    """Real weights → integers with exactly ``total`` in all (largest remainder, ties by position)."""
    x = weights / weights.sum() * total
    out = np.floor(x).astype(np.int64)
    rest = total - int(out.sum())
    order = np.argsort(-(x - out).ravel(), kind="stable")
    out.ravel()[order[:rest]] += 1
    return out


def _planted(accts, svcs, cal, sh, iv, seed: int) -> dict:
    """The ground truth of every planted problem, with the ids the CSVs use."""
    n, ni = len(sh["acc"]), len(iv["issued"])
    sw, iw = max(6, len(str(n))), max(6, len(str(ni)))

    def sid(i: int) -> str:
        return f"SHP-{int(i) + 1:0{sw}d}"

    def iid(i: int) -> str:
        return f"INV-{int(i) + 1:0{iw}d}"

    e = np.flatnonzero(iv["err"])
    errors = [
        dict(shipment_id=sid(s), invoice_id=iid(i), kind=_ERROR_KINDS[k], amount=float(a))
        for s, i, k, a in zip(
            iv["bidx"][e].tolist(), iv["inv"][e].tolist(), iv["kind"][e].tolist(), iv["delta"][e].tolist(), strict=False
        )
    ]
    d = np.flatnonzero(iv["l_dup"])
    dups = [
        dict(invoice_id=iid(i), line_no=int(no), shipment_id=sid(s))
        for i, no, s in zip(iv["l_inv"][d].tolist(), iv["l_no"][d].tolist(), iv["l_ship"][d].tolist(), strict=False)
    ]
    Q = len(cal.quarters)
    clusters = []
    for a in accts:
        for qi in range(max(0, Q - 3), Q):
            for o, dst in a.get("planted_lanes", []):
                clusters.append(
                    dict(
                        account_id=a["id"],
                        lane=f"{o} → {dst}",
                        carrier=_CARRIER_NAMES[a["planted_carrier"]],
                        quarter=str(cal.quarters[qi]),
                    )
                )
    return {
        "seed": seed,
        "quarters": [str(q) for q in cal.quarters],
        "profiles": {a["id"]: a["profile"] for a in accts},
        "billing_errors": errors,
        "duplicate_invoice_lines": dups,
        "unbilled_shipments": [sid(i) for i in iv["unbilled"].tolist()],
        "late_clusters": clusters,
        # deliveries after this day are legitimately not billed yet (the next billing run is after the period)
        "billing_cutoff": {a["id"]: _date(c).isoformat() for a, c in zip(accts, iv["cutoff"].tolist(), strict=False)},
    }


def _tables(accts, svcs, sh, iv, rates, cases, opps, targets, scale: float) -> dict[str, pa.Table]:
    """The generated arrays → one Arrow table per schema table, in schema order (timestamps typed)."""
    tables: dict[str, pa.Table] = {}
    n = len(sh["acc"])
    acc_ids = pa.array([a["id"] for a in accts])
    cities = pa.array(list(_CITY_NAMES))
    tables["accounts"] = _table(
        "accounts",
        dict(
            account_id=acc_ids,
            name=[a["name"] for a in accts],
            industry=[a["industry"] for a in accts],
            tier=[a["tier"] for a in accts],
            region=[a["region"] for a in accts],
            owner=[a["owner"] for a in accts],
            contract_start=_dates(np.array([_day(a["start"]) for a in accts])),
            contract_end=_dates(np.array([_day(a["end"]) for a in accts])),
            currency=[a["currency"] for a in accts],
            committed_shipments=[int(round(4 * a["base"] * scale * a["commit"], -1)) for a in accts],
        ),
    )
    ship_ids = _ids("SHP-", np.arange(1, n + 1), max(6, len(str(n))))
    flat = [s for ss in svcs for s in ss]
    s_orig = np.array([_CITY_IDX[s["origin"]] for s in flat])
    s_dest = np.array([_CITY_IDX[s["destination"]] for s in flat])
    pick_null = sh["status"] % 3 == 0  # booked or cancelled: not picked up
    not_delivered = sh["status"] != 2
    cancelled = sh["status"] == 3
    tables["shipments"] = _table(
        "shipments",
        dict(
            shipment_id=ship_ids,
            account_id=_cat(sh["acc"], acc_ids),
            mode=_cat(sh["mode"], MODES),
            origin=_cat(s_orig[sh["svc"]], cities),
            destination=_cat(s_dest[sh["svc"]], cities),
            carrier=_cat(sh["carrier"], _CARRIER_NAMES),
            pickup_planned=_stamps(sh["plan"]),
            pickup_actual=_stamps(sh["pick"], pick_null),
            delivery_promised=_stamps(sh["promised"]),
            delivery_actual=_stamps(sh["deliv"], not_delivered),
            weight_kg=pa.array(sh["weight"]),
            pieces=pa.array(sh["pieces"]),
            pallets=pa.array(sh["pallets"]),
            distance_km=pa.array(sh["dist"]),
            revenue=_money(sh["revenue"], cancelled),
            cost=_money(sh["cost"], cancelled),
            status=_cat(sh["status"], SHIPMENT_STATUSES),
            damaged=pa.array(sh["damaged"], mask=not_delivered),
            short=pa.array(sh["short"], mask=not_delivered),
        ),
    )
    ni = len(iv["issued"])
    inv_ids = _ids("INV-", np.arange(1, ni + 1), max(6, len(str(ni))))
    tables["invoices"] = _table(
        "invoices",
        dict(
            invoice_id=inv_ids,
            account_id=_cat(iv["acc"], acc_ids),
            issued=_dates(iv["issued"]),
            due=_dates(iv["due"]),
            paid=_dates(iv["paid"], iv["paid_null"]),
            amount=_money(iv["amount"]),
            status=_cat(iv["status"], INVOICE_STATUSES),
        ),
    )
    tables["invoice_lines"] = _table(
        "invoice_lines",
        dict(
            invoice_id=_cat(iv["l_inv"], inv_ids),
            line_no=pa.array(iv["l_no"]),
            shipment_id=_cat(iv["l_ship"], ship_ids),
            charge_type=_cat(iv["l_type"], CHARGE_TYPES),
            amount=_money(iv["l_amount"]),
        ),
    )
    rc = rates[0]
    nr = len(rc["rate_id"])
    tables["rate_cards"] = _table(
        "rate_cards",
        dict(
            rate_id=_ids("RC-", np.arange(1, nr + 1), max(5, len(str(nr)))),
            account_id=_cat(np.array(rc["account_id"]), acc_ids),
            mode=_cat(np.array(rc["mode"]), MODES),
            origin=_cat(np.array(rc["origin"]), cities),
            destination=_cat(np.array(rc["destination"]), cities),
            basis=_cat(np.array(rc["basis"]), RATE_BASES),
            rate=pa.array(rc["rate"], pa.float64()),
            minimum=_money(np.array(rc["minimum"])),
            fuel_surcharge_pct=_money(np.array(rc["fuel_surcharge_pct"])),
            valid_from=_dates(rc["valid_from"]),
            valid_to=_dates(np.array(rc["valid_to"]), np.array(rc["valid_to"]) < 0),
        ),
    )
    nc = len(cases["acc"])
    tables["cases"] = _table(
        "cases",
        dict(
            case_id=_ids("CS-", np.arange(1, nc + 1), max(6, len(str(nc)))),
            account_id=_cat(cases["acc"], acc_ids),
            opened=_stamps(cases["opened"]),
            closed=_stamps(cases["closed"], cases["closed_null"]),
            category=_cat(cases["cat"], CASE_CATEGORIES),
            severity=_cat(cases["sev"], CASE_SEVERITIES),
            shipment_id=_cat(cases["ship"], ship_ids),
            claim_amount=_money(cases["claim"]),
            status=_cat(np.where(cases["closed_null"], 0, 1), CASE_STATUSES),
            root_cause=_cat(cases["root"], _ROOT_CAUSES),
        ),
    )
    no = len(opps["opp_id"])
    tables["opportunities"] = _table(
        "opportunities",
        dict(
            opp_id=_ids("OPP-", np.array(opps["opp_id"]), max(4, len(str(no)))),
            account_id=_cat(np.array(opps["account_id"]), acc_ids),
            service=opps["service"],
            stage=opps["stage"],
            amount=_money(np.array(opps["amount"])),
            probability=pa.array(opps["probability"], pa.float64()),
            expected_close=_dates(opps["expected_close"]),
        ),
    )
    tables["targets"] = _table(
        "targets",
        dict(
            account_id=_cat(np.array(targets["account_id"]), acc_ids),
            period=targets["period"],
            metric=targets["metric"],
            target=pa.array(targets["target"], pa.float64()),
            tolerance=pa.array(targets["tolerance"], pa.float64()),
        ),
    )
    return tables


@dataclass(frozen=True)
class GeneratedBook:
    """A sample book drawn in memory: its tables (schema order, timestamps typed) and ground truth."""

    tables: dict[str, pa.Table]
    planted: dict
    accounts: int
    quarters: tuple[str, ...]


def draw_book(
    *,
    accounts: int = 12,
    end_quarter: Quarter | str | None = None,
    quarters: int = 8,
    shipments: int | None = None,
    seed: int = 7,
) -> GeneratedBook:
    """The arguments of :func:`generate_book` → the book in memory (nothing written)."""
    if isinstance(accounts, bool) or not isinstance(accounts, int) or accounts < 1:
        raise ConfigError(f"accounts={accounts!r}: expected a whole number ≥ 1")
    if isinstance(quarters, bool) or not isinstance(quarters, int) or quarters < 1:
        raise ConfigError(f"quarters={quarters!r}: expected a whole number ≥ 1")
    if shipments is not None and (not isinstance(shipments, int) or shipments < 10 * accounts * quarters):
        raise ConfigError(
            f"shipments={shipments!r}: expected at least 10 per account and quarter "
            f"({10 * accounts * quarters} for {accounts} accounts × {quarters} quarters)"
        )
    end = Quarter.last_complete() if end_quarter is None else Quarter.parse(end_quarter)
    cal = make_calendar(end, quarters)
    rng = np.random.default_rng(seed)
    accts = make_accounts(accounts, cal, rng)
    acc_rngs = rng.spawn(accounts)
    svcs = [make_services(a, quarters, r) for a, r in zip(accts, acc_rngs, strict=False)]
    rates = make_rate_cards(accts, svcs, cal, rng)

    season = np.add.reduceat(cal.weight, cal.bounds[:-1] - cal.first)
    season = season / season.mean()
    expected = np.array([a["base"] * season_trend(a["profile"], quarters) for a in accts]) * season
    if shipments is None:
        counts, scale = np.maximum(1, np.round(expected)).astype(np.int64), 1.0
    else:
        counts, scale = _allocate(expected, shipments), shipments / expected.sum()
    sh = make_shipments(accts, svcs, cal, draw_shipments(accts, svcs, counts, cal, acc_rngs), rates, rng)
    iv = make_invoices(accts, cal, sh, rng)
    cases = make_cases(accts, cal, sh, iv, counts, rng)
    recent = (sh["status"] != 3) & (sh["q"] >= quarters - 4)
    annual = np.bincount(sh["acc"][recent], weights=sh["expected"][recent], minlength=accounts) * 4 / min(4, quarters)
    opps = make_opportunities(accts, svcs, cal, annual, rng)
    targets = make_targets(accts, cal, season, scale, sh)
    planted = _planted(accts, svcs, cal, sh, iv, seed)
    tables = _tables(accts, svcs, sh, iv, rates, cases, opps, targets, scale)
    return GeneratedBook(tables, planted, accounts, tuple(str(q) for q in cal.quarters))


def write_book(out_dir: Path, book: GeneratedBook) -> dict[str, int]:
    """A drawn book → ``out_dir`` (one CSV per table and ``planted.json``, swapped in whole); → rows per table."""
    rows: dict[str, int] = {}

    def write(folder: Path) -> None:
        for name, table in book.tables.items():
            rows[name] = _write_csv(folder, name, table)
        (folder / "planted.json").write_text(_planted_json(book.planted), encoding="utf-8", newline="\n")

    _publish(Path(out_dir), write)
    return rows


def generate_book(
    out_dir: Path,
    *,
    accounts: int = 12,
    end_quarter: Quarter | str | None = None,
    quarters: int = 8,
    shipments: int | None = None,
    seed: int = 7,
) -> SampleSummary:
    """Write a sample book of business into ``out_dir`` (one CSV per schema table, plus ``planted.json``).

    ``quarters`` calendar quarters ending at ``end_quarter`` (default: the last complete one);
    ``shipments`` in all (default ~150–600 per account and quarter). Same arguments → same bytes.
    """
    t0 = time.perf_counter()
    book = draw_book(accounts=accounts, end_quarter=end_quarter, quarters=quarters, shipments=shipments, seed=seed)
    rows = write_book(out_dir, book)
    return summarize(out_dir, book, rows, time.perf_counter() - t0)


def summarize(out_dir: Path, book: GeneratedBook, rows: dict[str, int], seconds: float) -> SampleSummary:
    """What was written, as :class:`SampleSummary`."""
    return SampleSummary(Path(out_dir), book.accounts, book.quarters, dict(rows), round(seconds, 3))
