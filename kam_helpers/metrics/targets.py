"""Targets and RAG: the client's contracted targets (targets table), else the standard ones
(config/standard_targets.yml), and the green / amber / red of a value against them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from kam_helpers.core import paths
from kam_helpers.core.errors import ConfigError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data import columns as col
from kam_helpers.metrics.scorecard import KPI_SPECS, Rag, TargetSource

_EPS = 1e-9  # float slack when comparing a computed value with a target


def _period_key(text: object) -> str:
    """A targets.period value → '2026Q3' for a quarter, 'contract' (lower-cased) otherwise."""
    try:
        return str(Quarter.parse(str(text)))
    except Exception:
        return str(text).strip().lower()


def target_table(targets: pd.DataFrame | None) -> dict[tuple[str, str], tuple[float, float | None]]:
    """targets → {(metric, period): (target, tolerance)} with period '2026Q3' or 'contract'; rows without a
    target value are left out, the first row of a duplicated key wins, an empty tolerance is None."""
    if targets is None or targets.empty or "period" not in targets:
        return {}
    frame = pd.DataFrame(
        {
            "metric": col.words(targets, "metric"),
            "period": targets["period"].map(_period_key),
            "target": col.numbers(targets, "target"),
            "tolerance": col.numbers(targets, "tolerance"),
        }
    ).dropna(subset=["target"])
    table: dict[tuple[str, str], tuple[float, float | None]] = {}
    for metric, period, target, tolerance in frame.itertuples(index=False):
        table.setdefault((metric, period), (float(target), None if pd.isna(tolerance) else float(tolerance)))
    return table


def lookup_target(
    table: dict[tuple[str, str], tuple[float, float | None]], metric: str, quarter: Quarter | str
) -> tuple[float | None, float | None]:
    """target_table, metric, quarter → (target, tolerance): the quarter's own row, else the 'contract' row."""
    for period in (str(Quarter.parse(quarter)), "contract"):
        if (metric, period) in table:
            return table[(metric, period)]
    return None, None


STANDARD_TARGETS_FILE = paths.CONFIG_DIR / "standard_targets.yml"


@lru_cache(maxsize=4)
def standard_targets(path: str | None = None) -> dict[str, tuple[float, float | None]]:
    """config/standard_targets.yml (or ``path``) → {metric: (target, tolerance)}: the targets a KPI is judged
    against when the client has no contracted one. ConfigError naming the file and key at fault."""
    source = Path(path) if path else STANDARD_TARGETS_FILE
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{source}: not a readable standard-targets file ({exc})") from exc
    out: dict[str, tuple[float, float | None]] = {}
    for metric, spec in (raw.get("targets") or {}).items():
        if metric not in KPI_SPECS:
            raise ConfigError(f"{source}: targets.{metric}: expected a KPI key of {', '.join(KPI_SPECS)}")
        try:
            tolerance = spec.get("tolerance")
            out[metric] = (float(spec["target"]), None if tolerance is None else float(tolerance))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: targets.{metric}: expected a mapping with a numeric target ({exc})") from exc
    return out


def target_with_source(
    table: dict[tuple[str, str], tuple[float, float | None]], metric: str, quarter: Quarter | str
) -> tuple[float | None, float | None, TargetSource | None]:
    """target_table, metric, quarter → (target, tolerance, 'contracted' | 'standard' | None): the client's own
    target when it has one (:func:`lookup_target`), else the standard one of config/standard_targets.yml."""
    target, tolerance = lookup_target(table, metric, quarter)
    if target is not None:
        return target, tolerance, "contracted"
    standard = standard_targets().get(metric)
    if standard is not None:
        return standard[0], standard[1], "standard"
    return None, None, None


def target_for(targets: pd.DataFrame | None, metric: str, quarter: Quarter | str) -> tuple[float | None, float | None]:
    """targets, metric, quarter → (target, tolerance). A row for the quarter itself wins over a 'contract' row;
    rows without a target value are ignored. (None, None) when no row applies; tolerance None when empty."""
    return lookup_target(target_table(targets), metric.lower(), quarter)


def rag(
    value: float | None,
    target: float | None,
    tolerance: float | None = None,
    higher_is_better: bool = True,
) -> Rag | None:
    """value vs target → 'green' when met, 'amber' when missed by no more than ``tolerance`` (empty = 0),
    'red' otherwise; None without a value or a target."""
    if value is None or target is None or pd.isna(value) or pd.isna(target):
        return None
    shortfall = (target - value) if higher_is_better else (value - target)
    if shortfall <= _EPS:
        return "green"
    if shortfall <= (tolerance or 0.0) + _EPS:
        return "amber"
    return "red"
