"""Invoice audit: each rule on a hand-made account, then precision and recall against the sample's planted errors.

The account (as of 2026-03-31): one zone rate card for FTL, per kg 0.10, minimum 50, fuel 10 % →
a 1000 kg shipment costs linehaul 100.00 + fuel 10.00 = 110.00.

====  =====================================  =================================================
id    invoice lines                          expected finding
====  =====================================  =================================================
S1    linehaul 100, fuel 10                  none
S2    linehaul 110, fuel 11                  overbilled +10 (linehaul) and +1 (fuel)
S3    linehaul 100                           missing_fuel −10
S4    linehaul 100, fuel 10, accessorial 45  unauthorised_accessorial +45
S5    linehaul 100, fuel 10, linehaul 100    duplicate_line +100 (line 3), nothing else
S6    none, delivered 03-10 (21 days)        unbilled −110
S7    none, delivered 03-25 (6 days)         none: within the 14-day billing lag
S8    Air (no rate), linehaul 80             unrated (80 billed, nothing to compare)
S9    linehaul 90, fuel 9                    underbilled −10 and −1
====  =====================================  =================================================
"""

from __future__ import annotations

import json

import openpyxl
import pandas as pd
import pytest
from test_metrics import table

from kam_helpers.analyses import audit
from kam_helpers.core.errors import NoDataError
from kam_helpers.data.account_data import AccountData
from kam_helpers.data.schema import INVOICE_LINES, RATE_CARDS, SHIPMENTS, TARGETS
from kam_helpers.data.store import Workspace

AS_OF = pd.Timestamp("2026-03-31 18:00")


def _ship(sid: str, delivered: str = "2026-02-05 10:00", mode: str = "FTL") -> dict:
    return {
        "shipment_id": sid,
        "mode": mode,
        "pickup_planned": "2026-02-02 08:00",
        "pickup_actual": "2026-02-02 08:00",
        "delivery_promised": "2026-02-05 17:00",
        "delivery_actual": delivered,
        "weight_kg": 1000.0,
    }


SHIPS = table(
    SHIPMENTS,
    [_ship(s) for s in ("S1", "S2", "S3", "S4", "S5", "S9")]
    + [_ship("S6", "2026-03-10 10:00"), _ship("S7", "2026-03-25 10:00"), _ship("S8", mode="Air")],
    account_id="ACC-1",
    origin="Lyon",
    destination="Paris",
    carrier="Acme",
    status="delivered",
    revenue=110.0,
    cost=90.0,
)
RATES = table(
    RATE_CARDS,
    [
        {
            "rate_id": "R1",
            "account_id": "ACC-1",
            "mode": "FTL",
            "basis": "per_kg",
            "rate": 0.1,
            "minimum": 50.0,
            "fuel_surcharge_pct": 10.0,
            "valid_from": "2025-01-01",
        }
    ],
)
_LINES = [
    ("S1", "linehaul", 100),
    ("S1", "fuel", 10),
    ("S2", "linehaul", 110),
    ("S2", "fuel", 11),
    ("S3", "linehaul", 100),
    ("S4", "linehaul", 100),
    ("S4", "fuel", 10),
    ("S4", "accessorial", 45),
]
LINES = table(
    INVOICE_LINES,
    [
        *[
            {"invoice_id": "I1", "line_no": i + 1, "shipment_id": s, "charge_type": c, "amount": float(a)}
            for i, (s, c, a) in enumerate(_LINES)
        ],
        *[
            {"invoice_id": "I2", "line_no": i + 1, "shipment_id": s, "charge_type": c, "amount": float(a)}
            for i, (s, c, a) in enumerate(
                [
                    ("S5", "linehaul", 100),
                    ("S5", "fuel", 10),
                    ("S5", "linehaul", 100),
                    ("S8", "linehaul", 80),
                    ("S9", "linehaul", 90),
                    ("S9", "fuel", 9),
                ]
            )
        ],
    ],
)


def _data(**kw: object) -> AccountData:
    base = dict(
        account={"account_id": "ACC-1", "name": "Tiny"},
        shipments=SHIPS,
        invoices=pd.DataFrame(),
        invoice_lines=LINES,
        rate_cards=RATES,
        as_of=AS_OF,
    )
    return AccountData(**{**base, **kw})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tiny() -> audit.Audit:
    return audit.invoice_audit(_data(), sla_credit_rules={})


def _found(a: audit.Audit) -> set[tuple]:
    e = a.exceptions
    return {(r.kind, r.shipment_id, r.charge_type, round(r.amount, 2)) for r in e.itertuples()}


def test_every_rule_finds_exactly_its_planted_case(tiny: audit.Audit) -> None:
    assert _found(tiny) == {
        ("overbilled", "S2", "linehaul", 10.0),
        ("overbilled", "S2", "fuel", 1.0),
        ("missing_fuel", "S3", "fuel", -10.0),
        ("unauthorised_accessorial", "S4", "accessorial", 45.0),
        ("duplicate_line", "S5", "linehaul", 100.0),
        ("unbilled", "S6", "all", -110.0),
        ("unrated", "S8", "all", 80.0),
        ("underbilled", "S9", "linehaul", -10.0),
        ("underbilled", "S9", "fuel", -1.0),
    }
    dup = tiny.exceptions[tiny.exceptions["kind"] == "duplicate_line"].iloc[0]
    assert (dup["invoice_id"], dup["line_no"]) == ("I2", 3)


