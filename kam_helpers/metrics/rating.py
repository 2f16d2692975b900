"""Rating: apply the contracted rate card to shipments → the charge each shipment should have been billed.

The rule, per shipment: take the rate card rows of the same account and mode that are valid on the shipment's
rating day (pickup_planned, else pickup_actual, else delivery_promised). A row for exactly the shipment's
origin and destination wins; otherwise a zone row (origin and destination both empty) applies. Then

    linehaul = round(max(rate × qty, minimum or 0), 2)     qty: weight_kg (per_kg), distance_km (per_km), 1
    fuel     = round(linehaul × (fuel_surcharge_pct or 0) / 100, 2)
    expected = linehaul + fuel

Rate rows with only one of origin / destination empty are neither lane nor zone rows and never apply.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kam_helpers.data.columns import dates as _dates
from kam_helpers.data.columns import numbers as _numbers

COLUMNS = ["shipment_id", "rate_id", "linehaul", "fuel", "expected"]
_KEYS = ["account_id", "mode"]
_LANE = ["origin", "destination"]


def _blank(values: pd.Series) -> pd.Series:
    """Text column → True where it is empty (missing or only whitespace)."""
    return values.isna() | values.astype("string").str.strip().eq("").fillna(True)


def rating_day(shipments: pd.DataFrame) -> pd.Series:
    """shipments → the day (midnight) each is rated on: pickup_planned, else pickup_actual, else delivery_promised."""
    day = _dates(shipments, "pickup_planned")
    for column in ("pickup_actual", "delivery_promised"):
        day = day.fillna(_dates(shipments, column))
    return day.dt.normalize()


def _valid_rows(pairs: pd.DataFrame) -> pd.DataFrame:
    """(shipment, rate) pairs → those whose rate is valid on the shipment's rating day."""
    day = pairs["day"]
    starts = pairs["valid_from"].isna() | (pairs["valid_from"] <= day)
    ends = pairs["valid_to"].isna() | (day <= pairs["valid_to"])
    return pairs[starts & ends]


def _rates(rate_cards: pd.DataFrame) -> pd.DataFrame:
    """rate_cards → the columns rating needs, typed, plus ``zone`` (origin and destination empty), ``lane``
    (both given), ``pos`` (row position) and ``rank`` (order of rate_id, for tie-breaks)."""
    origin_blank, destination_blank = _blank(rate_cards["origin"]), _blank(rate_cards["destination"])
    return pd.DataFrame(
        {
            "account_id": rate_cards["account_id"].to_numpy(),
            "mode": rate_cards["mode"].to_numpy(),
            "origin": rate_cards["origin"].where(~origin_blank).to_numpy(),
            "destination": rate_cards["destination"].where(~destination_blank).to_numpy(),
            "rate_id": rate_cards["rate_id"].to_numpy(dtype=object),
            "basis": rate_cards["basis"].astype("string").str.strip().str.lower().to_numpy(dtype=object),
            "rate": _numbers(rate_cards, "rate").to_numpy(),
            "minimum": _numbers(rate_cards, "minimum").to_numpy(),
            "fuel_surcharge_pct": _numbers(rate_cards, "fuel_surcharge_pct").to_numpy(),
            "valid_from": _dates(rate_cards, "valid_from").dt.normalize().to_numpy(),
            "valid_to": _dates(rate_cards, "valid_to").dt.normalize().to_numpy(),
            "zone": (origin_blank & destination_blank).to_numpy(),
            "lane": (~origin_blank & ~destination_blank).to_numpy(),
            "pos": np.arange(len(rate_cards)),
            "rank": rate_cards["rate_id"].astype("string").rank(method="dense").to_numpy(),
        }
    )


