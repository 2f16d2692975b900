"""Root cause: misses by lane and carrier, hotspots, recurrence and resolution on a hand-made account; the planted
late clusters of the sample; and the real SCMS data, which has no cases or carriers.

Hand-made quarter 2026Q1 (20 deliveries, lane A = Lyon → Paris, B = Lyon → Nice):

* lane A with Acme: 10 deliveries, 6 late              → a hotspot: 60 % late vs 1/10 = 10 % elsewhere
* lane B with Beta: 10 deliveries, 1 late, 1 damaged    → misses 2
  misses: 6 + 2 = 8 → lane A 75 %, lane B 25 %
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_metrics import cases, shipments

from kam_helpers.analyses import root_cause as rc
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.account_data import AccountData
from kam_helpers.data.store import Workspace

Q = Quarter(2026, 1)


def _rows() -> list[dict]:
    rows = []
    for i in range(20):
        lane_b = i >= 10
        late = (i < 6) or i == 10
        rows.append(
            {
                "shipment_id": f"S{i}",
                "destination": "Nice" if lane_b else "Paris",
                "carrier": "Beta" if lane_b else "Acme",
                "pickup_actual": "2026-02-01 08:00",
                "delivery_promised": "2026-02-03 17:00",
                "delivery_actual": "2026-02-05 10:00" if late else "2026-02-03 10:00",
                "damaged": i == 11,
            }
        )
    return rows


SHIPS = shipments(*_rows())
CASES = cases(
    # two late-delivery complaints on lane A 10 days apart: the second repeats the first
    {
        "case_id": "K1",
        "category": "late delivery",
        "shipment_id": "S0",
        "opened": "2026-02-06 09:00",
        "closed": "2026-02-07 09:00",
        "status": "closed",
        "root_cause": "carrier capacity",
    },
    {
        "case_id": "K2",
        "category": "late delivery",
        "shipment_id": "S1",
        "opened": "2026-02-16 09:00",
        "closed": "2026-02-16 21:00",
        "status": "closed",
        "root_cause": "carrier capacity",
    },
    # a damage case without a shipment, still open; and one pointing at an unknown shipment
    {"case_id": "K3", "opened": "2026-03-01 08:00"},
    {"case_id": "K4", "shipment_id": "NOPE", "opened": "2026-03-02 08:00"},
)


@pytest.fixture(scope="module")
def tiny() -> rc.RootCause:
    data = AccountData(account={"account_id": "ACC-1"}, shipments=SHIPS, cases=CASES, as_of=pd.Timestamp("2026-03-31"))
    return rc.root_causes(data, Q, min_late=3)


def test_lanes_and_carriers_with_their_share_of_misses(tiny: rc.RootCause) -> None:
    assert (tiny.deliveries, tiny.late, tiny.damaged) == (20, 7, 1)
    lanes = tiny.lanes.set_index("lane")
    assert lanes.loc["Lyon → Paris", ["late", "misses"]].tolist() == [6, 6]
    assert lanes.loc["Lyon → Paris", "share_of_misses_pct"] == pytest.approx(75.0)
    assert lanes.loc["Lyon → Nice", ["late", "damaged", "misses"]].tolist() == [1, 1, 2]
    assert lanes.loc["Lyon → Paris", "otd_pct"] == pytest.approx(40.0)  # 4 of 10 on time
    assert (tiny.top_lane, tiny.top_carrier) == ("Lyon → Paris", "Acme")
    assert tiny.carriers["share_of_misses_pct"].sum() == pytest.approx(100.0)


def test_hotspot_rule(tiny: rc.RootCause) -> None:
    hot = tiny.hotspots
    assert hot[["lane", "carrier", "late"]].values.tolist() == [["Lyon → Paris", "Acme", 6]]
    # 60 % late vs 1 late in the other 10 deliveries (10 %) → ratio 6; 6 of 7 late = 85.7 %
    assert hot["ratio"].iloc[0] == pytest.approx(6.0)
    assert hot["share_of_late_pct"].iloc[0] == pytest.approx(600 / 7)
    assert rc.root_causes(AccountData({"account_id": "ACC-1"}, SHIPS), Q, min_late=7).hotspots.empty


def test_recurrence_resolution_and_links(tiny: rc.RootCause) -> None:
    assert tiny.recurrence.values.tolist() == [["late delivery", "Lyon → Paris", 2, 1]]
    ttr = tiny.time_to_resolve.set_index("category")
    assert ttr.loc["late delivery", "median_hours"] == pytest.approx(18.0)  # 24 h and 12 h
    assert ttr.loc["damage", "open_at_end"] == 2
    assert dict(tiny.cases_by_link.values.tolist()) == {"shipment": 2, "no shipment": 1, "unknown shipment": 1}
    assert dict(tiny.root_causes[["root_cause", "cases"]].values.tolist()) == {
        "carrier capacity": 2,
        "(not found yet)": 2,
    }
    assert tiny.root_causes["share_pct"].tolist() == [50.0, 50.0]


def test_without_cases_says_no_data_for_cases_only() -> None:
    r = rc.root_causes(AccountData({"account_id": "ACC-1"}, SHIPS), Q)
    assert r.recurrence.empty and r.time_to_resolve.empty and r.cases_by_link.empty
    assert [n.split(":")[0] for n in r.no_data] == ["cases"]
    assert r.late == 7 and not r.lanes.empty


@pytest.mark.slow
def test_root_cause_finds_the_planted_late_clusters(book) -> None:
    planted = json.loads((book.exports / "planted.json").read_text())
    at_risk = sorted(a for a, p in planted["profiles"].items() if p == "at_risk")
    truth = {(c["account_id"], c["lane"], c["carrier"]) for c in planted["late_clusters"]}
    quarters = sorted({c["quarter"] for c in planted["late_clusters"]})
    found, carrier_hits, lane_hits, n = set(), 0, 0, 0
    with Workspace.open(book.workspace) as ws:
        for a in at_risk:
            data = ws.account_data(a)
            r = rc.root_causes(data, quarters[-1], window=len(quarters))
            found |= {(a, lane, carrier) for lane, carrier in r.persistent_hotspots[["lane", "carrier"]].values}
            for q in quarters:
                cluster = [c for c in planted["late_clusters"] if c["account_id"] == a and c["quarter"] == q]
                rq = rc.root_causes(data, q)
                n += 1
                carrier_hits += rq.top_carrier == cluster[0]["carrier"]
                lane_hits += rq.top_lane in {c["lane"] for c in cluster}
    hit = len(found & truth)
    precision, recall = hit / max(len(found), 1), hit / len(truth)
    print(
        f"root cause, planted late clusters (lane × carrier over {quarters[0]}–{quarters[-1]}): "
        f"precision {precision:.3f}, recall {recall:.3f}"
    )
    print(
        f"root cause, top carrier per at-risk account-quarter: {carrier_hits}/{n}; "
        f"top lane in the planted lanes: {lane_hits}/{n}"
    )
    assert precision >= 0.95 and recall >= 0.95
    assert carrier_hits / n >= 0.95
    assert lane_hits / n >= 0.8  # a single quarter can hold too few late deliveries to single out the lane


def test_figures_and_since_on_the_hand_made_account(tiny: rc.RootCause) -> None:
    fig = tiny.figures()
    assert fig["late"] == 7 and fig["window_start"] == Quarter(2025, 3)
    (hot,) = fig["hotspots"]
    assert (hot["lane"], hot["carrier"], hot["late"], hot["shipments"]) == ("Lyon → Paris", "Acme", 6, 10)
    assert hot["rate_pct"] == pytest.approx(60.0) and hot["rest_rate_pct"] == pytest.approx(10.0)
    assert hot["since"] == Q  # no shipment in the quarters before: a hotspot of this quarter only
    assert fig["pooled"] == []  # the pooled hotspot is this quarter's, said once


def test_the_internal_qbr_and_deck_say_where_late_deliveries_concentrate(book) -> None:
    """The at-risk account's internal report names its hotspot (lane with carrier, n of the quarter's late
    deliveries) and its repeat complaints, on the page and on a continuing service slide; the client's does not."""
    import io

    from pptx import Presentation

    from kam_helpers.exports import deck
    from kam_helpers.qbr.report import QbrReport

    internal = QbrReport.load(book.at_risk, str(book.quarter), book.workspace, audience="internal")
    found = internal.insights.root_cause
    assert found is not None and not found.hotspots.empty
    top = found.hotspots.iloc[0]
    service = internal.narrative.section("service").markdown
    line = next(x for x in service.splitlines() if x.startswith("- Where late deliveries concentrate:"))
    assert f"{top['lane']} with {top['carrier']}, {int(top['late'])} of the quarter's {found.late} late" in line
    if found.hotspot_since[(top["lane"], top["carrier"])] != book.quarter:
        assert "recurring since Q" in line
    if not found.recurrence.empty:
        assert "- Repeat complaints: " in service
    prs = Presentation(io.BytesIO(deck.build_deck(internal)))
    more = [s for s in prs.slides if s.shapes.title.text == "Service vs SLA" + deck.CONTINUED]
    assert more and any(
        "Where late deliveries concentrate" in sh.text_frame.text for sh in more[0].shapes if sh.has_text_frame
    )

    client = QbrReport.load(book.at_risk, str(book.quarter), book.workspace)
    assert client.insights.root_cause is None
    assert "concentrate" not in client.narrative.to_markdown()
    prs = Presentation(io.BytesIO(deck.build_deck(client)))
    assert not [s for s in prs.slides if s.shapes.title.text == "Service vs SLA" + deck.CONTINUED]


