"""The sample book's accounts: calendar and seasonality, accounts with their profile and contract, the services
they buy and the rate cards that price them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from kam_helpers.core.quarters import Quarter
from kam_helpers.data.schema import MODES, RATE_BASES, TABLES
from kam_helpers.devtools.sample_catalogue import (
    _BASE_ACCOUNTS,
    _CARRIERS,
    _CITIES,
    _CITY_IDX,
    _CITY_NAMES,
    _IMPORT_HUBS,
    _M_DIST,
    _M_VOLUME,
    _MODE_MIX,
    _MONTH,
    _OWNERS,
    _PROFILE_CYCLE,
    _REGIONS,
    _RENEWING,
    _ROAD,
    _WEEKDAY,
    DAY,
    _add_years,
    _date,
    _day,
    _km,
    _unique_names,
)

# --- the book ---------------------------------------------------------------------------------------------


@dataclass
class _Calendar:
    quarters: tuple[Quarter, ...]
    bounds: np.ndarray  # first day of each quarter, then last day + 1
    weight: np.ndarray  # relative pickup volume of each day of the window

    @property
    def first(self) -> int:
        return int(self.bounds[0])

    @property
    def last(self) -> int:
        return int(self.bounds[-1]) - 1

    @property
    def end_minute(self) -> int:
        return self.last * DAY + DAY - 1


def make_calendar(end: Quarter, quarters: int) -> _Calendar:
    qs = tuple(end.shift(i - quarters + 1) for i in range(quarters))
    bounds = np.array([_day(q.start) for q in qs] + [_day(end.end) + 1], dtype=np.int64)
    days = np.arange(bounds[0], bounds[-1])
    month = (days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)) % 12
    return _Calendar(qs, bounds, _MONTH[month] * _WEEKDAY[(days + 3) % 7])


def season_trend(profile: str, q: int) -> np.ndarray:
    i = np.arange(q)
    if profile == "growing":
        return 1.07**i
    if profile == "shrinking":
        return 0.94**i
    if profile == "at_risk":
        peak = max(q - 4, 0)
        return 1.02 ** np.minimum(i, peak) * 0.92 ** np.maximum(i - peak, 0)
    return 1.01**i


def make_accounts(n: int, cal: _Calendar, rng: np.random.Generator) -> list[dict]:
    """The clients: names, profile, tier, region, contract, billing habits, base volume per quarter."""
    names = _unique_names(n, rng)
    width = max(3, len(str(n)))
    regions = list(_REGIONS)
    out = []
    for i, (name, industry) in enumerate(names):
        if i < len(_BASE_ACCOUNTS):
            tier, region = _BASE_ACCOUNTS[i][2], _BASE_ACCOUNTS[i][3]
        else:
            tier = str(rng.choice(["Strategic", "Key", "Growth"], p=[0.25, 0.4, 0.35]))
            region = regions[int(rng.integers(len(regions)))]
        continent = _REGIONS[region][0]
        term = int(rng.choice([2, 3, 4]))
        if i % 12 in _RENEWING:
            target = _date(cal.last + int(rng.integers(20, 80)))
        else:
            target = _date(cal.last + int(rng.integers(150, 900)))
        start = _add_years(target + dt.timedelta(days=1), -term)
        while start > _date(cal.last - 60):  # the current contract started before the period's end
            term += 1
            start = _add_years(start, -1)
        start = start.replace(day=min(start.day, 28))
        contract_end = _add_years(start, term) - dt.timedelta(days=1)
        base = {"Strategic": (330, 470), "Key": (200, 320), "Growth": (150, 200)}[tier]
        out.append(
            dict(
                id=f"ACC-{i + 1:0{width}d}",
                name=name,
                industry=industry,
                tier=tier,
                region=region,
                continent=continent,
                profile=_PROFILE_CYCLE[i % 12],
                owner=_OWNERS[continent][(i // 2) % len(_OWNERS[continent])],
                start=start,
                end=contract_end,
                currency="USD" if continent == "US" else "EUR",
                fx=1.08 if continent == "US" else 1.0,
                base=float(rng.uniform(*base)),
                weekly=bool(rng.random() < 0.75) or i < 2,
                run_offset=int(rng.integers(0, 3)),
                terms=int(rng.choice([30, 45, 60], p=[0.4, 0.35, 0.25])),
                margin=float(rng.normal(0, 0.012)),
                open_ended=bool(rng.random() < 0.5),
                commit=float(rng.uniform(0.95, 1.15)),
            )
        )
    return out


def make_services(a: dict, q: int, rng: np.random.Generator) -> list[dict]:
    """An account's lanes × modes with heavy-tailed volume, carriers, and which get a lane-specific rate."""
    continent = a["continent"]
    homes = _REGIONS[a["region"]][1]
    homes = homes[: int(rng.integers(1, len(homes) + 1))]
    local = [c for c in _CITY_NAMES if _CITIES[c][2] == continent]
    n_lanes = int(rng.integers(*{"Strategic": (14, 26), "Key": (8, 17), "Growth": (5, 11)}[a["tier"]]))
    mix = np.array(_MODE_MIX[a["industry"]]) * rng.uniform(0.6, 1.4, 6)
    mix /= mix.sum()
    road = 0 if mix[0] >= mix[1] else 1
    lanes: list[tuple[str, str, int]] = []
    seen = set()
    while len(lanes) < n_lanes:
        mode = road if len(lanes) < 2 else int(rng.choice(6, p=mix))
        if MODES[mode] in ("Air", "Ocean"):
            gw = [c for c in _CITY_NAMES if _CITIES[c][2] == "GW"]
            o = gw[int(rng.integers(len(gw)))]
            hubs = _IMPORT_HUBS[(continent, MODES[mode])]
            d = hubs[int(rng.integers(len(hubs)))]
        else:
            home = homes[int(rng.integers(len(homes)))]
            others = [c for c in local if c != home]
            near = np.array([1.0 / (1.0 + _km(home, c, 1.0) / 700.0) for c in others])
            far = others[int(rng.choice(len(others), p=near / near.sum()))]
            o, d = (far, home) if rng.random() < 0.25 else (home, far)  # some inbound supply lanes
        if (o, d) in seen:
            continue
        seen.add((o, d))
        lanes.append((o, d, mode))
    lane_w = (1.0 / np.arange(1, n_lanes + 1) ** 1.1) * rng.lognormal(0, 0.25, n_lanes)
    out = []
    for rank, (o, d, mode) in enumerate(lanes):
        modes = [mode]
        if mode in _ROAD and rng.random() < 0.25:
            modes.append(1 - mode)
        for j, m in enumerate(modes):
            active = np.ones(q)
            if a["profile"] == "growing" and rank >= 2 and rng.random() < 0.3 and q > 2:
                active[: int(rng.integers(1, q - 1))] = 0  # a lane won during the period
            if a["profile"] == "shrinking" and rank >= 3 and rng.random() < 0.25 and q > 2:
                active[int(rng.integers(2, q)) :] = 0  # a lane lost to a competitor
            out.append(
                dict(
                    origin=o,
                    destination=d,
                    mode=m,
                    lane_rank=rank,
                    weight=lane_w[rank] * _M_VOLUME[m] * (0.3 if j else 1.0),
                    active=active,
                    distance=_km(o, d, _M_DIST[m]),
                )
            )
    for s in out:
        eligible = [k for k, c in enumerate(_CARRIERS) if MODES[s["mode"]] in c[1] and continent in c[2]]
        picks = list(rng.permutation(eligible)[: int(rng.integers(1, min(3, len(eligible)) + 1))])
        shares = rng.dirichlet(np.full(len(picks), 2.0))
        s["carriers"] = [(int(c), float(w)) for c, w in sorted(zip(picks, shares, strict=False), key=lambda t: -t[1])]
        s["planted"] = False
    # rank services of each mode by volume: the busiest get lane rates, the tail (and all Parcel) the zone rate
    for m in range(6):
        ss = sorted((s for s in out if s["mode"] == m), key=lambda s: -s["weight"])
        for r, s in enumerate(ss):
            s["specific"] = MODES[m] != "Parcel" and r < max(1, round(0.6 * len(ss)))
    if a["profile"] == "at_risk":
        road_lanes = sorted({(s["lane_rank"], s["origin"], s["destination"]) for s in out if s["mode"] in _ROAD})
        planted = road_lanes[: 2 if len(road_lanes) > 1 and rng.random() < 0.7 else 1]
        road_carriers = [k for k, c in enumerate(_CARRIERS) if "FTL" in c[1] and continent in c[2]]
        carrier = int(road_carriers[int(rng.integers(len(road_carriers)))])
        a["planted_carrier"] = carrier
        a["planted_lanes"] = [(o, d) for _, o, d in planted]
        for s in out:
            if (s["origin"], s["destination"]) in a["planted_lanes"]:
                rest = [(c, w) for c, w in s["carriers"] if c != carrier][:2]
                tot = sum(w for _, w in rest) or 1.0
                s["carriers"] = [(carrier, 0.75)] + [(c, 0.25 * w / tot) for c, w in rest]
                if len(s["carriers"]) == 1:
                    s["carriers"] = [(carrier, 1.0)]
                s["planted"] = True
    return out


