"""The sample book: schema conformance, integrity, the rate-card promise, planted ground truth, determinism."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from kam_helpers.core.errors import ConfigError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.schema import TABLES, ddl
from kam_helpers.devtools import sample_book as sample
from kam_helpers.devtools.sample_book import generate_book

END = Quarter(2026, 2)
QUARTERS = ["2024Q3", "2024Q4", "2025Q1", "2025Q2", "2025Q3", "2025Q4", "2026Q1", "2026Q2"]
MONEY = {
    ("shipments", "revenue"),
    ("shipments", "cost"),
    ("invoices", "amount"),
    ("invoice_lines", "amount"),
    ("cases", "claim_amount"),
    ("opportunities", "amount"),
    ("rate_cards", "minimum"),
}
FORMATS = {
    "int": r"-?\d+",
    "float": r"-?\d+(\.\d+)?",
    "date": r"\d{4}-\d{2}-\d{2}",
    "timestamp": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}",
    "bool": r"true|false",
}


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> tuple[sample.SampleSummary, Path]:
    out = tmp_path_factory.mktemp("book") / "sample"
    return generate_book(out, end_quarter=END), out


@pytest.fixture(scope="module")
def raw(book) -> dict[str, pd.DataFrame]:
    """Every table as the exact strings in the file."""
    _, out = book
    return {t: pd.read_csv(out / f"{t}.csv", dtype=str, keep_default_na=False) for t in TABLES}


@pytest.fixture(scope="module")
def typed(book) -> dict[str, pd.DataFrame]:
    """Every table typed: timestamps and dates as datetime64, empty as NaN/NaT."""
    _, out = book
    frames = {}
    for name, table in TABLES.items():
        df = pd.read_csv(out / f"{name}.csv", dtype={f.name: str for f in table.fields if f.kind == "text"})
        for f in table.fields:
            if f.kind == "timestamp":
                df[f.name] = pd.to_datetime(df[f.name], format="%Y-%m-%d %H:%M")
            elif f.kind == "date":
                df[f.name] = pd.to_datetime(df[f.name], format="%Y-%m-%d")
        frames[name] = df
    return frames


@pytest.fixture(scope="module")
def planted(book) -> dict:
    return json.loads((book[1] / "planted.json").read_text(encoding="utf-8"))


def test_summary_names_the_files_and_rows(book, raw):
    summary, out = book
    assert summary.out_dir == out and summary.accounts == 12
    assert list(summary.quarters) == QUARTERS
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{t}.csv" for t in TABLES] + ["planted.json"])
    assert summary.rows == {t: len(raw[t]) for t in TABLES}
    assert 20_000 <= summary.rows["shipments"] <= 32_000  # ~150–600 per account and quarter


def test_same_arguments_same_bytes(book, tmp_path):
    _, out = book
    again = tmp_path / "again"
    generate_book(again, end_quarter=END)
    for f in sorted(out.iterdir()):
        assert (again / f.name).read_bytes() == f.read_bytes(), f.name
    other = tmp_path / "other"
    generate_book(other, end_quarter=END, seed=8)
    assert (other / "shipments.csv").read_bytes() != (out / "shipments.csv").read_bytes()


@pytest.mark.parametrize("name", list(TABLES))
def test_table_follows_the_schema(book, raw, name):
    path = book[1] / f"{name}.csv"
    data = path.read_bytes()
    data.decode("utf-8")
    assert b"\r" not in data and data.endswith(b"\n")
    assert data.split(b"\n", 1)[0].decode() == ",".join(TABLES[name].columns)
    df = raw[name]
    assert len(df) > 0 and list(df.columns) == TABLES[name].columns
    for f in TABLES[name].fields:
        col = df[f.name]
        filled = col[col != ""]
        if f.required:
            assert len(filled) == len(col), f"{name}.{f.name} has empty values"
        if f.allowed:
            assert set(filled) <= set(f.allowed), f"{name}.{f.name}: {set(filled) - set(f.allowed)}"
        if f.kind in FORMATS:
            bad = filled[~filled.str.fullmatch(FORMATS[f.kind])]
            assert bad.empty, f"{name}.{f.name}: {bad.head().tolist()}"
        if (name, f.name) in MONEY:
            assert not filled.str.contains(r"\.\d{3}").any(), f"{name}.{f.name} has more than 2 decimals"
        if f.kind in ("int", "float") and len(filled):
            values = filled.astype(float)
            if f.min_value is not None:
                assert values.min() >= f.min_value, f"{name}.{f.name}"
            if f.max_value is not None:
                assert values.max() <= f.max_value, f"{name}.{f.name}"


@pytest.mark.parametrize("name", list(TABLES))
def test_keys_are_unique(raw, name):
    assert not raw[name].duplicated(list(TABLES[name].key)).any()


def test_every_reference_resolves(raw):
    refs = [(t.name, col, *target.split(".")) for t in TABLES.values() for col, target in t.references.items()]
    refs += [(t, "shipment_id", "shipments", "shipment_id") for t in ("invoice_lines", "cases")]
    for table, col, target, target_col in refs:
        values = raw[table][col]
        missing = set(values[values != ""]) - set(raw[target][target_col])
        assert not missing, f"{table}.{col} → {target}.{target_col}: {sorted(missing)[:5]}"
    lines = raw["invoice_lines"].merge(raw["invoices"][["invoice_id", "account_id"]], on="invoice_id")
    lines = lines.merge(raw["shipments"][["shipment_id", "account_id"]], on="shipment_id", suffixes=("", "_ship"))
    assert (lines.account_id == lines.account_id_ship).all(), "an invoice bills another client's shipment"


def test_loads_into_the_store_and_keeps_the_row_rules(book):
    """The store's own DDL reads every file with the stated formats; every schema rule holds."""
    con = duckdb.connect()
    for name, table in TABLES.items():
        con.execute(ddl(table))
        columns = {f.name: f.sql_type for f in table.fields}
        con.execute(
            f'INSERT INTO "{name}" SELECT * FROM read_csv(?, header=true, columns={columns!r}, '
            "dateformat='%Y-%m-%d', timestampformat='%Y-%m-%d %H:%M', auto_detect=false)",
            [str(book[1] / f"{name}.csv")],
        )
        for rule in table.rules:
            broken = con.execute(f'SELECT count(*) FROM "{name}" WHERE NOT ({rule.sql})').fetchone()[0]
            assert broken == 0, f"{name}: {broken} rows break {rule.name}"


