"""The sample book's shipments: how many per account, quarter and service, their lanes, carriers, dates, lateness
(with the planted late-delivery clusters), damage and price.
"""

from __future__ import annotations

import numpy as np

from kam_helpers.data.schema import RATE_BASES
from kam_helpers.devtools.sample_catalogue import (
    _AT_RISK_OTD,
    _M_ADD,
    _M_KMDAY,
    _M_LATE,
    _M_MARGIN,
    _M_PROMISE_H,
    _M_SLOT,
    _M_WEIGHT,
    _PROFILES,
    _WEIGHT_FACTOR,
    DAY,
)


def draw_shipments(accts, svcs, counts, cal, rngs) -> dict[str, np.ndarray]:
    """Per account: pickup day, service and carrier of each shipment (the only per-account loop)."""
    parts: dict[str, list] = {k: [] for k in ("acc", "day", "q", "svc", "carrier")}
    offset = 0
    for ai, (_a, ss, rng) in enumerate(zip(accts, svcs, rngs, strict=False)):
        w = np.array([s["weight"] * s["active"] for s in ss]).T  # quarter × service
        cdf = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
        cids = np.array([[c for c, _ in s["carriers"]] + [s["carriers"][0][0]] * (3 - len(s["carriers"])) for s in ss])
        ccdf = np.array([np.r_[np.cumsum([w_ for _, w_ in s["carriers"]]), np.ones(3)][:3] for s in ss])
        ccdf[:, -1] = 1.0
        for qi, n in enumerate(counts[ai]):
            lo, hi = cal.bounds[qi], cal.bounds[qi + 1]
            dw = cal.weight[lo - cal.first : hi - cal.first]
            day = rng.choice(np.arange(lo, hi), size=int(n), p=dw / dw.sum())
            svc = np.minimum(np.searchsorted(cdf[qi], rng.random(int(n)), side="right"), len(ss) - 1)
            k = (rng.random(int(n))[:, None] > ccdf[svc]).sum(axis=1).clip(0, 2)
            parts["acc"].append(np.full(int(n), ai, np.int32))
            parts["day"].append(day)
            parts["q"].append(np.full(int(n), qi, np.int8))
            parts["svc"].append(svc + offset)
            parts["carrier"].append(cids[svc, k])
        offset += len(ss)
    return {k: np.concatenate(v) for k, v in parts.items()}


def per_account(accts: list[dict], key: str) -> np.ndarray:
    return np.array([_PROFILES[a["profile"]][key] for a in accts], dtype=np.float64)