def make_rate_cards(accts: list[dict], svcs: list[list[dict]], cal: _Calendar, rng: np.random.Generator) -> tuple:
    """Rate card rows per account, price period (contract anniversaries), mode (zone row) and busy lane.

    → (rows as column lists, anniversaries per account, row index per [service, period], per [acc, mode, period])
    """
    cols: dict[str, list] = {k: [] for k in TABLES["rate_cards"].columns}
    periods, svc_row, zone_row = [], [], []
    for ai, (a, ss) in enumerate(zip(accts, svcs, strict=False)):
        k0 = 0
        while _add_years(a["start"], k0) > _date(cal.first):
            k0 -= 1
        while _add_years(a["start"], k0 + 1) <= _date(cal.first):
            k0 += 1
        starts = []
        k = k0
        while _add_years(a["start"], k) <= _date(cal.last):
            starts.append(_add_years(a["start"], k))
            k += 1
        periods.append([_day(s) for s in starts])
        modes = sorted({s["mode"] for s in ss})
        base: dict[tuple, tuple] = {}
        last_rate: dict[tuple, float] = {}

        def price(m: int, dist: float | None) -> tuple:
            """→ (basis, rate, minimum, fuel %) in the account's currency, for the first period."""
            u = rng.uniform
            if MODES[m] == "FTL":
                if dist is not None and rng.random() < 0.5:
                    return ("flat", round(dist * u(1.35, 1.85) + 120), None, round(u(12, 20), 1))
                return ("per_km", u(1.4, 1.95), round(u(350, 540)), round(u(12, 20), 1))
            if MODES[m] == "LTL":
                r = 0.05 + dist * u(8e-5, 1.4e-4) if dist is not None else u(0.12, 0.2)
                return ("per_kg", r, round(u(60, 120)), round(u(12, 20), 1))
            if MODES[m] == "Parcel":
                return ("per_shipment", u(6.5, 13.5), None, round(u(14, 20), 1))
            if MODES[m] == "Intermodal":
                if dist is not None:
                    return ("flat", round(dist * u(1.05, 1.35) + 250), None, round(u(8, 15), 1))
                return ("per_km", u(1.1, 1.4), round(u(600, 900)), round(u(8, 15), 1))
            if MODES[m] == "Air":
                return (
                    "per_kg",
                    u(2.6, 4.8) if dist is not None else u(3.5, 5.5),
                    round(u(150, 260)),
                    round(u(18, 28), 1),
                )
            fuel = None if rng.random() < 0.5 else round(u(3, 8), 1)  # ocean: bunker often in the rate
            return ("per_shipment", round(u(1300, 3400)) if dist is not None else round(u(2000, 3800)), None, fuel)

        rows_s = np.full((len(ss), len(starts)), -1, np.int64)
        rows_z = np.full((6, len(starts)), -1, np.int64)
        esc = 1.0
        for p, (frm, nxt) in enumerate(zip(starts, starts[1:] + [None], strict=False)):
            if p:
                esc *= 1 + rng.uniform(0.015, 0.05)  # price review at the contract anniversary
            to = None if nxt is None and a["open_ended"] else _add_years(frm, 1) - dt.timedelta(days=1)
            for m in modes:
                targets = [(None, -1)] + [(s, j) for j, s in enumerate(ss) if s["mode"] == m and s["specific"]]
                for s, j in targets:
                    key = (m, j)
                    if key not in base:
                        base[key] = price(m, None if s is None else s["distance"])
                    basis, rate, minimum, fuel = base[key]
                    per_unit = basis in ("per_kg", "per_km")
                    # fixed prices over 100 (and minimums) are whole tens so their fuel is exact to the cent
                    digits = 4 if per_unit else -1 if rate > 100 else 2
                    r = round(rate * esc * rng.uniform(0.995, 1.005) * a["fx"], digits)
                    if fuel is not None:
                        fuel = round(max(0.0, fuel + (rng.uniform(-1.5, 1.5) if p else 0.0)), 1)
                        base[key] = (basis, rate, minimum, fuel)
                    if key in last_rate and r <= last_rate[key]:  # a price review never leaves it unchanged
                        r = round(last_rate[key] + (10 if r >= 100 else 0.01), 2)
                    if not per_unit and _half_cent(round(r * 100), 0, fuel):
                        r = round(r + 0.01, 2)
                    last_rate[key] = r
                    idx = len(cols["rate_id"])
                    cols["rate_id"].append(idx + 1)
                    cols["account_id"].append(ai)
                    cols["mode"].append(m)
                    cols["origin"].append(-1 if s is None else _CITY_IDX[s["origin"]])
                    cols["destination"].append(-1 if s is None else _CITY_IDX[s["destination"]])
                    cols["basis"].append(RATE_BASES.index(basis))
                    cols["rate"].append(r)
                    cols["minimum"].append(np.nan if minimum is None else round(minimum * esc * a["fx"], -1))
                    cols["fuel_surcharge_pct"].append(np.nan if fuel is None else fuel)
                    cols["valid_from"].append(_day(frm))
                    cols["valid_to"].append(-1 if to is None else _day(to))
                    if s is None:
                        rows_z[m, p] = idx
                    else:
                        rows_s[j, p] = idx
        for j, s in enumerate(ss):  # a per-km lane whose charge would end on half a cent moves by a km
            rows = [rows_s[j, p] if rows_s[j, p] >= 0 else rows_z[s["mode"], p] for p in range(len(starts))]
            rows = [i for i in rows if cols["basis"][i] == RATE_BASES.index("per_km")]
            while any(
                _half_cent(
                    round(cols["rate"][i] * 1e4) * round(s["distance"]),
                    2,
                    cols["fuel_surcharge_pct"][i],
                    cols["minimum"][i],
                )
                for i in rows
            ):
                s["distance"] += 1.0
        svc_row.append(rows_s)
        zone_row.append(rows_z)
    return cols, periods, svc_row, zone_row


def _half_cent(raw: int, decimals: int, fuel_pct: float | None, minimum: float | None = None) -> bool:
    """Would rounding the linehaul ``raw`` × 10^-(2+decimals) (or its fuel) to cents hit an exact tie?

    Ties round differently under half-even (numpy, pandas) and half-up (DuckDB, Decimal); the book avoids them
    so every correct audit gets the same expected charge."""
    unit = 10**decimals
    if decimals and raw % unit * 2 == unit:
        return True
    cents = max(round(raw / unit), 0 if minimum is None or np.isnan(minimum) else round(minimum * 100))
    p = 0 if fuel_pct is None or np.isnan(fuel_pct) else round(fuel_pct * 10)
    return cents * p % 1000 == 500
