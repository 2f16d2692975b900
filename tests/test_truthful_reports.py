"""Truthful reports (issue 11): hand-made accounts for each case, run through metrics → health → narrative →
charts, with the expected values and words worked out by hand.

Every account is reviewed for 2026Q3. Unless a case says otherwise each shipment is picked up on day d at 08:00,
promised for day d + 2 and delivered on time; revenue 100, cost 80; lane Lyon → Paris, carrier Acme.
"""

from __future__ import annotations

import pandas as pd
import pytest
from test_metrics import shipments, targets

from kam_helpers import metrics
from kam_helpers.analyses import assessment, health
from kam_helpers.core.errors import ConfigError, NoDataError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.account_data import AccountData
from kam_helpers.qbr import charts, narrative

Q = Quarter(2026, 3)
AS_OF = pd.Timestamp("2026-09-30 18:00")


def ship(sid: str, day: str, *, late_days: int = 0, delivered: bool = True, **extra: object) -> dict:
    """A shipment picked up on ``day`` 08:00, promised two days later, delivered ``late_days`` after that."""
    pickup = pd.Timestamp(day) + pd.Timedelta(hours=8)
    promised = pickup + pd.Timedelta(days=2)
    row: dict = {
        "shipment_id": sid,
        "pickup_planned": str(pickup),
        "pickup_actual": str(pickup),
        "delivery_promised": str(promised),
        "delivery_actual": str(promised + pd.Timedelta(days=late_days)) if delivered else None,
        "status": "delivered" if delivered else "in_transit",
    }
    row.update(extra)
    return row


def account(rows: list[dict], *, as_of: pd.Timestamp | None = AS_OF, **tables: object) -> AccountData:
    return AccountData(
        account={"account_id": "ACC-9", "name": "Acme Trucking", "owner": "Ana Ruiz", "currency": "INR"},
        shipments=shipments(*rows),
        as_of=as_of,
        **tables,
    )


def judged(data: AccountData) -> tuple[metrics.Scorecard, health.HealthScore | None, assessment.Assessment]:
    sc = metrics.scorecard(data, Q)
    try:
        score = health.health_score(data, Q, with_history=False)
    except NoDataError:  # an account without any health measure
        score = None
    return sc, score, assessment.assess(sc, score)


def text(data: AccountData) -> str:
    sc, score, a = judged(data)
    return narrative.build_narrative(sc, assessment=a).to_markdown()


def quarter_days(n: int, start: str = "2026-07-06", step: int = 7) -> list[str]:
    return [str((pd.Timestamp(start) + pd.Timedelta(days=step * i)).date()) for i in range(n)]


# ------------------------------------------------------------------------- 1. one assessment from the numbers

# Last year 10 shipments (Q3 2025), this year 10: stable volume. OTD this quarter: 5 of 10 on time = 50.0%.
LAST_YEAR = [ship(f"L{i}", d) for i, d in enumerate(quarter_days(10, "2025-07-07"))]
HALF_LATE = [ship(f"S{i}", d, late_days=i % 2) for i, d in enumerate(quarter_days(10))]


def test_no_targets_low_otd_is_never_good() -> None:
    """No targets table: OTD 50.0% is red against the standard 95% target → at risk, 'difficult'."""
    sc, score, a = judged(account(LAST_YEAR + HALF_LATE))
    otd = sc.kpis["otd_pct"]
    assert (otd.value, otd.target, otd.target_source, otd.rag) == (50.0, 95.0, "standard", "red")
    assert (a.overall, a.band, a.tone) == ("at_risk", "red", "difficult")
    assert "otd_red" in a.rules and a.red[0] == "otd_pct"
    assert score is not None and score.band == a.band and score.verdict == a  # the health band is the verdict's
    words = text(account(LAST_YEAR + HALF_LATE))
    assert "Q3 2026 was a difficult quarter for Acme Trucking" in words
    assert "on-time delivery was 50.0%, below the standard target of 95.0%" in words
    assert not any(w in words for w in (" good ", " solid ", "healthy", "strong"))
    assert "Service missed the standard target this quarter." in words
    assert "over the 10 shipments due in Q3 2026" in words or "measured over the 10 shipments due" in words


def test_revenue_collapse_is_never_solid() -> None:
    """Every delivery on time, but revenue 10 × 100 = 1,000 against 10 × 352 = 3,520 a year ago: −71.6% YoY."""
    last_year = [{**row, "revenue": 352.0, "cost": 200.0} for row in LAST_YEAR]
    on_time = [ship(f"S{i}", d) for i, d in enumerate(quarter_days(10))]
    sc, score, a = judged(account(last_year + on_time))
    assert round(sc.kpis["revenue"].growth_yoy_pct, 1) == -71.6
    assert sc.kpis["otd_pct"].rag == "green"
    assert a.overall in ("watch", "at_risk") and a.tone in ("mixed", "difficult")
    assert "revenue_fall" in a.rules
    words = text(account(last_year + on_time))
    assert "solid" not in words and "good quarter" not in words