def test_covers_eight_quarters_ending_at_end_quarter(typed):
    sh = typed["shipments"]
    assert sh.pickup_planned.min() >= pd.Timestamp("2024-07-01")
    assert sh.pickup_planned.max() <= pd.Timestamp("2026-06-30 23:59")
    per_quarter = sh.groupby([sh.account_id, sh.pickup_planned.dt.to_period("Q").astype(str)]).size().unstack()
    assert list(per_quarter.columns) == QUARTERS and (per_quarter.fillna(0) > 50).all().all()
    end = pd.Timestamp("2026-06-30 23:59")
    assert (sh.delivery_actual.dropna() <= end).all() and (sh.pickup_actual.dropna() <= end).all()
    assert (typed["invoices"].issued <= end).all() and (typed["cases"].opened <= end).all()
    in_transit = sh[sh.status == "in_transit"]
    assert len(in_transit) > 0 and (in_transit.pickup_planned >= pd.Timestamp("2026-05-01")).all()
    assert (in_transit.delivery_promised < end).any(), "some in-transit shipments are past their promise"


def _expected_charges(sh: pd.DataFrame, rc: pd.DataFrame, half_up: bool = False) -> pd.Series:
    """The rate card applied by hand: row of the same account and mode valid on the planned pickup day,
    the exact lane if there is one, else the zone row → expected charge per shipment_id."""
    s = sh[["shipment_id", "account_id", "mode", "origin", "destination", "weight_kg", "distance_km"]].assign(
        day=sh.pickup_planned.dt.normalize()
    )
    m = s.merge(rc, on=["account_id", "mode"], suffixes=("", "_rc"))
    m = m[(m.valid_from <= m.day) & (m.valid_to.isna() | (m.day <= m.valid_to))]
    exact = (m.origin_rc == m.origin) & (m.destination_rc == m.destination)
    zone = m.origin_rc.isna() & m.destination_rc.isna()
    m = m[exact | zone].assign(prio=np.where(exact[exact | zone], 0, 1)).sort_values(["shipment_id", "prio"])
    assert not m.duplicated(["shipment_id", "prio"]).any(), "two rate rows apply to one shipment"
    m = m.drop_duplicates("shipment_id")
    qty = np.select([m.basis == "per_kg", m.basis == "per_km"], [m.weight_kg, m.distance_km], 1.0)

    def cents(x: pd.Series) -> pd.Series:
        return np.floor(x * 100 + 0.5 + 1e-9) / 100 if half_up else x.round(2)

    linehaul = cents(np.maximum(m.rate * qty, m.minimum.fillna(0)))
    fuel = cents(linehaul * m.fuel_surcharge_pct.fillna(0) / 100)
    return pd.Series((linehaul + fuel).round(2).to_numpy(), index=m.shipment_id.to_numpy())