def make_shipments(accts, svcs, cal, smp, rates, rng) -> dict[str, np.ndarray]:
    """Sampled (account, day, service, carrier) → complete shipments: times, lateness, weights, status,
    rate-card charge (linehaul, fuel, expected) and cost. Sorted by planned pickup (= shipment number)."""
    cols, periods, svc_row, zone_row = rates
    flat = [s for ss in svcs for s in ss]
    s_mode = np.array([s["mode"] for s in flat])
    s_dist = np.array([s["distance"] for s in flat])
    s_planted = np.array([s["planted"] for s in flat])
    s_transit = np.maximum(1, _M_ADD[s_mode] + np.ceil(s_dist / _M_KMDAY[s_mode])).astype(np.int64)
    A, Q, n = len(accts), len(cal.quarters), len(smp["acc"])

    mode = s_mode[smp["svc"]]
    plan = smp["day"] * DAY + rng.integers(_M_SLOT[mode, 0], _M_SLOT[mode, 1]) * 15
    order = np.argsort(plan * A + smp["acc"], kind="stable")
    acc, svc, q, carrier, plan, mode = (
        x[order] for x in (smp["acc"], smp["svc"], smp["q"].astype(np.int64), smp["carrier"], plan, mode)
    )
    del order
    pday = plan // DAY

    # pickups: jitter, sometimes hours late, sometimes a day late (which may make the delivery late too)
    transit = s_transit[svc]
    promised = (pday + transit) * DAY + _M_PROMISE_H[mode] * 60
    jitter = np.clip(np.round(rng.normal(0, 20, n)), -30, 75).astype(np.int64)
    pick = plan + jitter + np.where(rng.random(n) < 0.08, rng.integers(60, 241, n), 0)
    next_day = (pday + 1) * DAY + rng.integers(6 * 60, 14 * 60, n)
    pick = np.where(rng.random(n) < per_account(accts, "pick")[acc], next_day, pick)
    earliest = pick + np.maximum((0.6 * transit * DAY).astype(np.int64), 60)
    forced = earliest // DAY > promised // DAY
    del jitter, next_day

    # lateness: background by profile and mode, bad weeks, and for at-risk accounts planted lane × carrier cells
    # whose late rate is solved so the account's OTD follows the planted slide
    week = (pday + 3) // 7
    bad = rng.random((A, int(week.max() - week.min()) + 1)) < 2 / 52
    p = per_account(accts, "late")[acc] * _M_LATE[mode] * np.where(bad[acc, week - week.min()], 3.0, 1.0)
    risk = np.array([a["profile"] == "at_risk" for a in accts])
    planted_carrier = np.array([a.get("planted_carrier", -1) for a in accts])
    on_carrier = risk[acc] & (q >= Q - 3) & (carrier == planted_carrier[acc])
    cell = on_carrier & s_planted[svc]
    p = np.where(on_carrier & ~cell, 2 * p, p)
    key = acc * Q + q
    total = np.bincount(key, minlength=A * Q)
    cells = np.bincount(key, weights=cell & ~forced, minlength=A * Q)
    background = np.bincount(key, weights=np.where(forced, 1.0, np.where(cell, 0.0, p)), minlength=A * Q)
    target = np.zeros((A, Q))
    noise = rng.uniform(-0.01, 0.01, (A, 3))
    for j, otd in enumerate(_AT_RISK_OTD):
        qi = Q - 3 + j
        if qi >= 0:
            target[risk, qi] = 1 - otd + noise[risk, j]
    p_cell = np.clip((target.ravel() * total - background) / np.maximum(cells, 1), 0.0, 0.92)
    p = np.where(cell, np.maximum(p_cell[key], p), p)
    late = rng.random(n) < p
    del p, key, week

    # deliveries: on time within the promise, or days late; never before pickup plus a minimal transit
    on_time = pick + (rng.uniform(0.75, 1.0, n) * np.maximum(promised - pick, 0)).astype(np.int64)
    days_late = rng.choice(np.array([1, 2, 3, 4, 5]), n, p=[0.55, 0.25, 0.12, 0.05, 0.03]) * np.where(mode == 5, 2, 1)
    late_at = (promised // DAY + days_late) * DAY + rng.integers(7 * 60, 18 * 60, n)
    deliv = np.maximum(np.where(late, late_at, on_time), earliest)
    del on_time, late_at, days_late, earliest, forced

    end = cal.end_minute
    cancelled = rng.random(n) < per_account(accts, "cancel")[acc]
    booked = ~cancelled & (pick > end)
    in_transit = ~cancelled & ~booked & (deliv > end)
    delivered = ~cancelled & ~booked & ~in_transit
    status = np.select([booked, in_transit, delivered], [0, 1, 2], 3).astype(np.int8)  # SHIPMENT_STATUSES

    med, sig, lo, hi = (_M_WEIGHT[mode, i] for i in range(4))
    wf = np.array([_WEIGHT_FACTOR[a["industry"]] for a in accts])[acc]
    weight = np.round(np.clip(med * wf * rng.lognormal(0.0, sig), lo, hi), 1)
    del med, sig, lo, hi, wf
    pallets = np.select(
        [(mode == 0) | (mode == 3), mode == 1, mode == 4, mode == 5],
        [
            np.clip(np.round(weight / rng.uniform(550, 800, n)), 8, 33),
            np.clip(np.ceil(weight / 400), 1, 12),
            np.clip(np.ceil(weight / 300) - (weight < 100), 0, 10),
            np.where(rng.random(n) < 0.4, 0, rng.integers(10, 23, n)),
        ],  # ocean: 40% floor-loaded
        0,
    ).astype(np.int64)
    pieces = np.select(
        [mode == 2, pallets > 0, mode == 4],
        [1 + rng.poisson(0.4, n), pallets * rng.integers(4, 49, n), np.clip(1 + rng.poisson(weight / 40), 1, 60)],
        rng.integers(200, 1800, n),
    ).astype(np.int64)
    damaged = delivered & (rng.random(n) < per_account(accts, "damage")[acc] * np.where(on_carrier, 2.0, 1.0))
    short = delivered & (rng.random(n) < per_account(accts, "short")[acc])

    # the rate card: the price period of the planned pickup day, the lane row if any, else the zone row
    kmax = max(len(p_) for p_ in periods)
    starts = np.array([p_ + [2**40] * (kmax - len(p_)) for p_ in periods], dtype=np.int64)
    k = (pday[:, None] >= starts[acc]).sum(axis=1) - 1
    srow = np.concatenate([np.pad(r, ((0, 0), (0, kmax - r.shape[1])), constant_values=-1) for r in svc_row])
    zrow = np.stack([np.pad(r, ((0, 0), (0, kmax - r.shape[1])), constant_values=-1) for r in zone_row])
    row = srow[svc, k]
    row = np.where(row < 0, zrow[acc, mode, k], row)
    del k
    basis = np.array(cols["basis"])[row]
    dist = s_dist[svc]
    # nudge per-kg weights by 0.1 kg where the charge would end on an exact half cent (see _half_cent)
    rate_i = np.round(np.array(cols["rate"]) * 1e4).astype(np.int64)[row]
    min_c = np.round(np.nan_to_num(np.array(cols["minimum"])) * 100).astype(np.int64)[row]
    pct_i = np.round(np.nan_to_num(np.array(cols["fuel_surcharge_pct"])) * 10).astype(np.int64)[row]
    per_kg = basis == RATE_BASES.index("per_kg")
    for _ in range(50):
        raw = rate_i * np.round(weight * 10).astype(np.int64)  # 10^-5 of the currency
        cents = np.maximum((raw + 500) // 1000, min_c)
        tie = per_kg & ((raw % 1000 == 500) | (cents * pct_i % 1000 == 500))
        if not tie.any():
            break
        weight = np.where(tie, np.round(weight + 0.1, 1), weight)
    del rate_i, min_c, pct_i, raw, cents, tie
    qty = np.select([basis == RATE_BASES.index("per_kg"), basis == RATE_BASES.index("per_km")], [weight, dist], 1.0)
    linehaul = np.round(np.maximum(np.array(cols["rate"])[row] * qty, np.nan_to_num(np.array(cols["minimum"]))[row]), 2)
    fuel_pct = np.nan_to_num(np.array(cols["fuel_surcharge_pct"]))[row]
    fuel = np.round(linehaul * fuel_pct / 100, 2)
    expected = np.round(linehaul + fuel, 2)
    del qty, basis, row

    shift = per_account(accts, "margin")[acc] * (q >= Q - 3)
    margin = _M_MARGIN[mode] + np.array([a["margin"] for a in accts])[acc] + shift + rng.normal(0, 0.03, n)
    margin -= 0.04 * late  # recovering a late load costs money
    cost = np.round(expected * (1 - np.clip(margin, 0.02, 0.35)), 2)
    del margin, shift
    return dict(
        acc=acc,
        svc=svc,
        q=q,
        carrier=carrier,
        mode=mode,
        plan=plan,
        pick=pick,
        promised=promised,
        deliv=deliv,
        status=status,
        weight=weight,
        pieces=pieces,
        pallets=pallets,
        dist=dist,
        damaged=damaged,
        short=short,
        linehaul=linehaul,
        fuel=fuel,
        fuel_pct=fuel_pct,
        expected=expected,
        revenue=expected.copy(),
        cost=cost,
        cell=cell,
        on_carrier=on_carrier,
    )