SCMS = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata" / "scms_usaid"


@pytest.mark.skipif(not (SCMS / "SCMS_Delivery_History_Dataset.csv").exists(), reason="SCMS data not present")
def test_real_scms_data_says_no_data_only_for_what_it_lacks(tmp_path) -> None:
    from kam_helpers.analyses import forecast, health
    from kam_helpers.data.importer import import_source

    root = Path(__file__).resolve().parents[1]
    import_source(
        SCMS / "SCMS_Delivery_History_Dataset.csv", root / "data" / "mappings" / "scms_usaid.yml", tmp_path / "ws"
    )
    with Workspace.open(tmp_path / "ws") as ws:
        assert ws.tables == {"accounts", "shipments"}
        q = ws.last_complete_quarter()
        busiest = ws.query("SELECT account_id FROM shipments GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2")
        for account_id in busiest["account_id"]:
            data = ws.account_data(account_id)
            h = health.health_score(data, q, with_history=False)
            assert 0 <= h.score <= 100
            lacking = {
                n.split("the workspace has no ")[1].split(" table")[0]
                for n in h.redistributed
                if "the workspace has no" in n
            }
            assert lacking <= {"cases", "invoices", "invoice_lines", "rate_cards", "opportunities", "targets"}
            assert not [n for n in h.redistributed if "no shipments table" in n]
            f = forecast.forecast(data, q, horizon=2)
            assert f.method["shipments"] == "ets" and f.backtest["origins"].min() > 0
            assert f.frame[["point", "lower", "upper"]].notna().all().all()
            r = rc.root_causes(data, q)
            assert [n.split(":")[0] for n in r.no_data] == ["cases", "carriers"]
            assert r.deliveries > 0 and r.carriers.empty


