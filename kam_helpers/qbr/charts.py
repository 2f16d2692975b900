"""The QBR charts: Altair builders from a :class:`~kam_helpers.metrics.scorecard.Scorecard`, plus offline rendering.

Each builder takes one account's Scorecard and returns a chart object (never displays it), or ``None``
when the frame it needs is empty, so the caller can say "no data". Every chart uses the registered
Altair theme ``'kam'`` (:mod:`kam_helpers.qbr.chart_theme`), enabled when this module is imported. ``to_svg`` /
``to_png`` render through vl-convert in-process with network access disabled; each conversion is kept by its
input for the next time the same chart is asked for.

Only the columns a chart draws are put into its data, so a spec never carries more than the account's
own figures.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import altair as alt
import pandas as pd
import vl_convert as vlc

from kam_helpers.core.formatting import currency_symbol, fmt_quarter
from kam_helpers.metrics.scorecard import Scorecard
from kam_helpers.qbr.chart_theme import (  # noqa: F401  (the theme's names, also read through this module)
    AMBER,
    BRAND,
    FONT,
    GREEN,
    GRID,
    HEIGHT,
    INK,
    MUTED,
    MUTED_DARK,
    PALETTE,
    RED,
    SECOND,
    THEME_NAME,
    WIDTH,
    kam_theme,
)

AnyChart = alt.Chart | alt.LayerChart | alt.VConcatChart | alt.HConcatChart

LABEL_CHARS = 30  # axis labels longer than this are cut and end in an ellipsis
TOP_N = 10

# The deck's and the PDF's charts: one PNG each, shared. 1.5 × the chart's CSS pixels is ~1,000 pixels across
# a slide's chart box (62 % of 13.3 in) and ~150 dpi on the PDF's A4 page; 2 looked the same and cost more to
# convert and to compress into the PDF.
PNG_SCALE = 1.5

_SVG_URLS_ALLOWED = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)].rstrip() + "…"


def truncate_label(text: str, limit: int = LABEL_CHARS) -> str:
    """A label cut to at most ``limit`` characters, ending in an ellipsis when cut. A lane keeps both ends:
    'Zaragoza Plaza Logistics Park → Rotterdam Maasvlakte II' → 'Zaragoza Plaz… → Rotterdam M…'."""
    text = str(text)
    if len(text) <= limit:
        return text
    left, sep, right = text.partition(" → ")
    if sep and right:
        budget = limit - len(sep)
        half = budget // 2
        lw = min(len(left), max(half, budget - len(right)))
        return _cut(left, lw) + sep + _cut(right, budget - lw)
    return _cut(text, limit)


def _unique_labels(values: list[str], limit: int = LABEL_CHARS) -> list[str]:
    """Truncated labels made unique (a clash gets ' ·2', ' ·3'), so two long names never share a bar."""
    out: list[str] = []
    for v in values:
        label, n = truncate_label(v, limit), 1
        while label in out:
            n += 1
            suffix = f" ·{n}"
            label = truncate_label(v, limit - len(suffix)) + suffix
        out.append(label)
    return out


def _label_expr(limit: int = LABEL_CHARS) -> str:
    """A Vega expression that cuts an axis label to ``limit`` characters with an ellipsis."""
    return f"length(datum.label) > {limit} ? trim(substring(datum.label, 0, {limit - 1})) + '…' : datum.label"


def _money_axis_expr(currency: str | None) -> str:
    """Vega expression for money axis labels: 1250000 → '€1.25M' (SI suffix, 'k' for thousands)."""
    sym = currency_symbol(currency).replace("'", "\\'")
    return f"'{sym}' + replace(format(datum.value, '~s'), 'G', 'B')"


def _currency(sc: Scorecard) -> str | None:
    return sc.account.get("currency") or None


def _title(text: str, sc: Scorecard) -> alt.TitleParams:
    return alt.TitleParams(text, subtitle=f"{sc.name} · {fmt_quarter(sc.quarter)}")


def _with_month_labels(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Frame with a ``month`` date column → (frame sorted by month with ``month_label`` 'Jul 26', labels in order).

    Months go on a band (ordinal) axis so bars and line points line up on the same month."""
    data = frame.assign(month=lambda d: pd.to_datetime(d["month"])).sort_values("month")
    data = data.assign(month_label=[f"{m:%b} {m:%y}" for m in data["month"]])
    return data, data["month_label"].tolist()