def test_no_charge_ends_on_a_half_cent(typed):
    """Half-even (pandas) and half-up (DuckDB, Decimal) rounding give the same expected charge everywhere."""
    sh = typed["shipments"]
    even = _expected_charges(sh[sh.status != "cancelled"], typed["rate_cards"])
    up = _expected_charges(sh[sh.status != "cancelled"], typed["rate_cards"], half_up=True)
    assert (even.sort_index() == up.sort_index()).all()


def test_revenue_is_the_rate_card_charge_except_planted_errors(typed, planted):
    sh = typed["shipments"]
    live = sh[sh.status != "cancelled"].set_index("shipment_id")
    assert sh[sh.status == "cancelled"].revenue.isna().all()
    expected = _expected_charges(sh[sh.status != "cancelled"], typed["rate_cards"])
    assert set(expected.index) == set(live.index), "a shipment has no matching rate"
    diff = live.revenue - expected.reindex(live.index)
    errors = pd.DataFrame(planted["billing_errors"]).set_index("shipment_id")
    assert 0.01 * len(live) < len(errors) < 0.08 * len(live)
    correct = diff.drop(errors.index)
    assert (correct.abs() < 0.005).all(), correct[correct.abs() >= 0.005].head()
    wrong = diff.loc[errors.index]
    assert (wrong.abs() >= 0.01).all()
    assert ((wrong - errors.amount).abs() < 0.006).all(), "planted amount is billed minus expected"
    assert set(errors.kind) == {"overbilled_rate", "underbilled", "missing_fuel", "unauthorised_accessorial"}
    assert (errors[errors.kind.isin(["overbilled_rate", "unauthorised_accessorial"])].amount > 0).all()
    assert (errors[errors.kind.isin(["underbilled", "missing_fuel"])].amount < 0).all()


def test_invoices_and_lines_agree(typed, planted):
    inv, lines, sh = typed["invoices"], typed["invoice_lines"], typed["shipments"]
    totals = lines.groupby("invoice_id").amount.sum()
    assert ((inv.set_index("invoice_id").amount - totals).abs() < 0.005).all()
    dups = pd.DataFrame(planted["duplicate_invoice_lines"])
    assert len(dups) > 0
    key = ["invoice_id", "line_no"]
    is_dup = lines.set_index(key).index.isin(dups.set_index(key).index)
    assert is_dup.sum() == len(dups)
    for d in dups.itertuples():
        same = lines[(lines.invoice_id == d.invoice_id) & (lines.shipment_id == d.shipment_id)]
        dup_line = same[same.line_no == d.line_no].iloc[0]
        earlier = same[same.line_no < d.line_no]
        twin = earlier[(earlier.charge_type == dup_line.charge_type) & (earlier.amount == dup_line.amount)]
        assert len(twin) == 1, f"duplicate {d} has no identical earlier line"
    billed = lines[~is_dup].groupby("shipment_id").amount.sum()
    revenue = sh.set_index("shipment_id").revenue.loc[billed.index]
    assert ((billed - revenue).abs() < 0.005).all(), "lines of a shipment add up to its revenue"
    assert (lines[~is_dup].groupby(["shipment_id", "charge_type"]).size() == 1).all()
    errors = pd.DataFrame(planted["billing_errors"])
    charges = lines.groupby("shipment_id").charge_type.agg(set)
    assert all("fuel" not in charges[s] for s in errors[errors.kind == "missing_fuel"].shipment_id)
    assert all("accessorial" in charges[s] for s in errors[errors.kind == "unauthorised_accessorial"].shipment_id)
    assert set(lines[lines.charge_type == "accessorial"].shipment_id) == set(
        errors[errors.kind == "unauthorised_accessorial"].shipment_id
    )
    pair = lines.merge(inv[["invoice_id", "issued"]], on="invoice_id").merge(
        sh[["shipment_id", "delivery_actual", "status"]], on="shipment_id"
    )
    assert (pair.status == "delivered").all() and (pair.issued >= pair.delivery_actual.dt.normalize()).all()
    assert ((inv.due - inv.issued).dt.days.isin([30, 45, 60])).all()
    flagged = set(lines[lines.shipment_id.isin(errors.shipment_id)].invoice_id) | set(dups.invoice_id)
    disputed = inv[inv.status.isin(["disputed", "credited"])]
    assert disputed.invoice_id.isin(flagged).mean() > 0.8, "disputes and credits are mainly on planted errors"


