"""Rating: which rate card row applies to a shipment, and what it should have cost (worked out by hand)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kam_helpers.metrics.rating import COLUMNS, expected_charges, rating_day

TIMESTAMPS = ("pickup_planned", "pickup_actual", "delivery_promised", "delivery_actual", "valid_from", "valid_to")


def _frame(rows: list[dict], defaults: dict) -> pd.DataFrame:
    """Rows (dicts over defaults) → a typed frame; timestamp columns parsed one value at a time."""
    frame = pd.DataFrame([{**defaults, **row} for row in rows])
    for column in TIMESTAMPS:
        if column in frame:
            frame[column] = pd.Series([pd.Timestamp(v) if v else pd.NaT for v in frame[column]], dtype="datetime64[ns]")
    return frame


def shipments(*rows: dict) -> pd.DataFrame:
    return _frame(
        list(rows),
        {
            "shipment_id": "S1",
            "account_id": "ACC-1",
            "mode": "FTL",
            "origin": "Lyon",
            "destination": "Paris",
            "pickup_planned": "2026-02-10 08:00",
            "pickup_actual": None,
            "delivery_promised": None,
            "weight_kg": 1000.0,
            "distance_km": 450.0,
        },
    )


def rates(*rows: dict) -> pd.DataFrame:
    return _frame(
        list(rows),
        {
            "rate_id": "R1",
            "account_id": "ACC-1",
            "mode": "FTL",
            "origin": "Lyon",
            "destination": "Paris",
            "basis": "per_shipment",
            "rate": 500.0,
            "minimum": None,
            "fuel_surcharge_pct": None,
            "valid_from": "2026-01-01",
            "valid_to": None,
        },
    )


def charge(ship: pd.DataFrame, card: pd.DataFrame) -> dict:
    """The single shipment's row of expected_charges as a dict."""
    return expected_charges(ship, card).iloc[0].to_dict()


ZONE = {"rate_id": "Z1", "origin": None, "destination": None}


def test_exact_lane_beats_zone() -> None:
    card = rates({"rate_id": "Z1", "origin": None, "destination": None, "rate": 300.0}, {"rate_id": "L1"})
    assert charge(shipments({}), card)["rate_id"] == "L1"  # the lane row (500) wins over the zone row (300)


@pytest.mark.parametrize("blank", [None, "", "  "])
def test_zone_applies_when_no_lane_row(blank: str | None) -> None:
    card = rates(
        {"rate_id": "Z1", "origin": blank, "destination": blank, "rate": 300.0},
        {"rate_id": "L2", "destination": "Lille"},
    )
    row = charge(shipments({}), card)
    assert (row["rate_id"], row["expected"]) == ("Z1", 300.0)  # Lyon → Paris has no lane row; zone flat 300


def test_half_empty_row_is_neither_lane_nor_zone() -> None:
    card = rates({"rate_id": "H1", "origin": "Lyon", "destination": None})
    row = charge(shipments({}), card)
    assert row["rate_id"] is None and np.isnan(row["expected"])


@pytest.mark.parametrize(
    ("basis", "rate", "minimum", "expected"),
    [
        ("per_kg", 0.12, None, 120.0),  # 1000 kg × 0.12 = 120.00
        ("per_km", 1.5, None, 675.0),  # 450 km × 1.5 = 675.00
        ("per_shipment", 500.0, None, 500.0),  # 1 × 500
        ("flat", 480.0, None, 480.0),  # 1 × 480
        ("per_kg", 0.12, 150.0, 150.0),  # 120 < minimum 150 → 150
        ("per_km", 1.5, 600.0, 675.0),  # 675 > minimum 600 → 675
        ("per_kg", 0.123456, None, 123.46),  # 123.456 rounds to 123.46
        ("PER_KG ", 0.12, None, 120.0),  # basis read case- and space-insensitively
    ],
)
def test_bases_and_minimum(basis: str, rate: float, minimum: float | None, expected: float) -> None:
    row = charge(shipments({}), rates({"basis": basis, "rate": rate, "minimum": minimum}))
    assert row["linehaul"] == expected
    assert row["fuel"] == 0.0 and row["expected"] == expected  # no surcharge given → 0