def _month_x(order: list[str]) -> alt.X:
    return alt.X("month_label:O", sort=order, title=None, axis=alt.Axis(labelAngle=0, ticks=False))


def _empty(frame: pd.DataFrame | None, *columns: str) -> bool:
    """True when the frame has no rows with a value in every one of ``columns``."""
    if frame is None or frame.empty:
        return True
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        return True
    return frame.dropna(subset=list(columns)).empty


# --- builders -------------------------------------------------------------------------------------------


def volume_revenue_trend(sc: Scorecard) -> AnyChart | None:
    """sc.monthly (month, shipments, revenue) → monthly shipments as bars and revenue as a line on a second
    axis; months of the reviewed quarter in the brand colour; months without data (NaN) left out, and no revenue
    line when the data records no revenue. Empty frame → None."""
    if _empty(sc.monthly, "month", "shipments"):
        return None
    cur = _currency(sc)
    start, end = pd.Timestamp(sc.quarter.start), pd.Timestamp(sc.quarter.end)
    quarter = fmt_quarter(sc.quarter)
    cols = [c for c in ("month", "shipments", "revenue") if c in sc.monthly.columns]
    data, order = _with_month_labels(sc.monthly.loc[:, cols].dropna(subset=["shipments"]))
    data = data.assign(period=lambda d: d["month"].between(start, end).map({True: quarter, False: "Earlier months"}))
    data = data.drop(columns="month")
    x = _month_x(order)
    bars = (
        alt.Chart(data)
        .mark_bar(width={"band": 0.6})
        .encode(
            x=x,
            y=alt.Y("shipments:Q", title="Shipments", axis=alt.Axis(titleColor=MUTED_DARK, format="~s")),
            color=alt.Color(
                "period:N",
                scale=alt.Scale(domain=["Earlier months", quarter], range=[MUTED, "#5b8db8"]),
                legend=alt.Legend(title=None),
            ),
            tooltip=[
                alt.Tooltip("month_label:O", title="Month"),
                alt.Tooltip("shipments:Q", title="Shipments", format=","),
            ],
        )
    )
    layers: list[alt.Chart] = [bars]
    if _empty(data, "revenue"):  # no revenue in the data: no line at all (never a flat 0)
        data = data.drop(columns=[c for c in ("revenue",) if c in data.columns])
        bars = bars.properties(data=data)
        layers = [bars]
    else:
        line = (
            alt.Chart(data)
            .mark_line(point=alt.OverlayMarkDef(size=50, filled=True, color=BRAND), color=BRAND)
            .encode(
                x=x,
                y=alt.Y(
                    "revenue:Q",
                    title="Revenue",
                    axis=alt.Axis(orient="right", titleColor=BRAND, labelExpr=_money_axis_expr(cur), grid=False),
                ),
                tooltip=[
                    alt.Tooltip("month_label:O", title="Month"),
                    alt.Tooltip("revenue:Q", title="Revenue", format=",.0f"),
                ],
            )
        )
        layers.append(line)
    title = "Monthly shipments (bars) and revenue (line)" if len(layers) > 1 else "Monthly shipments"
    chart = alt.layer(*layers).properties(width=WIDTH, height=HEIGHT, title=_title(title, sc))
    return chart.resolve_scale(y="independent") if len(layers) > 1 else chart