@pytest.mark.parametrize(
    ("score", "red", "expected"),
    [
        (95.0, (), "healthy"),  # score band green, nothing red
        (60.0, (), "watch"),  # amber band
        (40.0, (), "at_risk"),  # red band
        (95.0, ("otp_pct",), "watch"),  # a red measure caps a green score at watch
        (95.0, ("otd_pct",), "at_risk"),  # red on-time delivery: at risk whatever the score
    ],
)
def test_verdict_rules_table(score: float, red: tuple[str, ...], expected: str) -> None:
    """VERDICT_RULES: the score's band, capped by red measures."""
    kpis = {
        key: metrics.Kpi(key, key, "pct", 80.0 if key in red else 99.0, target=95.0, tolerance=2.0, rag=None)
        for key in ("otd_pct", "otp_pct", "otif_pct")
    }
    kpis = {k: metrics.Kpi(**{**v.__dict__, "rag": metrics.rag(v.value, 95.0, 2.0)}) for k, v in kpis.items()}
    a = assessment.judge(kpis, {"shipments": True}, {}, Q, score)
    assert a.overall == expected and a.band == {"healthy": "green", "watch": "amber", "at_risk": "red"}[expected]


def test_tone_rules_are_named() -> None:
    assert set(assessment.TONE_RULES) == {"good", "solid", "mixed", "difficult", "unmeasured"}
    assert {"score_band", "concerns", "otd_red", "red_measure", "revenue_fall"} == set(assessment.VERDICT_RULES)


# ------------------------------------------------------------------------- 3. absent is absent

NO_REVENUE = [ship(f"S{i}", d, revenue=None, cost=None) for i, d in enumerate(quarter_days(6))]


def test_no_revenue_is_no_data_everywhere() -> None:
    sc, _, _ = judged(account(NO_REVENUE))
    assert sc.headline()["revenue"] is None and sc.headline()["gross_margin_pct"] is None
    assert sc.headline()["shipments"] == 6
    assert sc.mode_mix.empty
    assert sc.top_lanes["lane"].tolist() == ["Lyon → Paris"] and sc.top_lanes["revenue"].isna().all()
    assert sc.monthly["revenue"].isna().all() and sc.quarterly["revenue"].isna().all()
    chart = charts.volume_revenue_trend(sc)
    assert chart is not None and "revenue" not in str(chart.to_dict())  # bars only: no flat 0 revenue line
    assert charts.quarterly_trend(sc) is None and charts.mode_mix(sc) is None
    words = text(account(NO_REVENUE))
    assert "- Revenue: no data" in words and "Top lanes by shipments: Lyon → Paris (6 shipments)" in words
    assert "₹0" not in words and "(₹" not in words


def test_booked_only_without_as_of_is_not_late() -> None:
    """Four orders booked, none picked up or delivered, no as-of date: OTD not measured, nothing 'moved'."""
    booked = [
        {**ship(f"B{i}", d, delivered=False), "pickup_actual": None, "status": "booked"}
        for i, d in enumerate(quarter_days(4))
    ]
    data = account(booked, as_of=None)
    sc, _, _ = judged(data)
    assert sc.value("otd_pct") is None and sc.worst_lanes.empty and sc.worst_carriers.empty
    assert (sc.value("shipments"), sc.picked_up) == (4, 0)
    words = text(data)
    assert "We moved" not in words and "On-time delivery: 0.0%" not in words
    assert "No shipment was picked up yet this quarter; 4 are booked." in words
    assert "good quarter" not in words  # nothing measured against a target: tone "unmeasured"


def test_in_transit_past_promise_is_late_against_a_known_as_of() -> None:
    late = [ship("T1", "2026-09-01", delivered=False), ship("T2", "2026-09-02")]
    assert metrics.scorecard(account(late), Q).value("otd_pct") == 50.0  # T1 promised 3 Sep, open on 30 Sep
    assert metrics.scorecard(account(late, as_of=None), Q).value("otd_pct") == 100.0  # T1 not measured