def matching_rates(shipments: pd.DataFrame, rate_cards: pd.DataFrame) -> pd.DataFrame:
    """shipments, rate_cards → one row per shipment (by position ``row``) that a rate applies to:
    row, rate_id, basis, rate, minimum, fuel_surcharge_pct. Exact lane beats zone; among several valid rows of
    the same kind the latest valid_from wins, then the smallest rate_id (so the answer is deterministic)."""
    keys = shipments.reindex(columns=_KEYS + _LANE)
    ships = pd.DataFrame(
        {
            "row": np.arange(len(shipments)),
            **{c: keys[c].to_numpy() for c in _KEYS + _LANE},
            "day": rating_day(shipments).to_numpy(),
        }
    ).dropna(subset=_KEYS + ["day"])
    rates = _rates(rate_cards)  # keep every row: ``pos`` is an iloc position below
    period = ["pos", "valid_from", "valid_to"]
    keyed = rates[_KEYS].notna().all(axis=1)
    lane_rates = rates.loc[keyed & rates["lane"], _KEYS + _LANE + period]
    zone_rates = rates.loc[keyed & rates["zone"], _KEYS + period]

    exact = _valid_rows(ships.dropna(subset=_LANE).merge(lane_rates, on=_KEYS + _LANE))
    # Only shipments without a valid lane rate need the (larger) zone join.
    rest = ships[~ships["row"].isin(exact["row"])]
    zone = _valid_rows(rest.drop(columns=_LANE).merge(zone_rates, on=_KEYS))
    row = np.concatenate([exact["row"].to_numpy(), zone["row"].to_numpy()])
    pos = np.concatenate([exact["pos"].to_numpy(), zone["pos"].to_numpy()])
    # Days since epoch as float (NaT → most negative, i.e. an open start sorts as the oldest).
    start = rates["valid_from"].to_numpy().astype("datetime64[D]").astype("float64")[pos]
    # A row has lane candidates or zone candidates, never both. lexsort's last key is the primary one:
    # by row, then latest valid_from, then smallest rate_id.
    order = np.lexsort((rates["rank"].to_numpy()[pos], -start, row))
    row, pos = row[order], pos[order]
    first = np.r_[True, row[1:] != row[:-1]] if len(row) else np.zeros(0, dtype=bool)
    best = rates.iloc[pos[first]]
    return pd.DataFrame(
        {
            "row": row[first],
            **{c: best[c].to_numpy() for c in ["rate_id", "basis", "rate", "minimum", "fuel_surcharge_pct"]},
        }
    )


def _quantity(basis: np.ndarray, weight_kg: np.ndarray, distance_km: np.ndarray) -> np.ndarray:
    """basis per row → the quantity the rate multiplies (NaN for an unknown basis or a missing measure)."""
    return np.select(
        [basis == "per_kg", basis == "per_km", (basis == "per_shipment") | (basis == "flat")],
        [weight_kg, distance_km, 1.0],
        default=np.nan,
    )


def expected_charges(shipments: pd.DataFrame, rate_cards: pd.DataFrame | None) -> pd.DataFrame:
    """shipments, rate_cards → one row per shipment, in input order: shipment_id, rate_id (None where no rate
    applies), linehaul, fuel, expected (NaN where no rate applies, or where the basis needs a weight or distance
    the shipment lacks). Inputs are not modified."""
    n = len(shipments)
    rate_id = np.full(n, None, dtype=object)
    linehaul = np.full(n, np.nan)
    if rate_cards is not None and n and len(rate_cards):
        best = matching_rates(shipments, rate_cards)
        rows = best["row"].to_numpy()
        qty = _quantity(
            best["basis"].to_numpy(),
            _numbers(shipments, "weight_kg").to_numpy()[rows],
            _numbers(shipments, "distance_km").to_numpy()[rows],
        )
        # np.maximum keeps NaN: an unknown quantity gives an unknown charge, not the minimum.
        charge = np.maximum(best["rate"].to_numpy() * qty, best["minimum"].fillna(0.0).to_numpy())
        rate_id[rows] = best["rate_id"].to_numpy()
        linehaul[rows] = np.round(charge, 2)
        surcharge = np.zeros(n)
        surcharge[rows] = best["fuel_surcharge_pct"].fillna(0.0).to_numpy()
    else:
        surcharge = np.zeros(n)
    fuel = np.round(linehaul * surcharge / 100, 2)
    return pd.DataFrame(
        {
            "shipment_id": shipments["shipment_id"].to_numpy() if "shipment_id" in shipments else [None] * n,
            "rate_id": pd.Series(rate_id, dtype=object),
            "linehaul": linehaul,
            "fuel": fuel,
            "expected": np.round(linehaul + fuel, 2),
        },
        columns=COLUMNS,
    )
