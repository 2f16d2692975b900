"""Metrics: every KPI on a tiny hand-made account whose numbers are worked out in the comments.

The account (quarter under review 2026Q1, data as of 2026-03-26 12:00):

====  ====  ======  ===========  ==========  ===========  ==========  =======  ====  =========================
id    mode  lane    pickup plan  pickup act  promised     delivered   revenue  cost  note
====  ====  ======  ===========  ==========  ===========  ==========  =======  ====  =========================
S1    FTL   L→P     01-05 08:00  01-05 10:00 01-07 09:00  01-07 17:00     100    80  later hour, same day: on time
S2    FTL   L→P     02-01        02-02       02-04        02-05           200   150  late pickup, late delivery
S3    FTL   L→P     03-10        03-10       03-12        —               300   270  in transit past promise: late
S4    LTL   L→P     03-25        03-25       03-28        —               400   300  promise after as-of: not measured
S5    FTL   L→P     01-10        01-10       01-12        01-11           999   999  cancelled: counts nowhere
S6    FTL   L→P     12-31 (2025) 12-31 22:00 01-03        01-02 10:00      50    40  shipped in 2025Q4, delivered in Q1
S7    FTL   L→M     02-10        02-10       02-12        02-11           250   200  on time but short
S8    FTL   L→P     03-01        03-01       —            03-17 23:00     150   100  no promise: not measured
====  ====  ======  ===========  ==========  ===========  ==========  =======  ====  =========================
(L→P = Lyon → Paris, L→M = Lyon → Marseille; carrier Acme except S3 = Beta.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kam_helpers import metrics as m
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.account_data import AccountData
from kam_helpers.data.schema import CASES, INVOICE_LINES, INVOICES, OPPORTUNITIES, RATE_CARDS, SHIPMENTS, TARGETS, Table

Q = Quarter(2026, 1)
AS_OF = pd.Timestamp("2026-03-26 12:00")


# ----------------------------------------------------------------------------------------------- fixture builders


def table(schema: Table, rows: list[dict], **defaults: object) -> pd.DataFrame:
    """Rows (dicts over defaults) → a frame with every column of ``schema``, typed as AccountData promises."""
    records = [{**defaults, **row} for row in rows]
    columns = {}
    for f in schema.fields:
        values = [r.get(f.name) for r in records]
        if f.kind in ("date", "timestamp"):
            columns[f.name] = pd.Series([pd.Timestamp(v) if v else pd.NaT for v in values], dtype="datetime64[ns]")
        elif f.kind == "float":
            columns[f.name] = pd.Series([np.nan if v is None else v for v in values], dtype="float64")
        elif f.kind == "int":
            columns[f.name] = pd.Series(values, dtype="Int64")
        elif f.kind == "bool":
            columns[f.name] = pd.Series(values, dtype="boolean")
        else:
            columns[f.name] = pd.Series(values, dtype="str")
    return pd.DataFrame(columns)


def shipments(*rows: dict) -> pd.DataFrame:
    return table(
        SHIPMENTS,
        list(rows),
        account_id="ACC-1",
        mode="FTL",
        origin="Lyon",
        destination="Paris",
        carrier="Acme",
        status="delivered",
        weight_kg=100.0,
        pallets=1,
        revenue=100.0,
        cost=80.0,
        damaged=False,
        short=False,
    )


def cases(*rows: dict) -> pd.DataFrame:
    return table(CASES, list(rows), account_id="ACC-1", category="damage", status="open")


def invoices(*rows: dict) -> pd.DataFrame:
    return table(INVOICES, list(rows), account_id="ACC-1", status="open", amount=100.0)


def invoice_lines(*shipment_ids: str | None) -> pd.DataFrame:
    rows = [{"invoice_id": "I1", "line_no": i + 1, "shipment_id": s} for i, s in enumerate(shipment_ids)]
    return table(INVOICE_LINES, rows, charge_type="linehaul", amount=1.0)


def targets(*rows: dict) -> pd.DataFrame:
    return table(TARGETS, list(rows), account_id="ACC-1", period="contract")


SHIPMENTS_Q1 = shipments(
    {"shipment_id": "S1", "pickup_planned": "2026-01-05 08:00", "pickup_actual": "2026-01-05 10:00",
     "delivery_promised": "2026-01-07 09:00", "delivery_actual": "2026-01-07 17:00",
     "revenue": 100.0, "cost": 80.0, "weight_kg": 1000.0, "pallets": 2},
    {"shipment_id": "S2", "pickup_planned": "2026-02-01 08:00", "pickup_actual": "2026-02-02 08:00",
     "delivery_promised": "2026-02-04 12:00", "delivery_actual": "2026-02-05 09:00",
     "revenue": 200.0, "cost": 150.0, "weight_kg": 500.0, "pallets": 1},
    {"shipment_id": "S3", "carrier": "Beta", "status": "in_transit", "pickup_planned": "2026-03-10 08:00",
     "pickup_actual": "2026-03-10 09:00", "delivery_promised": "2026-03-12 12:00",
     "revenue": 300.0, "cost": 270.0, "weight_kg": 2000.0, "pallets": 4},
    {"shipment_id": "S4", "mode": "LTL", "status": "in_transit", "pickup_planned": "2026-03-25 08:00",
     "pickup_actual": "2026-03-25 08:00", "delivery_promised": "2026-03-28 12:00",
     "revenue": 400.0, "cost": 300.0, "weight_kg": 100.0, "pallets": 1},
    {"shipment_id": "S5", "status": "cancelled", "pickup_planned": "2026-01-10 08:00",
     "pickup_actual": "2026-01-10 08:00", "delivery_promised": "2026-01-12 12:00",
     "delivery_actual": "2026-01-11 12:00", "revenue": 999.0, "cost": 999.0, "weight_kg": 999.0, "pallets": 9},
    {"shipment_id": "S6", "pickup_planned": "2025-12-31 08:00", "pickup_actual": "2025-12-31 22:00",
     "delivery_promised": "2026-01-03 12:00", "delivery_actual": "2026-01-02 10:00",
     "revenue": 50.0, "cost": 40.0, "weight_kg": 10.0, "pallets": 1},
    {"shipment_id": "S7", "destination": "Marseille", "short": True, "pickup_planned": "2026-02-10 08:00",
     "pickup_actual": "2026-02-10 08:00", "delivery_promised": "2026-02-12 12:00",
     "delivery_actual": "2026-02-11 12:00", "revenue": 250.0, "cost": 200.0, "weight_kg": 400.0, "pallets": 2},
    {"shipment_id": "S8", "pickup_planned": "2026-03-01 08:00", "pickup_actual": "2026-03-01 08:00",
     "delivery_actual": "2026-03-17 23:00", "revenue": 150.0, "cost": 100.0, "weight_kg": 100.0, "pallets": 0},
)  # fmt: skip

CASES_Q1 = cases(
    # K1 damage on S2: 48 h to resolve, claim 50
    {"case_id": "K1", "shipment_id": "S2", "opened": "2026-02-06 09:00", "closed": "2026-02-08 09:00",
     "claim_amount": 50.0, "status": "closed"},
    # K2 loss on S6, opened after the quarter: still marks S6 as damaged; its claim is 2026Q2's
    {"case_id": "K2", "category": "loss", "shipment_id": "S6", "opened": "2026-04-02 09:00", "claim_amount": 500.0},
    # K3 late delivery on S2 (Lyon → Paris): 12 h; repeats K5 (same category and lane, 48 days earlier)
    {"case_id": "K3", "category": "late delivery", "shipment_id": "S2", "opened": "2026-02-06 10:00",
     "closed": "2026-02-06 22:00", "status": "closed"},
    # K4 damage without a shipment: claim 30 counts, no shipment is marked
    {"case_id": "K4", "opened": "2026-03-01 08:00", "claim_amount": 30.0},
    # K5 late delivery on S1 (Lyon → Paris), opened in 2025Q4, closed in Q1 after 14 days = 336 h
    {"case_id": "K5", "category": "late delivery", "shipment_id": "S1", "opened": "2025-12-20 08:00",
     "closed": "2026-01-03 08:00", "status": "closed"},
    # K6 late delivery on S7 (Lyon → Marseille): 24 h; other lane, so not a repeat of K3/K5
    {"case_id": "K6", "category": "late delivery", "shipment_id": "S7", "opened": "2026-03-15 08:00",
     "closed": "2026-03-16 08:00", "status": "closed"},
    # K7 / K8 communication on Lyon → Paris, 136 days apart: not a repeat; K8 still open at quarter end
    {"case_id": "K7", "category": "communication", "shipment_id": "S1", "opened": "2025-09-01 08:00",
     "closed": "2025-09-05 08:00", "status": "closed"},
    {"case_id": "K8", "category": "communication", "shipment_id": "S2", "opened": "2026-01-15 08:00",
     "closed": "2026-04-10 08:00", "status": "closed"},
)  # fmt: skip

INVOICES_Q1 = invoices(
    {"invoice_id": "I1", "issued": "2026-01-10", "due": "2026-02-09", "paid": "2026-02-01", "amount": 1000.0,
     "status": "paid"},  # 22 days to pay
    {"invoice_id": "I2", "issued": "2026-02-01", "due": "2026-03-03", "amount": 500.0, "status": "disputed"},
    {"invoice_id": "I3", "issued": "2026-03-15", "due": "2026-04-14", "amount": 700.0},  # not yet due
    {"invoice_id": "I4", "issued": "2025-12-01", "due": "2025-12-31", "paid": "2026-01-20", "amount": 300.0,
     "status": "paid"},  # issued in Q4, paid in Q1 after 50 days
    {"invoice_id": "I5", "issued": "2026-02-15", "due": "2026-03-17", "paid": "2026-04-05", "amount": 200.0,
     "status": "credited"},  # paid after the quarter: overdue at its end
    {"invoice_id": "I6", "issued": "2026-03-01", "due": "2026-03-31", "amount": 90.0},  # due on the last day
)  # fmt: skip

LINES_Q1 = invoice_lines("S1", "S2", "S7", None)

RATES_Q1 = table(
    RATE_CARDS,
    [{"rate_id": "R1", "origin": "Lyon", "destination": "Paris", "valid_from": "2025-01-01"}],
    account_id="ACC-1",
    mode="FTL",
    basis="per_shipment",
    rate=100.0,
)

TARGETS_Q1 = targets(
    {"metric": "otd_pct", "target": 95.0, "tolerance": 5.0},
    {"metric": "otd_pct", "period": "2026Q1", "target": 90.0, "tolerance": 5.0},
    {"metric": "revenue", "target": 1500.0, "tolerance": 200.0},
    {"metric": "days_to_pay", "target": 30.0, "tolerance": 10.0},
    {"metric": "gross_margin_pct", "target": 20.0},
    {"metric": "damage_ratio_pct", "target": 50.0},
)

OPPORTUNITIES_Q1 = table(
    OPPORTUNITIES,
    [
        {"opp_id": "O1", "service": "Air", "stage": "proposal", "amount": 100_000.0, "probability": 0.5},
        {"opp_id": "O2", "service": "Ocean", "stage": "won", "amount": 500_000.0, "probability": 1.0},
        {"opp_id": "O3", "service": "Warehousing", "stage": "negotiation", "amount": 200_000.0, "probability": 0.3},
        {"opp_id": "O4", "service": "Parcel", "stage": "lost", "amount": 90_000.0, "probability": 0.0},
    ],
    account_id="ACC-1",
)


def account(**tables: object) -> AccountData:
    full = dict(
        shipments=SHIPMENTS_Q1,
        invoices=INVOICES_Q1,
        invoice_lines=LINES_Q1,
        rate_cards=RATES_Q1,
        cases=CASES_Q1,
        opportunities=OPPORTUNITIES_Q1,
        targets=TARGETS_Q1,
        as_of=AS_OF,
    )
    full.update(tables)
    return AccountData(account={"account_id": "ACC-1", "name": "Fixture Foods"}, **full)


@pytest.fixture(scope="module")
def card() -> m.Scorecard:
    return m.scorecard(account(), "2026Q1")


def q1() -> pd.DataFrame:
    return m.shipments_in(SHIPMENTS_Q1, Q)


# ----------------------------------------------------------------------------------------------- periods


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        ("2025-12-31 23:59", False),
        ("2026-01-01 00:00", True),
        ("2026-03-31 23:59", True),
        ("2026-04-01 00:00", False),
    ],
)
def test_quarter_boundaries(moment: str, inside: bool) -> None:
    assert bool(m.Span.of("2026Q1").holds(pd.Series([pd.Timestamp(moment)])).iloc[0]) is inside


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            {"pickup_actual": "2026-01-02", "pickup_planned": "2026-01-01", "delivery_actual": "2026-01-04"},
            "2026-01-02",
        ),
        ({"pickup_planned": "2026-01-01", "delivery_actual": "2026-01-04"}, "2026-01-01"),
        # no pickup date at all (exports of deliveries only): the delivery date, else the promise (docs/PERIODS.md)
        ({"delivery_actual": "2026-01-04", "delivery_promised": "2026-01-03"}, "2026-01-04"),
        ({"delivery_promised": "2026-01-03"}, "2026-01-03"),
        ({}, None),
    ],
)
def test_ship_date_first_known(row: dict, expected: str | None) -> None:
    got = m.ship_date(shipments({"shipment_id": "X", **row})).iloc[0]
    assert (expected is None and pd.isna(got)) or got == pd.Timestamp(expected)


# ----------------------------------------------------------------------------------------------- volume and money


def test_quarter_shipments_exclude_cancelled_and_other_quarters() -> None:
    # S5 cancelled; S6 picked up 2025-12-31 22:00 belongs to 2025Q4
    assert sorted(q1()["shipment_id"]) == ["S1", "S2", "S3", "S4", "S7", "S8"]


def test_revenue_cost_volume() -> None:
    ships = q1()
    assert m.revenue(ships) == 1400.0  # 100 + 200 + 300 + 400 + 250 + 150
    assert m.cost(ships) == 1100.0  # 80 + 150 + 270 + 300 + 200 + 100
    assert m.weight_kg(ships) == 4100.0  # 1000 + 500 + 2000 + 100 + 400 + 100
    assert m.pallets(ships) == 10.0  # 2 + 1 + 4 + 1 + 2 + 0


def test_gross_margin() -> None:
    assert m.gross_margin_pct(q1()) == pytest.approx(300 / 1400 * 100)  # (1400 − 1100) / 1400 = 21.43 %


@pytest.mark.parametrize(
    ("revenues", "costs", "expected"),
    [
        ([], [], None),  # no shipments
        ([0.0], [10.0], None),  # no revenue
        ([100.0, None], [50.0, 10.0], 40.0),  # (100 − 60) / 100; a missing revenue is 0
    ],
)
def test_gross_margin_edges(revenues: list, costs: list, expected: float | None) -> None:
    ships = shipments(
        *(
            {"shipment_id": f"S{i}", "revenue": r, "cost": c}
            for i, (r, c) in enumerate(zip(revenues, costs, strict=False))
        )
    )
    assert m.gross_margin_pct(ships) == expected


# ----------------------------------------------------------------------------------------------- service


def test_otd() -> None:
    # measured in Q1: S1 on time, S2 late, S6 on time, S7 on time (delivered), S3 late (in transit past promise);
    # S4 promised after the as-of day, S8 has no promise, S5 cancelled → 3 of 5 on time
    assert m.otd_pct(m.delivery_events(SHIPMENTS_Q1, AS_OF), Q) == 60.0


def test_otif() -> None:
    # same 5 as OTD; on time and in full: S1, S6 (S7 was short) → 2 of 5
    assert m.otif_pct(m.delivery_events(SHIPMENTS_Q1, AS_OF), Q) == 40.0


def test_otp() -> None:
    # picked up in Q1 with a plan: S1 (later hour, same day: on time), S2 late, S3, S4, S7, S8 → 5 of 6
    assert m.otp_pct(m.pickup_events(SHIPMENTS_Q1), Q) == pytest.approx(5 / 6 * 100)


@pytest.mark.parametrize(
    ("promised", "delivered", "on_time"),
    [
        ("2026-02-04 09:00", "2026-02-04 23:59", True),  # same day, later hour
        ("2026-02-04 23:00", "2026-02-04 01:00", True),
        ("2026-02-04 23:59", "2026-02-05 00:00", False),  # next day, a minute later
        ("2026-02-04 09:00", "2026-02-01 09:00", True),  # early
    ],
)
def test_on_time_by_calendar_day(promised: str, delivered: str, on_time: bool) -> None:
    ships = shipments({"shipment_id": "X", "delivery_promised": promised, "delivery_actual": delivered})
    assert m.otd_pct(m.delivery_events(ships), Q) == (100.0 if on_time else 0.0)


@pytest.mark.parametrize(
    ("as_of", "otd"),
    [
        ("2026-02-05 08:00", 0.0),  # promised 4 Feb, undelivered on 5 Feb: late
        ("2026-02-04 23:00", None),  # still the promised day: not yet measured
        (None, None),  # no as-of: undelivered shipments are not measured (no one knows they are late)
    ],
)
def test_in_transit_past_promise_counts_late(as_of: str | None, otd: float | None) -> None:
    ships = shipments({"shipment_id": "X", "status": "in_transit", "delivery_promised": "2026-02-04 12:00"})
    assert m.otd_pct(m.delivery_events(ships, None if as_of is None else pd.Timestamp(as_of)), Q) == otd


def test_promise_on_last_day_undelivered_is_late_in_that_quarter() -> None:
    ships = shipments({"shipment_id": "X", "status": "in_transit", "delivery_promised": "2026-03-31 18:00"})
    events = m.delivery_events(ships, pd.Timestamp("2026-05-01"))
    assert (m.otd_pct(events, "2026Q1"), m.otd_pct(events, "2026Q2")) == (0.0, None)


def test_otd_none_without_measured_deliveries() -> None:
    assert m.otd_pct(m.delivery_events(shipments({"shipment_id": "X"})), Q) is None  # no dates at all


def test_damage_ratio() -> None:
    # delivered in Q1: S1, S2, S6, S7, S8 (5); with a damage/loss case: S2 (K1), S6 (K2, opened in April) → 2 of 5
    assert m.damage_ratio_pct(SHIPMENTS_Q1, CASES_Q1, Q) == 40.0


def test_damage_ratio_none_vs_zero() -> None:
    assert m.damage_ratio_pct(SHIPMENTS_Q1, None, Q) is None  # no cases table
    assert m.damage_ratio_pct(SHIPMENTS_Q1, CASES_Q1.iloc[0:0], Q) == 0.0  # table, but no case
    assert m.damage_ratio_pct(SHIPMENTS_Q1, CASES_Q1, "2027Q1") is None  # no deliveries


def test_claims_cost() -> None:
    # damage/loss opened in Q1: K1 50 + K4 30 = 80 (K2's 500 is April's) → 80 / 1400 revenue
    assert m.claims_cost_pct(CASES_Q1, 1400.0, Q) == pytest.approx(80 / 1400 * 100)  # 5.71 %
    assert m.claims_cost_pct(CASES_Q1, 0.0, Q) is None
    assert m.claims_cost_pct(None, 1400.0, Q) is None


# ----------------------------------------------------------------------------------------------- billing


def test_invoice_accuracy() -> None:
    # issued in Q1: I1, I2 (disputed), I3, I5 (credited), I6 → 3 of 5 needed no dispute or credit
    assert m.invoice_accuracy_pct(INVOICES_Q1, Q) == 60.0
    assert m.invoice_accuracy_pct(INVOICES_Q1, "2027Q1") is None  # none issued
    assert m.invoice_accuracy_pct(None, Q) is None


def test_billing_variance() -> None:
    priced = m.in_period(m.priced_shipments(m.active_shipments(SHIPMENTS_Q1), RATES_Q1), "ship_date", Q)
    # rated (FTL Lyon → Paris, flat 100): S1 100, S2 200, S3 300, S8 150; S4 is LTL, S7 goes to Marseille
    assert m.billing_variance(priced) == 350.0  # 0 + 100 + 200 + 50
    assert m.billing_variance_pct(priced) == 87.5  # 350 / (4 × 100)


def test_billing_variance_nothing_rated() -> None:
    priced = m.priced_shipments(m.active_shipments(SHIPMENTS_Q1), RATES_Q1.iloc[0:0])
    assert m.billing_variance(priced) == 0.0 and m.billing_variance_pct(priced) is None


@pytest.mark.parametrize(
    ("lag", "unbilled"),
    [
        (14, 2),  # cut-off 17 Mar: delivered S1, S2, S6, S7, S8 (17 Mar 23:00); S6 and S8 have no line
        (15, 1),  # cut-off 16 Mar: S8 too recent to chase
        (0, 2),  # cut-off 31 Mar
        (90, 0),  # cut-off 31 Dec 2025: nothing of Q1 yet
    ],
)
def test_unbilled_shipments(lag: int, unbilled: int) -> None:
    assert m.unbilled_shipments(SHIPMENTS_Q1, LINES_Q1, Q, billing_lag_days=lag) == unbilled


def test_unbilled_none_without_invoice_lines() -> None:
    assert m.unbilled_shipments(SHIPMENTS_Q1, None, Q) is None


def test_days_to_pay() -> None:
    # paid in Q1: I1 after 22 days, I4 after 50 days → 36.0 (I5 was paid in April)
    assert m.days_to_pay(INVOICES_Q1, Q) == 36.0
    assert m.days_to_pay(INVOICES_Q1, "2027Q1") is None
    assert m.days_to_pay(None, Q) is None


def test_overdue_amount() -> None:
    # unpaid at 31 Mar and due before it: I2 500 (due 3 Mar), I5 200 (paid 5 Apr) → 700;
    # I3 is due in April, I6 is due on 31 Mar itself (not yet overdue)
    assert m.overdue_amount(INVOICES_Q1, Q) == 700.0
    assert m.overdue_amount(INVOICES_Q1, "2025Q4") == 0.0  # I4 was due 31 Dec, the quarter's last day
    assert m.overdue_amount(None, Q) is None


# ----------------------------------------------------------------------------------------------- cases


def test_case_counts() -> None:
    assert m.cases_opened(CASES_Q1, Q) == 5  # K1, K3, K4, K6, K8
    assert m.cases_closed(CASES_Q1, Q) == 4  # K1, K3, K5, K6
    assert m.cases_backlog(CASES_Q1, Q) == 2  # K4 still open, K8 closed only on 10 Apr


def test_median_hours_to_resolve() -> None:
    # closed in Q1: K3 12 h, K6 24 h, K1 48 h, K5 336 h → median (24 + 48) / 2
    assert m.median_hours_to_resolve(CASES_Q1, Q) == 36.0


def test_repeat_complaints() -> None:
    assert m.repeat_complaints(CASES_Q1, SHIPMENTS_Q1, Q) == 1  # only K3 (K5 48 days before, same lane)


@pytest.mark.parametrize(
    ("earlier", "repeat"),
    [
        ({"opened": "2026-01-01 10:00"}, True),  # 90 days before 1 Apr 10:00, to the minute
        ({"opened": "2026-01-01 09:59"}, False),  # 90 days and a minute
        ({"opened": "2026-03-31 10:00", "shipment_id": "B"}, False),  # other lane
        ({"opened": "2026-03-31 10:00", "category": "loss"}, False),  # other category
        ({"opened": "2026-03-31 10:00", "shipment_id": None}, False),  # no shipment, no lane
        ({"opened": "2026-04-01 11:00"}, False),  # later, not earlier
    ],
)
def test_repeat_window_lane_category(earlier: dict, repeat: bool) -> None:
    ships = shipments({"shipment_id": "A"}, {"shipment_id": "A2"}, {"shipment_id": "B", "destination": "Nice"})
    kases = cases(
        {"case_id": "E", "shipment_id": "A2", **earlier},
        {"case_id": "N", "shipment_id": "A", "opened": "2026-04-01 10:00"},
    )
    assert m.repeat_flags(kases, ships).tolist()[1] is repeat


@pytest.mark.parametrize(
    "fn",
    [m.cases_opened, m.cases_closed, m.cases_backlog, m.median_hours_to_resolve],
)
def test_case_kpis_none_without_table_zero_without_rows(fn) -> None:
    assert fn(None, Q) is None
    assert fn(CASES_Q1.iloc[0:0], Q) == (None if fn is m.median_hours_to_resolve else 0)


def test_repeat_none_without_table_zero_without_rows() -> None:
    assert m.repeat_complaints(None, SHIPMENTS_Q1, Q) is None
    assert m.repeat_complaints(CASES_Q1.iloc[0:0], SHIPMENTS_Q1, Q) == 0


# ----------------------------------------------------------------------------------------------- targets and RAG


@pytest.mark.parametrize(
    ("quarter", "metric", "expected"),
    [
        ("2026Q1", "otd_pct", (90.0, 5.0)),  # the quarter's own row wins over 'contract'
        ("2026Q2", "otd_pct", (95.0, 5.0)),  # otherwise the contract row
        ("2026Q1", "gross_margin_pct", (20.0, None)),  # empty tolerance
        ("2026Q1", "otp_pct", (None, None)),  # no target
    ],
)
def test_target_period_precedence(quarter: str, metric: str, expected: tuple) -> None:
    assert m.target_for(TARGETS_Q1, metric, quarter) == expected


def test_target_period_spellings() -> None:
    rows = targets(
        {"metric": "otd_pct", "period": "2026-q1", "target": 91.0},
        {"metric": "otd_pct", "period": "Contract", "target": 95.0},
    )
    assert m.target_for(rows, "otd_pct", Q) == (91.0, None)
    assert m.target_for(rows, "otd_pct", "2026Q2") == (95.0, None)
    assert m.target_for(None, "otd_pct", Q) == (None, None)


@pytest.mark.parametrize(
    ("value", "target", "tolerance", "higher_is_better", "expected"),
    [
        (95.0, 95.0, 2.0, True, "green"),  # met exactly
        (93.0, 95.0, 2.0, True, "amber"),  # missed by 2 = tolerance
        (92.9, 95.0, 2.0, True, "red"),  # missed by 2.1
        (94.0, 95.0, None, True, "red"),  # no tolerance: any miss is red
        (36.0, 30.0, 10.0, False, "amber"),  # days to pay 6 over a 30-day target
        (29.0, 30.0, 10.0, False, "green"),  # lower is better: under target is met
        (41.0, 30.0, 10.0, False, "red"),
        (None, 95.0, 2.0, True, None),  # no value
        (90.0, None, None, True, None),  # no target
    ],
)
def test_rag(value, target, tolerance, higher_is_better, expected) -> None:
    assert m.rag(value, target, tolerance, higher_is_better) == expected


# ----------------------------------------------------------------------------------------------- the scorecard


EXPECTED_Q1 = {
    "revenue": 1400.0,
    "cost": 1100.0,
    "gross_margin_pct": pytest.approx(21.428571428),
    "shipments": 6,
    "weight_kg": 4100.0,
    "pallets": 10.0,
    "otd_pct": 60.0,
    "otp_pct": pytest.approx(83.333333333),
    "otif_pct": 40.0,
    "damage_ratio_pct": 40.0,
    "claims_cost_pct": pytest.approx(5.714285714),
    "invoice_accuracy_pct": 60.0,
    "billing_variance": 350.0,
    "billing_variance_pct": 87.5,
    # the data ends on 26 Mar, so the billing lag runs back from 27 Mar: delivered by 12 Mar and not invoiced = S6
    # (S8, delivered 17 Mar, is still within the lag)
    "unbilled_shipments": 1,
    "days_to_pay": 36.0,
    "overdue_amount": 700.0,
    "cases_opened": 5,
    "cases_closed": 4,
    "cases_backlog": 2,
    "median_hours_to_resolve": 36.0,
    "repeat_complaints": 1,
}


def test_scorecard_values_and_order(card: m.Scorecard) -> None:
    assert list(card.kpis) == list(EXPECTED_Q1)
    assert {k: kpi.value for k, kpi in card.kpis.items()} == EXPECTED_Q1


def test_scorecard_prior_and_last_year(card: m.Scorecard) -> None:
    # The data ends on 26 Mar 2026 (2.84 of 3 months of Q1), so Q1 is compared with the same 86 days of the
    # earlier quarters: 1 Oct – 26 Dec 2025 and 1 Jan – 26 Mar 2025.
    assert card.coverage is not None and (card.coverage.partial, card.coverage.months) == (True, 2.84)
    revenue = card.kpis["revenue"]
    assert revenue.prior == 0.0  # S6 shipped on 31 Dec: outside 1 Oct – 26 Dec
    assert revenue.last_year is None  # 2025Q1 is before the account's first record (K7, 1 Sep 2025): no data
    assert card.kpis["gross_margin_pct"].prior is None  # no revenue in the compared days
    assert card.kpis["otp_pct"].prior is None  # S6's pickup is after 26 Dec
    assert card.kpis["otd_pct"].prior is None  # nothing due in 2025Q4
    assert card.kpis["gross_margin_pct"].last_year is None  # no data
    assert card.kpis["cases_opened"].prior == 1  # K5 (20 Dec)
    assert card.kpis["cases_backlog"].prior == 1  # K5 open at 26 Dec
    assert revenue.growth_qoq_pct is None  # no growth from 0


def test_scorecard_targets_and_rag(card: m.Scorecard) -> None:
    k = card.kpis
    assert (k["otd_pct"].target, k["otd_pct"].rag) == (90.0, "red")  # 60 vs the quarter's 90 ± 5
    assert (k["revenue"].target, k["revenue"].rag) == (1500.0, "amber")  # 100 short, tolerance 200
    assert (k["days_to_pay"].rag, k["days_to_pay"].higher_is_better) == ("amber", False)  # 36 vs 30 + 10
    assert k["gross_margin_pct"].rag == "green"  # 21.4 ≥ 20
    assert k["damage_ratio_pct"].rag == "green"  # 40 ≤ 50, lower is better
    assert (k["otp_pct"].target, k["otp_pct"].rag) == (95.0, "red")  # no contracted target: standard 95 ± 2
    assert (k["otp_pct"].target_source, k["otd_pct"].target_source) == ("standard", "contracted")
    assert k["revenue"].target_source == "contracted" and k["weight_kg"].target_source is None


def test_scorecard_labels_units_direction(card: m.Scorecard) -> None:
    lower = {"damage_ratio_pct", "claims_cost_pct", "days_to_pay", "overdue_amount", "cases_opened", "cases_backlog",
             "median_hours_to_resolve", "repeat_complaints", "unbilled_shipments", "cost"}  # fmt: skip
    assert {k for k, kpi in card.kpis.items() if not kpi.higher_is_better} == lower
    assert card.kpis["otd_pct"].label == "On-time delivery" and card.kpis["gross_margin_pct"].label == "Gross margin"
    assert {kpi.unit for kpi in card.kpis.values()} <= {"money", "pct", "count", "days", "hours", "kg"}
    assert card.headline()["otd_pct"] == 60.0


def test_scorecard_quarterly(card: m.Scorecard) -> None:
    frame = card.quarterly
    assert list(frame.columns) == ["quarter", "shipments", "revenue", "cost", "gross_margin_pct", "otd_pct", "otp_pct"]
    assert frame["quarter"].tolist() == ["2025Q4", "2026Q1"]  # S6 is the first shipment
    assert frame["shipments"].tolist() == [1, 6]
    assert frame["revenue"].tolist() == [50.0, 1400.0]
    assert frame["otd_pct"].iloc[1] == 60.0 and np.isnan(frame["otd_pct"].iloc[0])
    assert frame["otp_pct"].tolist() == [100.0, pytest.approx(83.333333333)]


def test_scorecard_monthly(card: m.Scorecard) -> None:
    frame = card.monthly
    assert len(frame) == 15 and frame["month"].iloc[0] == pd.Timestamp("2025-01-01")
    last = frame.tail(4).reset_index(drop=True)  # Dec 2025 … Mar 2026
    assert last["shipments"].tolist() == [1, 1, 2, 3]  # S6 | S1 | S2, S7 | S3, S4, S8
    assert last["revenue"].tolist() == [50.0, 100.0, 450.0, 850.0]
    # Jan: S1, S6 on time; Feb: S2 late, S7 on time; Mar: S3 late
    assert last["otd_pct"].tolist()[1:] == [100.0, 50.0, 0.0] and np.isnan(last["otd_pct"].iloc[0])
    assert last["otd_target"].tolist() == [95.0, 90.0, 90.0, 90.0]  # contract in 2025, the 2026Q1 row after


def test_scorecard_mode_mix_and_lanes(card: m.Scorecard) -> None:
    mix = card.mode_mix
    assert mix["mode"].tolist() == ["FTL", "LTL"] and mix["shipments"].tolist() == [5, 1]
    assert mix["share_pct"].tolist() == [pytest.approx(1000 / 1400 * 100), pytest.approx(400 / 1400 * 100)]
    lanes = card.top_lanes
    assert lanes["lane"].tolist() == ["Lyon \u2192 Paris", "Lyon \u2192 Marseille"]
    assert lanes["revenue"].tolist() == [1150.0, 250.0]  # S1 S2 S3 S4 S8 | S7
    assert lanes["otd_pct"].tolist() == [50.0, 100.0]  # S1, S6 on time; S2, S3 late | S7


def test_scorecard_worst_lanes_and_carriers(card: m.Scorecard) -> None:
    lanes = card.worst_lanes
    assert lanes.to_dict("records") == [
        {"lane": "Lyon → Paris", "shipments": 4, "late": 2, "otd_pct": 50.0, "share_of_misses_pct": 100.0}
    ]  # Marseille had no miss
    carriers = card.worst_carriers
    # Beta: S3 late of 1; Acme: S2 late of S1, S2, S6, S7 → tie on 1 late, worse OTD first
    assert carriers["carrier"].tolist() == ["Beta", "Acme"]
    assert carriers["otd_pct"].tolist() == [0.0, 75.0] and carriers["share_of_misses_pct"].tolist() == [50.0, 50.0]


def test_scorecard_cases_by_category(card: m.Scorecard) -> None:
    frame = card.cases_by_category
    assert frame["category"].tolist() == ["late delivery", "damage", "communication"]
    assert frame["opened"].tolist() == [2, 2, 1]  # K3 K6 | K1 K4 | K8
    assert frame["closed"].tolist() == [3, 1, 0]  # K3 K5 K6 | K1 | —
    assert frame["median_hours_to_resolve"].tolist()[:2] == [24.0, 48.0]  # median(12, 336, 24) | 48


def test_scorecard_pipeline_and_available(card: m.Scorecard) -> None:
    assert card.pipeline["opp_id"].tolist() == ["O3", "O1"]  # won / lost dropped
    assert card.pipeline["weighted"].tolist() == [60_000.0, 50_000.0]  # 200k × 0.3, 100k × 0.5
    assert all(card.available.values()) and len(card.available) == 7


def test_scorecard_agrees_with_the_small_functions(card: m.Scorecard) -> None:
    assert card.value("otd_pct") == m.otd_pct(m.delivery_events(SHIPMENTS_Q1, AS_OF), Q)
    assert card.value("repeat_complaints") == m.repeat_complaints(CASES_Q1, SHIPMENTS_Q1, Q)
    covered = m.Span(pd.Timestamp("2026-01-01"), pd.Timestamp("2026-03-27"))  # the data ends on 26 Mar
    assert card.value("unbilled_shipments") == m.unbilled_shipments(SHIPMENTS_Q1, LINES_Q1, covered)


def test_scorecard_without_optional_tables() -> None:
    bare = account(invoices=None, invoice_lines=None, rate_cards=None, cases=None, opportunities=None, targets=None)
    card = m.scorecard(bare, Q)
    absent = ["damage_ratio_pct", "claims_cost_pct", "invoice_accuracy_pct", "billing_variance", "billing_variance_pct",
              "unbilled_shipments", "days_to_pay", "overdue_amount", "cases_opened", "cases_closed", "cases_backlog",
              "median_hours_to_resolve", "repeat_complaints"]  # fmt: skip
    assert {k: card.value(k) for k in absent} == dict.fromkeys(absent)  # None, not 0
    assert card.value("otd_pct") == 60.0 and card.kpis["otd_pct"].rag == "red"  # vs the standard 95 ± 2
    assert card.kpis["otd_pct"].target_source == "standard"
    assert card.cases_by_category.empty and list(card.cases_by_category.columns) == list(m.CASES_BY_CATEGORY_COLUMNS)
    assert card.pipeline.empty and list(card.pipeline.columns) == list(m.PIPELINE_COLUMNS)
    assert card.available == {"shipments": True, "invoices": False, "invoice_lines": False, "rate_cards": False,
                              "cases": False, "opportunities": False, "targets": False}  # fmt: skip


def test_scorecard_empty_tables_give_zero_counts() -> None:
    empty = account(cases=CASES_Q1.iloc[0:0], invoices=INVOICES_Q1.iloc[0:0], invoice_lines=LINES_Q1.iloc[0:0])
    card = m.scorecard(empty, Q)
    assert [card.value(k) for k in ("cases_opened", "cases_closed", "cases_backlog", "repeat_complaints")] == [
        0,
        0,
        0,
        0,
    ]
    assert card.value("median_hours_to_resolve") is None and card.value("days_to_pay") is None
    assert card.value("overdue_amount") == 0.0 and card.value("damage_ratio_pct") == 0.0
    assert card.value("unbilled_shipments") == 4  # S1, S2, S6, S7 delivered by 12 Mar (as-of − lag), none invoiced


def test_scorecard_quarter_without_shipments() -> None:
    card = m.scorecard(account(), "2027Q1")  # after the data's end (26 Mar 2026): no data, not zeros
    assert (card.value("revenue"), card.value("shipments"), card.value("gross_margin_pct")) == (None, None, None)
    assert card.value("otd_pct") is None and card.value("billing_variance") is None
    assert card.coverage is not None and card.coverage.days == 0
    # the 15 months start in Jan 2026, so they still show Q1 2026: S1 | S2, S7 | S3, S4, S8, then no data
    assert card.monthly["shipments"].fillna(-1).tolist() == [1, 2, 3] + [-1] * 12
    assert card.mode_mix.empty and card.top_lanes.empty and card.worst_lanes.empty
    assert list(card.top_lanes.columns) == list(m.TOP_LANES_COLUMNS)


@pytest.mark.parametrize("ships", [None, SHIPMENTS_Q1.iloc[0:0]])
def test_scorecard_without_shipments(ships: pd.DataFrame | None) -> None:
    card = m.scorecard(account(shipments=ships), Q)
    assert card.value("otd_pct") is None and card.value("damage_ratio_pct") is None
    assert card.value("invoice_accuracy_pct") == 60.0  # invoices do not need shipments
    if ships is None:
        assert card.value("revenue") is None and card.quarterly.empty and card.monthly.empty
        assert card.value("repeat_complaints") is None  # no lanes to compare
        assert list(card.monthly.columns) == list(m.MONTHLY_COLUMNS)
    else:
        assert card.value("revenue") is None  # no shipment records a revenue: no data, not 0
        assert card.value("shipments") == 0 and card.quarterly["quarter"].tolist() == ["2026Q1"]


def test_scorecard_tolerates_missing_optional_values() -> None:
    ships = shipments(
        {"shipment_id": "A", "revenue": None, "cost": None, "carrier": None, "short": None, "damaged": None,
         "weight_kg": None, "pallets": None, "pickup_actual": "2026-02-01", "delivery_promised": "2026-02-03",
         "delivery_actual": "2026-02-03"},
        {"shipment_id": "B", "status": None, "pickup_actual": "2026-02-01", "delivery_promised": "2026-02-03",
         "delivery_actual": "2026-02-05"},
    )  # fmt: skip
    card = m.scorecard(account(shipments=ships), Q)
    assert card.value("revenue") == 100.0 and card.value("weight_kg") == 100.0  # B only
    # A records neither shortage nor damage, so OTIF cannot judge it; B is measured and late: 0 of 1 -> 0.0
    assert card.value("otd_pct") == 50.0 and card.value("otif_pct") == 0.0
    assert card.worst_carriers["carrier"].tolist() == ["Acme"]
    assert set(card.top_lanes["lane"]) == {"Lyon → Paris"}


def test_measures_no_shipment_records_are_none_not_zero() -> None:
    # Real exports (SCMS) carry no pallets and no shortage/damage flags: the KPIs say "no data", not 0 / 100%.
    ships = shipments(
        {"shipment_id": "A", "short": None, "damaged": None, "pallets": None, "pickup_actual": "2026-02-01",
         "delivery_promised": "2026-02-03", "delivery_actual": "2026-02-03"},
        {"shipment_id": "B", "short": None, "damaged": None, "pallets": None, "pickup_actual": "2026-02-01",
         "delivery_promised": "2026-02-03", "delivery_actual": "2026-02-04"},
    )  # fmt: skip
    card = m.scorecard(account(shipments=ships), Q)
    assert card.value("otd_pct") == 50.0  # 1 of 2 on time
    assert card.value("otif_pct") is None and card.value("pallets") is None
    assert card.value("weight_kg") == 200.0  # the fixture's default 100 kg each


def test_scorecard_does_not_mutate_inputs() -> None:
    data = account()
    before = {name: getattr(data, name).copy(deep=True) for name in m.AVAILABLE_TABLES}
    m.scorecard(data, Q)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(getattr(data, name), frame, obj=name)


def _synthetic(n: int = 5000) -> AccountData:
    """~5k shipments over 8 quarters (2024–2025) with invoices, cases, rates and targets."""
    rng = np.random.default_rng(7)
    cities = [f"C{i}" for i in range(12)]
    planned = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 730 * 24, n), unit="h")
    promised = planned + pd.to_timedelta(rng.integers(24, 96, n), unit="h")
    ships = pd.DataFrame(
        {
            "shipment_id": [f"S{i}" for i in range(n)],
            "account_id": "ACC-1",
            "mode": rng.choice(["FTL", "LTL", "Air"], n),
            "origin": rng.choice(cities, n),
            "destination": rng.choice(cities, n),
            "carrier": rng.choice(["A", "B", "C"], n),
            "pickup_planned": planned,
            "pickup_actual": planned + pd.to_timedelta(rng.integers(-5, 30, n), unit="h"),
            "delivery_promised": promised,
            "delivery_actual": pd.Series(promised + pd.to_timedelta(rng.integers(-30, 40, n), unit="h")).where(
                rng.random(n) > 0.03
            ),
            "weight_kg": rng.uniform(10, 20_000, n),
            "pallets": rng.integers(0, 30, n),
            "distance_km": rng.uniform(50, 1500, n),
            "revenue": rng.uniform(100, 3000, n),
            "cost": rng.uniform(80, 2500, n),
            "status": rng.choice(["delivered", "in_transit", "cancelled"], n, p=[0.9, 0.07, 0.03]),
            "damaged": rng.random(n) < 0.02,
            "short": rng.random(n) < 0.02,
        }
    )
    issued = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 730, 800), unit="D")
    invs = pd.DataFrame(
        {
            "invoice_id": [f"I{i}" for i in range(800)],
            "issued": issued,
            "due": issued + pd.Timedelta(days=30),
            "paid": pd.Series(issued + pd.to_timedelta(rng.integers(5, 60, 800), unit="D")).where(
                rng.random(800) > 0.1
            ),
            "amount": rng.uniform(1000, 9000, 800),
            "status": rng.choice(["paid", "open", "disputed", "credited"], 800),
        }
    )
    lines = pd.DataFrame({"invoice_id": "I1", "line_no": np.arange(1, n + 1), "shipment_id": ships["shipment_id"]})
    opened = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 730 * 24, 400), unit="h")
    kases = pd.DataFrame(
        {
            "case_id": [f"K{i}" for i in range(400)],
            "account_id": "ACC-1",
            "opened": opened,
            "closed": pd.Series(opened + pd.to_timedelta(rng.integers(1, 500, 400), unit="h")).where(
                rng.random(400) > 0.2
            ),
            "category": rng.choice(["late delivery", "damage", "loss", "other"], 400),
            "shipment_id": rng.choice(ships["shipment_id"], 400),
            "claim_amount": rng.uniform(0, 2000, 400),
        }
    )
    card = table(
        RATE_CARDS,
        [{"rate_id": f"R{o}{d}", "origin": o, "destination": d} for o in cities for d in cities]
        + [{"rate_id": "Z", "mode": "LTL", "basis": "per_kg", "rate": 0.08}],
        account_id="ACC-1", mode="FTL", basis="per_km", rate=1.2, valid_from="2024-01-01",
    )  # fmt: skip
    return account(
        shipments=ships,
        invoices=invs,
        invoice_lines=lines,
        cases=kases,
        rate_cards=card,
        as_of=pd.Timestamp("2026-01-05"),
    )


def test_scorecard_on_a_synthetic_book_has_every_quarter() -> None:
    # Speed is measured in benchmarks/, never asserted here.
    card = m.scorecard(_synthetic(), "2025Q4")
    assert len(card.quarterly) == 8 and card.value("shipments") > 500


@pytest.mark.parametrize("audience", ["client", "internal"])
def test_a_report_prepares_its_account_once(book, monkeypatch: pytest.MonkeyPatch, audience: str) -> None:
    """QbrReport.load derives the account's frames once: both scorecards, health (with its history), forecast,
    audit, renewal, whitespace and the workbook take the prepared account."""
    import sys

    from kam_helpers.exports.workbook import build_workbook
    from kam_helpers.metrics import prepared
    from kam_helpers.qbr.report import QbrReport

    original, calls = prepared.prepare, []

    def counted(data):
        calls.append(data.account_id)
        return original(data)

    for module in [mod for name, mod in sys.modules.items() if name.startswith("kam_helpers")]:
        if getattr(module, "prepare", None) is original:
            monkeypatch.setattr(module, "prepare", counted)
    report = QbrReport.load(book.at_risk, str(book.quarter), book.workspace, audience=audience)
    build_workbook(report)
    assert calls == [book.at_risk]