def test_unknown_carrier_and_lane_are_never_ranked() -> None:
    rows = [ship(f"S{i}", d, late_days=1, carrier=None) for i, d in enumerate(quarter_days(3))]
    rows += [ship("S9", "2026-08-03", late_days=1, destination=None)]
    sc = metrics.scorecard(account(rows), Q)
    assert sc.worst_carriers["carrier"].tolist() == ["Acme"]  # S9 only; the three without a carrier: unranked
    assert sc.worst_carriers["share_of_misses_pct"].tolist() == [25.0]  # 1 of the 4 late deliveries
    assert sc.worst_lanes["lane"].tolist() == ["Lyon → Paris"] and "(unknown)" not in set(sc.top_lanes["lane"])
    assert "(unknown)" not in text(account(rows))


def test_prior_quarter_before_the_data_is_no_data() -> None:
    """The data starts in July 2026: Q2 2026 is not 0 shipments or 0 kg, it has no data."""
    sc = metrics.scorecard(account(HALF_LATE), Q)
    assert sc.kpis["shipments"].prior is None and sc.kpis["weight_kg"].prior is None
    assert sc.kpis["shipments"].last_year is None
    words = text(account(HALF_LATE))
    assert "0 kg" not in words and "Q2 2026: 0" not in words


# ------------------------------------------------------------------------- 4. documented, consistent periods


def test_service_goes_by_promised_date() -> None:
    """Promised 30 Sep, delivered late on 2 Oct: a Q3 miss (it was due in Q3), not a Q4 delivery."""
    rows = [ship("D1", "2026-09-28", late_days=2), ship("D2", "2026-09-10")]
    data = account(rows, as_of=pd.Timestamp("2026-10-05"))
    assert metrics.scorecard(data, Q).value("otd_pct") == 50.0
    assert metrics.scorecard(data, "2026Q4").value("otd_pct") is None


def test_partial_quarter_is_compared_with_the_same_days() -> None:
    """Data to 30 Aug 2026: 1 Jul – 30 Aug is compared with 1 Jul – 30 Aug 2025, not all of Q3 2025."""
    last_year = [ship(f"L{i}", d) for i, d in enumerate(quarter_days(12, "2025-07-07"))]  # 7 Jul – 22 Sep
    now = [ship(f"S{i}", d) for i, d in enumerate(quarter_days(8))]  # 6 Jul – 24 Aug
    data = account(last_year + now, as_of=pd.Timestamp("2026-08-30 17:00"))
    sc = metrics.scorecard(data, Q)
    assert sc.coverage is not None and sc.coverage.partial and round(sc.coverage.months) == 2
    assert narrative.coverage_note(sc.coverage) == "data to 30 Aug 2026: 2 of 3 months"
    # same days of 2025: 7 Jul … 25 Aug = 8 shipments (1 Sep, 8 Sep, 15 Sep, 22 Sep fall outside)
    assert (sc.value("shipments"), sc.kpis["shipments"].last_year) == (8, 8)
    assert sc.kpis["shipments"].growth_yoy_pct == 0.0
    assert "Data to 30 Aug 2026: 2 of 3 months of Q3 2026" in text(data)


# ------------------------------------------------------------------------- standard targets


def test_contracted_target_wins_over_standard() -> None:
    data = account(HALF_LATE, targets=targets({"metric": "otd_pct", "target": 40.0}))
    otd = metrics.scorecard(data, Q).kpis["otd_pct"]
    assert (otd.target, otd.target_source, otd.rag) == (40.0, "contracted", "green")
    assert metrics.standard_targets()["otif_pct"] == (93.0, 2.0)


def test_as_of_given_by_the_user() -> None:
    """`kam qbr --as-of 2026-09-20`: T1 (promised 3 Sep, open) is late; T3 (promised 24 Sep) not measured yet."""
    rows = [
        ship("T1", "2026-09-01", delivered=False),
        ship("T2", "2026-09-02"),
        ship("T3", "2026-09-22", delivered=False),
    ]
    data = metrics.with_as_of(account(rows, as_of=None), "2026-09-20")
    sc = metrics.scorecard(data, Q)
    assert (sc.value("otd_pct"), sc.service_base) == (50.0, 2)
    assert narrative.coverage_note(sc.coverage) == "data to 20 Sep 2026: 2.7 of 3 months"
    assert metrics.with_as_of(data, "") is data
    with pytest.raises(ConfigError, match="as-of date 'soon': expected a date like 2026-08-30"):
        metrics.parse_as_of("soon")


