"""Health score: the scoring rules on hand-made values, weight redistribution, drivers, and the sample book."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from test_metrics import SHIPMENTS_Q1

from kam_helpers.analyses import health
from kam_helpers.core.errors import ConfigError, NoDataError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.account_data import AccountData
from kam_helpers.data.store import Workspace
from kam_helpers.metrics.scorecard import Kpi


@pytest.mark.parametrize(
    ("value", "good", "bad", "expected"),
    [
        (92, 96, 88, 50.0),  # halfway between bad and good
        (99, 96, 88, 100.0),  # better than good: clamped
        (80, 96, 88, 0.0),  # worse than bad: clamped
        (1.0, 0.3, 1.5, 41.66666666666667),  # lower is better: (1.5 − 1.0) / (1.5 − 0.3)
    ],
)
def test_measure_score(value: float, good: float, bad: float, expected: float) -> None:
    assert health.measure_score(value, good, bad) == pytest.approx(expected)


CONFIG = health.parse_config(
    {
        "measures": {
            "otd_pct": {
                "component": "service",
                "weight": 3,
                "relative_to_target": True,
                "good": 0,
                "bad": -8,
                "fallback_target": 95,
            },
            "invoice_accuracy_pct": {"component": "billing", "weight": 1, "good": 100, "bad": 80},
            "cases_per_100_shipments": {"component": "cases", "weight": 1, "good": 1, "bad": 6},
        },
        "bands": {"green": 70, "amber": 50},
        "top_drivers": 2,
    }
)


def _kpis(otd: float | None, otd_target: float | None = 96.0) -> dict[str, Kpi]:
    return {"otd_pct": Kpi("otd_pct", "On-time delivery", "pct", otd, target=otd_target)}


def test_blend_weights_and_relative_targets() -> None:
    # OTD 92 vs target 96: good 96, bad 88 → 50; accuracy 90 → 50; cases 1 per 100 → 100
    values = {"otd_pct": 92.0, "invoice_accuracy_pct": 90.0, "cases_per_100_shipments": 1.0}
    frame, score = health.blend(values, _kpis(92.0), CONFIG)
    # weights 3:1:1 → (3·50 + 1·50 + 1·100) / 5 = 60
    assert score == pytest.approx(60.0)
    otd = frame.set_index("name").loc["otd_pct"]
    assert (otd["good"], otd["bad"], otd["points_lost"]) == (96.0, 88.0, pytest.approx(0.6 * 50))
    d = health.drivers(frame, 2)
    assert [x.name for x in d] == ["otd_pct", "invoice_accuracy_pct"]  # 30 points, then 10
    assert d[0].text.startswith("On-time delivery 92.0%") and "costs 30.0 points" in d[0].text


def test_missing_measure_hands_its_weight_to_the_others() -> None:
    values = {"otd_pct": 92.0, "invoice_accuracy_pct": None, "cases_per_100_shipments": 1.0}
    frame, score = health.blend(values, _kpis(92.0, None), CONFIG)
    # no OTD target: fallback 95 → good 95, bad 87 → (92 − 87) / 8 = 62.5; weights 3:1 → (3·62.5 + 100) / 4
    assert score == pytest.approx(71.875)
    assert frame.set_index("name").loc["invoice_accuracy_pct", "effective_weight"] == 0.0
    notes = health.redistribution_notes(frame, AccountData({"account_id": "A"}, SHIPMENTS_Q1))
    assert notes == [
        "Invoice accuracy: no data (the workspace has no invoices table); its weight 1 is spread "
        "over the other measures."
    ]
    with pytest.raises(NoDataError):
        health.blend(dict.fromkeys(values), _kpis(None), CONFIG)


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="measures.nonsense"):
        health.parse_config({"measures": {"nonsense": {"component": "service", "weight": 1, "good": 1, "bad": 0}}})
    with pytest.raises(ConfigError, match="measures.otd_pct.component"):
        health.parse_config({"measures": {"otd_pct": {"component": "mood", "weight": 1, "good": 1, "bad": 0}}})
    assert health.load_config().measures  # the shipped health.yml parses


def test_shipments_only_account_says_what_it_lacks() -> None:
    data = AccountData({"account_id": "ACC-1"}, SHIPMENTS_Q1, as_of=pd.Timestamp("2026-03-26 12:00"))
    h = health.health_score(data, "2026Q1")
    assert 0 <= h.score <= 100 and h.band in ("green", "amber", "red")
    tables = {n.split("the workspace has no ")[1].split(" table")[0] for n in h.redistributed if "has no" in n}
    assert tables == {"cases", "invoices", "invoice_lines", "rate_cards", "opportunities"}
    assert list(h.history.columns) == ["quarter", "score", "band", "change"]
    # 2025Q4 holds one shipment (S6) but no delivery and no last year to compare with: nothing to score, left out
    assert h.history["quarter"].tolist() == ["2026Q1"]


@pytest.mark.slow
def test_sample_scores_separate_the_profiles(book) -> None:
    profiles = json.loads((book.exports / "planted.json").read_text())["profiles"]
    with Workspace.open(book.workspace) as ws:
        scores = {a: health.health_score(ws.account_data(a), book.quarter) for a in ws.account_ids()}
    at_risk = [s for a, s in scores.items() if profiles[a] == "at_risk"]
    healthy = [s for a, s in scores.items() if profiles[a] == "healthy"]
    assert max(s.score for s in at_risk) < min(s.score for s in healthy)
    assert all(s.band == "red" and s.drivers[0].name == "otd_pct" for s in at_risk)
    for s in scores.values():
        assert len(s.history) == 8 and s.history["quarter"].iloc[-1] == str(book.quarter)
        assert s.history["score"].iloc[-1] == pytest.approx(s.score)
        assert s.redistributed == []  # the sample has every table
    assert all(s.trend == "declining" for s in at_risk)
    assert Quarter.parse(book.quarter) == scores[book.healthy].quarter


def test_cached_kpis_equal_the_scorecards(book) -> None:
    """health reuses metrics' one-pass preparation; its KPIs must stay exactly metrics.kpis.kpis."""
    from kam_helpers.metrics.kpis import kpis

    with Workspace.open(book.workspace) as ws:
        data = ws.account_data(book.at_risk)
    scorer = health._Scorer(data, health.load_config())
    for q in (book.quarter, book.quarter.shift(-4)):
        assert scorer.kpis(q) == kpis(data, q)
