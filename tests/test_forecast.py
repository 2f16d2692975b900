"""Forecast: seasonal naive and its interval by hand, method choice, the backtest, the sample book, and the
accuracy document being current."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_metrics import shipments

from kam_helpers import forecast as fc
from kam_helpers.account_data import AccountData
from kam_helpers.errors import NoDataError
from kam_helpers.store import Workspace

Z80 = statistics.NormalDist().inv_cdf(0.9)  # 1.2816


def test_seasonal_naive_point_and_interval() -> None:
    y = np.array([10, 20, 30, 40, 12, 22, 32, 44], dtype=float)
    out = fc.seasonal_naive(y, 5)
    assert out["point"].tolist() == [12, 22, 32, 44, 12]  # same quarter last year; step 5 wraps to 12
    # seasonal errors y[t] − y[t−4] = 2, 2, 2, 4 → σ = 1.0; steps 1–4 one season ahead, step 5 two: √2
    assert out["upper"].iloc[0] - out["point"].iloc[0] == pytest.approx(Z80 * 1.0)
    assert out["upper"].iloc[4] - out["point"].iloc[4] == pytest.approx(Z80 * np.sqrt(2))
    short = fc.seasonal_naive(np.array([5.0, 7.0]), 2)  # fewer than 4: last value, too few errors for a range
    assert short["point"].tolist() == [7.0, 7.0] and short["lower"].isna().all()


@pytest.mark.parametrize(
    ("n", "method"),
    [
        (2, "naive"),
        (4, "seasonal_naive"),
        (5, "seasonal_naive"),
        (6, "ets_trend"),
        (7, "ets_trend"),
        (8, "ets"),
        (30, "ets"),
    ],
)
def test_choose_method(n: int, method: str) -> None:
    assert fc.choose_method(n) == method


def test_backtest_on_an_exactly_seasonal_series() -> None:
    y = np.tile([100.0, 120.0, 90.0, 140.0], 2)[:7]  # 7 quarters: origins 4 and 5 seasonal naive, 6 ETS trend
    b = fc.backtest(y)
    assert b["origins"] == 3 and b["methods"] == "seasonal_naive ×2, ets_trend ×1"
    assert b["errors"][:2].tolist() == [0.0, 0.0]  # seasonal naive is exact on an exact pattern
    # MASE scale = mean |y[t] − y[t−4]| = 0 here → undefined, never a division by zero
    assert np.isnan(b["mase"])


def test_ets_follows_trend_and_season() -> None:
    season = np.array([0.9, 1.0, 1.0, 1.1])
    y = np.array([(100 + 5 * t) * 10 * season[t % 4] for t in range(16)])
    out, method = fc.predict(y, 4)
    truth = np.array([(100 + 5 * t) * 10 * season[t % 4] for t in range(16, 20)])
    assert method == "ets"
    assert np.all(np.abs(out["point"].to_numpy() - truth) / truth < 0.05)
    assert (out["lower"] <= out["point"]).all() and (out["point"] <= out["upper"]).all()


def test_widen_never_narrows() -> None:
    pred = pd.DataFrame({"point": [100.0, 100.0], "lower": [90.0, 40.0], "upper": [110.0, 160.0]})
    wide = fc.widen(pred, np.array([30.0, -30.0]), 0.8)  # RMSE 30 → ±38.4 at step 1, ±54.4 at step 2
    assert wide["lower"].tolist() == [pytest.approx(100 - Z80 * 30), 40.0]  # step 2 was already wider
    assert wide["upper"].tolist() == [pytest.approx(100 + Z80 * 30), 160.0]
    assert fc.widen(pred, np.array([5.0]), 0.8).equals(pred)  # one error is no evidence


def test_no_shipments_is_no_data() -> None:
    with pytest.raises(NoDataError, match="no data"):
        fc.forecast(AccountData({"account_id": "A"}, None), "2026Q1")
    with pytest.raises(NoDataError, match="no data"):
        fc.forecast(AccountData({"account_id": "A"}, shipments()), "2026Q1")


@pytest.fixture(scope="module")
def sample_forecasts(book) -> dict[str, fc.Forecast]:
    with Workspace.open(book.workspace) as ws:
        return {a: fc.forecast(ws.account_data(a), book.quarter) for a in ws.account_ids()}


def test_every_sample_account_has_a_forecast_with_its_accuracy(sample_forecasts) -> None:
    for account_id, f in sample_forecasts.items():
        assert f.frame["quarter"].tolist()[:4] == ["2026Q4", "2027Q1", "2027Q2", "2027Q3"]
        assert len(f.frame) == 8 and (f.frame["lower"] <= f.frame["point"]).all()
        assert (f.frame["point"] <= f.frame["upper"]).all() and (f.frame["lower"] >= 0).all()
        assert f.method == {"shipments": "ets", "revenue": "ets"}
        assert (f.backtest["origins"] == 4).all() and f.backtest[["mape", "mase"]].notna().all().all()
        assert "MAPE" in f.note and "MASE" in f.note, account_id
    mase = [f.accuracy("shipments")["mase"] for f in sample_forecasts.values()]
    print(f"forecast backtest, shipments: median MASE {np.median(mase):.2f} over {len(mase)} accounts")


def test_forecast_accuracy_document_is_current(book, sample_forecasts) -> None:
    doc = Path(__file__).resolve().parents[1] / fc.DOC_PATH
    with Workspace.open(book.workspace) as ws:
        text = fc.backtest_report(ws, fc.DOC_QUARTER, sample_forecasts)
    assert book.quarter == fc.DOC_QUARTER
    stored = doc.read_text(encoding="utf-8")
    # Same words and table; numbers equal up to the last printed digit (model fits may differ in the last
    # bit between machines).
    number = re.compile(r"\d+\.\d+")
    assert number.sub("#", stored) == number.sub("#", text), "regenerate it: python -m kam_helpers.forecast"
    for a, b in zip(number.findall(stored), number.findall(text), strict=False):
        assert abs(float(a) - float(b)) <= 0.11, f"{a} vs {b}: regenerate it with python -m kam_helpers.forecast"
