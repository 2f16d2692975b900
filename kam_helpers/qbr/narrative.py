"""The QBR narrative: Markdown sections rendered from editable Jinja2 templates, plus the action items.

Python decides what the account's situation is (:func:`assess`), derives the few figures no Kpi holds
(:func:`derive`: days to renewal, pipeline totals, worst lane and carrier, …) and proposes the action items
(:func:`action_items`). The templates in ``templates/narrative/<section>.md.j2`` only choose words: every
figure reaches the text through a formatting filter (``{{ k.otd_pct | kpi }}``, ``{{ fig.pipeline_total
| money }}``), never typed or computed in a template.

A company can override any section by putting a file of the same name in its own ``template_dir``;
sections it does not override fall back to the packaged templates.

Every value a template prints (``{{ … }}``) is Markdown-escaped (:func:`kam_helpers.core.safe_html.md_escape`, the
environment's ``finalize``): text from the data renders as itself, never as markup, a link or an image.
Markdown syntax belongs in the template's own text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

import jinja2
import pandas as pd

from kam_helpers.core import formatting as f
from kam_helpers.core.paths import TEMPLATES_DIR
from kam_helpers.core.safe_html import md_escape, md_plain
from kam_helpers.metrics import kpi_text as kt
from kam_helpers.metrics.scorecard import Kpi, Rag, Scorecard, Unit

PACKAGED_TEMPLATES = TEMPLATES_DIR / "narrative"

SECTIONS: tuple[tuple[str, str], ...] = (
    ("last_qbr", "Last QBR's action items"),
    ("executive_summary", "Executive summary"),
    ("volume", "Volume and spend"),
    ("service", "Service performance"),
    ("billing", "Billing"),
    ("complaints", "Complaints and claims"),
    ("opportunities", "Opportunities"),
    ("outlook", "Outlook"),
    ("action_items", "Action items"),
)

# The Kpi keys the narrative reads, with the label and unit used when the Scorecard does not hold one.
KPI_KEYS: dict[str, tuple[str, Unit]] = {
    "revenue": ("Revenue", "money"),
    "gross_margin_pct": ("Gross margin", "pct"),
    "shipments": ("Shipments", "count"),
    "weight_kg": ("Weight", "kg"),
    "otd_pct": ("On-time delivery", "pct"),
    "otp_pct": ("On-time pickup", "pct"),
    "otif_pct": ("On time in full", "pct"),
    "damage_ratio_pct": ("Damage and claims ratio", "pct"),
    "invoice_accuracy_pct": ("Invoice accuracy", "pct"),
    "billing_variance": ("Billing variance vs rate card", "money"),
    "unbilled_shipments": ("Unbilled shipments", "count"),
    "days_to_pay": ("Days to pay", "days"),
    "overdue_amount": ("Overdue amount", "money"),
    "disputed_invoices": ("Disputed invoices", "count"),
    "cases_opened": ("Cases opened", "count"),
    "cases_closed": ("Cases closed", "count"),
    "cases_backlog": ("Open backlog at quarter end", "count"),
    "median_hours_to_resolve": ("Median time to resolve", "hours"),
    "repeat_complaints": ("Repeat complaints", "count"),
}
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
# Every judging phrase of the packaged templates → the rule (a test on the Assessment) that allows it.
# tests/test_truthful_reports.py renders narratives and checks that a phrase appears only when its rule holds.
ADJECTIVE_RULES: dict[str, tuple[str, Callable[[Assessment], bool]]] = {
    "was a good quarter": ("tone 'good' (TONE_RULES)", lambda a: a.tone == "good"),
    "was a solid quarter": ("tone 'solid' (TONE_RULES)", lambda a: a.tone == "solid"),
    "was a mixed quarter": ("tone 'mixed' (TONE_RULES)", lambda a: a.tone == "mixed"),
    "was a difficult quarter": ("tone 'difficult' (TONE_RULES)", lambda a: a.tone == "difficult"),
    "Invoicing was accurate and paid on time": ("billing_ok", lambda a: a.billing_ok is True),
    "Complaints stayed under control": ("cases_ok", lambda a: a.cases_ok is True),
    "complaints stayed low": ("cases_ok", lambda a: a.cases_ok is True),
    "Complaints stayed low": ("cases_ok", lambda a: a.cases_ok is True),
    "Volume is growing": ("volume_trend 'growing'", lambda a: a.volume_trend == "growing"),
    "Volume held steady": ("volume_trend 'stable'", lambda a: a.volume_trend == "stable"),
    "Gross margin was steady": ("margin_trend 'steady'", lambda a: a.margin_trend == "steady"),
    "Gross margin was up": ("margin_trend 'growing'", lambda a: a.margin_trend == "growing"),
    "Service met": ("service_rag 'green'", lambda a: a.service_rag == "green"),
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
class Section:
    """One rendered section: ``markdown`` is its body (no heading); ``bullets`` are the lines a deck shows."""

    key: str
    title: str
    markdown: str
    bullets: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ActionItem:
    """An action agreed in the QBR: what, who, by when, and the KPI (or derived figure) that asks for it."""

    text: str
    owner: str
    due: dt.date
    reason_kpi: str


@dataclass(frozen=True)
class Narrative:
    """The whole QBR narrative: sections in presentation order, and the action items."""

    sections: list[Section]
    action_items: list[ActionItem]

    def section(self, key: str) -> Section:
        """The section with ``key``; KeyError naming the known keys when absent."""
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(f"no narrative section {key!r}; sections are {[s.key for s in self.sections]}")

    def to_markdown(self) -> str:
        """All sections as one Markdown document, each under a level-2 heading."""
        return "\n\n".join(f"## {s.title}\n\n{s.markdown}".rstrip() for s in self.sections) + "\n"


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


def _available(sc: _Judged, table: str) -> bool:
    """True unless the Scorecard says the workspace does not hold ``table``."""
    return bool(sc.available.get(table, True))


def _kpi(sc: _Judged, key: str) -> Kpi:
    """The Scorecard's Kpi, or an empty one (value None) with the standard label and unit."""
    kpi = sc.kpis.get(key)
    if kpi is not None:
        return kpi
    label, unit = KPI_KEYS.get(key, (key, "count"))
    return Kpi(key=key, label=label, unit=unit, value=None)