def test_fuel_surcharge_on_linehaul() -> None:
    row = charge(shipments({}), rates({"basis": "per_kg", "rate": 0.1, "minimum": 150.0, "fuel_surcharge_pct": 12.5}))
    # linehaul = max(1000 × 0.1, 150) = 150; fuel = 150 × 12.5 % = 18.75; expected = 168.75
    assert (row["linehaul"], row["fuel"], row["expected"]) == (150.0, 18.75, 168.75)


def test_fuel_rounded_to_cents() -> None:
    row = charge(shipments({}), rates({"rate": 333.33, "fuel_surcharge_pct": 7.0}))
    # fuel = 333.33 × 0.07 = 23.3331 → 23.33; expected = 356.66
    assert (row["fuel"], row["expected"]) == (23.33, 356.66)


@pytest.mark.parametrize(
    ("pickup_planned", "rate_id"),
    [
        ("2025-12-31 23:59", None),  # the day before the first rate starts
        ("2026-01-01 00:00", "OLD"),  # valid_from is inclusive
        ("2026-06-30 23:00", "OLD"),  # valid_to is inclusive, the time of day is ignored
        ("2026-07-01 06:00", "NEW"),  # the next version takes over
        ("2031-01-01 06:00", "NEW"),  # empty valid_to = open-ended
    ],
)
def test_validity_periods(pickup_planned: str, rate_id: str | None) -> None:
    card = rates(
        {"rate_id": "OLD", "valid_from": "2026-01-01", "valid_to": "2026-06-30"},
        {"rate_id": "NEW", "valid_from": "2026-07-01", "valid_to": None},
    )
    assert charge(shipments({"pickup_planned": pickup_planned}), card)["rate_id"] == rate_id


def test_overlapping_rows_latest_valid_from_wins() -> None:
    card = rates(
        {"rate_id": "A", "valid_from": "2026-01-01"}, {"rate_id": "B", "valid_from": "2026-02-01", "rate": 520.0}
    )
    assert charge(shipments({}), card)["rate_id"] == "B"  # both valid on 10 Feb; B started later


@pytest.mark.parametrize(
    ("planned", "actual", "promised", "day"),
    [
        ("2026-02-10 08:00", "2026-03-01 08:00", "2026-04-01 08:00", "2026-02-10"),  # planned first
        (None, "2026-03-01 08:00", "2026-04-01 08:00", "2026-03-01"),  # then actual pickup
        (None, None, "2026-04-01 08:00", "2026-04-01"),  # then the promised delivery
        (None, None, None, None),  # nothing to rate on
    ],
)
def test_rating_day_fallback(planned: str | None, actual: str | None, promised: str | None, day: str | None) -> None:
    ship = shipments({"pickup_planned": planned, "pickup_actual": actual, "delivery_promised": promised})
    got = rating_day(ship).iloc[0]
    assert (pd.isna(got) and day is None) or got == pd.Timestamp(day)


def test_rating_uses_the_fallback_date() -> None:
    card = rates({"rate_id": "Q1", "valid_to": "2026-03-31"}, {"rate_id": "Q2", "valid_from": "2026-04-01"})
    ship = shipments({"pickup_planned": None, "pickup_actual": None, "delivery_promised": "2026-04-02 10:00"})
    assert charge(ship, card)["rate_id"] == "Q2"  # rated on the promised delivery day, 2 April


@pytest.mark.parametrize(("field", "value"), [("account_id", "ACC-2"), ("mode", "LTL")])
def test_account_and_mode_must_match(field: str, value: str) -> None:
    assert charge(shipments({}), rates({field: value}))["rate_id"] is None


