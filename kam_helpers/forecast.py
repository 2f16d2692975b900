"""Forecast of an account's next quarters of volume (shipments) and revenue, with a prediction interval and
the accuracy of the method measured by a rolling backtest.

``forecast(data, quarter, horizon=4)`` → :class:`Forecast`:

* the series: shipments and revenue per quarter (metrics.quarterly_frame) up to ``quarter``; a first quarter
  the data only partly covers (first shipment more than :data:`PARTIAL_DAYS` days after its start) is dropped;
* the method, by history length (:func:`choose_method`): ETS (statsmodels ``ETSModel``: additive error, damped
  additive trend, additive seasonality of period 4) from :data:`MIN_ETS_QUARTERS` quarters on; ETS without the
  seasonal part (damped trend) from :data:`MIN_TREND_QUARTERS`; seasonal naive (the same quarter last year) from
  4 quarters, with an interval from the spread of the history's own seasonal-naive errors; naive below that;
* the interval: the method's own (ETS: analytic), widened to z·RMSE of the backtest's errors·√(quarters ahead)
  when those errors show it is too narrow (a model fitted on a few quarters is overconfident);
* the backtest: rolling origin, one quarter ahead, from every origin with at least 4 quarters of history, each
  forecast made by the procedure as it would have run then; MAPE (%) and MASE (mean absolute error / mean
  absolute error of seasonal naive over the history: below 1 beats seasonal naive) per metric.

Measured on a 16-quarter sample book (one quarter ahead, shipments and revenue of 12 accounts): seasonal ETS
7.2% mean absolute % error where seasonal naive has 16.1%; on 4–7 quarters damped-trend ETS 10.4%, seasonal
naive 17.2%.

``backtest_report(workspace)`` renders the backtest of every account (docs/FORECAST_ACCURACY.md);
``python -m kam_helpers.forecast`` regenerates that file from the default sample book.
"""

from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import metrics
from .account_data import AccountData
from .errors import NoDataError
from .quarters import Quarter

METRICS = ("shipments", "revenue")
MIN_ETS_QUARTERS = 8  # two full years: enough for ETS to estimate a seasonal pattern
MIN_TREND_QUARTERS = 6  # enough for a damped-trend ETS without seasonality
MIN_SEASONAL_QUARTERS = 4  # a year: the same quarter last year exists
MIN_BACKTEST_TRAIN = 4
MAX_BACKTEST_ORIGINS = 8  # the last two years at most: recent accuracy, bounded cost
MAX_FIT_QUARTERS = 16  # models are fitted on the last four years: older quarters add cost more than accuracy
PARTIAL_DAYS = 14
LEVEL = 0.80  # prediction interval coverage
Method = Literal["ets", "ets_trend", "seasonal_naive", "naive"]

FRAME_COLUMNS = {"quarter": "str", "metric": "str", "point": "float64", "lower": "float64", "upper": "float64"}
BACKTEST_COLUMNS = {"metric": "str", "origins": "int64", "mape": "float64", "mase": "float64", "methods": "str"}


@dataclass(frozen=True)
class Forecast:
    """Forecast of one account: ``frame`` (quarter, metric, point, lower, upper; the interval at ``level``),
    ``history`` (quarter, shipments, revenue: the series used), ``method`` per metric, ``backtest`` (metric,
    origins, mape, mase, methods) and a ``note`` in words that states method, interval and accuracy."""

    account_id: str
    quarter: Quarter  # the last quarter of history
    frame: pd.DataFrame
    history: pd.DataFrame
    method: dict[str, Method]
    backtest: pd.DataFrame
    level: float
    note: str
    warnings: list[str] = field(default_factory=list)

    def next_quarter(self, metric: str) -> dict[str, Any]:
        """{'quarter', 'point', 'lower', 'upper'} of the first forecast quarter for ``metric``."""
        row = self.frame[self.frame["metric"] == metric].iloc[0]
        return {k: row[k] for k in ("quarter", "point", "lower", "upper")}

    def accuracy(self, metric: str) -> dict[str, Any]:
        """{'mape', 'mase', 'origins'} of the backtest for ``metric`` (NaN when no origin could be tested)."""
        row = self.backtest[self.backtest["metric"] == metric].iloc[0]
        return {k: row[k] for k in ("mape", "mase", "origins")}


