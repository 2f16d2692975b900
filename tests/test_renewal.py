"""Renewal and the rate-change what-if, on a hand-made account."""

from __future__ import annotations

import datetime as dt

import pytest
from test_metrics import shipments

from kam_helpers.analyses import renewal
from kam_helpers.core.errors import NoDataError
from kam_helpers.data.account_data import AccountData

ACCOUNT = {
    "account_id": "ACC-1",
    "contract_start": dt.date(2024, 4, 1),
    "contract_end": dt.date(2026, 12, 31),
    "committed_shipments": 12,
}
# 3 shipments in 2025Q4 (before the contract year), 7 from April 2026 on; each revenue 100, cost 80
SHIPS = shipments(
    *[
        {"shipment_id": f"S{i}", "pickup_actual": day}
        for i, day in enumerate(["2025-11-01"] * 3 + ["2026-04-10"] * 3 + ["2026-08-01"] * 4)
    ]
)


def test_renewal_figures() -> None:
    r = renewal.renewal(AccountData(ACCOUNT, SHIPS), "2026Q3")
    assert r.days_to_renewal == 92  # 30 Sep → 31 Dec
    assert r.contract_year_start == dt.date(2026, 4, 1)
    assert (r.actual_last_4q, r.contract_year_to_date) == (10, 7)
    assert r.pct_of_commitment_4q == pytest.approx(10 / 12 * 100)
    # 183 days of 365 elapsed: 7 / (12 × 183 / 365) = 116.3 %; projected 7 × 365 / 183 = 13.96
    assert r.pace_pct == pytest.approx(7 / (12 * 183 / 365) * 100)
    assert r.projected_year == pytest.approx(7 * 365 / 183)
    assert r.by_quarter.values.tolist() == [
        ["2025Q4", 3, 3.0],
        ["2026Q1", 0, 3.0],
        ["2026Q2", 3, 3.0],
        ["2026Q3", 4, 3.0],
    ]


def test_renewal_without_contract_data() -> None:
    r = renewal.renewal(AccountData({"account_id": "ACC-1"}, None), "2026Q3")
    assert (r.days_to_renewal, r.committed_annual, r.actual_last_4q, r.pace_pct) == (None, None, None, None)


def test_rate_change_what_if() -> None:
    w = renewal.rate_change_what_if(AccountData(ACCOUNT, SHIPS), "2026Q3", 5)
    # 10 shipments: revenue 1000, cost 800; +5 % → revenue 1050, margin 200 → 250
    assert (w.revenue_before, w.revenue_after, w.margin_before, w.margin_after) == (
        1000.0,
        pytest.approx(1050.0),
        200.0,
        pytest.approx(250.0),
    )
    assert (w.margin_pct_before, w.margin_pct_after) == (20.0, pytest.approx(250 / 1050 * 100))
    lost = renewal.rate_change_what_if(AccountData(ACCOUNT, SHIPS), "2026Q3", 5, volume_change_pct=-10)
    # 10 % fewer shipments: revenue 1000 × 1.05 × 0.9 = 945, cost 720
    assert (lost.revenue_after, lost.cost_after) == (pytest.approx(945.0), pytest.approx(720.0))
    curve = renewal.what_if_curve(AccountData(ACCOUNT, SHIPS), "2026Q3", [-5, 0, 5])
    assert curve["margin"].tolist() == [pytest.approx(150.0), 200.0, pytest.approx(250.0)]
    with pytest.raises(NoDataError):
        renewal.rate_change_what_if(AccountData(ACCOUNT, None), "2026Q3", 5)
