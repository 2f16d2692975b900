"""Tests of kam_helpers.qbr.narrative: tone by situation, traceable figures, missing data, template overrides.

The fixtures are built by hand as Scorecard/Kpi objects (metrics.py is not involved); test_charts.py
imports them from here.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from kam_helpers.analyses.assessment import ActionItem, assess, derive
from kam_helpers.core import formatting as f
from kam_helpers.core.quarters import Quarter
from kam_helpers.metrics.scorecard import Kpi, Scorecard
from kam_helpers.qbr.narrative import PACKAGED_TEMPLATES, Narrative, build_narrative, context
from kam_helpers.qbr.outline import NARRATIVE_PARTS

Q = Quarter(2026, 3)
LONG_LANE = "Zaragoza Plaza Logistics Park → Rotterdam Maasvlakte II"


def _months(n: int = 12) -> list[pd.Timestamp]:
    return [pd.Timestamp(Q.shift(-3).start) + pd.DateOffset(months=i) for i in range(n)]


def _monthly(shipments: list[int], revenue: list[float], otd: list[float], target: float = 95.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "month": _months(len(shipments)),
            "shipments": shipments,
            "revenue": revenue,
            "cost": [r * 0.82 for r in revenue],
            "otd_pct": otd,
            "otd_target": [target] * len(shipments),
        }
    )


def _quarterly(revenue: list[float], gm: list[float], shipments: list[int]) -> pd.DataFrame:
    quarters = [str(Q.shift(i - len(revenue) + 1)) for i in range(len(revenue))]
    return pd.DataFrame(
        {
            "quarter": quarters,
            "shipments": shipments,
            "revenue": revenue,
            "cost": [r * (1 - g / 100) for r, g in zip(revenue, gm, strict=False)],
            "gross_margin_pct": gm,
            "otd_pct": [96.0] * len(revenue),
            "otp_pct": [97.0] * len(revenue),
        }
    )


def healthy_scorecard() -> Scorecard:
    """Nordwind Retail: OTD green, volume +6.1% YoY, margin steady, few cases, renewal far away."""
    kpis = [
        Kpi("revenue", "Revenue", "money", 1_243_500.0, prior=1_198_000.0, last_year=1_151_000.0),
        Kpi("gross_margin_pct", "Gross margin", "pct", 18.4, prior=18.1, last_year=17.9, target=17.0, rag="green"),
        Kpi("shipments", "Shipments", "count", 4_212, prior=4_050, last_year=3_970),
        Kpi(
            "otd_pct",
            "On-time delivery",
            "pct",
            97.24,
            prior=96.8,
            last_year=95.9,
            target=95.0,
            tolerance=2.0,
            rag="green",
        ),
        Kpi("otp_pct", "On-time pickup", "pct", 98.1, prior=97.7, last_year=97.2, target=96.0, rag="green"),
        Kpi("otif_pct", "On time in full", "pct", 96.3, prior=95.9, last_year=95.1, target=94.0, rag="green"),
        Kpi(
            "damage_ratio_pct",
            "Damage and claims ratio",
            "pct",
            0.21,
            prior=0.25,
            target=0.5,
            higher_is_better=False,
            rag="green",
        ),
        Kpi("invoice_accuracy_pct", "Invoice accuracy", "pct", 99.1, prior=98.7, target=98.0, rag="green"),
        Kpi("billing_variance", "Billing variance vs rate card", "money", -1_240.0),
        Kpi("unbilled_shipments", "Unbilled shipments", "count", 0),
        Kpi("days_to_pay", "Days to pay", "days", 31.4, prior=33.0, target=45.0, higher_is_better=False, rag="green"),
        Kpi("overdue_amount", "Overdue amount", "money", 0.0),
        Kpi("cases_opened", "Cases opened", "count", 4, prior=6),
        Kpi("cases_closed", "Cases closed", "count", 5, prior=6),
        Kpi("cases_backlog", "Open backlog at quarter end", "count", 0, prior=1),
        Kpi(
            "median_hours_to_resolve",
            "Median time to resolve",
            "hours",
            11.5,
            prior=14.0,
            target=24.0,
            higher_is_better=False,
            rag="green",
        ),
        Kpi("repeat_complaints", "Repeat complaints", "count", 0),
    ]
    ships = [1_290, 1_310, 1_370, 1_300, 1_330, 1_360, 1_310, 1_340, 1_400, 1_380, 1_402, 1_430]
    return Scorecard(
        account={
            "account_id": "ACC-001",
            "name": "Nordwind Retail GmbH",
            "owner": "Maria Keller",
            "currency": "EUR",
            "contract_start": dt.date(2025, 1, 1),
            "contract_end": dt.date(2027, 12, 31),
            "committed_shipments": 16_000,
        },
        quarter=Q,
        kpis={k.key: k for k in kpis},
        quarterly=_quarterly(
            [1_151_000, 1_170_000, 1_186_000, 1_198_000, 1_243_500],
            [17.9, 18.0, 18.2, 18.1, 18.4],
            [3_970, 3_990, 4_010, 4_050, 4_212],
        ),
        monthly=_monthly(
            ships, [s * 295.0 for s in ships], [95.9, 96.2, 95.6, 96.4, 97.0, 96.8, 96.5, 97.1, 96.8, 97.6, 96.9, 97.2]
        ),
        mode_mix=pd.DataFrame(
            {
                "mode": ["FTL", "LTL", "Parcel", "Intermodal"],
                "shipments": [1_480, 1_610, 950, 172],
                "revenue": [684_000.0, 348_000.0, 124_400.0, 87_100.0],
                "share_pct": [55.0, 28.0, 10.0, 7.0],
            }
        ),
        top_lanes=pd.DataFrame(
            {
                "lane": ["Hamburg → Munich", "Hamburg → Vienna", "Bremen → Zurich"],
                "origin": ["Hamburg", "Hamburg", "Bremen"],
                "destination": ["Munich", "Vienna", "Zurich"],
                "shipments": [820, 460, 300],
                "revenue": [312_000.0, 205_000.0, 150_000.0],
                "otd_pct": [98.1, 97.0, 96.2],
            }
        ),
        worst_lanes=pd.DataFrame(
            {
                "lane": ["Bremen → Zurich", "Hamburg → Vienna", "Hamburg → Munich"],
                "shipments": [300, 460, 820],
                "late": [38, 31, 27],
                "otd_pct": [87.3, 93.3, 96.7],
                "share_of_misses_pct": [32.8, 26.7, 23.3],
            }
        ),
        worst_carriers=pd.DataFrame(
            {
                "carrier": ["Alpen Cargo", "Nordic Haul"],
                "shipments": [900, 2_100],
                "late": [51, 40],
                "otd_pct": [94.3, 98.1],
                "share_of_misses_pct": [44.0, 34.5],
            }
        ),
        cases_by_category=pd.DataFrame(
            {
                "category": ["late delivery", "damage", "communication"],
                "opened": [2, 1, 1],
                "closed": [3, 1, 1],
                "median_hours_to_resolve": [12.0, 9.5, 6.0],
            }
        ),
        pipeline=pd.DataFrame(
            {
                "opp_id": ["OPP-11", "OPP-12", "OPP-13"],
                "service": ["Warehousing in Leipzig", "Air freight to Dubai", "Intermodal Hamburg → Milan"],
                "stage": ["proposal", "qualification", "negotiation"],
                "amount": [540_000.0, 220_000.0, 180_000.0],
                "probability": [0.5, 0.2, 0.7],
                "weighted": [270_000.0, 44_000.0, 126_000.0],
                "expected_close": pd.to_datetime(["2026-11-30", "2027-02-15", "2026-10-31"]),
            }
        ),
        available={t: True for t in ("shipments", "invoices", "cases", "opportunities", "targets")},
    )


def at_risk_scorecard() -> Scorecard:
    """Castellan Foods: OTD red, volume −9.3% YoY, invoice accuracy red, complaint backlog, renewal in 92 days."""
    kpis = [
        Kpi("revenue", "Revenue", "money", 612_300.0, prior=655_800.0, last_year=701_900.0),
        Kpi("gross_margin_pct", "Gross margin", "pct", 11.2, prior=13.0, last_year=14.1, target=14.0, rag="red"),
        Kpi("shipments", "Shipments", "count", 2_031, prior=2_180, last_year=2_240),
        Kpi(
            "otd_pct",
            "On-time delivery",
            "pct",
            86.3,
            prior=90.4,
            last_year=93.0,
            target=95.0,
            tolerance=2.0,
            rag="red",
        ),
        Kpi("otp_pct", "On-time pickup", "pct", 93.6, prior=94.8, target=95.0, tolerance=2.0, rag="amber"),
        Kpi("otif_pct", "On time in full", "pct", None),
        Kpi(
            "damage_ratio_pct",
            "Damage and claims ratio",
            "pct",
            0.9,
            prior=0.6,
            target=0.5,
            tolerance=0.2,
            higher_is_better=False,
            rag="red",
        ),
        Kpi("invoice_accuracy_pct", "Invoice accuracy", "pct", 91.2, prior=94.0, target=98.0, tolerance=1.0, rag="red"),
        Kpi("billing_variance", "Billing variance vs rate card", "money", 14_820.0),
        Kpi("unbilled_shipments", "Unbilled shipments", "count", 23),
        Kpi(
            "days_to_pay",
            "Days to pay",
            "days",
            58.6,
            prior=49.0,
            target=45.0,
            tolerance=5.0,
            higher_is_better=False,
            rag="red",
        ),
        Kpi("overdue_amount", "Overdue amount", "money", 96_400.0),
        Kpi("cases_opened", "Cases opened", "count", 17, prior=9),
        Kpi("cases_closed", "Cases closed", "count", 8, prior=8),
        Kpi("cases_backlog", "Open backlog at quarter end", "count", 11, prior=2),
        Kpi(
            "median_hours_to_resolve",
            "Median time to resolve",
            "hours",
            52.5,
            prior=30.0,
            target=24.0,
            tolerance=8.0,
            higher_is_better=False,
            rag="red",
        ),
        Kpi("repeat_complaints", "Repeat complaints", "count", 5),
    ]
    ships = [760, 742, 738, 735, 728, 717, 731, 724, 725, 690, 672, 669]
    return Scorecard(
        account={
            "account_id": "ACC-007",
            "name": "Castellan Foods S.A.",
            "owner": "Jonas Berg",
            "currency": "EUR",
            "contract_start": dt.date(2024, 1, 1),
            "contract_end": dt.date(2026, 12, 31),
            "committed_shipments": 9_600,
        },
        quarter=Q,
        kpis={k.key: k for k in kpis},
        quarterly=_quarterly(
            [701_900, 690_200, 671_000, 655_800, 612_300],
            [14.1, 13.8, 13.5, 13.0, 11.2],
            [2_240, 2_225, 2_195, 2_180, 2_031],
        ),
        monthly=_monthly(
            ships, [s * 301.5 for s in ships], [93.1, 92.7, 93.4, 92.0, 91.2, 90.8, 91.0, 90.2, 90.0, 88.4, 85.9, 84.6]
        ),
        mode_mix=pd.DataFrame(
            {
                "mode": ["FTL", "LTL", "Intermodal"],
                "shipments": [1_120, 830, 81],
                "revenue": [398_000.0, 171_500.0, 42_800.0],
                "share_pct": [65.0, 28.0, 7.0],
            }
        ),
        top_lanes=pd.DataFrame(
            {
                "lane": ["Lyon → Madrid", LONG_LANE, "Valencia → Lyon"],
                "origin": ["Lyon", "Zaragoza", "Valencia"],
                "destination": ["Madrid", "Rotterdam", "Lyon"],
                "shipments": [610, 340, 300],
                "revenue": [188_000.0, 131_000.0, 90_500.0],
                "otd_pct": [78.4, 85.0, 93.0],
            }
        ),
        worst_lanes=pd.DataFrame(
            {
                "lane": ["Lyon → Madrid", LONG_LANE, "Valencia → Lyon", "Barcelona → Toulouse"],
                "shipments": [610, 340, 300, 260],
                "late": [106, 51, 21, 17],
                "otd_pct": [82.6, 85.0, 93.0, 93.5],
                "share_of_misses_pct": [38.1, 18.3, 7.6, 6.1],
            }
        ),
        worst_carriers=pd.DataFrame(
            {
                "carrier": ["TransIberia Express", "Rhône Fret", "Own fleet"],
                "shipments": [720, 640, 671],
                "late": [115, 88, 75],
                "otd_pct": [84.0, 86.3, 88.8],
                "share_of_misses_pct": [41.4, 31.7, 27.0],
            }
        ),
        cases_by_category=pd.DataFrame(
            {
                "category": ["late delivery", "billing dispute", "damage", "communication"],
                "opened": [9, 4, 3, 1],
                "closed": [3, 2, 2, 1],
                "median_hours_to_resolve": [61.0, 70.5, 40.0, 8.0],
            }
        ),
        pipeline=pd.DataFrame(
            {
                "opp_id": ["OPP-71"],
                "service": ["Temperature-controlled LTL"],
                "stage": ["qualification"],
                "amount": [150_000.0],
                "probability": [0.25],
                "weighted": [37_500.0],
                "expected_close": pd.to_datetime(["2027-01-31"]),
            }
        ),
        available={t: True for t in ("shipments", "invoices", "cases", "opportunities", "targets")},
    )


def missing_data_scorecard() -> Scorecard:
    """The healthy account in a workspace without invoices, cases or opportunities, and without OTIF."""
    sc = healthy_scorecard()
    kpis = {
        k: (replace(v, value=None, prior=None, last_year=None, rag=None) if k in _NO_DATA_KEYS else v)
        for k, v in sc.kpis.items()
    }
    return replace(
        sc,
        kpis=kpis,
        cases_by_category=sc.cases_by_category.iloc[0:0],
        pipeline=sc.pipeline.iloc[0:0],
        available={**sc.available, "invoices": False, "cases": False, "opportunities": False},
    )


_NO_DATA_KEYS = {
    "otif_pct",
    "invoice_accuracy_pct",
    "billing_variance",
    "unbilled_shipments",
    "days_to_pay",
    "overdue_amount",
    "cases_opened",
    "cases_closed",
    "cases_backlog",
    "median_hours_to_resolve",
    "repeat_complaints",
}


# --- every figure in the text is traceable ---------------------------------------------------------------

_DATE = re.compile(r"\b\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}\b")
_QUARTER = re.compile(r"\bQ[1-4] \d{4}\b")
_NUMBER = re.compile(r"[+−-]?[€$£]?\d+(?:,\d{3})*(?:\.\d+)?(?:[kMB](?![a-z])|%| pp\b| h\b| days?\b| kg\b| t\b)?")

_ALL_FORMATS = (f.fmt_pct, f.fmt_pp, f.fmt_growth, f.fmt_count, f.fmt_days, f.fmt_hours, f.fmt_weight)


def _formats_of(value: object, currency: str | None) -> set[str]:
    """Every string a figure can legitimately become through the formatting functions."""
    if value is None or isinstance(value, bool):
        return set()
    if isinstance(value, (dt.date, pd.Timestamp)):
        return {f.fmt_date(value), f.fmt_month(value)}
    if isinstance(value, Quarter):
        return {f.fmt_quarter(value), str(value)}
    if isinstance(value, str):
        return {value}
    if isinstance(value, (int, float)) and math.isfinite(float(value)):
        out = {fn(value) for fn in _ALL_FORMATS}
        out |= {f.fmt_money(value, currency), f.fmt_money_change(value, currency)}
        return out
    if isinstance(value, dict):
        return set().union(*(_formats_of(v, currency) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(_formats_of(v, currency) for v in value)) if value else set()
    if isinstance(value, ActionItem):
        return {value.text, *_formats_of(value.due, currency)}
    return set()


def allowed_strings(sc: Scorecard) -> set[str]:
    """The figures the narrative may show: Kpi values and comparisons, frame cells, derived figures."""
    cur = sc.account.get("currency")
    out: set[str] = set()
    for kpi in sc.kpis.values():
        for v in (
            kpi.value,
            kpi.prior,
            kpi.last_year,
            kpi.target,
            kpi.change_qoq,
            kpi.change_yoy,
            kpi.growth_qoq_pct,
            kpi.growth_yoy_pct,
        ):
            if v is not None:
                out |= {f.fmt_value(v, kpi.unit, cur), f.fmt_pp(v), f.fmt_growth(v)}
                if kpi.unit == "money":
                    out.add(f.fmt_money_change(v, cur))
    for frame in (
        sc.quarterly,
        sc.monthly,
        sc.mode_mix,
        sc.top_lanes,
        sc.worst_lanes,
        sc.worst_carriers,
        sc.cases_by_category,
        sc.pipeline,
    ):
        for v in frame.to_numpy().ravel().tolist():
            out |= _formats_of(v, cur)
    if "probability" in sc.pipeline:
        out |= {f.fmt_pct(p * 100) for p in sc.pipeline["probability"]}
    out |= _formats_of(derive(sc), cur)
    out |= {f.fmt_quarter(q) for q in (sc.quarter, sc.quarter.prior, sc.quarter.last_year)}
    out |= _formats_of(sc.account.get("contract_end"), cur)
    out |= _formats_of(context(sc)["actions"], cur)
    out |= {str(v) for v in sc.account.values() if isinstance(v, str)}
    return out


def untraceable_figures(text: str, sc: Scorecard) -> list[str]:
    """Figures in ``text`` that no formatted Scorecard value explains (should be empty)."""
    allowed = allowed_strings(sc)
    allowed_tokens = {tok for s in allowed for tok in _NUMBER.findall(s)}
    bad = [d for d in _DATE.findall(text) if d not in allowed]
    bad += [q for q in _QUARTER.findall(text) if q not in allowed]
    rest = _QUARTER.sub(" ", _DATE.sub(" ", text))
    bad += [tok for tok in _NUMBER.findall(rest) if tok not in allowed_tokens]
    return bad


@pytest.fixture(params=["healthy", "at_risk", "missing"])
def any_scorecard(request: pytest.FixtureRequest) -> Scorecard:
    return {"healthy": healthy_scorecard, "at_risk": at_risk_scorecard, "missing": missing_data_scorecard}[
        request.param
    ]()


def test_every_figure_comes_from_the_scorecard(any_scorecard: Scorecard) -> None:
    text = build_narrative(any_scorecard).to_markdown()
    assert untraceable_figures(text, any_scorecard) == []
    assert "n/a" not in text
    assert "nan" not in text.lower().split()


def test_invented_figures_are_caught() -> None:
    sc = at_risk_scorecard()
    assert untraceable_figures("OTD was 86.3% (95.0% target), 180 days, 77.7% and €9.99M by 1 Jan 2031.", sc) == [
        "1 Jan 2031",
        "180 days",
        "77.7%",
        "€9.99M",
    ]


def test_sections_come_in_presentation_order() -> None:
    n = build_narrative(healthy_scorecard())
    assert isinstance(n, Narrative)
    assert [s.key for s in n.sections] == [p.key for p in NARRATIVE_PARTS]
    assert [s.title for s in n.sections] == [p.title for p in NARRATIVE_PARTS]
    for s in n.sections:
        assert s.markdown and s.bullets, s.key
        assert not s.markdown.startswith("#")


# --- tone ------------------------------------------------------------------------------------------------


def test_assessment_reads_the_situation() -> None:
    good, bad = assess(healthy_scorecard()), assess(at_risk_scorecard())
    assert (good.overall, good.service_ok, good.volume_trend, good.billing_ok, good.cases_ok) == (
        "healthy",
        True,
        "growing",
        True,
        True,
    )
    assert good.concerns == ()
    assert (bad.overall, bad.service_rag, bad.volume_trend, bad.billing_ok, bad.cases_ok) == (
        "at_risk",
        "red",
        "shrinking",
        False,
        False,
    )
    assert bad.concerns[:2] == ("service", "volume")
    assert bad.renewal_due and not good.renewal_due


def test_assessment_watch_when_only_billing_is_off() -> None:
    sc = healthy_scorecard()
    kpis = {**sc.kpis, "invoice_accuracy_pct": replace(sc.kpis["invoice_accuracy_pct"], value=96.5, rag="amber")}
    a = assess(replace(sc, kpis=kpis))
    assert (a.overall, a.concerns) == ("watch", ("billing",))


def _sentences(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.strip()]


def test_executive_summaries_differ_in_substance() -> None:
    good = build_narrative(healthy_scorecard()).section("executive_summary")
    bad = build_narrative(at_risk_scorecard()).section("executive_summary")
    assert 3 <= len(_sentences(good.markdown)) <= 5
    assert 3 <= len(_sentences(bad.markdown)) <= 5
    assert good.bullets == _sentences(good.markdown)
    # at risk: leads with service, names the worst lane and carrier and their share, states the recovery
    first = _sentences(bad.markdown)[0]
    assert "on-time delivery was 86.3%" in first and "below the target of 95.0%" in first
    assert "Lyon → Madrid (38.1% of late deliveries)" in bad.markdown
    assert "TransIberia Express (41.4% of late deliveries)" in bad.markdown
    assert "Recovery plan: joint lane review of Lyon → Madrid with TransIberia Express" in bad.markdown
    assert "shrinking" in bad.markdown and "−9.3%" in bad.markdown
    # healthy: partnership and growth, no lane talk, no recovery
    assert "partnership" in good.markdown and "growing" in good.markdown
    assert "Warehousing in Leipzig" in good.markdown
    for word in ("Bremen → Zurich", "Alpen Cargo", "Recovery", "difficult"):
        assert word not in good.markdown


# --- sections --------------------------------------------------------------------------------------------


def test_service_section_shows_rag_changes_and_root_causes() -> None:
    s = build_narrative(at_risk_scorecard()).section("service").markdown
    assert "- On-time delivery: 86.3%, below the target of 95.0% (−4.1 pp QoQ, −6.7 pp YoY)" in s
    assert "- On-time pickup: 93.6%, just below the target of 95.0% (−1.2 pp QoQ)" in s
    assert "- On time in full: no data in the workspace" in s
    assert "- Damage and claims ratio: 0.9%, above the target of 0.5%" in s
    assert "Lyon → Madrid (106 late, 38.1% of misses)" in s
    assert "TransIberia Express (115 late, 41.4% of misses)" in s


def test_billing_complaints_opportunities_outlook() -> None:
    n = build_narrative(at_risk_scorecard())
    billing = n.section("billing").markdown
    assert "- Invoice accuracy: 91.2%, below the target of 98.0% (−2.8 pp QoQ)" in billing
    assert "- Billing variance vs rate card: +€14.8k" in billing
    assert "- Unbilled shipments: 23" in billing
    assert "- Days to pay: 59 days, above the target of 45 days (Q2 2026: 49 days)" in billing
    assert "- Overdue amount: €96.4k" in billing
    complaints = n.section("complaints").markdown
    assert "- Cases opened: 17 (Q2 2026: 9)" in complaints
    assert "- Open backlog at quarter end: 11" in complaints
    assert "- Median time to resolve: 52.5 h, above the target of 24.0 h" in complaints
    assert "- By category: late delivery 9, billing dispute 4, damage 3, communication 1" in complaints
    opps = build_narrative(healthy_scorecard()).section("opportunities").markdown
    assert "- Open opportunities: 3" in opps
    assert "- Pipeline value: €940.0k a year, €440.0k weighted by probability" in opps
    assert opps.index("Warehousing in Leipzig") < opps.index("Intermodal Hamburg → Milan") < opps.index("Air freight")
    assert "50.0% probability, expected to close 30 Nov 2026" in opps
    outlook = n.section("outlook").markdown
    assert "31 Dec 2026, 92 days after the end of Q3 2026; renewal talks are due now" in outlook
    assert "forecast" not in n.to_markdown().lower()


def test_days_to_renewal_is_a_named_figure() -> None:
    assert derive(at_risk_scorecard())["days_to_renewal"] == 92
    assert derive(healthy_scorecard())["days_to_renewal"] == 457
    sc = replace(at_risk_scorecard(), account={**at_risk_scorecard().account, "contract_end": dt.date(2026, 9, 1)})
    n = build_narrative(sc)
    assert "the contract ended on 1 Sep 2026, 29 days before the end of Q3 2026" in n.section("outlook").markdown
    assert untraceable_figures(n.to_markdown(), sc) == []


def test_missing_tables_say_no_data() -> None:
    sc = missing_data_scorecard()
    n = build_narrative(sc)
    assert (
        n.section("billing").markdown
        == "There is no billing data for Nordwind Retail GmbH in the workspace for Q3 2026."
    )
    assert "There is no complaints data" in n.section("complaints").markdown
    assert "There is no pipeline data" in n.section("opportunities").markdown
    assert "- On time in full: no data in the workspace" in n.section("service").markdown
    assert "n/a" not in n.to_markdown()


def test_no_shipments_table() -> None:
    sc = healthy_scorecard()
    sc = replace(
        sc, kpis={k: replace(v, value=None) for k, v in sc.kpis.items()}, available={**sc.available, "shipments": False}
    )
    n = build_narrative(sc)
    assert "There is no shipment data" in n.section("volume").markdown
    assert "There is no delivery performance data" in n.section("service").markdown
    assert "n/a" not in n.to_markdown()
    assert untraceable_figures(n.to_markdown(), sc) == []


# --- action items ----------------------------------------------------------------------------------------


def test_action_items_for_an_account_at_risk() -> None:
    sc = at_risk_scorecard()
    items = build_narrative(sc).action_items
    assert 1 <= len(items) <= 6
    first = items[0]
    assert first.text.startswith("Joint lane review of Lyon → Madrid with TransIberia Express")
    assert (first.owner, first.due, first.reason_kpi) == ("Operations", dt.date(2026, 10, 30), "otd_pct")
    assert {i.owner for i in items} <= {"Operations", "Jonas Berg"}
    assert all(i.due in (dt.date(2026, 10, 30), dt.date(2026, 11, 14)) for i in items)
    md = build_narrative(sc).section("action_items").markdown
    assert md.splitlines()[0] == (
        "- Joint lane review of Lyon → Madrid with TransIberia Express to bring on-time delivery back to the "
        "95.0% SLA — Operations, by 30 Oct 2026"
    )


def test_action_items_for_a_healthy_account() -> None:
    items = build_narrative(healthy_scorecard()).action_items
    assert 1 <= len(items) <= 3
    assert items[0].text.startswith("Take the Warehousing in Leipzig opportunity")
    assert all(i.owner == "Maria Keller" for i in items)
    # renewal within 180 days adds renewal talks
    sc = healthy_scorecard()
    sc = replace(sc, account={**sc.account, "contract_end": dt.date(2027, 2, 28)})
    texts = [i.text for i in build_narrative(sc).action_items]
    assert "Open renewal talks ahead of the contract end on 28 Feb 2027" in texts
    assert len(texts) <= 3


# --- templates -------------------------------------------------------------------------------------------


def test_template_override_replaces_one_section(tmp_path: Path) -> None:
    (tmp_path / "outlook.md.j2").write_text(
        "## Looking ahead\n\nOur contract with {{ name }} runs until {{ fig.contract_end|date }}.\n", encoding="utf-8"
    )
    sc = healthy_scorecard()
    default, custom = build_narrative(sc), build_narrative(sc, template_dir=tmp_path)
    outlook = custom.section("outlook")
    assert (outlook.title, outlook.markdown) == (
        "Looking ahead",
        "Our contract with Nordwind Retail GmbH runs until 31 Dec 2027.",
    )
    assert outlook.bullets == [outlook.markdown]
    for a, b in zip(default.sections, custom.sections, strict=False):
        if a.key != "outlook":
            assert a == b


def test_templates_are_strict(tmp_path: Path) -> None:
    (tmp_path / "volume.md.j2").write_text("{{ k.no_such_kpi|kpi }}", encoding="utf-8")
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        build_narrative(healthy_scorecard(), template_dir=tmp_path)


def test_packaged_templates_type_no_digits() -> None:
    """Templates choose words; every figure comes through a filter."""
    folder = PACKAGED_TEMPLATES
    for key in (p.key for p in NARRATIVE_PARTS):
        text = (folder / f"{key}.md.j2").read_text(encoding="utf-8")
        outside_tags = re.sub(r"\{[{%#].*?[}%#]\}", "", text, flags=re.S)
        assert not re.search(r"\d", outside_tags), key