def _value(kpi: Kpi) -> float | None:
    """A Kpi's value when it is known (see :func:`_known`), else None."""
    return float(kpi.value) if kpi.value is not None and _known(kpi) else None


def _known(x: Any) -> bool:
    """A Kpi with a value, or a finite number."""
    if isinstance(x, Kpi):
        return x.value is not None and f.is_number(float(x.value))
    return f.is_number(x)


def _rag(kpi: Kpi) -> Rag | None:
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
    kpi = _kpi(sc, "shipments")
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
        if k not in TONE_EXCLUDED and _known(kpi) and kpi.target is not None and _rag(kpi) == "green"
    )


def _red_measures(kpis: Mapping[str, Kpi]) -> tuple[str, ...]:
    """KPIs → keys of the measures with a value that are red against their (contracted or standard) target."""
    return tuple(
        k
        for k, kpi in kpis.items()
        if k not in TONE_EXCLUDED and _known(kpi) and kpi.target is not None and _rag(kpi) == "red"
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
    if _available(sc, "shipments"):
        otd = _kpi(sc, "otd_pct")
        service_rag = _rag(otd) if _known(otd) else _worst([_rag(_kpi(sc, k)) for k in SERVICE_KEYS[1:]])
    service_ok = None if service_rag is None else service_rag == "green"

    growth, _ = _volume_growth(sc)
    volume_trend: Trend | None = None
    if growth is not None and _available(sc, "shipments"):
        volume_trend = (
            "growing" if growth >= VOLUME_BAND_PCT else "shrinking" if growth <= -VOLUME_BAND_PCT else "stable"
        )

    gm = _kpi(sc, "gross_margin_pct")
    gm_change = gm.change_yoy if gm.change_yoy is not None else gm.change_qoq
    margin_trend: MarginTrend | None = None
    if gm_change is not None:
        margin_trend = (
            "falling" if gm_change <= -MARGIN_BAND_PP else "growing" if gm_change >= MARGIN_BAND_PP else "steady"
        )

    billing_ok: bool | None = None
    if _available(sc, "invoices"):
        acc = _kpi(sc, "invoice_accuracy_pct")
        checks: list[bool] = []
        accuracy = _value(acc)
        if accuracy is not None:
            rag = _rag(acc)
            checks.append(rag == "green" if rag is not None else accuracy >= INVOICE_ACCURACY_FLOOR)
        dtp = _kpi(sc, "days_to_pay")
        if _known(dtp) and _rag(dtp) is not None:
            checks.append(_rag(dtp) != "red")
        billing_ok = all(checks) if checks else None

    cases_ok: bool | None = None
    if _available(sc, "cases"):
        opened, backlog = _kpi(sc, "cases_opened"), _kpi(sc, "cases_backlog")
        hours, repeat = _kpi(sc, "median_hours_to_resolve"), _kpi(sc, "repeat_complaints")
        checks = []
        open_cases = _value(backlog)
        if open_cases is not None:
            limit = max(BACKLOG_MIN, BACKLOG_SHARE * (opened.value or 0))
            checks.append(open_cases <= limit)
        if _known(hours):
            checks.append(_rag(hours) != "red")
        repeats = _value(repeat)
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
    otd = _kpi(sc, "otd_pct")
    if "otd_pct" in red:
        cap("at_risk", "otd_red", f"on-time delivery {kt.fmt_kpi(otd)} is red against the {_target_words(otd)}")
    others = [k for k in red if k != "otd_pct"]
    if others:
        first = _kpi(sc, others[0])
        cap(
            "watch",
            "red_measure",
            f"{first.label.lower()} {kt.fmt_kpi(first, account.get('currency'))} is red against the "
            f"{_target_words(first, account.get('currency'))}",
        )
    revenue_yoy = _kpi(sc, "revenue").growth_yoy_pct
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
    shipments = _kpi(sc, "shipments").value
    commitment_pct = None
    if f.is_number(committed) and committed and shipments is not None:
        commitment_pct = shipments / (float(committed) / 4) * 100

    pipe = sc.pipeline if _available(sc, "opportunities") else pd.DataFrame()
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

    shipments_ok, cases_ok = _available(sc, "shipments"), _available(sc, "cases")
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
        "pipeline_count": len(pipe) if _available(sc, "opportunities") else None,
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

    otd = _kpi(sc, "otd_pct")
    otd_rag = _rag(otd) if _available(sc, "shipments") else None
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
        kpi = _kpi(sc, key)
        rag = _rag(kpi) if _available(sc, "shipments") and _known(kpi) else None
        if rag in ("amber", "red"):
            add(rag, text, OPERATIONS, key)
    if _available(sc, "invoices"):
        acc, unbilled = _kpi(sc, "invoice_accuracy_pct"), _kpi(sc, "unbilled_shipments")
        has_unbilled = (_value(unbilled) or 0) > 0
        unbilled_text = f"invoice the {kt.fmt_kpi(unbilled)} unbilled shipments" if has_unbilled else ""
        if _known(acc) and a.billing_ok is False and _rag(acc) != "green":
            text = "Audit credited and disputed invoices with Finance"
            text += (
                f", {unbilled_text} and agree billing corrections" if has_unbilled else " and agree billing corrections"
            )
            add(_rag(acc) or "amber", text, kam, "invoice_accuracy_pct")
        elif has_unbilled:
            add("amber", unbilled_text[0].upper() + unbilled_text[1:], kam, "unbilled_shipments")
        overdue, dtp = _kpi(sc, "overdue_amount"), _kpi(sc, "days_to_pay")
        if (_value(overdue) or 0) > 0 and _rag(dtp) in ("amber", "red"):
            add(_rag(dtp), f"Agree a payment plan for the {kt.fmt_kpi(overdue, cur)} overdue", kam, "overdue_amount")

    if a.cases_ok is False:
        backlog = _kpi(sc, "cases_backlog")
        hours = _kpi(sc, "median_hours_to_resolve")
        rag = _rag(hours) if _known(hours) else "amber"
        if (_value(backlog) or 0) > 0:
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


# --- rendering ------------------------------------------------------------------------------------------


def _status(kpi: Kpi, currency: str | None = None) -> str:
    """Kpi → ', meeting the target of 95.0%' / ', just below the target of 95.0%' / ', below the target of 95.0%'
    / '' without a target (lower-is-better KPIs: 'within' / 'just above' / 'above'); a standard target (the
    client has none) says so: ', below the standard target of 95.0%'."""
    if kpi.target is None or kpi.value is None:
        return ""
    target = kt.fmt_target(kpi, currency)
    whose = "the standard target" if kpi.target_source == "standard" else "the target"
    rag = _rag(kpi)
    if rag == "green":
        return f", {'meeting' if kpi.higher_is_better else 'within'} {whose} of {target}"
    worse = "below" if kpi.higher_is_better else "above"
    if rag == "amber":
        return f", just {worse} {whose} of {target}"
    return f", {worse} {whose} of {target}"


GROWTH_KEYS = ("revenue", "shipments", "weight_kg")  # compared as relative growth; pct in points; others as levels


def _changes(kpi: Kpi, currency: str | None = None, prior_q: Any = None, last_year_q: Any = None) -> str:
    """Kpi → its known comparisons in brackets, '' when none is known:
    pct → ' (+1.2 pp QoQ, −0.4 pp YoY)'; money and volume → ' (+4.0% QoQ, +6.1% YoY)';
    counts, days, hours → ' (Q2 2026: 6)', the earlier level, since growth of small counts misleads."""
    if kpi.value is None:
        return ""
    parts = []
    if kpi.unit == "pct" or kpi.key in GROWTH_KEYS or kpi.unit == "money":
        if kpi.prior is not None and (kpi.unit == "pct" or kpi.prior):
            parts.append(f"{kt.fmt_change(kpi, 'qoq', currency)} QoQ")
        if kpi.last_year is not None and (kpi.unit == "pct" or kpi.last_year):
            parts.append(f"{kt.fmt_change(kpi, 'yoy', currency)} YoY")
    else:
        if kpi.prior is not None and prior_q is not None:
            parts.append(f"{f.fmt_quarter(prior_q)}: {f.fmt_value(kpi.prior, kpi.unit, currency)}")
        if kpi.last_year is not None and last_year_q is not None:
            parts.append(f"{f.fmt_quarter(last_year_q)}: {f.fmt_value(kpi.last_year, kpi.unit, currency)}")
    return f" ({', '.join(parts)})" if parts else ""


def _currency_filter(fn: Callable[..., str]) -> Callable[..., str]:
    """Wrap a formatter that takes a currency so templates call it without one (the account's is used)."""

    @jinja2.pass_context
    def filt(ctx: jinja2.runtime.Context, value: Any, *args: Any) -> str:
        return fn(value, ctx.get("currency"), *args)

    return filt


@jinja2.pass_context
def _changes_filter(ctx: jinja2.runtime.Context, kpi: Kpi) -> str:
    return _changes(kpi, ctx.get("currency"), ctx.get("prior_quarter"), ctx.get("last_year_quarter"))


@lru_cache(maxsize=16)
def _environment(template_dir: str | None) -> jinja2.Environment:
    """The Jinja environment for one override directory (None = packaged templates only)."""
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        loaders.append(jinja2.FileSystemLoader(template_dir))
    loaders.append(jinja2.FileSystemLoader(str(PACKAGED_TEMPLATES)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # the output is Markdown, not HTML: every printed value is Markdown-escaped instead
        finalize=md_escape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(
        money=_currency_filter(f.fmt_money),
        money_change=_currency_filter(f.fmt_money_change),
        kpi=_currency_filter(kt.fmt_kpi),
        target=_currency_filter(kt.fmt_target),
        status=_currency_filter(_status),
        changes=_changes_filter,
        change=lambda kpi, which="qoq": kt.fmt_change(kpi, which),
        pct=f.fmt_pct,
        pp=f.fmt_pp,
        growth=f.fmt_growth,
        count=f.fmt_count,
        days=f.fmt_days,
        hours=f.fmt_hours,
        weight=f.fmt_weight,
        date=f.fmt_date,
        month=f.fmt_month,
        quarter=f.fmt_quarter,
        coverage_note=coverage_note,
        capitalize_first=lambda text: text[:1].upper() + text[1:],
    )
    env.tests["known"] = _known
    return env


def coverage_note(cov: Any) -> str:
    """Coverage → 'data to 30 Aug 2026: 2 of 3 months' (1.97 months shows as 2, 1.5 as 1.5); '' when the data
    covers the whole quarter or its end is unknown."""
    if cov is None or not cov.partial or cov.data_to is None:
        return ""
    months = cov.months
    shown = f"{round(months):d}" if abs(months - round(months)) < 0.1 else f"{months:.1f}"
    return f"data to {f.fmt_date(cov.data_to)}: {shown} of 3 months"


_HEADING = re.compile(r"^\s*#{1,6}\s+(.+?)\s*$")


def _split_title(text: str, default: str) -> tuple[str, str]:
    """Rendered template → (title, body): a leading Markdown heading is the title, else ``default``."""
    text = re.sub(r"\n{3,}", "\n\n", text.replace("\r\n", "\n")).strip()
    first, _, rest = text.partition("\n")
    m = _HEADING.match(first)
    return (m.group(1), rest.strip()) if m else (default, text)


def _bullets(markdown: str) -> list[str]:
    """Markdown body → deck bullets: its top-level list items, or, with no list, one per line of prose."""
    lines = markdown.splitlines()
    items = [md_plain(raw[2:]).strip() for raw in lines if raw.startswith(("- ", "* "))]
    if items:
        return items
    return [md_plain(raw).strip() for raw in lines if raw.strip() and not raw.strip().startswith(("|", "#"))]


def context(sc: Scorecard, insights: Any = None, assessment: Assessment | None = None) -> dict[str, Any]:
    """Scorecard → the variables every template sees.

    account, name, owner, currency, quarter / prior_quarter / last_year_quarter (Quarter), k (every key of
    KPI_KEYS → Kpi, value None when missing), a (Assessment), fig (:func:`derive`), has (section → the
    workspace holds data for it), available (table → bool), actions (ActionItem list), recovery (the
    on-time delivery actions), service_keys / billing_keys / case_keys, ins (the figures of
    :class:`kam_helpers.analyses.insights.Insights` when given, else empty: forecast, audit, gaps, carried, pace_pct …),
    coverage (:class:`Coverage` of the quarter or None), moved (shipments picked up in the quarter).
    ``assessment`` is the account's verdict when the caller judged it on the full scorecard and health score
    (QbrReport does); else it is judged here from ``sc``.
    """
    a = assessment if assessment is not None else assess(sc)
    fig = derive(sc)
    actions = action_items(sc, a, fig)
    k = {key: _kpi(sc, key) for key in KPI_KEYS}
    k.update(sc.kpis)
    shipments_ok = _available(sc, "shipments")
    has = {
        "volume": shipments_ok and any(_known(k[x]) for x in ("shipments", "revenue")),
        "service": shipments_ok and any(_known(k[x]) for x in SERVICE_KEYS),
        "billing": _available(sc, "invoices") and any(_known(k[x]) for x in BILLING_KEYS),
        "complaints": _available(sc, "cases") and any(_known(k[x]) for x in CASE_KEYS),
        "opportunities": _available(sc, "opportunities"),
        "renewal": fig["days_to_renewal"] is not None,
    }
    return {
        "account": dict(sc.account),
        "name": sc.name,
        "owner": sc.account.get("owner") or None,
        "currency": sc.account.get("currency") or None,
        "quarter": sc.quarter,
        "prior_quarter": sc.quarter.prior,
        "last_year_quarter": sc.quarter.last_year,
        "k": k,
        "a": a,
        "fig": fig,
        "has": has,
        "available": {t: _available(sc, t) for t in ("shipments", "invoices", "cases", "opportunities", "targets")},
        "actions": actions,
        "recovery": [x for x in actions if x.reason_kpi == "otd_pct"][:2],
        "service_keys": SERVICE_KEYS,
        "billing_keys": BILLING_KEYS,
        "case_keys": CASE_KEYS,
        "ins": insights.figures(sc.account.get("currency")) if insights is not None else {},
        "coverage": sc.coverage,
        "moved": sc.picked_up,
        "has_as_of": sc.coverage is not None and sc.coverage.data_to is not None,
        "red_phrases": red_phrases(k, a, sc.account.get("currency")),
    }


def red_phrases(k: Mapping[str, Kpi], a: Assessment, currency: str | None = None) -> list[str]:
    """KPIs, Assessment → one phrase per shown measure red against its target, e.g. 'on-time delivery was 64.9%,
    below the standard target of 95.0%' (the measures a client does not see are left out)."""
    out = []
    for key in a.red:
        kpi = k.get(key)
        if kpi is None or not _known(kpi):
            continue
        out.append(f"{kpi.label[0].lower()}{kpi.label[1:]} was {kt.fmt_kpi(kpi, currency)}{_status(kpi, currency)}")
    return out


def build_narrative(
    sc: Scorecard, *, template_dir: Path | None = None, insights: Any = None, assessment: Assessment | None = None
) -> Narrative:
    """Scorecard (and Insights, when computed; the account's Assessment when judged by the caller) → Narrative:
    each section rendered from ``<template_dir>/<key>.md.j2`` when that file exists, else from the packaged
    template; sections in the order of SECTIONS."""
    env = _environment(None if template_dir is None else str(Path(template_dir)))
    ctx = context(sc, insights, assessment)
    sections = []
    for key, default_title in SECTIONS:
        rendered = env.get_template(f"{key}.md.j2").render(**ctx)
        title, body = _split_title(rendered, default_title)
        sections.append(Section(key=key, title=title, markdown=body, bullets=_bullets(body)))
    return Narrative(sections=sections, action_items=list(ctx["actions"]))
