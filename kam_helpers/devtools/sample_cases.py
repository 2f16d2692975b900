"""The sample book's complaints (cases with categories, severities and root causes), opportunities and targets."""

from __future__ import annotations

import numpy as np

from kam_helpers.data.schema import MODES, OPP_STAGES, TABLES
from kam_helpers.devtools.sample_catalogue import (
    _CATEGORY,
    _CITIES,
    _CITY_NAMES,
    _LATE_CAUSES,
    _OVERSEAS_CAUSES,
    _RC,
    _REGIONS,
    DAY,
)
from kam_helpers.devtools.sample_shipments import per_account


def make_cases(accts, cal, sh, iv, counts, rng) -> dict[str, np.ndarray]:
    """Complaints and claims: late deliveries, damage, loss, billing disputes, communication/other."""
    A, Q, end, n = len(accts), len(cal.quarters), cal.end_minute, len(sh["acc"])
    acc, status, mode = sh["acc"], sh["status"], sh["mode"]
    parts: list[dict[str, np.ndarray]] = []

    def add(s_acc, opened, cat, sev, ship, claim, root) -> None:
        m = opened <= end
        parts.append(
            dict(
                acc=s_acc[m],
                opened=opened[m],
                cat=np.broadcast_to(cat, m.shape)[m],
                sev=sev[m],
                ship=ship[m],
                claim=claim[m],
                root=root[m],
            )
        )

    def pick(choices: np.ndarray, size: int) -> np.ndarray:
        return choices[rng.integers(0, len(choices), size)]

    delivered = status == 2
    promised_day = sh["promised"] // DAY
    late_days = np.where(delivered, sh["deliv"] // DAY - promised_day, cal.last - promised_day)
    late = (delivered | (status == 1)) & (late_days > 0)
    i = np.flatnonzero(late & (rng.random(n) < per_account(accts, "complain")[acc]))
    opened = np.where(
        delivered[i],
        sh["deliv"][i] + rng.integers(60, 48 * 60, len(i)),
        sh["promised"][i] + rng.integers(DAY, 3 * DAY, len(i)),
    )
    sev = np.select(
        [late_days[i] >= 3, late_days[i] == 2],
        [2 + (rng.random(len(i)) < 0.2), 1 + (rng.random(len(i)) < 0.4)],
        rng.random(len(i)) < 0.5,
    )
    cell_cause = np.array([_RC["carrier capacity"], _RC["driver shortage"], _RC["hub congestion"]])
    root = np.where(
        sh["cell"][i],
        cell_cause[rng.choice(3, len(i), p=[0.6, 0.25, 0.15])],
        np.where(mode[i] >= 4, pick(_OVERSEAS_CAUSES, len(i)), pick(_LATE_CAUSES, len(i))),
    )
    add(acc[i], opened, _CATEGORY["late delivery"], sev, i, np.full(len(i), np.nan), root)

    fx = np.array([a["fx"] for a in accts])
    for flag, share, cat, causes, frac in (
        (
            "damaged",
            0.8,
            "damage",
            ("handling at cross-dock", "insufficient packaging", "load not secured"),
            (0.05, 0.5),
        ),
        ("short", 0.6, "loss", ("mis-sorted at hub", "theft in transit", "picking error at origin"), (0.05, 0.3)),
    ):
        i = np.flatnonzero(sh[flag] & (rng.random(n) < share))
        value = sh["weight"][i] * rng.uniform(1, 25, len(i))  # goods value per kg varies widely
        claim = np.clip(value * rng.uniform(*frac, len(i)), 25, 20000) * fx[acc[i]]
        sev = 1 + (rng.random(len(i)) < (0.4 if cat == "damage" else 0.7)) + (rng.random(len(i)) < 0.1)
        add(
            acc[i],
            sh["deliv"][i] + rng.integers(120, 72 * 60, len(i)),
            _CATEGORY[cat],
            sev,
            i,
            np.round(claim, 2),
            pick(np.array([_RC[c] for c in causes]), len(i)),
        )

    # billing disputes: one per invoice the client raised, on its first wrong shipment
    j = np.flatnonzero(iv["raised"])
    big = np.iinfo(np.int64).max
    first_bad = np.full(len(iv["issued"]), big)
    bad = np.flatnonzero(iv["err"] | iv["dup"])
    np.minimum.at(first_bad, iv["inv"][bad], bad)
    _, first_any = np.unique(iv["inv"], return_index=True)
    local = np.where(first_bad[j] < big, first_bad[j], first_any[j])
    over = np.where(iv["err"], np.maximum(iv["delta"], 0), 0)
    positive = np.bincount(iv["inv"], weights=over, minlength=len(iv["issued"]))
    dup_amount = np.bincount(iv["l_inv"], weights=iv["l_amount"] * iv["l_dup"], minlength=len(iv["issued"]))
    claim = np.where(
        iv["false_dispute"][j], iv["amount"][j] * rng.uniform(0.02, 0.1, len(j)), positive[j] + dup_amount[j]
    )
    by_kind = np.array(
        [
            _RC["rate card not updated"],
            _RC["rate card not updated"],
            _RC["fuel surcharge not applied"],
            _RC["accessorial not agreed"],
        ]
    )
    root = np.where(
        iv["false_dispute"][j],
        _RC["client PO mismatch"],
        np.where(iv["err"][local], by_kind[iv["kind"][local]], _RC["duplicate invoice line"]),
    )
    lo_ = iv["issued"][j] * DAY + 9 * 60
    hi_ = np.minimum(lo_ + 15 * DAY, end)
    opened = lo_ + (rng.random(len(j)) * (hi_ - lo_)).astype(np.int64)
    add(
        iv["acc"][j],
        opened,
        _CATEGORY["billing dispute"],
        1 + (rng.random(len(j)) < 0.35),
        iv["bidx"][local],
        np.round(claim, 2),
        root,
    )

    # communication and other: a few per account and quarter, more for at-risk and bigger accounts
    lam = per_account(accts, "comm")[:, None] * np.sqrt(counts / 300.0)
    nc = rng.poisson(lam)
    c_acc = np.repeat(np.repeat(np.arange(A), Q), nc.ravel())
    c_q = np.repeat(np.tile(np.arange(Q), A), nc.ravel())
    m = len(c_acc)
    opened = cal.bounds[c_q] * DAY + (rng.random(m) * (cal.bounds[c_q + 1] - cal.bounds[c_q]) * DAY).astype(np.int64)
    comm = rng.random(m) < 0.65
    comm_causes = np.array(
        [
            _RC[c]
            for c in ("no proactive delay notice", "tracking not updated", "POD not provided", "wrong contact details")
        ]
    )
    other_causes = np.array([_RC[c] for c in ("portal access issue", "reporting request", "client PO mismatch")])
    add(
        c_acc,
        opened,
        np.where(comm, _CATEGORY["communication"], _CATEGORY["other"]),
        (rng.random(m) < 0.4).astype(np.int64),
        np.full(m, -1),
        np.full(m, np.nan),
        np.where(comm, pick(comm_causes, m), pick(other_causes, m)),
    )

    c = {k: np.concatenate([p_[k] for p_ in parts]) for k in parts[0]}
    order = np.argsort(c["opened"], kind="stable")
    c = {k: v[order] for k, v in c.items()}
    m = len(c["acc"])
    median_h = np.array([18.0, 120.0, 160.0, 96.0, 6.0, 24.0])[c["cat"]] * per_account(accts, "resolve")[c["acc"]]
    closed = c["opened"] + np.round(median_h * rng.lognormal(0.0, 0.9, m) * 60).astype(np.int64) + 15
    risk = np.array([a["profile"] == "at_risk" for a in accts])
    backlog = risk[c["acc"]] & (c["opened"] >= cal.bounds[-2] * DAY) & (rng.random(m) < 0.3)
    c["closed"] = closed
    c["closed_null"] = (closed > end) | backlog
    c["root"] = np.where(c["closed_null"] & (rng.random(m) < 0.6), -1, c["root"])  # not found yet
    return c


def make_opportunities(accts, svcs, cal, annual, rng) -> dict[str, list]:
    """2–6 pipeline deals per account (more for growing ones): new modes, lanes, warehousing, VAS."""
    out: dict[str, list] = {k: [] for k in TABLES["opportunities"].columns}
    prob = {"prospecting": 0.1, "qualification": 0.2, "proposal": 0.4, "negotiation": 0.6, "won": 1.0, "lost": 0.0}
    for ai, (a, ss) in enumerate(zip(accts, svcs, strict=False)):
        used = {s["mode"] for s in ss}
        lanes = {(s["origin"], s["destination"]) for s in ss}
        home = ss[0]["origin"] if _CITIES[ss[0]["origin"]][2] != "GW" else _REGIONS[a["region"]][1][0]
        local = [c for c in _CITY_NAMES if _CITIES[c][2] == a["continent"] and c != home and (home, c) not in lanes]
        new_lanes = [f"{home} → {local[i]}" for i in rng.permutation(len(local))[:3]]
        options = [MODES[m] for m in range(6) if m not in used] + new_lanes + ["warehousing", "value-added services"]
        lo, hi = (4, 7) if a["profile"] == "growing" else (2, 6)
        chosen = [options[i] for i in rng.permutation(len(options))[: int(rng.integers(lo, hi))]]
        weights = [0.2, 0.2, 0.2, 0.15, 0.15, 0.1] if a["profile"] != "at_risk" else [0.15, 0.15, 0.15, 0.15, 0.1, 0.3]
        for service in chosen:
            stage = OPP_STAGES[int(rng.choice(6, p=weights))]
            closed = stage in ("won", "lost")
            close = cal.last - int(rng.integers(0, 180)) if closed else cal.last + int(rng.integers(20, 400))
            out["opp_id"].append(len(out["opp_id"]) + 1)
            out["account_id"].append(ai)
            out["service"].append(service)
            out["stage"].append(stage)
            out["amount"].append(max(5000.0, round(annual[ai] * rng.uniform(0.03, 0.2), -3)))
            out["probability"].append(prob[stage])
            out["expected_close"].append(close)
    return out


def make_targets(accts, cal, season, scale, sh) -> dict[str, list]:
    """SLA targets per contract, and quarterly revenue and the committed volume per quarter."""
    out: dict[str, list] = {k: [] for k in TABLES["targets"].columns}
    A, Q = len(accts), len(cal.quarters)
    live = sh["status"] != 3
    rev = np.bincount(sh["acc"][live], weights=sh["expected"][live], minlength=A)
    cnt = np.bincount(sh["acc"][live], minlength=A)
    early = live & (sh["q"] < max(1, Q // 2))
    e_rev = np.bincount(sh["acc"][early], weights=sh["expected"][early], minlength=A)
    e_cost = np.bincount(sh["acc"][early], weights=sh["cost"][early], minlength=A)
    periods = [str(q) for q in cal.quarters] + [str(cal.quarters[-1].shift(1))]
    seasons = list(season) + [season[-4] if Q >= 4 else 1.0]

    def add(ai: int, period: str, metric: str, target: float, tol: float | None) -> None:
        for k, v in zip(out, (ai, period, metric, target, tol), strict=False):
            out[k].append(v)

    for ai, a in enumerate(accts):
        strategic = a["tier"] == "Strategic"
        quarterly = a["base"] * scale * a["commit"]  # committed shipments per quarter
        margin = round(200 * (e_rev[ai] - e_cost[ai]) / max(e_rev[ai], 1.0)) / 2
        for metric, target, tol in (
            ("otd_pct", 96.0 if strategic else 95.0, 2.0),
            ("otp_pct", 95.0, 2.0),
            ("otif_pct", 93.0, 2.0),
            ("invoice_accuracy_pct", 96.0, 2.0),
            ("damage_ratio_pct", 0.5, 0.25),
            ("gross_margin_pct", margin, 2.0),
            ("median_hours_to_resolve", 36.0 if strategic else 48.0, 12.0),
            ("days_to_pay", float(a["terms"]), 7.0),
            ("shipments", float(round(quarterly)), float(round(0.05 * quarterly))),
        ):
            add(ai, "contract", metric, target, tol)
        per_ship = rev[ai] / max(cnt[ai], 1)
        for i, (period, s) in enumerate(zip(periods, seasons, strict=False)):
            planned = max(1000.0, round(per_ship * a["base"] * scale * s * 1.015**i, -3))
            add(ai, period, "revenue", planned, round(0.05 * planned, -2))
    return out