def test_totals_by_kind_and_charge_type(tiny: audit.Audit) -> None:
    by_kind = tiny.by_kind.set_index("kind")
    assert by_kind.loc["overbilled", "count"] == 2 and by_kind.loc["overbilled", "amount"] == pytest.approx(11.0)
    by_type = tiny.by_charge_type.set_index("charge_type")
    # fuel: +1 (S2) −10 (S3) −1 (S9) = −10
    assert by_type.loc["fuel", "amount"] == pytest.approx(-10.0)
    # 11 + 45 + 100 − 10 − 110 + 80 − 11 = 105
    assert tiny.net_amount == pytest.approx(105.0)


def test_quarter_selects_its_shipments_and_inputs_are_untouched() -> None:
    before = LINES.copy()
    a = audit.invoice_audit(_data(), "2026Q2", sla_credit_rules={})
    assert a.exceptions.empty and a.shipments_checked == 0
    pd.testing.assert_frame_equal(LINES, before)


def test_without_rate_cards_only_line_and_billing_rules_run() -> None:
    a = audit.invoice_audit(_data(rate_cards=None), sla_credit_rules={})
    assert set(a.exceptions["kind"]) == {"duplicate_line", "unbilled"}
    assert any("no rate cards" in n for n in a.notes)
    with pytest.raises(NoDataError, match="no data"):
        audit.invoice_audit(_data(invoice_lines=None))


def test_sla_credit_only_with_a_configured_rule() -> None:
    # every shipment delivered 3 days after its promise: OTD 0 %
    late = SHIPS.assign(delivery_actual=pd.Timestamp("2026-02-08 10:00"))
    targets = table(
        TARGETS, [{"account_id": "ACC-1", "period": "contract", "metric": "otd_pct", "target": 95.0, "tolerance": 2.0}]
    )
    data = _data(shipments=late, targets=targets)
    assert audit.invoice_audit(data, "2026Q1", sla_credit_rules={}).by_kind.query("kind == 'sla_credit'").empty
    rules = {"otd_pct": {"credit_pct_per_missed_point": 0.1, "cap_pct": 5}}
    credit = audit.invoice_audit(data, "2026Q1", sla_credit_rules=rules).exceptions.query("kind == 'sla_credit'")
    # OTD 0 % vs 95 − 2 tolerance = 93 points short × 0.1 % = 9.3 % → capped at 5 % of revenue 9 × 110 = 990
    assert credit["amount"].tolist() == [pytest.approx(-49.5)]


def test_sla_credit_rules_come_from_their_own_file(tmp_path) -> None:
    from kam_helpers.analyses.health import load_config
    from kam_helpers.core.errors import ConfigError

    assert audit.CONFIG_FILE.name == "sla_credits.yml" and audit.load_credit_rules() == {}
    assert not hasattr(load_config(), "sla_credits")  # the health configuration holds no credit terms
    own = tmp_path / "credits.yml"
    own.write_text("sla_credits:\n  otd_pct: {credit_pct_per_missed_point: 0.5, cap_pct: 5}\n")
    assert audit.load_credit_rules(own) == {"otd_pct": {"credit_pct_per_missed_point": 0.5, "cap_pct": 5}}
    own.write_text("sla_credits:\n  on_time: {credit_pct_per_missed_point: 0.5}\n")
    with pytest.raises(ConfigError, match="sla_credits.on_time"):
        audit.load_credit_rules(own)


def test_to_excel_writes_text_as_text(tmp_path, tiny: audit.Audit) -> None:
    evil = tiny.exceptions.assign(detail='=HYPERLINK("x")')
    path = audit.to_excel(audit.Audit(**{**tiny.__dict__, "exceptions": evil}), tmp_path / "out" / "audit.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Summary", "Exceptions"]
    sheet = book["Exceptions"]
    header = [c.value for c in sheet[1]]
    cell = sheet.cell(row=2, column=header.index("detail") + 1)
    assert cell.value == '=HYPERLINK("x")' and cell.data_type == "s"
    assert sheet.max_row == len(evil) + 1


_FAMILY = {
    "overbilled_rate": "overbilled",
    "underbilled": "underbilled",
    "missing_fuel": "missing_fuel",
    "unauthorised_accessorial": "unauthorised_accessorial",
}


def _pr(found: set, truth: set) -> tuple[float, float]:
    hit = len(found & truth)
    return hit / max(len(found), 1), hit / max(len(truth), 1)


@pytest.mark.slow
def test_audit_finds_the_planted_errors_of_the_sample(book) -> None:
    planted = json.loads((book.exports / "planted.json").read_text())
    with Workspace.open(book.workspace) as ws:
        ex = pd.concat(
            [audit.invoice_audit(ws.account_data(a), sla_credit_rules={}).exceptions for a in ws.account_ids()]
        )
    billing = {(r.shipment_id, r.kind) for r in ex.itertuples() if r.kind in audit.BILLING_KINDS}
    truth = {(e["shipment_id"], _FAMILY[e["kind"]]) for e in planted["billing_errors"]}
    dups = {(r.invoice_id, int(r.line_no)) for r in ex[ex["kind"] == "duplicate_line"].itertuples()}
    dup_truth = {(d["invoice_id"], d["line_no"]) for d in planted["duplicate_invoice_lines"]}
    unbilled = set(ex.loc[ex["kind"] == "unbilled", "shipment_id"])
    results = {
        "billing errors": _pr(billing, truth),
        "duplicate lines": _pr(dups, dup_truth),
        "unbilled": _pr(unbilled, set(planted["unbilled_shipments"])),
    }
    for name, (p, r) in results.items():
        print(f"invoice audit, {name}: precision {p:.3f}, recall {r:.3f}")
        assert p >= 0.95 and r >= 0.95, name
    assert len(truth) > 100 and len(dup_truth) > 5 and len(planted["unbilled_shipments"]) > 20