def test_unbilled_shipments_are_planted_or_within_the_billing_lag(typed, planted):
    sh, lines = typed["shipments"], typed["invoice_lines"]
    delivered = sh[sh.status == "delivered"]
    unbilled = delivered[~delivered.shipment_id.isin(lines.shipment_id)]
    cutoff = unbilled.account_id.map(lambda a: pd.Timestamp(planted["billing_cutoff"][a]))
    late_in_period = unbilled.delivery_actual.dt.normalize() > cutoff
    assert (unbilled.delivery_actual[late_in_period] >= pd.Timestamp("2026-06-20")).all(), "lag is ~10 days"
    assert set(unbilled.shipment_id[~late_in_period]) == set(planted["unbilled_shipments"])
    assert len(planted["unbilled_shipments"]) > 0


def _otd(sh: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    """On-time delivery by date per account, for promises in [start, end]; open past promise = late."""
    s = sh[sh.status.isin(["delivered", "in_transit"]) & sh.delivery_promised.between(start, end)].copy()
    promised = s.delivery_promised.dt.normalize()
    s["late"] = np.where(
        s.delivery_actual.isna(), promised < pd.Timestamp(end).normalize(), s.delivery_actual.dt.normalize() > promised
    )
    return s


def test_profiles_drive_service(typed, planted, raw):
    profiles = planted["profiles"]
    healthy = min(a for a, p in profiles.items() if p == "healthy")
    at_risk = min(a for a, p in profiles.items() if p == "at_risk")
    values = list(profiles.values())
    assert values.count("healthy") >= 4 and values.count("at_risk") >= 3
    assert {"growing", "shrinking"} <= set(values) and set(profiles) == set(raw["accounts"].account_id)
    last = _otd(typed["shipments"], "2026-04-01", "2026-06-30 23:59")
    otd = 100 - 100 * last.groupby("account_id").late.mean()
    assert otd[healthy] >= 95 and 80 <= otd[at_risk] <= 90
    for acc, p in profiles.items():
        assert (otd[acc] < 90) == (p == "at_risk"), (acc, p, otd[acc])
    clusters = pd.DataFrame(planted["late_clusters"])
    mine = clusters[(clusters.account_id == at_risk) & (clusters.quarter == "2026Q2")]
    assert 1 <= mine.lane.nunique() <= 2 and mine.carrier.nunique() == 1
    late = last[(last.account_id == at_risk) & last.late]
    lanes = late.origin + " → " + late.destination
    assert lanes.isin(mine.lane).mean() > 0.6, "late deliveries concentrate on the planted lanes"
    assert (late.carrier == mine.carrier.iloc[0]).mean() > 0.5
    assert set(clusters.account_id) == {a for a, p in profiles.items() if p == "at_risk"}


def test_at_risk_accounts_look_at_risk(typed, planted):
    profiles = pd.Series(planted["profiles"])
    risk = profiles[profiles == "at_risk"].index
    healthy = profiles[profiles == "healthy"].index
    inv, cases, sh = typed["invoices"], typed["cases"], typed["shipments"]
    bad_invoice = inv.status.isin(["disputed", "credited"]).groupby(inv.account_id).mean()
    assert bad_invoice[risk].min() > bad_invoice[healthy].max()
    err = pd.DataFrame(planted["billing_errors"]).merge(sh[["shipment_id", "account_id"]]).groupby("account_id").size()
    share = (err / sh.groupby("account_id").size()).fillna(0)
    assert share[healthy].max() < 0.025 and share[risk].min() > 0.04
    open_cases = cases[cases.status == "open"].groupby("account_id").size().reindex(profiles.index, fill_value=0)
    assert open_cases[risk].min() > open_cases[healthy].max()
    volume = sh.groupby([sh.account_id, sh.pickup_planned.dt.to_period("Q").astype(str)]).size().unstack()
    assert (volume.loc[risk, "2026Q2"] < volume.loc[risk, "2025Q2"]).all(), "at-risk volume shrinks"
    late_cases = cases[cases.category == "late delivery"]
    assert late_cases.shipment_id.notna().all()
    claims = cases[cases.category.isin(["damage", "loss"])]
    assert claims.shipment_id.notna().all() and claims.claim_amount.gt(0).all()


def test_accounts_contracts_and_targets(typed, raw):
    acc = typed["accounts"]
    names = acc.name.tolist()
    assert len(set(names)) == len(names)
    assert not [(a, b) for a in names for b in names if a != b and a in b]
    assert set(acc.currency) == {"EUR", "USD"}
    end = pd.Timestamp("2026-06-30")
    assert (acc.contract_start <= end).all() and (acc.contract_end > end).all()
    assert ((acc.contract_end - end).dt.days <= 90).sum() >= 2, "some clients renew within 90 days"
    rc = typed["rate_cards"]
    for _, g in rc.groupby(["account_id", "mode", rc.origin.fillna(""), rc.destination.fillna("")]):
        g = g.sort_values("valid_from")
        assert (g.valid_from.iloc[1:].to_numpy() > g.valid_to.iloc[:-1].to_numpy()).all(), "overlapping rates"
        assert g.rate.nunique() == len(g), "the rate changes at each anniversary"
    t = raw["targets"]
    contract = t[t.period == "contract"]
    assert set(contract.metric) >= {
        "otd_pct",
        "otp_pct",
        "invoice_accuracy_pct",
        "damage_ratio_pct",
        "gross_margin_pct",
        "median_hours_to_resolve",
    }
    revenue = t[t.metric == "revenue"]
    assert set(revenue.period) >= set(QUARTERS) and revenue.groupby("account_id").size().min() >= 8
    opps = raw["opportunities"].groupby("account_id").size()
    assert opps.between(2, 6).all() and len(opps) == 12


def test_scales_to_more_accounts_and_shipments(tmp_path):
    summary = generate_book(tmp_path / "big", accounts=40, shipments=200_000, end_quarter=END, quarters=4)
    assert summary.rows["shipments"] == 200_000 and summary.rows["accounts"] == 40
    acc = pd.read_csv(tmp_path / "big" / "accounts.csv", dtype=str, keep_default_na=False)
    names = acc.name.tolist()
    assert len(set(names)) == 40 and not [(a, b) for a in names for b in names if a != b and a in b]
    assert acc.account_id.tolist() == [f"ACC-{i:03d}" for i in range(1, 41)]
    planted = json.loads((tmp_path / "big" / "planted.json").read_text())
    assert planted["quarters"] == QUARTERS[-4:] and len(planted["profiles"]) == 40


def test_replaces_out_dir_only_when_complete(tmp_path, monkeypatch):
    out = tmp_path / "book"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    args = dict(accounts=3, quarters=2, shipments=600, end_quarter=END)

    real = sample._write_csv

    def fail_on_cases(folder, name, columns):
        if name == "cases":
            raise OSError("disk full")
        return real(folder, name, columns)

    monkeypatch.setattr(sample, "_write_csv", fail_on_cases)
    with pytest.raises(OSError):
        generate_book(out, **args)
    assert [p.name for p in out.iterdir()] == ["stale.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["book"], "no temporary folder is left behind"
    monkeypatch.setattr(sample, "_write_csv", real)
    generate_book(out, **args)
    assert not (out / "stale.txt").exists() and (out / "planted.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["book"]


@pytest.mark.parametrize(
    "kwargs", [dict(accounts=0), dict(quarters=0), dict(shipments=100), dict(end_quarter="2026Q5")]
)
def test_bad_arguments_raise_and_write_nothing(tmp_path, kwargs):
    with pytest.raises(ConfigError):
        generate_book(tmp_path / "book", **kwargs)
    assert not (tmp_path / "book").exists()


def test_no_absolute_paths_in_the_module():
    text = Path(sample.__file__).read_text(encoding="utf-8")
    assert not re.search(r"['\"]/(work|home|tmp|Users)/", text)
