"""The assessment of an account's quarter: the verdict, its tone, the derived figures and the action items.

Python decides what the account's situation is (:func:`assess`, :func:`judge`), derives the few figures no Kpi
holds (:func:`derive`: days to renewal, pipeline totals, worst lane and carrier, …) and proposes the action items
(:func:`action_items`). The narrative (:mod:`kam_helpers.qbr.narrative`) only words them; the health score, the
commitments carried between QBRs, the batch's manifest and the explorer read the same verdict.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import pandas as pd

from kam_helpers.core import formatting as f
from kam_helpers.metrics import kpi_text as kt
from kam_helpers.metrics.scorecard import KPI_SPECS, Kpi, Rag, Scorecard

SERVICE_KEYS = ("otd_pct", "otp_pct", "otif_pct", "damage_ratio_pct")
BILLING_KEYS = ("invoice_accuracy_pct", "billing_variance", "unbilled_shipments", "days_to_pay", "overdue_amount")
CASE_KEYS = ("cases_opened", "cases_closed", "cases_backlog", "median_hours_to_resolve", "repeat_complaints")

VOLUME_BAND_PCT = 3.0  # |shipment growth| below this is 'stable'
MARGIN_BAND_PP = 1.0  # a gross-margin fall of at least this many points is 'falling'
RENEWAL_WINDOW_DAYS = 180  # a contract ending this soon after quarter end puts renewal on the agenda
BACKLOG_SHARE = 0.25  # open backlog above this share of cases opened (and at least BACKLOG_MIN) is a concern
BACKLOG_MIN = 3
REPEAT_MAX = 2  # more repeat complaints than this is a concern
INVOICE_ACCURACY_FLOOR = 95.0  # used only when invoice accuracy has no target (contracted or standard)
REVENUE_FALL_PCT = 10.0  # revenue YoY at or below −this is "strongly negative": never a good or solid quarter
SCORE_BANDS = (70.0, 50.0)  # health score at least green → healthy, at least amber → watch (config/health.yml)

# The rules behind every verdict: name → when it applies. Tests name each one.
VERDICT_RULES: dict[str, str] = {
    "score_band": "with a health score: healthy from the green band, watch from amber, at risk below",
    "concerns": "without a health score: healthy without concerns, watch with any, at risk with three or more "
    "or with service amber plus a volume or complaints concern",
    "otd_red": "on-time delivery red against its contracted or standard target: at risk",
    "red_measure": "any other shown measure red against its contracted or standard target: at most watch",
    "revenue_fall": f"revenue at least {REVENUE_FALL_PCT:g}% below the same quarter last year: at most watch",
}
# The adjectives of the executive summary: tone → when it is used.
TONE_RULES: dict[str, str] = {
    "good": "verdict healthy (so: no shown measure red, revenue not strongly down) and at least one shown measure "
    "met its contracted or standard target",
    "unmeasured": "verdict healthy but no shown measure could be judged against a target: no adjective at all",
    "solid": "verdict watch, no shown measure red and revenue not strongly down",
    "mixed": "verdict watch with a red measure or revenue strongly down",
    "difficult": "verdict at risk",
}
# Measures the client never sees do not set the tone of what the client reads (they weigh in the score).
TONE_EXCLUDED = ("cost", "gross_margin_pct", "claims_cost_pct", "billing_variance", "billing_variance_pct")
_DOWNGRADE = {"healthy": 0, "watch": 1, "at_risk": 2}
_BAND_OF: dict[str, Rag] = {"healthy": "green", "watch": "amber", "at_risk": "red"}
MAX_ACTIONS = 6
DUE_RED_DAYS, DUE_OTHER_DAYS = 30, 45
OPERATIONS = "Operations"

Overall = Literal["healthy", "watch", "at_risk"]
Tone = Literal["good", "solid", "mixed", "difficult", "unmeasured"]
Trend = Literal["growing", "stable", "shrinking"]
MarginTrend = Literal["growing", "steady", "falling"]


# --- output types ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionItem:
    """An action agreed in the QBR: what, who, by when, and the KPI (or derived figure) that asks for it."""

    text: str
    owner: str
    due: dt.date
    reason_kpi: str


@dataclass(frozen=True)
class Assessment:
    """The one verdict on an account's quarter: the narrative's tone, the index, the explorer badge and the
    health band all read it (:func:`judge` decides; :func:`assess` and ``health.health_score`` call it).

    ``None`` in a flag means the workspace holds no data to judge it.
    ``concerns`` lists what pulls the account down, most serious first (service, volume, billing, cases, margin).
    ``band`` is the verdict's colour (healthy green, watch amber, at risk red), ``health_score`` the score it
    started from (None without one), ``red`` the shown measures red against their contracted or standard
    target, ``rules`` the names of the rules that set the verdict and its tone (see VERDICT_RULES, TONE_RULES),
    ``reasons`` one sentence per rule that moved the verdict away from the score's band, ``tone`` the adjective
    the executive summary may use ('good', 'solid', 'mixed', 'difficult').
    """

    overall: Overall
    service_rag: Rag | None
    service_ok: bool | None
    volume_trend: Trend | None
    margin_trend: MarginTrend | None
    billing_ok: bool | None
    cases_ok: bool | None
    renewal_due: bool
    concerns: tuple[str, ...]
    band: Rag = "green"
    health_score: float | None = None
    red: tuple[str, ...] = ()
    revenue_yoy_pct: float | None = None
    tone: Tone = "good"
    rules: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


# --- helpers --------------------------------------------------------------------------------------------


class _Judged(Protocol):
    """What the judging helpers read: a Scorecard, or the KPIs health.py judges (:class:`_KpiView`)."""

    @property
    def kpis(self) -> Mapping[str, Kpi]: ...
    @property
    def available(self) -> Mapping[str, bool]: ...
    @property
    def account(self) -> Mapping[str, Any]: ...
    @property
    def quarter(self) -> Any: ...


def has_table(sc: _Judged, table: str) -> bool:
    """True unless the Scorecard says the workspace does not hold ``table``."""
    return bool(sc.available.get(table, True))


def kpi_of(sc: _Judged, key: str) -> Kpi:
    """The Scorecard's Kpi, or an empty one (value None) with the label and unit of metrics' KPI_SPECS."""
    kpi = sc.kpis.get(key)
    if kpi is not None:
        return kpi
    label, unit, _ = KPI_SPECS.get(key, (key, "count", True))
    return Kpi(key=key, label=label, unit=unit, value=None)


def value_of(kpi: Kpi) -> float | None:
    """A Kpi's value when it is known (see :func:`is_known`), else None."""
    return float(kpi.value) if kpi.value is not None and is_known(kpi) else None