def test_missing_weight_gives_unknown_charge_not_the_minimum() -> None:
    row = charge(shipments({"weight_kg": None}), rates({"basis": "per_kg", "rate": 0.1, "minimum": 150.0}))
    assert row["rate_id"] == "R1" and np.isnan(row["linehaul"]) and np.isnan(row["expected"])


def test_one_row_per_shipment_in_input_order() -> None:
    ships = shipments(
        {"shipment_id": "S3", "destination": "Nice"},
        {"shipment_id": "S1"},
        {"shipment_id": "S2", "mode": "Air"},
    )
    out = expected_charges(ships, rates({}, {"rate_id": "Z1", "origin": None, "destination": None, "rate": 300.0}))
    assert list(out.columns) == COLUMNS
    assert out["shipment_id"].tolist() == ["S3", "S1", "S2"]
    assert out["rate_id"].tolist() == ["Z1", "R1", None]  # Nice: zone; Paris: lane; Air: no rate
    assert out["expected"].tolist()[:2] == [300.0, 500.0] and np.isnan(out["expected"].iloc[2])


@pytest.mark.parametrize("card", [None, rates({}).iloc[0:0]])
def test_no_rate_cards(card: pd.DataFrame | None) -> None:
    out = expected_charges(shipments({}, {"shipment_id": "S2"}), card)
    assert out["rate_id"].tolist() == [None, None] and out["expected"].isna().all()


def test_no_shipments() -> None:
    out = expected_charges(shipments({}).iloc[0:0], rates({}))
    assert list(out.columns) == COLUMNS and out.empty


def test_inputs_not_modified() -> None:
    ships, card = shipments({}, {"shipment_id": "S2", "origin": "Nice"}), rates({}, ZONE)
    before = ships.copy(deep=True), card.copy(deep=True)
    expected_charges(ships, card)
    pd.testing.assert_frame_equal(ships, before[0])
    pd.testing.assert_frame_equal(card, before[1])


def test_rates_every_shipment_of_a_large_book() -> None:
    n, cities = 100_000, [f"C{i}" for i in range(20)]
    rng = np.random.default_rng(1)
    ships = pd.DataFrame(
        {
            "shipment_id": [f"S{i}" for i in range(n)],
            "account_id": "ACC-1",
            "mode": rng.choice(["FTL", "LTL"], n),
            "origin": rng.choice(cities, n),
            "destination": rng.choice(cities, n),
            "pickup_planned": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 730, n), unit="D"),
            "weight_kg": rng.uniform(10, 20_000, n),
            "distance_km": rng.uniform(10, 1_500, n),
        }
    )
    lanes = [
        {"rate_id": f"R{m}{o}{d}{y}", "mode": m, "origin": o, "destination": d, "basis": "per_km", "rate": 1.2,
         "valid_from": f"{y}-01-01", "valid_to": f"{y}-12-31"}
        for m in ("FTL", "LTL") for o in cities[:10] for d in cities[:10] for y in (2025, 2026)
    ]  # fmt: skip
    zones = [
        {"rate_id": f"Z{m}", "mode": m, "origin": None, "destination": None, "basis": "per_kg", "rate": 0.1,
         "valid_from": "2025-01-01"}
        for m in ("FTL", "LTL")
    ]  # fmt: skip
    card = rates(*lanes, *zones)
    out = expected_charges(ships, card)
    assert len(out) == n and out["rate_id"].notna().all()  # every FTL/LTL shipment has a lane or zone rate


def test_rate_rows_without_account_are_skipped_not_shifted() -> None:
    card = rates({"rate_id": "BAD", "account_id": None, "rate": 1.0}, {"rate_id": "R1", "rate": 500.0})
    row = charge(shipments({}), card)
    assert (row["rate_id"], row["expected"]) == ("R1", 500.0)  # the unusable first row does not shift R1
