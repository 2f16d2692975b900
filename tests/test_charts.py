"""Tests of kam_helpers.qbr.charts: valid specs, None on empty frames, one theme, offline SVG/PNG, label truncation."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace

import altair as alt
import pytest
from test_narrative import LONG_LANE, at_risk_scorecard, healthy_scorecard

from kam_helpers.metrics.scorecard import Scorecard
from kam_helpers.qbr import charts

FRAME_OF = {
    "volume_revenue_trend": "monthly",
    "otd_vs_sla": "monthly",
    "worst_lanes": "worst_lanes",
    "worst_carriers": "worst_carriers",
    "cases_by_category": "cases_by_category",
    "mode_mix": "mode_mix",
    "quarterly_trend": "quarterly",
}


@pytest.fixture(scope="module")
def at_risk() -> Scorecard:
    return at_risk_scorecard()


def _empty(sc: Scorecard, frame: str) -> Scorecard:
    return replace(sc, **{frame: getattr(sc, frame).iloc[0:0]})


def _inline_values(spec: dict) -> list[dict]:
    """Every row of inline data in a Vega-Lite spec (altair puts them under top-level 'datasets')."""
    return [row for rows in spec.get("datasets", {}).values() for row in rows]


@pytest.mark.parametrize("name", list(charts.BUILDERS))
def test_builder_returns_a_valid_chart(name: str, at_risk: Scorecard) -> None:
    chart = charts.BUILDERS[name](at_risk)
    assert isinstance(chart, (alt.Chart, alt.LayerChart, alt.VConcatChart, alt.HConcatChart))
    spec = chart.to_dict()  # validates against the Vega-Lite schema
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v5")
    assert spec["config"]["font"] == charts.FONT  # the 'kam' theme is applied
    assert spec["config"]["view"]["stroke"] is None
    assert "Castellan Foods S.A." in json.dumps(spec["title"], ensure_ascii=False)
    assert _inline_values(spec), "chart carries its data inline"


@pytest.mark.parametrize("name", list(charts.BUILDERS))
def test_builder_returns_none_on_empty_frame(name: str, at_risk: Scorecard) -> None:
    assert charts.BUILDERS[name](_empty(at_risk, FRAME_OF[name])) is None


def test_theme_is_registered_and_active() -> None:
    assert "kam" in alt.theme.names()
    assert alt.theme.active == "kam"
    config = charts.kam_theme()["config"]
    assert config["range"]["category"][0] == charts.BRAND
    assert (charts.GREEN, charts.AMBER, charts.RED) == ("#2e7d32", "#f9a825", "#c62828")


def test_chart_data_holds_only_the_drawn_columns(at_risk: Scorecard) -> None:
    """No cost or other account fields leak into a spec: only the columns each chart draws."""
    spec = charts.volume_revenue_trend(at_risk).to_dict()
    keys = {k for row in _inline_values(spec) for k in row}
    assert keys <= {"month_label", "shipments", "revenue", "period"}
    spec = charts.quarterly_trend(at_risk).to_dict()
    assert {k for row in _inline_values(spec) for k in row} <= {
        "quarter",
        "revenue",
        "gross_margin_pct",
        "gm_label",
        "period",
    }


def test_otd_points_coloured_by_met_or_missed(at_risk: Scorecard) -> None:
    monthly = at_risk.monthly.assign(otd_pct=[96.0] * 6 + at_risk.monthly["otd_pct"].tolist()[6:])
    spec = charts.otd_vs_sla(replace(at_risk, monthly=monthly)).to_dict()
    statuses = {row.get("status") for row in _inline_values(spec)} - {None}
    assert statuses == {"Met SLA", "Missed SLA"}
    text = json.dumps(spec)
    assert charts.GREEN in text and charts.RED in text
    assert '"strokeDash": [6, 4]' in text  # the SLA target is a dashed rule


def test_long_lane_names_are_truncated(at_risk: Scorecard) -> None:
    assert len(LONG_LANE) > charts.LABEL_CHARS
    spec = charts.worst_lanes(at_risk).to_dict()
    axis = spec["layer"][0]["encoding"]["y"]["axis"]
    assert "…" in axis["labelExpr"] and axis["labelLimit"] > 0
    svg = charts.to_svg(charts.worst_lanes(at_risk))
    shown = charts.truncate_label(LONG_LANE)
    assert shown.endswith("…") and len(shown) <= charts.LABEL_CHARS
    texts = [html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", svg)]
    assert shown in texts
    assert LONG_LANE not in texts  # the visible axis label is cut (the aria-label keeps the full name)
    assert "Lyon → Madrid" in texts  # short names stay whole


@pytest.mark.parametrize("name", list(charts.BUILDERS))
def test_to_svg_is_offline(name: str, at_risk: Scorecard) -> None:
    svg = charts.to_svg(charts.BUILDERS[name](at_risk))
    assert svg.lstrip().startswith("<svg")
    assert charts.external_references(svg) == []


def test_external_reference_check_catches_urls() -> None:
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><image href="https://cdn.example.com/x.png"/></svg>'
    assert charts.external_references(svg) == ["https://cdn.example.com/x.png"]


def test_to_png_bytes() -> None:
    png = charts.to_png(charts.mode_mix(healthy_scorecard()), scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_build_all_skips_nothing_for_a_full_scorecard() -> None:
    built = charts.build_all(healthy_scorecard())
    assert list(built) == list(charts.BUILDERS)
    assert all(c is not None for c in built.values())


def test_builders_do_not_mutate_the_scorecard(at_risk: Scorecard) -> None:
    before = {f: getattr(at_risk, f).copy() for f in set(FRAME_OF.values())}
    charts.build_all(at_risk)
    for f, frame in before.items():
        assert getattr(at_risk, f).equals(frame), f
