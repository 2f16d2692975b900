"""The QBR narrative: Markdown sections rendered from editable Jinja2 templates.

The assessment (:mod:`kam_helpers.analyses.assessment`) decides what the account's situation is, derives the
figures no Kpi holds and proposes the action items; the templates in ``templates/narrative/<section>.md.j2`` only
choose words: every figure reaches the text through a formatting filter (``{{ k.otd_pct | kpi }}``,
``{{ fig.pipeline_total | money }}``), never typed or computed in a template. Sections and their order come from
the QBR's outline (:data:`kam_helpers.qbr.outline.NARRATIVE_PARTS`).

A company can override any section by putting a file of the same name in its own ``template_dir``;
sections it does not override fall back to the packaged templates.

Every value a template prints (``{{ … }}``) is Markdown-escaped (:func:`kam_helpers.core.safe_html.md_escape`, the
environment's ``finalize``): text from the data renders as itself, never as markup, a link or an image.
Markdown syntax belongs in the template's own text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from kam_helpers.analyses.assessment import (
    BILLING_KEYS,
    CASE_KEYS,
    SERVICE_KEYS,
    ActionItem,
    Assessment,
    action_items,
    assess,
    derive,
    has_table,
    is_known,
    kpi_of,
    rag_of,
)
from kam_helpers.core import formatting as f
from kam_helpers.core.paths import TEMPLATES_DIR
from kam_helpers.core.safe_html import md_escape, md_plain
from kam_helpers.metrics import kpi_text as kt
from kam_helpers.metrics.scorecard import Kpi, Scorecard
from kam_helpers.qbr.outline import NARRATIVE_PARTS

PACKAGED_TEMPLATES = TEMPLATES_DIR / "narrative"

# The Kpi keys the templates read (as ``k.<key>``): each present, with value None when the Scorecard lacks it.
KPI_KEYS: tuple[str, ...] = (
    "revenue", "gross_margin_pct", "shipments", "weight_kg", *SERVICE_KEYS, *BILLING_KEYS, *CASE_KEYS,
)  # fmt: skip

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


# --- output types ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """One rendered section: ``markdown`` is its body (no heading); ``bullets`` are the lines a deck shows."""

    key: str
    title: str
    markdown: str
    bullets: list[str] = field(default_factory=list)


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


# --- rendering ------------------------------------------------------------------------------------------


def _status(kpi: Kpi, currency: str | None = None) -> str:
    """Kpi → ', meeting the target of 95.0%' / ', just below the target of 95.0%' / ', below the target of 95.0%'
    / '' without a target (lower-is-better KPIs: 'within' / 'just above' / 'above'); a standard target (the
    client has none) says so: ', below the standard target of 95.0%'."""
    if kpi.target is None or kpi.value is None:
        return ""
    target = kt.fmt_target(kpi, currency)
    whose = "the standard target" if kpi.target_source == "standard" else "the target"
    rag = rag_of(kpi)
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
    env.tests["known"] = is_known
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
    k = {key: kpi_of(sc, key) for key in KPI_KEYS}
    k.update(sc.kpis)
    shipments_ok = has_table(sc, "shipments")
    has = {
        "volume": shipments_ok and any(is_known(k[x]) for x in ("shipments", "revenue")),
        "service": shipments_ok and any(is_known(k[x]) for x in SERVICE_KEYS),
        "billing": has_table(sc, "invoices") and any(is_known(k[x]) for x in BILLING_KEYS),
        "complaints": has_table(sc, "cases") and any(is_known(k[x]) for x in CASE_KEYS),
        "opportunities": has_table(sc, "opportunities"),
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
        "available": {t: has_table(sc, t) for t in ("shipments", "invoices", "cases", "opportunities", "targets")},
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
        if kpi is None or not is_known(kpi):
            continue
        out.append(f"{kpi.label[0].lower()}{kpi.label[1:]} was {kt.fmt_kpi(kpi, currency)}{_status(kpi, currency)}")
    return out


def build_narrative(
    sc: Scorecard, *, template_dir: Path | None = None, insights: Any = None, assessment: Assessment | None = None
) -> Narrative:
    """Scorecard (and Insights, when computed; the account's Assessment when judged by the caller) → Narrative:
    each section rendered from ``<template_dir>/<key>.md.j2`` when that file exists, else from the packaged
    template; sections in the order of the outline's NARRATIVE_PARTS."""
    env = _environment(None if template_dir is None else str(Path(template_dir)))
    ctx = context(sc, insights, assessment)
    sections = []
    for part in NARRATIVE_PARTS:
        rendered = env.get_template(f"{part.key}.md.j2").render(**ctx)
        title, body = _split_title(rendered, part.title)
        sections.append(Section(key=part.key, title=title, markdown=body, bullets=_bullets(body)))
    return Narrative(sections=sections, action_items=list(ctx["actions"]))