def is_known(x: Any) -> bool:
    """A Kpi with a value, or a finite number."""
    if isinstance(x, Kpi):
        return x.value is not None and f.is_number(float(x.value))
    return f.is_number(x)


def rag_of(kpi: Kpi) -> Rag | None:
    """The Kpi's RAG, or one inferred from target and tolerance when metrics left it empty."""
    if kpi.rag is not None or kpi.value is None or kpi.target is None:
        return kpi.rag
    gap = kpi.value - kpi.target if kpi.higher_is_better else kpi.target - kpi.value
    if gap >= 0:
        return "green"
    return "amber" if kpi.tolerance is not None and -gap <= kpi.tolerance else "red"


_RAG_ORDER: dict[Rag, int] = {"green": 0, "amber": 1, "red": 2}
_RAG_NAMES: dict[int, Rag] = {v: k for k, v in _RAG_ORDER.items()}


def _worst(rags: list[Rag | None]) -> Rag | None:
    known = [_RAG_ORDER[r] for r in rags if r is not None]
    return _RAG_NAMES[max(known)] if known else None


def _records(frame: pd.DataFrame, n: int | None = None) -> list[dict[str, Any]]:
    """Frame → list of row dicts with NaN turned into None (first ``n`` rows)."""
    if frame is None or frame.empty:
        return []
    rows = frame.head(n) if n else frame
    return [{k: (None if _is_na(v) else v) for k, v in row.items()} for row in rows.to_dict("records")]