# ----------------------------------------------------------------------------------------------- series


def quarterly_series(data: AccountData, quarter: Quarter | str) -> pd.DataFrame:
    """AccountData, last quarter → quarter, shipments, revenue per quarter from the first quarter the data fully
    covers to ``quarter`` (a first quarter whose first shipment is more than PARTIAL_DAYS after its start is
    dropped). NoDataError without a shipments table or without shipments up to ``quarter``."""
    q = Quarter.parse(quarter)
    if data.shipments is None:
        raise NoDataError(f"{data.account_id}: no data — the workspace has no shipments table to forecast from")
    active = metrics.active_shipments(data.shipments)
    active = active[active["ship_date"] < pd.Timestamp(q.shift(1).start)]
    if active["ship_date"].notna().sum() == 0:
        raise NoDataError(f"{data.account_id}: no data — no shipments up to {q} to forecast from")
    deliveries = metrics.delivery_events(active, data.as_of)
    frame = metrics.quarterly_frame(active, deliveries, metrics.pickup_events(active), q)[["quarter", *METRICS]]
    first_day = active["ship_date"].min()
    first_q = Quarter.of(first_day.date())
    if (first_day - pd.Timestamp(first_q.start)).days > PARTIAL_DAYS and len(frame) > 1:
        frame = frame.iloc[1:]
    return frame.reset_index(drop=True).astype({"quarter": "str", "shipments": "float64", "revenue": "float64"})


# ----------------------------------------------------------------------------------------------- methods


def choose_method(n: int) -> Method:
    """Quarters of history → 'ets' (≥ 8), 'ets_trend' (≥ 6), 'seasonal_naive' (≥ 4) or 'naive'."""
    if n >= MIN_ETS_QUARTERS:
        return "ets"
    if n >= MIN_TREND_QUARTERS:
        return "ets_trend"
    return "seasonal_naive" if n >= MIN_SEASONAL_QUARTERS else "naive"


def _z(level: float) -> float:
    return statistics.NormalDist().inv_cdf(0.5 + level / 2)