def test_hostile_lane_and_carrier_names_stay_text_in_the_internal_narrative() -> None:
    """Lane and carrier names come from the exports: in the service section they are escaped Markdown, and the
    page's HTML of it has no tag, link or image made from them."""
    from kam_helpers import metrics
    from kam_helpers.analyses.insights import Insights
    from kam_helpers.core.safe_html import markdown_to_html
    from kam_helpers.qbr.narrative import build_narrative

    hostile = SHIPS.assign(
        carrier=SHIPS["carrier"].replace("Acme", "<script>alert(1)</script>"),
        destination=SHIPS["destination"].replace("Paris", "[x](javascript:alert(1)) ![i](http://evil/x.png)"),
    )
    data = AccountData(
        account={"account_id": "ACC-1"}, shipments=hostile, cases=CASES, as_of=pd.Timestamp("2026-03-31")
    )
    found = rc.root_causes(data, Q, min_late=3)
    assert found.figures()["hotspots"], "the hostile cell must be the hotspot the template prints"
    markdown = build_narrative(metrics.scorecard(data, Q), insights=Insights(root_cause=found)).section("service")
    line = next(x for x in markdown.markdown.splitlines() if x.startswith("- Where late deliveries concentrate:"))
    assert "\\<script\\>alert(1)\\</script\\>" in line and "!\\[i\\](http://evil/x.png)" in line
    page = markdown_to_html(line)
    assert "<script" not in page and "<a " not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "javascript:alert(1)" in page
