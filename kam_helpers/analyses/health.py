"""Health score: one number 0–100 per account and quarter, with the measures that pull it down named.

``health_score(data, quarter)`` → :class:`HealthScore`:

* each measure of ``config/health.yml`` (service, financial trend, billing, cases, relationship) gets a value
  from the scorecard KPIs (:func:`measure_values`) and a 0–100 score by linear interpolation between its
  ``bad`` and ``good`` thresholds (:func:`measure_score`), optionally relative to the account's target;
* the score is the weighted mean of the measures that have a value; a measure without one hands its weight to
  the others in proportion, and ``redistributed`` says so in words (:func:`blend`);
* ``drivers`` are the measures that cost points (weight share × (100 − score)), worst first;
* ``history`` is the score of every quarter with shipments up to the one asked, with the trend.

Example: OTD 89% vs a 96% target scores 100 × (1 − 7/8) = 12.5; at an effective weight of 20% it costs
17.5 points, and is named first when nothing else costs more.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml

from kam_helpers import metrics
from kam_helpers.analyses import assessment
from kam_helpers.core import paths
from kam_helpers.core.errors import ConfigError, NoDataError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.account_data import AccountData
from kam_helpers.metrics.scorecard import Kpi

CONFIG_FILE = paths.CONFIG_DIR / "health.yml"
COMPONENTS = ("service", "financial", "billing", "cases", "relationship")
Band = Literal["green", "amber", "red"]
Trend = Literal["improving", "steady", "declining"]

# measure key → (label, unit) for what a report prints; KPI measures take label and unit from KPI_SPECS.
DERIVED = {
    "revenue_yoy_pct": ("Revenue growth vs last year", "pct"),
    "margin_change_pp": ("Gross margin change vs last year", "pp"),
    "unbilled_pct": ("Unbilled shipments (% of shipments)", "pct"),
    "billing_variance_abs_pct": ("Billing variance vs rate card (absolute)", "pct"),
    "cases_per_100_shipments": ("Cases per 100 shipments", "count"),
    "days_to_pay_vs_terms": ("Days to pay beyond terms", "days"),
    "pipeline_coverage_pct": ("Weighted pipeline (% of annual revenue)", "pct"),
}
# measure key → table whose absence explains a missing value
NEEDS = {
    "otd_pct": "shipments", "otif_pct": "shipments", "damage_ratio_pct": "cases", "revenue_yoy_pct": "shipments",
    "margin_change_pp": "shipments", "invoice_accuracy_pct": "invoices", "unbilled_pct": "invoice_lines",
    "billing_variance_abs_pct": "rate_cards", "cases_per_100_shipments": "cases", "median_hours_to_resolve": "cases",
    "repeat_complaints": "cases", "days_to_pay_vs_terms": "invoices", "pipeline_coverage_pct": "opportunities",
}  # fmt: skip

COMPONENT_COLUMNS = {
    "name": "str", "label": "str", "component": "str", "value": "float64", "good": "float64", "bad": "float64",
    "weight": "float64", "effective_weight": "float64", "score": "float64", "points_lost": "float64",
}  # fmt: skip
HISTORY_COLUMNS = {"quarter": "str", "score": "float64", "band": "str", "change": "float64"}


@dataclass(frozen=True)
class Measure:
    """One measure of the config: where it belongs, its weight and thresholds."""

    name: str
    component: str
    weight: float
    good: float
    bad: float
    relative_to_target: bool = False
    fallback_target: float | None = None


@dataclass(frozen=True)
class HealthConfig:
    """The parsed ``health.yml``."""

    measures: tuple[Measure, ...]
    green: float = 70.0
    amber: float = 50.0
    top_drivers: int = 3
    steady_points: float = 3.0


@dataclass(frozen=True)
class Driver:
    """A measure that pulls the score down: how many points it costs and a sentence that says why."""

    name: str
    label: str
    component: str
    value: float
    score: float
    points_lost: float
    text: str


@dataclass(frozen=True)
class HealthScore:
    """An account's health for a quarter. ``components`` has one row per measure (COMPONENT_COLUMNS; value NaN
    where the measure had no data), ``drivers`` worst first, ``redistributed`` one note per measure without data,
    ``history`` quarter/score/band/change per quarter up to this one. ``band`` is the verdict's colour
    (assessment.judge: the score's band, capped by red measures and a strong revenue fall), so the health band,
    the narrative's tone, the index and the explorer badge never disagree."""

    account_id: str
    quarter: Quarter
    score: float
    band: Band
    components: pd.DataFrame
    drivers: list[Driver]
    redistributed: list[str]
    history: pd.DataFrame
    trend: Trend | None  # vs the previous quarter's score; None without one
    verdict: assessment.Assessment | None = None  # the one verdict (assessment.judge): band is its colour
    score_band: Band | None = None  # the band of the score alone, before the verdict's caps

    def by_component(self) -> pd.DataFrame:
        """components → component, effective_weight, score (weighted mean of its measures), points_lost."""
        known = self.components.dropna(subset=["score"])
        if known.empty:
            return pd.DataFrame({"component": [], "effective_weight": [], "score": [], "points_lost": []})
        grouped = known.assign(ws=known["score"] * known["effective_weight"]).groupby("component", sort=False)
        out = grouped.agg(
            effective_weight=("effective_weight", "sum"), ws=("ws", "sum"), points_lost=("points_lost", "sum")
        )
        out["score"] = out["ws"] / out["effective_weight"]
        return out.drop(columns="ws").reset_index()[["component", "effective_weight", "score", "points_lost"]]


# ----------------------------------------------------------------------------------------------- config


def load_config(path: str | Path | None = None) -> HealthConfig:
    """health.yml (default: the package's) → HealthConfig; ConfigError naming the file and key at fault."""
    path = Path(path) if path else CONFIG_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable health configuration ({exc})") from exc
    return parse_config(raw, str(path))


def parse_config(raw: dict, source: str = "health config") -> HealthConfig:
    """A dict shaped like health.yml → HealthConfig (validated)."""
    measures = []
    for name, spec in (raw.get("measures") or {}).items():
        if name not in metrics.KPI_SPECS and name not in DERIVED:
            raise ConfigError(f"{source}: measures.{name}: expected a KPI key or one of {sorted(DERIVED)}")
        try:
            m = Measure(
                name=name,
                component=str(spec["component"]),
                weight=float(spec["weight"]),
                good=float(spec["good"]),
                bad=float(spec["bad"]),
                relative_to_target=bool(spec.get("relative_to_target", False)),
                fallback_target=None if spec.get("fallback_target") is None else float(spec["fallback_target"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: measures.{name}: expected component, weight, good and bad ({exc})") from exc
        if m.component not in COMPONENTS:
            raise ConfigError(f"{source}: measures.{name}.component: expected one of {', '.join(COMPONENTS)}")
        if m.weight < 0 or m.good == m.bad:
            raise ConfigError(f"{source}: measures.{name}: expected weight ≥ 0 and good ≠ bad")
        measures.append(m)
    if not measures or sum(m.weight for m in measures) <= 0:
        raise ConfigError(f"{source}: expected at least one measure with a positive weight")
    bands = raw.get("bands") or {}
    return HealthConfig(
        measures=tuple(measures),
        green=float(bands.get("green", 70)),
        amber=float(bands.get("amber", 50)),
        top_drivers=int(raw.get("top_drivers", 3)),
        steady_points=float(raw.get("steady_points", 3)),
    )


# ----------------------------------------------------------------------------------------------- measures


def _value(kpis: dict[str, Kpi], key: str) -> float | None:
    kpi = kpis.get(key)
    return None if kpi is None or kpi.value is None or pd.isna(kpi.value) else float(kpi.value)


def measure_values(kpis: dict[str, Kpi], pipeline_weighted: float | None, annual_revenue: float | None) -> dict:
    """Scorecard KPIs (metrics.kpis), open weighted pipeline, last four quarters' revenue → {measure: value or
    None}. Derived measures are None when an input is: e.g. revenue_yoy_pct without last year's revenue."""
    out: dict[str, float | None] = {k: _value(kpis, k) for k in metrics.KPI_SPECS}
    rev = kpis.get("revenue")
    out["revenue_yoy_pct"] = None if rev is None else rev.growth_yoy_pct
    gm = kpis.get("gross_margin_pct")
    out["margin_change_pp"] = None if gm is None else gm.change_yoy
    shipments = _value(kpis, "shipments")
    unbilled = _value(kpis, "unbilled_shipments")
    out["unbilled_pct"] = None if unbilled is None or not shipments else unbilled / shipments * 100
    variance = _value(kpis, "billing_variance_pct")
    out["billing_variance_abs_pct"] = None if variance is None else abs(variance)
    opened = _value(kpis, "cases_opened")
    out["cases_per_100_shipments"] = None if opened is None or not shipments else opened / shipments * 100
    dtp = kpis.get("days_to_pay")
    out["days_to_pay_vs_terms"] = (
        None if dtp is None or dtp.value is None or dtp.target is None else float(dtp.value - dtp.target)
    )
    out["pipeline_coverage_pct"] = (
        None if pipeline_weighted is None or not annual_revenue else pipeline_weighted / annual_revenue * 100
    )
    return out


def measure_score(value: float, good: float, bad: float) -> float:
    """value, good (→ 100), bad (→ 0) → linear score clamped to 0–100. measure_score(92, 96, 88) = 50."""
    share = (value - bad) / (good - bad)
    return float(min(max(share, 0.0), 1.0) * 100)


def thresholds(measure: Measure, kpis: dict[str, Kpi]) -> tuple[float, float]:
    """Measure, KPIs → (good, bad) in the measure's own units: offsets from the KPI's target (or the measure's
    fallback target) when relative_to_target."""
    if not measure.relative_to_target:
        return measure.good, measure.bad
    kpi = kpis.get(measure.name)
    target = kpi.target if kpi is not None and kpi.target is not None else measure.fallback_target
    if target is None:
        raise ConfigError(f"health measure {measure.name}: relative_to_target needs a target or a fallback_target")
    return target + measure.good, target + measure.bad


def blend(values: dict[str, float | None], kpis: dict[str, Kpi], config: HealthConfig) -> tuple[pd.DataFrame, float]:
    """Measure values, KPIs, config → (components frame, score). Effective weights are the configured weights of
    the measures with a value, rescaled to sum to 1; points_lost = effective_weight × (100 − score).
    NoDataError when no measure has a value."""
    rows = []
    for m in config.measures:
        value = values.get(m.name)
        good, bad = thresholds(m, kpis)
        known = value is not None and not pd.isna(value) and m.weight > 0
        rows.append(
            dict(
                name=m.name,
                label=label(m.name),
                component=m.component,
                value=float(value) if known and value is not None else float("nan"),
                good=good,
                bad=bad,
                weight=m.weight,
                score=measure_score(float(value), good, bad) + 0.0 if known and value is not None else float("nan"),
            )
        )
    frame = pd.DataFrame(rows)
    known = frame["score"].notna()
    total = frame.loc[known, "weight"].sum()
    if total <= 0:
        raise NoDataError("no health measure has data for this quarter")
    frame["effective_weight"] = (frame["weight"] / total).where(known, 0.0)
    frame["points_lost"] = (frame["effective_weight"] * (100 - frame["score"])).where(known, 0.0)
    score = float((frame["effective_weight"] * frame["score"].fillna(0)).sum())
    return frame[list(COMPONENT_COLUMNS)].astype(COMPONENT_COLUMNS), score


def label(name: str) -> str:
    """Measure key → its label ('otd_pct' → 'On-time delivery')."""
    return DERIVED[name][0] if name in DERIVED else metrics.KPI_SPECS[name][0]


def _unit(name: str) -> str:
    return DERIVED[name][1] if name in DERIVED else metrics.KPI_SPECS[name][1]


def _fmt(value: float, unit: str) -> str:
    if unit == "pct":
        return f"{value:.1f}%"
    if unit == "pp":
        return f"{value:+.1f} pp"
    if unit == "days":
        return f"{value:.0f} days"
    if unit == "hours":
        return f"{value:.0f} h"
    if unit == "money":
        return f"{value:,.0f}"
    return f"{value:.1f}" if value != int(value) else f"{value:.0f}"


def drivers(components: pd.DataFrame, n: int | None = None) -> list[Driver]:
    """components → the measures that cost points (points_lost > 0.05), most points first (ties by name):
    e.g. Driver('otd_pct', ..., text='On-time delivery 89.0% (100 points at 96.0%, 0 at 88.0%) costs 17.5 points')."""
    costly = components[components["points_lost"] > 0.05].sort_values(["points_lost", "name"], ascending=[False, True])
    out = []
    for r in costly.head(n).itertuples(index=False) if n else costly.itertuples(index=False):
        unit = _unit(r.name)
        text = (
            f"{r.label} {_fmt(r.value, unit)} (100 points at {_fmt(r.good, unit)}, 0 at {_fmt(r.bad, unit)}) "
            f"costs {r.points_lost:.1f} points"
        )
        out.append(Driver(r.name, r.label, r.component, float(r.value), float(r.score), float(r.points_lost), text))
    return out


def redistribution_notes(components: pd.DataFrame, data: AccountData) -> list[str]:
    """components, data → one sentence per measure without a value, naming why and where its weight went:
    'Invoice accuracy: no data (the workspace has no invoices table); its weight 8 is spread over the others.'"""
    notes = []
    for r in components[components["score"].isna() & (components["weight"] > 0)].itertuples(index=False):
        table = NEEDS.get(r.name)
        if table and not data.has(table):
            why = f"the workspace has no {table} table"
        elif r.name == "otif_pct" and not _records_flags(data.shipments):
            why = "the shipments record no damage or shortage flags"
        else:
            why = "nothing to measure in this quarter"
        notes.append(f"{r.label}: no data ({why}); its weight {r.weight:g} is spread over the other measures.")
    return notes


def _records_flags(shipments: pd.DataFrame | None) -> bool:
    """True when any shipment records a damaged or short flag (OTIF needs one)."""
    if shipments is None:
        return False
    return any(c in shipments and shipments[c].notna().any() for c in ("damaged", "short"))


def band(score: float, config: HealthConfig) -> Band:
    """score → 'green' (≥ bands.green), 'amber' (≥ bands.amber) or 'red'."""
    return "green" if score >= config.green else "amber" if score >= config.amber else "red"


# ----------------------------------------------------------------------------------------------- entry point


def _pipeline_weighted(data: AccountData) -> float | None:
    if data.opportunities is None:
        return None
    return float(metrics.pipeline(data.opportunities)["weighted"].sum())


def _annual_revenue(active: pd.DataFrame | None, quarter: Quarter) -> float | None:
    """active shipments, quarter → revenue of the four quarters ending with it (None without shipments)."""
    if active is None:
        return None
    span = metrics.Span(pd.Timestamp(quarter.shift(-3).start), pd.Timestamp(quarter.shift(1).start))
    return metrics.revenue(metrics.in_period(active, "ship_date", span))


class _Scorer:
    """Scores any quarter of an account from its prepared frames (the scorecard's own, prepared once)."""

    def __init__(self, source: AccountData | metrics.PreparedAccount, config: HealthConfig) -> None:
        self.prep = metrics.as_prepared(source)
        self.data, self.config = self.prep.data, config
        self.pipeline = _pipeline_weighted(self.data)

        self._values: dict[object, dict] = {}

    def values(self, span: metrics.Span | None) -> dict:
        """Every KPI value of a span (metrics.period_values), computed once per span."""
        if span not in self._values:
            self._values[span] = metrics.period_values(self.prep, span)
        return self._values[span]

    def kpis(self, quarter: Quarter) -> dict[str, Kpi]:
        """The quarter's KPIs as metrics.scorecard builds them (same coverage, comparisons and targets), from
        cached per-span values."""
        spans = metrics.comparison_spans(metrics.quarter_coverage(self.prep, quarter), quarter)
        now, prior, last_year = (self.values(span) for span in spans)
        return metrics.build_kpis(now, prior, last_year, self.prep.targets, quarter)

    def score(self, quarter: Quarter) -> tuple[pd.DataFrame, float]:
        kpis = self.kpis(quarter)
        values = measure_values(kpis, self.pipeline, _annual_revenue(self.prep.active, quarter))
        return blend(values, kpis, self.config)

    def verdict(self, quarter: Quarter, score: float) -> assessment.Assessment:
        """The quarter's verdict from its score and the same KPIs the scorecard shows (assessment.judge)."""
        available = {t: self.data.has(t) for t in metrics.AVAILABLE_TABLES}
        return assessment.judge(
            self.kpis(quarter), available, self.data.account, quarter, score, (self.config.green, self.config.amber)
        )


def _quarters_with_shipments(prep: metrics.PreparedAccount, quarter: Quarter) -> list[Quarter]:
    if prep.active is None or prep.active.empty:
        return [quarter]
    days = prep.active["ship_date"].dropna()
    if days.empty:
        return [quarter]
    first = Quarter.of(days.min().date())
    out, q = [], min(first, quarter)
    while q <= quarter:
        out.append(q)
        q = q.shift(1)
    return out


def history(
    source: AccountData | metrics.PreparedAccount,
    quarter: Quarter | str,
    config: HealthConfig | None = None,
    max_quarters: int = 8,
) -> pd.DataFrame:
    """AccountData (or its PreparedAccount), quarter → quarter, score, band, change (vs the previous row) for up to ``max_quarters``
    quarters with shipments, ending at ``quarter``; quarters where no measure has data are left out."""
    config = config or load_config()
    return _history(_Scorer(source, config), Quarter.parse(quarter), max_quarters)


def _history(scorer: _Scorer, quarter: Quarter, max_quarters: int = 8) -> pd.DataFrame:
    rows = []
    for q in _quarters_with_shipments(scorer.prep, quarter)[-max_quarters:]:
        try:
            _, score = scorer.score(q)
        except NoDataError:
            continue
        rows.append(dict(quarter=str(q), score=score, band=scorer.verdict(q, score).band))
    frame = pd.DataFrame(rows, columns=["quarter", "score", "band"])
    frame["change"] = frame["score"].diff()
    return frame.astype(HISTORY_COLUMNS)


def trend(hist: pd.DataFrame, config: HealthConfig) -> Trend | None:
    """history → 'improving' / 'declining' when the last change exceeds steady_points, else 'steady'."""
    if len(hist) < 2 or pd.isna(hist["change"].iloc[-1]):
        return None
    change = float(hist["change"].iloc[-1])
    return "improving" if change > config.steady_points else "declining" if change < -config.steady_points else "steady"


def health_score(
    source: AccountData | metrics.PreparedAccount,
    quarter: Quarter | str,
    config: HealthConfig | str | Path | None = None,
    *,
    with_history: bool = True,
) -> HealthScore:
    """AccountData (or its PreparedAccount), quarter (, config or path to a health.yml) → HealthScore.

    NoDataError when no measure has data for the quarter (e.g. an account without shipments, invoices, ...).
    """
    q = Quarter.parse(quarter)
    cfg = config if isinstance(config, HealthConfig) else load_config(config)
    scorer = _Scorer(source, cfg)
    data = scorer.data
    components, score = scorer.score(q)
    verdict = scorer.verdict(q, score)
    hist = (
        _history(scorer, q)
        if with_history
        else pd.DataFrame([dict(quarter=str(q), score=score, band=verdict.band, change=float("nan"))]).astype(
            HISTORY_COLUMNS
        )
    )
    return HealthScore(
        account_id=data.account_id,
        quarter=q,
        score=score,
        band=verdict.band,
        components=components,
        drivers=drivers(components, cfg.top_drivers),
        redistributed=redistribution_notes(components, data),
        history=hist,
        trend=trend(hist, cfg),
        verdict=verdict,
        score_band=band(score, cfg),
    )


def book_health(workspace: Any, quarter: Quarter | str, config: HealthConfig | None = None) -> pd.DataFrame:
    """Workspace, quarter → account_id, score, band, trend, top_driver for every account (the book of
    business; internal, never sent to a client). Accounts without data get NaN and band 'no data'."""
    cfg = config or load_config()
    rows = []
    for account_id in workspace.account_ids():
        try:
            h = health_score(workspace.account_data(account_id), quarter, cfg)
            rows.append(
                dict(
                    account_id=account_id,
                    score=h.score,
                    band=h.band,
                    trend=h.trend,
                    top_driver=h.drivers[0].label if h.drivers else None,
                )
            )
        except NoDataError:
            rows.append(dict(account_id=account_id, score=float("nan"), band="no data", trend=None, top_driver=None))
    return pd.DataFrame(rows, columns=["account_id", "score", "band", "trend", "top_driver"])
