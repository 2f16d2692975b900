"""Whitespace: peer gaps with the anonymity rules, pipeline by stage, growth by source."""

from __future__ import annotations

import pandas as pd
import pytest
from test_metrics import shipments, table

from kam_helpers.analyses import whitespace as wsp
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.schema import OPPORTUNITIES
from kam_helpers.data.store import Workspace


def _bought(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["account_id", "dimension", "item", "annual_spend"])


PEERS = [f"P{i}" for i in range(7)]
BOUGHT = _bought(
    [("ME", "mode", "FTL", 500.0)]
    + [(p, "mode", "FTL", 100.0) for p in PEERS]
    + [(p, "mode", "Air", 1000.0 * (i + 1)) for i, p in enumerate(PEERS[:6])]  # 6 buyers: 1000 … 6000
    + [(p, "mode", "Ocean", 10.0) for p in PEERS[:4]]  # only 4 buyers: never shown
    + [(p, "service", "warehousing", 100.0 if i else 9000.0) for i, p in enumerate(PEERS[:5])]  # one dominates
)


def test_gaps_are_anonymous_aggregates_over_enough_peers() -> None:
    gaps = wsp.peer_gaps(BOUGHT, "ME", PEERS, min_peers=5)
    assert gaps[["dimension", "item", "peers_buying", "peers"]].values.tolist() == [
        ["mode", "Air", 6, 7],
        ["service", "warehousing", 5, 7],
    ]
    # Air: mean of 1000 … 6000 = 3500 (two significant figures); warehousing: 9000 of 9400 is one buyer → hidden
    assert gaps["mean_annual_spend"].iloc[0] == 3500.0 and pd.isna(gaps["mean_annual_spend"].iloc[1])
    assert (
        gaps["text"].iloc[0]
        == "6 of 7 comparable accounts buy Air (mode); their mean annual spend on it is about 3,500"
    )
    text = " ".join(map(str, gaps.to_numpy().ravel()))
    assert not any(p in text for p in PEERS)
    assert wsp.peer_gaps(BOUGHT, "ME", PEERS[:4], min_peers=5).empty  # too few peers: nothing at all


def test_pipeline_by_stage_in_funnel_order() -> None:
    opps = table(
        OPPORTUNITIES,
        [
            {"opp_id": "O1", "stage": "won", "amount": 100.0, "probability": 1.0},
            {"opp_id": "O2", "stage": "proposal", "amount": 200.0, "probability": 0.4},
            {"opp_id": "O3", "stage": "proposal", "amount": 50.0, "probability": 0.4},
        ],
        account_id="ACC-1",
        service="Air",
    )
    out = wsp.pipeline_by_stage(opps)
    assert out.values.tolist() == [["proposal", 2, 250.0, 100.0], ["won", 1, 100.0, 100.0]]


def test_growth_by_source() -> None:
    def ships(n: int, day: str, dest: str, revenue: float, start: int) -> list[dict]:
        return [
            {"shipment_id": f"S{start + i}", "destination": dest, "pickup_actual": day, "revenue": revenue}
            for i in range(n)
        ]

    # before (2025Q1–Q4): Paris 10 × 100, Nice 2 × 50; now (2026Q1–Q4): Paris 12 × 110, Lille 1 × 300
    frame = shipments(
        *ships(10, "2025-03-01", "Paris", 100.0, 0),
        *ships(2, "2025-05-01", "Nice", 50.0, 100),
        *ships(12, "2026-03-01", "Paris", 110.0, 200),
        *ships(1, "2026-06-01", "Lille", 300.0, 300),
    )
    out = wsp.growth_by_source(frame, Quarter(2026, 4)).set_index("source")["revenue_change"]
    # volume on Paris: +2 × 100 = 200; price: 1320 − 1000 − 200 = 120; new Lille 300; lost Nice −100
    assert out.to_dict() == {
        "new lanes": 300.0,
        "lost lanes": -100.0,
        "volume on continuing lanes": 200.0,
        "price and mix on continuing lanes": pytest.approx(120.0),
    }


@pytest.mark.slow
def test_whitespace_of_the_sample_never_names_a_peer(book) -> None:
    with Workspace.open(book.workspace) as ws:
        names = ws.accounts()[["account_id", "name"]]
        results = {a: wsp.whitespace(ws, a, book.quarter) for a in ws.account_ids()}
        by_industry = wsp.whitespace(ws, "ACC-001", book.quarter, peer_by="industry")
    assert any(not r.gaps.empty for r in results.values())
    for account_id, r in results.items():
        text = " ".join(map(str, r.gaps.to_numpy().ravel())) + " ".join(r.notes)
        others = names[names["account_id"] != account_id]
        assert not any(x in text for x in others["account_id"]) and not any(x in text for x in others["name"])
        assert (r.gaps["peers_buying"] >= 5).all()
        assert r.peers >= 5 or (r.gaps.empty and r.notes)
    assert by_industry.gaps.empty and "suppressed" in by_industry.notes[0]