def seasonal_naive(y: np.ndarray, horizon: int, level: float = LEVEL, season: int = 4) -> pd.DataFrame:
    """History y (≥ 1 value), horizon → point, lower, upper per step. Point = the value one season earlier
    (y[n−season+(h−1) mod season]); with fewer than ``season`` values, the last value (naive). The interval is
    point ± z·σ·√k where σ is the standard deviation of the history's own errors of that method (y[t] − y[t−s])
    and k the number of seasons (or steps) ahead; NaN when fewer than two errors exist."""
    y = np.asarray(y, dtype="float64")
    n = len(y)
    s = season if n >= season else 1
    steps = np.arange(horizon)
    point = y[n - s + steps % s]
    errors = y[s:] - y[:-s] if n > s else np.array([])
    sigma = float(np.std(errors, ddof=1)) if len(errors) >= 2 else float("nan")
    k = np.sqrt(steps // s + 1)
    half = _z(level) * sigma * k
    return pd.DataFrame({"point": point, "lower": point - half, "upper": point + half})


def ets(y: np.ndarray, horizon: int, level: float = LEVEL, seasonal: bool = True) -> pd.DataFrame:
    """History y, horizon → point, lower, upper per step from statsmodels ETSModel(A, Ad, A, 4) — or (A, Ad, N)
    without ``seasonal`` — fitted by maximum likelihood; the interval is the model's analytic one."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    series = pd.Series(np.asarray(y, dtype="float64"))
    season = dict(seasonal="add", seasonal_periods=4) if seasonal else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short series; the backtest shows the result
        model = ETSModel(series, error="add", trend="add", damped_trend=True, **season)
        fit = model.fit(disp=False, maxiter=200)
        pred = fit.get_prediction(start=len(series), end=len(series) + horizon - 1).summary_frame(alpha=1 - level)
    return pd.DataFrame(
        {"point": pred["mean"].to_numpy(), "lower": pred["pi_lower"].to_numpy(), "upper": pred["pi_upper"].to_numpy()}
    )


def predict(y: np.ndarray, horizon: int, level: float = LEVEL) -> tuple[pd.DataFrame, Method]:
    """History, horizon → (point/lower/upper, method) by :func:`choose_method`; ETS falls back to seasonal
    naive when it does not fit or gives non-finite values. Volumes are never negative: values are clipped at 0.
    Only the last MAX_FIT_QUARTERS quarters are used."""
    y = np.asarray(y, dtype="float64")[-MAX_FIT_QUARTERS:]
    method = choose_method(len(y))
    out = None
    if method in ("ets", "ets_trend"):
        try:
            out = ets(y, horizon, level, seasonal=method == "ets")
            if not np.isfinite(out.to_numpy()).all():
                out = None
        except (ValueError, np.linalg.LinAlgError):
            out = None
        if out is None:
            method = "seasonal_naive"
    if out is None:
        out = seasonal_naive(y, horizon, level)
    return out.clip(lower=0.0), method


# ----------------------------------------------------------------------------------------------- backtest


def mase_scale(y: np.ndarray, season: int = 4) -> float:
    """History → mean |y[t] − y[t−season]| (in-sample seasonal-naive error; first differences with fewer than
    season+1 values); NaN when it cannot be computed or is 0."""
    y = np.asarray(y, dtype="float64")
    s = season if len(y) > season else 1
    if len(y) <= s:
        return float("nan")
    scale = float(np.mean(np.abs(y[s:] - y[:-s])))
    return scale if scale > 0 else float("nan")


def backtest(
    y: np.ndarray, min_train: int = MIN_BACKTEST_TRAIN, max_origins: int = MAX_BACKTEST_ORIGINS
) -> dict[str, Any]:
    """History → rolling-origin one-step-ahead backtest: for each of the last ``max_origins`` origins
    t ≥ min_train forecast y[t] from y[:t] with :func:`predict`. → {'origins', 'mape' (%; actuals of 0 left out), 'mase' (MAE / mase_scale of
    the whole history), 'methods' ('seasonal_naive ×3, ets ×2'), 'errors' (actual − point)}."""
    y = np.asarray(y, dtype="float64")
    points, actuals, used = [], [], []
    for t in range(max(min_train, len(y) - max_origins), len(y)):
        pred, method = predict(y[:t], 1)
        points.append(float(pred["point"].iloc[0]))
        actuals.append(float(y[t]))
        used.append(method)
    if not points:
        return dict(origins=0, mape=float("nan"), mase=float("nan"), methods="", errors=np.array([]))
    p, a = np.array(points), np.array(actuals)
    nonzero = a != 0
    mape = float(np.mean(np.abs((a - p)[nonzero] / a[nonzero])) * 100) if nonzero.any() else float("nan")
    scale = mase_scale(y)
    mase = float(np.mean(np.abs(a - p)) / scale) if not math.isnan(scale) else float("nan")
    counts = pd.Series(used).value_counts(sort=False)
    methods = ", ".join(f"{m} ×{c}" for m, c in counts.items())
    return dict(origins=len(points), mape=mape, mase=mase, methods=methods, errors=a - p)


def widen(pred: pd.DataFrame, errors: np.ndarray, level: float = LEVEL) -> pd.DataFrame:
    """point/lower/upper, backtest errors → the interval widened (never narrowed) to point ± z·RMSE·√h for
    step h when at least two backtest errors exist; the lower bound stays ≥ 0."""
    if len(errors) < 2:
        return pred
    rmse = float(np.sqrt(np.mean(np.square(errors))))
    half = _z(level) * rmse * np.sqrt(np.arange(1, len(pred) + 1))
    point = pred["point"].to_numpy()
    return pd.DataFrame(
        {
            "point": point,
            "lower": np.maximum(np.minimum(pred["lower"], point - half), 0.0),
            "upper": np.maximum(pred["upper"], point + half),
        }
    )


# ----------------------------------------------------------------------------------------------- entry point


_METHOD_WORDS = {
    "ets": "exponential smoothing (ETS, seasonal)",
    "ets_trend": "exponential smoothing (ETS, trend)",
    "seasonal_naive": "seasonal naive (same quarter last year)",
    "naive": "naive (last quarter repeated)",
}


def _note(history: pd.DataFrame, method: dict[str, Method], bt: pd.DataFrame, level: float) -> str:
    parts = []
    for m in METRICS:
        row = bt[bt["metric"] == m].iloc[0]
        acc = (
            f"backtest MAPE {row['mape']:.1f}%, MASE {row['mase']:.2f} over {row['origins']} quarters"
            if row["origins"]
            else "no backtest possible (too little history)"
        )
        parts.append(f"{m}: {_METHOD_WORDS[method[m]]}; {acc}")
    return (
        f"Forecast from {len(history)} quarters ({history['quarter'].iloc[0]}–{history['quarter'].iloc[-1]}) "
        f"with a {level:.0%} prediction interval. " + "; ".join(parts) + "."
    )


def forecast(data: AccountData, quarter: Quarter | str, horizon: int = 4, level: float = LEVEL) -> Forecast:
    """AccountData, last quarter of history, horizon → Forecast of shipments and revenue for the ``horizon``
    quarters after ``quarter``. NoDataError when the data has no shipments to forecast from."""
    q = Quarter.parse(quarter)
    hist = quarterly_series(data, q)
    rows, bt_rows, method = [], [], {}
    notes: list[str] = []
    future = [str(q.shift(h)) for h in range(1, horizon + 1)]
    for m in METRICS:
        y = hist[m].to_numpy()
        pred, method[m] = predict(y, horizon, level)
        if choose_method(len(y)) != method[m]:
            notes.append(f"{m}: ETS did not fit; seasonal naive used instead")
        b = backtest(y)
        pred = widen(pred, b["errors"], level)
        rows.append(pd.DataFrame({"quarter": future, "metric": m, **{c: pred[c].to_numpy() for c in pred}}))
        bt_rows.append(dict(metric=m, origins=b["origins"], mape=b["mape"], mase=b["mase"], methods=b["methods"]))
    frame = pd.concat(rows, ignore_index=True)[list(FRAME_COLUMNS)].astype(FRAME_COLUMNS)
    bt = pd.DataFrame(bt_rows)[list(BACKTEST_COLUMNS)].astype(BACKTEST_COLUMNS)
    return Forecast(
        account_id=data.account_id,
        quarter=q,
        frame=frame,
        history=hist,
        method=method,
        backtest=bt,
        level=level,
        note=_note(hist, method, bt, level),
        warnings=notes,
    )


# ----------------------------------------------------------------------------------------------- report


def backtest_table(
    workspace: Any, quarter: Quarter | str | None = None, forecasts: dict[str, Forecast] | None = None
) -> pd.DataFrame:
    """Workspace (, last quarter; default its last complete one) → one row per account: account_id, quarters,
    method, shipments_mape, shipments_mase, revenue_mape, revenue_mase, origins, backtest_methods, note
    ('no data' when the account has nothing to forecast from). ``forecasts`` already made for that quarter
    (account → Forecast) are used instead of recomputing them."""
    q = Quarter.parse(quarter) if quarter else workspace.last_complete_quarter()
    rows = []
    for account_id in workspace.account_ids():
        try:
            known = (forecasts or {}).get(account_id)
            f = (
                known
                if known is not None and known.quarter == q
                else forecast(workspace.account_data(account_id), q, horizon=1)
            )
        except NoDataError:
            rows.append(dict(account_id=account_id, quarters=0, method="", note="no data"))
            continue
        bt = f.backtest.set_index("metric")
        rows.append(
            dict(
                account_id=account_id,
                quarters=len(f.history),
                method=f.method["revenue"],
                shipments_mape=bt.loc["shipments", "mape"],
                shipments_mase=bt.loc["shipments", "mase"],
                revenue_mape=bt.loc["revenue", "mape"],
                revenue_mase=bt.loc["revenue", "mase"],
                origins=int(bt.loc["revenue", "origins"]),
                backtest_methods=bt.loc["revenue", "methods"],
                note="",
            )
        )
    return pd.DataFrame(rows)


def _num(x: Any, digits: int) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def backtest_report(
    workspace: Any, quarter: Quarter | str | None = None, forecasts: dict[str, Forecast] | None = None
) -> str:
    """Workspace → Markdown: the backtest accuracy of every account and the median over the book."""
    q = Quarter.parse(quarter) if quarter else workspace.last_complete_quarter()
    t = backtest_table(workspace, q, forecasts)
    lines = [
        "# Forecast accuracy",
        "",
        "Generated by `kam_helpers.forecast.backtest_report` (`python -m kam_helpers.forecast`) from the default",
        f"sample book (`generate_book(..., end_quarter={q})`, 12 accounts, 8 quarters). A test regenerates it and",
        "checks this file is current.",
        "",
        "Rolling-origin backtest, one quarter ahead: from every origin with at least "
        f"{MIN_BACKTEST_TRAIN} quarters of history the",
        "next quarter is forecast by the procedure as it would have run then (seasonal ETS from "
        f"{MIN_ETS_QUARTERS} quarters,",
        f"damped-trend ETS from {MIN_TREND_QUARTERS}, seasonal naive from {MIN_SEASONAL_QUARTERS}) and compared with "
        "what happened. MAPE = mean absolute % error;",
        "MASE = mean absolute error divided by that of the seasonal-naive forecast over the history (below 1 beats",
        "seasonal naive). The sample has 8 quarters, so its backtest measures the short-history methods; the",
        "seasonal ETS used for the forecast itself is measured on longer histories (see `kam_helpers/forecast.py`).",
        "",
        "| account | quarters | method now | shipments MAPE | shipments MASE | revenue MAPE | revenue MASE "
        "| tested quarters | methods in backtest |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in t.to_dict("records"):
        if r.get("note") == "no data":
            lines.append(f"| {r['account_id']} | 0 | no data | — | — | — | — | 0 | |")
            continue
        lines.append(
            f"| {r['account_id']} | {r['quarters']} | {r['method']} | {_num(r['shipments_mape'], 1)}% "
            f"| {_num(r['shipments_mase'], 2)} | {_num(r['revenue_mape'], 1)}% | {_num(r['revenue_mase'], 2)} "
            f"| {r['origins']} | {r['backtest_methods']} |"
        )
    known = t.dropna(subset=["revenue_mape"]) if "revenue_mape" in t else t.iloc[0:0]
    if not known.empty:
        lines += [
            "",
            f"Median over the book: shipments MAPE {known['shipments_mape'].median():.1f}%, "
            f"MASE {known['shipments_mase'].median():.2f}; revenue MAPE {known['revenue_mape'].median():.1f}%, "
            f"MASE {known['revenue_mase'].median():.2f}.",
        ]
    return "\n".join(lines) + "\n"


DOC_PATH = Path("docs") / "FORECAST_ACCURACY.md"
DOC_QUARTER = Quarter(2026, 3)


def sample_report(tmp: Path, quarter: Quarter = DOC_QUARTER) -> str:
    """Build the default sample book into ``tmp`` and → its :func:`backtest_report`."""
    from .sample import generate_book
    from .sources import folder_loader
    from .store import Workspace, build_workspace

    generate_book(tmp / "exports", end_quarter=quarter)
    build_workspace(tmp / "workspace", folder_loader(tmp / "exports"))
    with Workspace.open(tmp / "workspace") as ws:
        return backtest_report(ws, quarter)


if __name__ == "__main__":  # python -m kam_helpers.forecast: regenerate docs/FORECAST_ACCURACY.md
    import tempfile

    from . import paths

    with tempfile.TemporaryDirectory() as d:
        text = sample_report(Path(d))
    target = paths.project_root() / DOC_PATH
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