def _is_na(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _to_date(v: Any) -> dt.date | None:
    if v is None or _is_na(v):
        return None
    return pd.Timestamp(v).date()


# --- judgement ------------------------------------------------------------------------------------------


# A trend judged against fewer shipments than this says more about chance than about the account.
MIN_TREND_BASE = 20


def _volume_growth(sc: _Judged) -> tuple[float | None, str | None]:
    """Shipment growth used for the trend: YoY when known (seasonality), else QoQ → (pct, 'yoy'|'qoq');
    (None, None) when the comparison quarter had fewer than MIN_TREND_BASE shipments."""
    kpi = kpi_of(sc, "shipments")
    if kpi.growth_yoy_pct is not None and (kpi.last_year or 0) >= MIN_TREND_BASE:
        return kpi.growth_yoy_pct, "yoy"
    if kpi.growth_qoq_pct is not None and (kpi.prior or 0) >= MIN_TREND_BASE:
        return kpi.growth_qoq_pct, "qoq"
    return None, None


def days_to_renewal(sc: _Judged) -> int | None:
    """account['contract_end'] − quarter end, in days (negative when the contract ended); None if no date."""
    end = _to_date(sc.account.get("contract_end"))
    return None if end is None else (end - sc.quarter.end).days


def assess(sc: Scorecard, health: Any = None) -> Assessment:
    """Scorecard (the full one, not a client's view), its HealthScore when computed → the Assessment.

    With a HealthScore of the same account and quarter its verdict is returned as is (the health module
    computed it with :func:`judge` from the same KPIs), so every page that shows it agrees. Without one the
    verdict follows the concerns (rule 'concerns') and the same caps.
    """
    verdict = getattr(health, "verdict", None)
    if verdict is not None and getattr(health, "quarter", None) == sc.quarter:
        return verdict
    return judge(sc.kpis, sc.available, sc.account, sc.quarter)


def _met_measures(kpis: Mapping[str, Kpi]) -> tuple[str, ...]:
    """KPIs → keys of the shown measures with a value that meet their (contracted or standard) target."""
    return tuple(
        k
        for k, kpi in kpis.items()
        if k not in TONE_EXCLUDED and is_known(kpi) and kpi.target is not None and rag_of(kpi) == "green"
    )


def _red_measures(kpis: Mapping[str, Kpi]) -> tuple[str, ...]:
    """KPIs → keys of the measures with a value that are red against their (contracted or standard) target."""
    return tuple(
        k
        for k, kpi in kpis.items()
        if k not in TONE_EXCLUDED and is_known(kpi) and kpi.target is not None and rag_of(kpi) == "red"
    )


def judge(
    kpis: Mapping[str, Kpi],
    available: Mapping[str, bool],
    account: Mapping[str, Any],
    quarter: Any,
    health_score: float | None = None,
    bands: tuple[float, float] = SCORE_BANDS,
) -> Assessment:
    """KPIs, which tables exist, the account row, the quarter (, health score and its green/amber bands) →
    the Assessment: service RAG, volume and margin trends, billing and case health, the verdict and its tone.

    The verdict starts from the health score's band (rule 'score_band'), or from the concerns without a score
    (rule 'concerns'), then the caps apply: 'otd_red' → at risk; 'red_measure' and 'revenue_fall' → at most
    watch. E.g. score 95 with on-time delivery 64.9% against the standard 95% target → at risk, band red.
    """
    sc = _KpiView(kpis, available, account, quarter)
    service_rag = None
    if has_table(sc, "shipments"):
        otd = kpi_of(sc, "otd_pct")
        service_rag = rag_of(otd) if is_known(otd) else _worst([rag_of(kpi_of(sc, k)) for k in SERVICE_KEYS[1:]])
    service_ok = None if service_rag is None else service_rag == "green"

    growth, _ = _volume_growth(sc)
    volume_trend: Trend | None = None
    if growth is not None and has_table(sc, "shipments"):
        volume_trend = (
            "growing" if growth >= VOLUME_BAND_PCT else "shrinking" if growth <= -VOLUME_BAND_PCT else "stable"
        )

    gm = kpi_of(sc, "gross_margin_pct")
    gm_change = gm.change_yoy if gm.change_yoy is not None else gm.change_qoq
    margin_trend: MarginTrend | None = None
    if gm_change is not None:
        margin_trend = (
            "falling" if gm_change <= -MARGIN_BAND_PP else "growing" if gm_change >= MARGIN_BAND_PP else "steady"
        )

    billing_ok: bool | None = None
    if has_table(sc, "invoices"):
        acc = kpi_of(sc, "invoice_accuracy_pct")
        checks: list[bool] = []
        accuracy = value_of(acc)
        if accuracy is not None:
            rag = rag_of(acc)
            checks.append(rag == "green" if rag is not None else accuracy >= INVOICE_ACCURACY_FLOOR)
        dtp = kpi_of(sc, "days_to_pay")
        if is_known(dtp) and rag_of(dtp) is not None:
            checks.append(rag_of(dtp) != "red")
        billing_ok = all(checks) if checks else None

    cases_ok: bool | None = None
    if has_table(sc, "cases"):
        opened, backlog = kpi_of(sc, "cases_opened"), kpi_of(sc, "cases_backlog")
        hours, repeat = kpi_of(sc, "median_hours_to_resolve"), kpi_of(sc, "repeat_complaints")
        checks = []
        open_cases = value_of(backlog)
        if open_cases is not None:
            limit = max(BACKLOG_MIN, BACKLOG_SHARE * (opened.value or 0))
            checks.append(open_cases <= limit)
        if is_known(hours):
            checks.append(rag_of(hours) != "red")
        repeats = value_of(repeat)
        if repeats is not None:
            checks.append(repeats <= REPEAT_MAX)
        cases_ok = all(checks) if checks else None

    renewal = days_to_renewal(sc)
    renewal_due = renewal is not None and renewal <= RENEWAL_WINDOW_DAYS

    concerns: list[str] = []
    if service_rag in ("amber", "red"):
        concerns.append("service")
    if volume_trend == "shrinking":
        concerns.append("volume")
    if billing_ok is False:
        concerns.append("billing")
    if cases_ok is False:
        concerns.append("cases")
    if margin_trend == "falling":
        concerns.append("margin")

    rules: list[str] = []
    reasons: list[str] = []
    if health_score is not None and not pd.isna(health_score):
        green, amber = bands
        overall: Overall = "healthy" if health_score >= green else "watch" if health_score >= amber else "at_risk"
        rules.append("score_band")
    else:
        overall = "healthy"
        if (
            service_rag == "red"
            or (service_rag == "amber" and ("volume" in concerns or "cases" in concerns))
            or len(concerns) >= 3
        ):
            overall = "at_risk"
        elif concerns:
            overall = "watch"
        rules.append("concerns")

    def cap(floor: Overall, rule: str, why: str) -> None:
        nonlocal overall
        if _DOWNGRADE[floor] > _DOWNGRADE[overall]:
            overall = floor
            reasons.append(why)
        rules.append(rule)

    red = _red_measures(kpis)
    otd = kpi_of(sc, "otd_pct")
    if "otd_pct" in red:
        cap("at_risk", "otd_red", f"on-time delivery {kt.fmt_kpi(otd)} is red against the {_target_words(otd)}")
    others = [k for k in red if k != "otd_pct"]
    if others:
        first = kpi_of(sc, others[0])
        cap(
            "watch",
            "red_measure",
            f"{first.label.lower()} {kt.fmt_kpi(first, account.get('currency'))} is red against the "
            f"{_target_words(first, account.get('currency'))}",
        )
    revenue_yoy = kpi_of(sc, "revenue").growth_yoy_pct
    if revenue_yoy is not None and revenue_yoy <= -REVENUE_FALL_PCT:
        cap("watch", "revenue_fall", f"revenue is {f.fmt_growth(revenue_yoy)} on the same quarter last year")

    strong_fall = revenue_yoy is not None and revenue_yoy <= -REVENUE_FALL_PCT
    tone: Tone
    if overall == "at_risk":
        tone = "difficult"
    elif overall == "watch":
        tone = "mixed" if red or strong_fall else "solid"
    elif _met_measures(kpis):
        tone = "good"
    else:
        tone = "unmeasured"
    rules.append(f"tone_{tone}")
    return Assessment(
        overall=overall,
        service_rag=service_rag,
        service_ok=service_ok,
        volume_trend=volume_trend,
        margin_trend=margin_trend,
        billing_ok=billing_ok,
        cases_ok=cases_ok,
        renewal_due=renewal_due,
        concerns=tuple(concerns),
        band=_BAND_OF[overall],
        health_score=None if health_score is None or pd.isna(health_score) else float(health_score),
        red=red,
        revenue_yoy_pct=revenue_yoy,
        tone=tone,
        rules=tuple(rules),
        reasons=tuple(reasons),
    )


def _target_words(kpi: Kpi, currency: str | None = None) -> str:
    """Kpi → 'contracted target of 95.0%' / 'standard target of 95.0%'."""
    source = kpi.target_source or "contracted"
    return f"{source} target of {kt.fmt_target(kpi, currency)}"


@dataclass(frozen=True)
class _KpiView:
    """The parts of a Scorecard that :func:`judge` reads, so the health module can judge from its KPIs."""

    kpis: Mapping[str, Kpi]
    available: Mapping[str, bool]
    account: Mapping[str, Any]
    quarter: Any


def derive(sc: Scorecard) -> dict[str, Any]:
    """Scorecard → the named figures the narrative shows that no single Kpi holds.

    Keys: days_to_renewal, days_past_contract_end (0 while the contract runs), contract_end,
    volume_growth_pct, volume_growth_basis ('yoy'/'qoq'), commitment_pct (shipments vs a quarter of
    committed_shipments), pipeline_count, pipeline_total, pipeline_weighted, top_opportunities (≤ 3, by
    weighted value; probability_pct on 0–100), worst_lanes / worst_carriers (≤ 3 rows), worst_lane /
    worst_carrier (first row or None), categories (cases_by_category rows, most opened first), top_category,
    mode_mix (rows, largest share first), top_lanes (≤ 3 rows by revenue).
    """
    growth, basis = _volume_growth(sc)
    committed = sc.account.get("committed_shipments")
    shipments = kpi_of(sc, "shipments").value
    commitment_pct = None
    if f.is_number(committed) and committed and shipments is not None:
        commitment_pct = shipments / (float(committed) / 4) * 100

    pipe = sc.pipeline if has_table(sc, "opportunities") else pd.DataFrame()
    if not pipe.empty:
        pipe = pipe.assign(
            weighted=pipe["weighted"] if "weighted" in pipe.columns else pipe["amount"] * pipe["probability"]
        )
        top = (
            pipe.sort_values(["weighted", "amount"], ascending=False, kind="stable")
            .head(3)
            .assign(probability_pct=lambda d: d["probability"] * 100)
        )
        pipeline_total, pipeline_weighted = float(pipe["amount"].sum()), float(pipe["weighted"].sum())
    else:
        top, pipeline_total, pipeline_weighted = pipe, None, None

    shipments_ok, cases_ok = has_table(sc, "shipments"), has_table(sc, "cases")
    lanes = _records(sc.worst_lanes, 3) if shipments_ok else []
    carriers = _records(sc.worst_carriers, 3) if shipments_ok else []
    cats = []
    if cases_ok and not sc.cases_by_category.empty:
        cats = _records(sc.cases_by_category.sort_values("opened", ascending=False, kind="stable"))
    modes = []
    if shipments_ok and not sc.mode_mix.empty:
        modes = _records(sc.mode_mix.sort_values("share_pct", ascending=False, kind="stable"))
    renewal = days_to_renewal(sc)
    return {
        "days_to_renewal": renewal,
        "days_past_contract_end": None if renewal is None else max(0, -renewal),
        "contract_end": _to_date(sc.account.get("contract_end")),
        "volume_growth_pct": growth,
        "volume_growth_basis": basis,
        "commitment_pct": commitment_pct,
        "pipeline_count": len(pipe) if has_table(sc, "opportunities") else None,
        "pipeline_total": pipeline_total,
        "pipeline_weighted": pipeline_weighted,
        "top_opportunities": _records(top),
        "worst_lanes": lanes,
        "worst_carriers": carriers,
        "worst_lane": lanes[0] if lanes else None,
        "worst_carrier": carriers[0] if carriers else None,
        "categories": cats,
        "top_category": cats[0] if cats else None,
        "mode_mix": modes,
        "top_lanes": _records(sc.top_lanes, 3) if shipments_ok else [],
        "otd_base": sc.service_base if shipments_ok else None,
    }


def action_items(
    sc: Scorecard, assessment: Assessment | None = None, figures: Mapping[str, Any] | None = None
) -> list[ActionItem]:
    """Scorecard → at most MAX_ACTIONS action items, reds first, then ambers, then commercial items.

    Service items go to Operations, commercial and billing items to the account's owner KAM; due dates are
    quarter end + 30 days for reds and + 45 days otherwise. A healthy account still gets 1–3 items
    (renewal talks when the contract ends within RENEWAL_WINDOW_DAYS, the top opportunity, a review).
    """
    a = assessment or assess(sc)
    fig = figures or derive(sc)
    cur = sc.account.get("currency")
    kam = str(sc.account.get("owner") or "Account manager")
    end = sc.quarter.end

    def due(rag: Rag | None) -> dt.date:
        return end + dt.timedelta(days=DUE_RED_DAYS if rag == "red" else DUE_OTHER_DAYS)

    ranked: list[tuple[int, ActionItem]] = []  # (priority: 0 red, 1 amber, 2 other) — stable within a rank

    def add(rag: Rag | None, text: str, owner: str, key: str) -> None:
        ranked.append((0 if rag == "red" else 1 if rag == "amber" else 2, ActionItem(text, owner, due(rag), key)))

    otd = kpi_of(sc, "otd_pct")
    otd_rag = rag_of(otd) if has_table(sc, "shipments") else None
    lane, carrier = fig.get("worst_lane"), fig.get("worst_carrier")
    if otd_rag in ("amber", "red"):
        sla = "standard target" if otd.target_source == "standard" else "SLA"
        goal = f" to bring on-time delivery back to the {kt.fmt_target(otd)} {sla}" if otd.target is not None else ""
        if lane and carrier:
            add(otd_rag, f"Joint lane review of {lane['lane']} with {carrier['carrier']}{goal}", OPERATIONS, "otd_pct")
        elif lane:
            add(otd_rag, f"Lane review of {lane['lane']}{goal}", OPERATIONS, "otd_pct")
        elif carrier:
            add(otd_rag, f"Corrective action plan with {carrier['carrier']}{goal}", OPERATIONS, "otd_pct")
        else:
            add(otd_rag, f"Root-cause review of late deliveries{goal}", OPERATIONS, "otd_pct")
        if otd_rag == "red":  # ranked as amber: the lane review comes first, renewal may push this out
            again = "the standard target is met" if otd.target_source == "standard" else "the SLA is met"
            add("amber", f"Weekly on-time delivery check-in with the client until {again} again", kam, "otd_pct")
    for key, text in (
        ("otp_pct", "Review pickup planning and carrier dispatch times with the sites"),
        ("otif_pct", "Review shortages and damage exceptions behind missed OTIF"),
        ("damage_ratio_pct", "Damage root-cause review of packaging and handling with the warehouse and carriers"),
    ):
        kpi = kpi_of(sc, key)
        rag = rag_of(kpi) if has_table(sc, "shipments") and is_known(kpi) else None
        if rag in ("amber", "red"):
            add(rag, text, OPERATIONS, key)
    if has_table(sc, "invoices"):
        acc, unbilled = kpi_of(sc, "invoice_accuracy_pct"), kpi_of(sc, "unbilled_shipments")
        has_unbilled = (value_of(unbilled) or 0) > 0
        unbilled_text = f"invoice the {kt.fmt_kpi(unbilled)} unbilled shipments" if has_unbilled else ""
        if is_known(acc) and a.billing_ok is False and rag_of(acc) != "green":
            text = "Audit credited and disputed invoices with Finance"
            text += (
                f", {unbilled_text} and agree billing corrections" if has_unbilled else " and agree billing corrections"
            )
            add(rag_of(acc) or "amber", text, kam, "invoice_accuracy_pct")
        elif has_unbilled:
            add("amber", unbilled_text[0].upper() + unbilled_text[1:], kam, "unbilled_shipments")
        overdue, dtp = kpi_of(sc, "overdue_amount"), kpi_of(sc, "days_to_pay")
        if (value_of(overdue) or 0) > 0 and rag_of(dtp) in ("amber", "red"):
            add(rag_of(dtp), f"Agree a payment plan for the {kt.fmt_kpi(overdue, cur)} overdue", kam, "overdue_amount")

    if a.cases_ok is False:
        backlog = kpi_of(sc, "cases_backlog")
        hours = kpi_of(sc, "median_hours_to_resolve")
        rag = rag_of(hours) if is_known(hours) else "amber"
        if (value_of(backlog) or 0) > 0:
            add(
                rag,
                f"Clear the backlog of {kt.fmt_kpi(backlog)} open cases and report root causes",
                OPERATIONS,
                "cases_backlog",
            )
        else:
            add(
                rag,
                "Review complaint handling times and repeat complaints with the service desk",
                OPERATIONS,
                "median_hours_to_resolve",
            )

    if a.volume_trend == "shrinking":
        add(
            "amber",
            "Volume review with the client: understand the drop and protect the committed volume",
            kam,
            "shipments",
        )
    if a.renewal_due:
        contract_end = fig.get("contract_end")
        text = (
            f"Open renewal talks ahead of the contract end on {f.fmt_date(contract_end)}"
            if fig.get("days_to_renewal", 0) >= 0
            else f"Settle the renewal: the contract ended on {f.fmt_date(contract_end)}"
        )
        rank = 0 if a.overall == "at_risk" else 2  # an account at risk near renewal: renewal is a red item
        ranked.append((rank, ActionItem(text, kam, end + dt.timedelta(days=DUE_RED_DAYS), "days_to_renewal")))
    opps = fig.get("top_opportunities") or []
    if opps and a.overall != "at_risk":
        o = opps[0]
        add(
            None,
            f"Take the {o['service']} opportunity ({o['stage']}, {f.fmt_money(o['amount'], cur)} a year) to the next stage",
            kam,
            "pipeline",
        )
    if a.overall == "healthy" and len(ranked) < 2:
        add(None, "Agree next-quarter priorities and a growth plan with the client", kam, "health")

    ranked.sort(key=lambda pair: pair[0])
    return [item for _, item in ranked[:MAX_ACTIONS]]