@pytest.mark.slow
def test_every_page_reads_one_verdict_on_the_sample(book) -> None:
    """Index (batch headline), explorer badge and book of business, health band, and the narrative's tone agree
    for every account of the sample book."""
    from kam_helpers.apps import book as book_page
    from kam_helpers.apps import panels
    from kam_helpers.data.store import Workspace
    from kam_helpers.qbr.report import QbrReport

    with Workspace.open(book.workspace) as ws:
        ids = ws.account_ids()
        for account_id in ids:
            data = ws.account_data(account_id)
            sc = metrics.scorecard(data, book.quarter)
            score = health.health_score(data, book.quarter, with_history=False)
            a = assessment.assess(sc, score)
            assert score.band == a.band == {"healthy": "green", "watch": "amber", "at_risk": "red"}[a.overall]
            assert book_page.book_row(sc, score).health == a.overall
            assert f'kam-health">{panels.HEALTH_LABELS[a.overall][0]}<' in panels.header_html(sc, score)
            summary = narrative.build_narrative(sc.for_client(), assessment=a).section("executive_summary").markdown
            if a.red or a.overall != "healthy":
                assert "good quarter" not in summary, account_id
            if a.red:
                assert "solid" not in summary, account_id
    published = QbrReport.load(ids[0], str(book.quarter), book.workspace).headline()
    with Workspace.open(book.workspace) as ws:
        score = health.health_score(ws.account_data(ids[0]), book.quarter, with_history=False)
    assert (published["kpis"]["assessment"], published["kpis"]["health_band"]) == (score.verdict.overall, score.band)
    assert published["action_items"] and {"text", "owner", "due", "reason_kpi"} == set(published["action_items"][0])


def test_forecast_without_revenue_says_so() -> None:
    """Six quarters of shipments without revenue: a shipments forecast, never '₹0 (₹0–₹0)' or 'n/a–n/a'."""
    from kam_helpers.analyses import forecast, insights
    from kam_helpers.apps import panels

    days = [str((pd.Timestamp("2025-04-07") + pd.Timedelta(days=15 * i)).date()) for i in range(36)]
    data = account([ship(f"S{i}", d, revenue=None, cost=None) for i, d in enumerate(days)])
    fc = forecast.forecast(data, Q)
    panel = panels.forecast_html(fc, "INR")
    assert "no revenue forecast" in panel and "₹0" not in panel and "n/a–n/a" not in panel
    sc, _, a = judged(data)
    found = insights.Insights(carried=None, forecast=fc, has_revenue=False)
    outlook = narrative.build_narrative(sc, insights=found, assessment=a).section("outlook").markdown
    assert "no revenue forecast: no revenue data" in outlook and "₹0" not in outlook and "n/a" not in outlook
    first = narrative.build_narrative(sc, insights=found, assessment=a).section("last_qbr").markdown
    assert first.startswith("No earlier QBR on record: this is the first QBR for Acme Trucking")


def _cases() -> list[tuple[str, AccountData | metrics.Scorecard]]:
    from test_narrative import at_risk_scorecard, healthy_scorecard, missing_data_scorecard

    last_year = [{**row, "revenue": 352.0} for row in LAST_YEAR]
    on_time = [ship(f"S{i}", d) for i, d in enumerate(quarter_days(10))]
    return [
        ("healthy", healthy_scorecard()),
        ("at risk", at_risk_scorecard()),
        ("missing data", missing_data_scorecard()),
        ("no targets, low OTD", account(LAST_YEAR + HALF_LATE)),
        ("revenue collapse", account(last_year + on_time)),
        ("no revenue", account(NO_REVENUE)),
        ("all on time", account(LAST_YEAR + on_time)),
    ]


@pytest.mark.parametrize("case", range(7))
def test_every_judging_phrase_has_its_rule(case: int) -> None:
    """ADJECTIVE_RULES: a judging phrase appears in a narrative only when the rule that allows it holds."""
    name, source = _cases()[case]
    if isinstance(source, AccountData):
        sc, _, a = judged(source)
    else:
        sc, a = source, assessment.assess(source)
    words = narrative.build_narrative(sc, assessment=a).to_markdown()
    for phrase, (rule, allowed) in narrative.ADJECTIVE_RULES.items():
        if phrase in words:
            assert allowed(a), f"{name}: {phrase!r} without its rule {rule}"
    if a.red or (a.revenue_yoy_pct is not None and a.revenue_yoy_pct <= -assessment.REVENUE_FALL_PCT):
        assert not any(w in words for w in ("good quarter", "solid quarter")), name


def test_chart_note_when_no_carrier_is_recorded() -> None:
    """Late deliveries without a carrier: the carrier chart says why it is empty, never 'every delivery on time'."""
    from kam_helpers.qbr.report import QbrReport

    rows = [ship(f"S{i}", d, late_days=1, carrier=None) for i, d in enumerate(quarter_days(3))]
    data = account(rows)
    sc, _, a = judged(data)
    report = QbrReport(data, sc, narrative.build_narrative(sc, assessment=a))
    assert report.chart_object("worst_carriers") is None
    assert report.chart_note("worst_carriers") == (
        "Late deliveries by carrier: the data records no carrier for the late deliveries of Q3 2026, so none is ranked."
    )
