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

ETS parameters come from a fixed grid (:func:`fit_ets`), not a gradient optimiser, so every machine computes
the same forecast to the last bit.

The accuracy over a whole book (docs/FORECAST_ACCURACY.md) is written by :mod:`kam_helpers.devtools.forecast_docs`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from kam_helpers import metrics
from kam_helpers.core.errors import NoDataError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.account_data import AccountData

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


def quarterly_series(source: AccountData | metrics.PreparedAccount, quarter: Quarter | str) -> pd.DataFrame:
    """AccountData (or its PreparedAccount), last quarter → quarter, shipments, revenue per quarter from the first quarter the data fully
    covers to ``quarter`` (a first quarter whose first shipment is more than PARTIAL_DAYS after its start is
    dropped). NoDataError without a shipments table or without shipments up to ``quarter``."""
    q = Quarter.parse(quarter)
    data, active = metrics.data_of(source), metrics.active_of(source)
    if active is None:
        raise NoDataError(f"{data.account_id}: no data — the workspace has no shipments table to forecast from")
    active = active[active["ship_date"] < pd.Timestamp(q.shift(1).start)]
    if active["ship_date"].notna().sum() == 0:
        raise NoDataError(f"{data.account_id}: no data — no shipments up to {q} to forecast from")
    # Only shipments and revenue are read: the frame's service columns may come from events of any quarter.
    if isinstance(source, metrics.PreparedAccount) and source.deliveries is not None and source.pickups is not None:
        deliveries, pickups = source.deliveries, source.pickups
    else:
        deliveries, pickups = metrics.delivery_events(active, data.as_of), metrics.pickup_events(active)
    frame = metrics.quarterly_frame(active, deliveries, pickups, q)[["quarter", *METRICS]]
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


# Smoothing parameters searched by :func:`fit_ets` (the ranges statsmodels' ETSModel admits for A,Ad,A models).
ALPHAS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
BETAS = (0.01, 0.05, 0.1, 0.2, 0.3)
GAMMAS = (0.01, 0.05, 0.1, 0.2, 0.3)
PHIS = (0.8, 0.9, 0.98)


@dataclass(frozen=True)
class EtsFit:
    """Parameters of an A,Ad,A (or A,Ad,N) model: smoothing ``alpha``, ``beta``, ``gamma`` (None without a
    seasonal part), damping ``phi``, the initial ``level`` and ``trend`` and the ``seasonal`` states of the
    first season (first observation first), and the in-sample sum of squared one-step errors ``sse``."""

    alpha: float
    beta: float
    gamma: float | None
    phi: float
    level: float
    trend: float
    seasonal: tuple[float, ...]
    sse: float


def initial_states(y: np.ndarray, seasonal: bool, season: int = 4) -> tuple[float, float, tuple[float, ...]]:
    """History → (level, trend, seasonal states) at the period before the first value, by the classical
    decomposition of the first two seasons (Hyndman & Athanasopoulos): trend the change of the two season means
    per period, level the first season's mean moved back to period 0, seasonal states the detrended deviations
    of each position, averaged over the two seasons. Without a seasonal part: the first difference as trend.
    Sums are exact (math.fsum), so the states do not depend on the machine."""
    values = [float(v) for v in y]
    if not seasonal:
        trend = values[1] - values[0]
        return values[0] - trend, trend, ()
    first = math.fsum(values[:season]) / season
    second = math.fsum(values[season : 2 * season]) / season
    trend = (second - first) / season
    offset = [trend * (i - (season - 1) / 2) for i in range(season)]  # the trend within a season, centred
    states = tuple(
        ((values[i] - first - offset[i]) + (values[i + season] - second - offset[i])) / 2 for i in range(season)
    )
    return first - trend * (season + 1) / 2, trend, states


def fit_ets(y: np.ndarray, seasonal: bool = True, season: int = 4) -> EtsFit:
    """History → the EtsFit with the least in-sample squared one-step error over the grid ALPHAS × BETAS
    (β ≤ α) × GAMMAS (γ ≤ 1 − α) × PHIS, from the :func:`initial_states`.

    A grid, not a gradient optimiser: on 6–16 quarters the likelihood is flat, and L-BFGS-B (whose BLAS calls
    round differently on different CPUs) stopped at different points on two machines of the same kind, moving
    the backtest MAPE by 0.7 points. Here every step is an elementwise IEEE operation in a fixed order, so any
    machine picks the same parameters."""
    grid = np.array(
        [
            (a, b, g, p)
            for a in ALPHAS
            for b in BETAS
            if b <= a
            for g in (GAMMAS if seasonal else (0.0,))
            if g <= 1 - a
            for p in PHIS
        ]
    )
    alpha, beta, gamma, phi = grid.T
    level0, trend0, seasonal0 = initial_states(y, seasonal, season)
    level = np.full(len(grid), level0)
    trend = np.full(len(grid), trend0)
    states = [np.full(len(grid), s) for s in seasonal0]  # states[t % season]: the seasonal of that position
    sse = np.zeros(len(grid))
    for t, value in enumerate(np.asarray(y, dtype="float64")):
        damped = phi * trend
        error = value - (level + damped + (states[t % season] if seasonal else 0.0))
        sse = sse + error * error
        level = level + damped + alpha * error
        trend = damped + beta * error
        if seasonal:
            states[t % season] = states[t % season] + gamma * error
    best = int(np.argmin(sse))
    a, b, g, p = (float(v) for v in grid[best])
    return EtsFit(a, b, g if seasonal else None, p, level0, trend0, seasonal0, float(sse[best]))


def ets(y: np.ndarray, horizon: int, level: float = LEVEL, seasonal: bool = True) -> pd.DataFrame:
    """History y, horizon → point, lower, upper per step from statsmodels ETSModel(A, Ad, A, 4) — or (A, Ad, N)
    without ``seasonal`` — with the parameters of :func:`fit_ets`; the interval is the model's analytic one."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    fit = fit_ets(y, seasonal)
    series = pd.Series(np.asarray(y, dtype="float64"))
    season: dict[str, Any] = (
        dict(seasonal="add", seasonal_periods=4, initial_seasonal=list(fit.seasonal)) if seasonal else {}
    )
    params = [fit.alpha, fit.beta, *([fit.gamma] if seasonal else []), fit.phi]
    model = ETSModel(
        series,
        error="add",
        trend="add",
        damped_trend=True,
        initialization_method="known",
        initial_level=fit.level,
        initial_trend=fit.trend,
        **season,
    )
    pred = model.smooth(params).get_prediction(start=len(series), end=len(series) + horizon - 1)
    frame = pred.summary_frame(alpha=1 - level)
    return pd.DataFrame(
        {
            "point": frame["mean"].to_numpy(),
            "lower": frame["pi_lower"].to_numpy(),
            "upper": frame["pi_upper"].to_numpy(),
        }
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


def forecast(
    source: AccountData | metrics.PreparedAccount, quarter: Quarter | str, horizon: int = 4, level: float = LEVEL
) -> Forecast:
    """AccountData (or its PreparedAccount), last quarter of history, horizon → Forecast of shipments and revenue for the ``horizon``
    quarters after ``quarter``. NoDataError when the data has no shipments to forecast from."""
    q = Quarter.parse(quarter)
    hist = quarterly_series(source, q)
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
        account_id=metrics.data_of(source).account_id,
        quarter=q,
        frame=frame,
        history=hist,
        method=method,
        backtest=bt,
        level=level,
        note=_note(hist, method, bt, level),
        warnings=notes,
    )
