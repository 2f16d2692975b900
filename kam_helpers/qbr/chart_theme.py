"""The one look of every workspace chart: the registered Altair theme ``'kam'`` (enabled on import), its font,
size and colours."""

from __future__ import annotations

import altair as alt

THEME_NAME = "kam"
FONT = "Inter, 'Segoe UI', Helvetica, Arial, 'DejaVu Sans', sans-serif"
WIDTH = 640
HEIGHT = 260

BRAND = "#1f4e79"  # accent: the current quarter, the line that matters
MUTED = "#9fb3c8"  # context bars
MUTED_DARK = "#52667a"
INK = "#1f2933"
GRID = "#e4e7eb"
GREEN, AMBER, RED = "#2e7d32", "#f9a825", "#c62828"
SECOND = "#3d7c74"  # a second measure on a dual-axis chart (never a RAG colour)
PALETTE = [BRAND, "#5b8db8", "#8fb8de", "#7a8b99", "#b9c4cc", "#d9a441", "#6d9f71"]


def kam_theme() -> alt.theme.ThemeConfig:
    """The one look of every workspace chart: sans font, muted palette, no border, readable axes."""
    return {
        "config": {
            "font": FONT,
            "background": "white",
            "padding": 8,
            "view": {"stroke": None, "continuousWidth": WIDTH, "continuousHeight": HEIGHT},
            "title": {
                "font": FONT,
                "fontSize": 15,
                "fontWeight": 600,
                "color": INK,
                "anchor": "start",
                "offset": 12,
                "subtitleFont": FONT,
                "subtitleFontSize": 12,
                "subtitleColor": MUTED_DARK,
            },
            "axis": {
                "labelFont": FONT,
                "titleFont": FONT,
                "labelFontSize": 12,
                "titleFontSize": 12,
                "titleFontWeight": 500,
                "labelColor": INK,
                "titleColor": MUTED_DARK,
                "gridColor": GRID,
                "domainColor": "#cbd2d9",
                "tickColor": "#cbd2d9",
                "labelPadding": 4,
            },
            "axisX": {"grid": False},
            "axisBand": {"grid": False, "ticks": False, "domain": False},
            "legend": {
                "labelFont": FONT,
                "titleFont": FONT,
                "labelFontSize": 12,
                "titleFontSize": 12,
                "labelColor": INK,
                "titleColor": MUTED_DARK,
                "orient": "top",
                "symbolType": "circle",
            },
            "range": {"category": PALETTE},
            "bar": {"color": MUTED, "cornerRadiusEnd": 2},
            "line": {"color": BRAND, "strokeWidth": 2.5},
            "point": {"color": BRAND, "filled": True, "size": 60},
            "text": {"font": FONT, "fontSize": 11, "color": INK},
            "rule": {"color": MUTED_DARK},
            "concat": {"spacing": 24},
        }
    }


alt.theme.register(THEME_NAME, enable=True)(kam_theme)