def otd_vs_sla(sc: Scorecard) -> AnyChart | None:
    """sc.monthly (month, otd_pct, otd_target) → OTD % line, SLA target as a dashed rule, points green when
    the month met the target and red when it missed. No OTD values → None."""
    if _empty(sc.monthly, "month", "otd_pct"):
        return None
    kpi = sc.kpis.get("otd_pct")
    data = sc.monthly.loc[:, [c for c in ("month", "otd_pct", "otd_target") if c in sc.monthly.columns]]
    data, order = _with_month_labels(data.dropna(subset=["otd_pct"]))
    data = data.drop(columns="month")
    if "otd_target" not in data.columns or data["otd_target"].isna().all():
        data = data.assign(otd_target=kpi.target if kpi is not None else None)
    has_target = bool(data["otd_target"].notna().any())
    data = data.assign(
        status=[
            "No target" if pd.isna(t) else ("Met SLA" if v >= t else "Missed SLA")
            for v, t in zip(data["otd_pct"], data["otd_target"], strict=False)
        ]
    )
    statuses = [s for s in ("Met SLA", "Missed SLA", "No target") if s in set(data["status"])]
    colours = {"Met SLA": GREEN, "Missed SLA": RED, "No target": MUTED_DARK}
    low = float(min(data["otd_pct"].min(), data["otd_target"].min() if has_target else 100.0))
    scale = alt.Scale(domain=[max(0.0, (low // 5) * 5 - 5), 100.0], nice=False, zero=False)
    x = _month_x(order)
    y = alt.Y("otd_pct:Q", title="On-time delivery", scale=scale, axis=alt.Axis(labelExpr="datum.value + '%'"))
    line = alt.Chart(data).mark_line(color=MUTED_DARK, strokeWidth=2).encode(x=x, y=y)
    points = (
        alt.Chart(data)
        .mark_point(filled=True, size=90, opacity=1)
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "status:N",
                scale=alt.Scale(domain=statuses, range=[colours[s] for s in statuses]),
                legend=alt.Legend(title=None),
            ),
            tooltip=[
                alt.Tooltip("month_label:O", title="Month"),
                alt.Tooltip("otd_pct:Q", title="OTD %", format=".1f"),
                alt.Tooltip("otd_target:Q", title="SLA %", format=".1f"),
            ],
        )
    )
    labels = (
        alt.Chart(data)
        .mark_text(dy=-13, fontSize=11, color=INK)
        .encode(x=x, y=y, text=alt.Text("otd_pct:Q", format=".1f"))
    )
    layers: list[alt.Chart] = [line, points, labels]
    if has_target:
        targets = data["otd_target"].dropna().unique()
        if len(targets) == 1:
            rule_data = pd.DataFrame({"target": [float(targets[0])], "label": [f"SLA {float(targets[0]):g}%"]})
            ry = alt.Y("target:Q", scale=scale)
            rule = alt.Chart(rule_data).mark_rule(strokeDash=[6, 4], color=MUTED_DARK, strokeWidth=1.5).encode(y=ry)
            rule_text = (
                alt.Chart(rule_data)
                .mark_text(align="right", dy=-7, color=MUTED_DARK, fontWeight=500)
                .encode(y=ry, text="label:N", x=alt.value(WIDTH))
            )
            layers[:0] = [rule, rule_text]
        else:
            step = (
                alt.Chart(data)
                .mark_line(strokeDash=[6, 4], color=MUTED_DARK, interpolate="step")
                .encode(x=x, y=alt.Y("otd_target:Q", scale=scale))
            )
            layers.insert(0, step)
    return alt.layer(*layers).properties(
        width=WIDTH, height=HEIGHT, title=_title("On-time delivery vs SLA, by month", sc)
    )


def _misses_bar(frame: pd.DataFrame, field: str, title: str, sc: Scorecard) -> AnyChart | None:
    """worst_lanes / worst_carriers frame → horizontal bars of late shipments, most late first, each labelled
    with its share of all misses; category labels longer than LABEL_CHARS end in an ellipsis."""
    if _empty(frame, field, "late"):
        return None
    cols = [c for c in (field, "late", "shipments", "otd_pct", "share_of_misses_pct") if c in frame.columns]
    data = (
        frame.loc[:, cols]
        .dropna(subset=[field, "late"])
        .sort_values("late", ascending=False, kind="stable")
        .head(TOP_N)
        .assign(**{field: lambda d: d[field].astype(str)})
    )
    if "share_of_misses_pct" in data.columns:
        data = data.assign(
            label=lambda d: [
                f"{int(late)} late" if pd.isna(s) else f"{int(late)} late · {s:.0f}% of misses"
                for late, s in zip(d["late"], d["share_of_misses_pct"], strict=False)
            ]
        )
    else:
        data = data.assign(label=lambda d: [f"{int(v)} late" for v in d["late"]])
    data = data.assign(axis_label=_unique_labels(data[field].tolist()))
    order = data["axis_label"].tolist()
    y = alt.Y(
        "axis_label:N",
        sort=order,
        title=None,
        axis=alt.Axis(labelExpr=_label_expr(), labelLimit=220, labelFontSize=12),
    )
    xmax = float(data["late"].max()) * 1.35 or 1.0
    tooltip = [alt.Tooltip(f"{field}:N", title=field.capitalize()), alt.Tooltip("late:Q", title="Late")]
    if "shipments" in data.columns:
        tooltip.append(alt.Tooltip("shipments:Q", title="Shipments"))
    if "otd_pct" in data.columns:
        tooltip.append(alt.Tooltip("otd_pct:Q", title="OTD %", format=".1f"))
    base = alt.Chart(data).encode(y=y)
    bars = base.mark_bar(height={"band": 0.7}).encode(
        x=alt.X(
            "late:Q",
            title="Late shipments",
            scale=alt.Scale(domain=[0, xmax], nice=False),
            axis=alt.Axis(tickMinStep=1, format="d", tickCount=5),
        ),
        color=alt.condition(alt.datum.axis_label == order[0], alt.value(RED), alt.value(MUTED)),
        tooltip=tooltip,
    )
    text = base.mark_text(align="left", dx=5, color=INK).encode(x="late:Q", text="label:N")
    height = max(120, 30 * len(data))
    return alt.layer(bars, text).properties(width=WIDTH - 220, height=height, title=_title(title, sc))


def worst_lanes(sc: Scorecard) -> AnyChart | None:
    """sc.worst_lanes (lane, late, share_of_misses_pct, …) → bars of late shipments per lane. Empty → None."""
    return _misses_bar(sc.worst_lanes, "lane", "Late deliveries by lane", sc)


def worst_carriers(sc: Scorecard) -> AnyChart | None:
    """sc.worst_carriers (carrier, late, share_of_misses_pct, …) → bars of late shipments per carrier."""
    return _misses_bar(sc.worst_carriers, "carrier", "Late deliveries by carrier", sc)


def cases_by_category(sc: Scorecard) -> AnyChart | None:
    """sc.cases_by_category (category, opened, closed) → per category a light bar of cases opened with a
    darker inner bar of those closed, most opened first. Empty → None."""
    if _empty(sc.cases_by_category, "category", "opened"):
        return None
    frame = sc.cases_by_category
    cols = [c for c in ("category", "opened", "closed", "median_hours_to_resolve") if c in frame.columns]
    data = frame.loc[:, cols].dropna(subset=["category", "opened"]).sort_values("opened", ascending=False)
    data = data.assign(category=lambda d: _unique_labels(d["category"].astype(str).str.capitalize().tolist()))
    if "closed" not in data.columns:
        data = data.assign(closed=None)
    long = data.melt(id_vars=["category"], value_vars=["opened", "closed"], var_name="measure", value_name="cases")
    long = long.assign(measure=lambda d: d["measure"].map({"opened": "Opened", "closed": "Closed"}))
    order = data["category"].tolist()
    y = alt.Y("category:N", sort=order, title=None, axis=alt.Axis(labelExpr=_label_expr(), labelLimit=220))
    xmax = float(long["cases"].max()) * 1.3 or 1.0
    x = alt.X(
        "cases:Q",
        title="Cases",
        scale=alt.Scale(domain=[0, xmax], nice=False),
        axis=alt.Axis(tickMinStep=1, format="d"),
    )
    colour = alt.Color(
        "measure:N", scale=alt.Scale(domain=["Opened", "Closed"], range=[MUTED, BRAND]), legend=alt.Legend(title=None)
    )
    opened = (
        alt.Chart(long)
        .transform_filter(alt.datum.measure == "Opened")
        .mark_bar(height={"band": 0.75})
        .encode(y=y, x=x, color=colour, tooltip=["category:N", alt.Tooltip("cases:Q", title="Opened")])
    )
    closed = (
        alt.Chart(long)
        .transform_filter(alt.datum.measure == "Closed")
        .mark_bar(height={"band": 0.35})
        .encode(y=y, x=x, color=colour, tooltip=["category:N", alt.Tooltip("cases:Q", title="Closed")])
    )
    text = (
        alt.Chart(
            data.assign(
                label=lambda d: [
                    f"{int(o)} opened" if pd.isna(c) else f"{int(o)} opened · {int(c)} closed"
                    for o, c in zip(d["opened"], d["closed"], strict=False)
                ],
                label_at=lambda d: d[["opened", "closed"]].max(axis=1),
            )
        )
        .mark_text(align="left", dx=5)
        .encode(y=y, x=alt.X("label_at:Q", scale=alt.Scale(domain=[0, xmax], nice=False)), text="label:N")
    )
    height = max(120, 32 * len(data))
    return alt.layer(opened, closed, text).properties(
        width=WIDTH - 220, height=height, title=_title("Complaints and claims by category", sc)
    )


def mode_mix(sc: Scorecard) -> AnyChart | None:
    """sc.mode_mix (mode, revenue, share_pct) → horizontal bars of each mode's share of revenue, largest first,
    labelled with the share. Empty → None."""
    if _empty(sc.mode_mix, "mode", "share_pct"):
        return None
    cols = [c for c in ("mode", "shipments", "revenue", "share_pct") if c in sc.mode_mix.columns]
    data = sc.mode_mix.loc[:, cols].dropna(subset=["mode", "share_pct"]).sort_values("share_pct", ascending=False)
    data = data.assign(label=lambda d: [f"{s:.1f}%" for s in d["share_pct"]])
    order = data["mode"].astype(str).tolist()
    y = alt.Y("mode:N", sort=order, title=None)
    xmax = min(100.0, float(data["share_pct"].max()) * 1.2) or 1.0
    tooltip = [
        alt.Tooltip("mode:N", title="Mode"),
        alt.Tooltip("share_pct:Q", title="Share of revenue %", format=".1f"),
    ]
    if "revenue" in data.columns:
        tooltip.append(alt.Tooltip("revenue:Q", title="Revenue", format=",.0f"))
    bars = (
        alt.Chart(data)
        .mark_bar(height={"band": 0.7})
        .encode(
            y=y,
            x=alt.X(
                "share_pct:Q",
                title="Share of revenue",
                scale=alt.Scale(domain=[0, xmax], nice=False),
                axis=alt.Axis(labelExpr="datum.value + '%'", tickCount=5),
            ),
            color=alt.condition(alt.datum.mode == order[0], alt.value(BRAND), alt.value(MUTED)),
            tooltip=tooltip,
        )
    )
    text = alt.Chart(data).mark_text(align="left", dx=5).encode(y=y, x="share_pct:Q", text="label:N")
    height = max(100, 34 * len(data))
    return alt.layer(bars, text).properties(width=WIDTH - 120, height=height, title=_title("Revenue by mode", sc))


def quarterly_trend(sc: Scorecard) -> AnyChart | None:
    """sc.quarterly (quarter, revenue, gross_margin_pct) → revenue bars per quarter (reviewed quarter in the
    brand colour) with gross margin % as a line on a second axis. Empty → None."""
    if _empty(sc.quarterly, "quarter", "revenue"):
        return None
    cur = _currency(sc)
    cols = [c for c in ("quarter", "revenue", "gross_margin_pct") if c in sc.quarterly.columns]
    data = (
        sc.quarterly.loc[:, cols]
        .dropna(subset=["quarter", "revenue"])
        .assign(quarter=lambda d: d["quarter"].astype(str))
        .sort_values("quarter")
        .assign(
            period=lambda d: (d["quarter"] == str(sc.quarter)).map({True: "Reviewed", False: "Earlier"}),
            quarter=lambda d: [fmt_quarter(q) for q in d["quarter"]],
        )
    )
    x = alt.X("quarter:N", title=None, sort=data["quarter"].tolist(), axis=alt.Axis(labelAngle=0))
    bars = (
        alt.Chart(data)
        .mark_bar(size=34)
        .encode(
            x=x,
            y=alt.Y(
                "revenue:Q",
                title="Revenue",
                axis=alt.Axis(labelExpr=_money_axis_expr(cur), tickCount=5),
                scale=alt.Scale(domain=[0, float(data["revenue"].max()) * 1.6], nice=False),
            ),
            color=alt.Color(
                "period:N", scale=alt.Scale(domain=["Earlier", "Reviewed"], range=[MUTED, BRAND]), legend=None
            ),
            tooltip=[
                alt.Tooltip("quarter:N", title="Quarter"),
                alt.Tooltip("revenue:Q", title="Revenue", format=",.0f"),
            ],
        )
    )
    layers: list[alt.Chart] = [bars]
    if not _empty(data, "gross_margin_pct"):
        gm = data.dropna(subset=["gross_margin_pct"])
        gm = gm.assign(gm_label=[f"{v:.1f}%" for v in gm["gross_margin_pct"]])
        lo, hi = float(gm["gross_margin_pct"].min()), float(gm["gross_margin_pct"].max())
        span = max(hi - lo, 1.0)
        d0 = lo - 0.70 * span / 0.20  # the margin line runs in the band 70–90 % of the height, above the bars,
        d1 = d0 + span / 0.20  # labelled point by point, so it needs no axis of its own
        y2 = alt.Y(
            "gross_margin_pct:Q", title=None, scale=alt.Scale(domain=[d0, d1], nice=False, zero=False), axis=None
        )
        line = (
            alt.Chart(gm)
            .mark_line(color=SECOND, point=alt.OverlayMarkDef(color=SECOND, size=55, filled=True))
            .encode(
                x=x,
                y=y2,
                tooltip=[alt.Tooltip("quarter:N"), alt.Tooltip("gross_margin_pct:Q", title="GM %", format=".1f")],
            )
        )
        text = alt.Chart(gm).mark_text(dy=-13, color=SECOND, fontWeight=600).encode(x=x, y=y2, text="gm_label:N")
        layers += [line, text]
    heading = "Revenue (bars) and gross margin % (line) by quarter" if len(layers) > 1 else "Revenue by quarter"
    chart = alt.layer(*layers).properties(width=WIDTH, height=HEIGHT, title=_title(heading, sc))
    return chart.resolve_scale(y="independent") if len(layers) > 1 else chart


BUILDERS = {
    "volume_revenue_trend": volume_revenue_trend,
    "otd_vs_sla": otd_vs_sla,
    "worst_lanes": worst_lanes,
    "worst_carriers": worst_carriers,
    "cases_by_category": cases_by_category,
    "mode_mix": mode_mix,
    "quarterly_trend": quarterly_trend,
}


def build_all(sc: Scorecard) -> dict[str, AnyChart | None]:
    """Scorecard → {builder name: chart or None}, in presentation order."""
    return {name: fn(sc) for name, fn in BUILDERS.items()}


# --- offline rendering ----------------------------------------------------------------------------------


def spec(chart: AnyChart) -> dict:
    """Chart → Vega-Lite dict with the 'kam' theme applied (not schema-validated: the tests do that)."""
    # Schema validation costs more than the rendering; the builders' specs are validated in the tests.
    with alt.theme.enable(THEME_NAME):
        return chart.to_dict(validate=False)


def _vl_version() -> str:
    major, minor = alt.SCHEMA_VERSION.lstrip("v").split(".")[:2]
    return f"{major}.{minor}"


def external_references(svg: str) -> list[str]:
    """http(s) URLs in an SVG other than the SVG / XLink namespaces (should be empty)."""
    found = re.findall(r"https?://[^\s\"'<>)]+", svg)
    return [u for u in found if u not in _SVG_URLS_ALLOWED]


def to_svg(chart: AnyChart) -> str:
    """Chart → standalone SVG text, rendered in-process by vl-convert with no network access."""
    return spec_to_svg(spec(chart))


class _Converted:
    """The last conversions of this process by their input (vl-convert costs 40–100 ms a chart, most of it fixed
    per call): a chart converted again, by a second report or page of the same figures, costs a lookup."""

    def __init__(self, size: int = 64) -> None:
        self.size, self.items = size, OrderedDict[tuple, Any]()

    def get(self, key: tuple, make: Callable[[], Any]) -> Any:
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = self.items[key] = make()
        if len(self.items) > self.size:
            self.items.popitem(last=False)
        return value


_CONVERTED = _Converted()


def spec_to_svg(vega_lite: dict) -> str:
    """A Vega-Lite spec (:func:`spec`) → standalone SVG text, rendered in-process by vl-convert with no network
    access; the same spec again (cached by its JSON text) → the same text without rendering."""
    key = ("svg", json.dumps(vega_lite, sort_keys=True, default=str))

    def render() -> str:
        svg = vlc.vegalite_to_svg(vega_lite, vl_version=_vl_version(), allowed_base_urls=[])
        return _stable_ids(svg)

    text: str = _CONVERTED.get(key, render)
    return text


_CLIP_ID = re.compile(r"\bclip(\d+)\b")


def _stable_ids(svg: str) -> str:
    """Renumber vl-convert's clip-path ids, which count up across every chart the process renders.

    Ids become ``c<digest>-<n>``: the same chart gives the same SVG in a fresh or a reused kernel, and two
    different charts inline in one page never share an id.
    """
    order: dict[str, int] = {}
    for m in _CLIP_ID.finditer(svg):
        order.setdefault(m.group(1), len(order) + 1)
    canonical = _CLIP_ID.sub(lambda m: f"clip{order[m.group(1)]}", svg)
    digest = hashlib.sha1(canonical.encode()).hexdigest()[:8]
    return _CLIP_ID.sub(lambda m: f"c{digest}-{order[m.group(1)]}", svg)


def svg_to_png(svg: str, scale: float = 2) -> bytes:
    """SVG text from :func:`to_svg` → PNG bytes at ``scale`` (vl-convert, offline; cheaper than re-rendering;
    cached like :func:`spec_to_svg`)."""
    png: bytes = _CONVERTED.get(("png", svg, scale), lambda: vlc.svg_to_png(svg, scale=scale))
    return png


def to_png(chart: AnyChart, scale: float = 2) -> bytes:
    """Chart → PNG bytes at ``scale`` × the chart's pixel size, rendered offline by vl-convert."""
    return vlc.vegalite_to_png(spec(chart), vl_version=_vl_version(), scale=scale, allowed_base_urls=[])
