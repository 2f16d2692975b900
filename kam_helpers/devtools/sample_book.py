"""A deterministic sample book of business: every table of :mod:`kam_helpers.data.schema` as CSV, plus
``planted.json``, the ground truth of the problems planted in it (billing errors, duplicate lines, unbilled
shipments, late clusters, account profiles) so analyses can be demoed and scored.

``generate_book(Path("data/sample"))`` → twelve accounts, eight quarters ending at the last complete quarter.
Everything is drawn from ``numpy.random.default_rng(seed)``: the same arguments give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from kam_helpers.core.errors import ConfigError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.schema import (
    CASE_CATEGORIES,
    CASE_SEVERITIES,
    CASE_STATUSES,
    CHARGE_TYPES,
    INVOICE_STATUSES,
    MODES,
    OPP_STAGES,
    RATE_BASES,
    SHIPMENT_STATUSES,
    TABLES,
)

DAY = 1440  # minutes; timestamps are int64 minutes since 1970-01-01, dates int days since then
_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class SampleSummary:
    """What :func:`generate_book` wrote."""

    out_dir: Path
    accounts: int
    quarters: tuple[str, ...]
    rows: dict[str, int]
    seconds: float


# --- catalogues -------------------------------------------------------------------------------------------

_BASE_ACCOUNTS = (  # name, industry, tier, region; position i gets profile _PROFILE_CYCLE[i]
    ("Alder & Finch Retail", "retail", "Strategic", "Benelux"),
    ("Brennvik Automotive", "automotive", "Strategic", "Nordics"),
    ("Castellan Pharma", "pharma", "Key", "Iberia"),
    ("Duvall Consumer Goods", "FMCG", "Strategic", "France"),
    ("Emberline Electronics", "electronics", "Key", "US West"),
    ("Falkenrath Chemie", "chemicals", "Key", "DACH"),
    ("Greyhollow Outdoor", "retail", "Growth", "US Midwest"),
    ("Halvard Medical", "pharma", "Growth", "DACH"),
    ("Isola Beverages", "FMCG", "Key", "Italy"),
    ("Juniper Ridge Home", "retail", "Growth", "US Northeast"),
    ("Korvex Industrial Parts", "automotive", "Growth", "Central Europe"),
    ("Lumaris Technologies", "electronics", "Key", "Benelux"),
)
_PROFILE_CYCLE = (
    "healthy",
    "at_risk",
    "growing",
    "healthy",
    "shrinking",
    "at_risk",
    "healthy",
    "growing",
    "healthy",
    "at_risk",
    "growing",
    "shrinking",
)
_RENEWING = (1, 4, 9)  # positions (mod 12) whose contract ends within 90 days of the period end
_STEMS = (
    "Ash",
    "Birch",
    "Cedar",
    "Elm",
    "Hazel",
    "Larch",
    "Maple",
    "Oak",
    "Pine",
    "Rowan",
    "Willow",
    "Yew",
    "Aspen",
    "Holly",
    "Linden",
    "Poplar",
    "Sorrel",
    "Thorn",
    "Briar",
    "Fern",
)
_PLACES = (
    "brook",
    "field",
    "gate",
    "haven",
    "moor",
    "ridge",
    "stone",
    "vale",
    "wick",
    "wood",
    "crest",
    "ford",
    "mere",
    "port",
    "dale",
)
_INDUSTRY_WORDS = {
    "retail": ("Retail", "Stores", "Outfitters"),
    "automotive": ("Motors", "Automotive", "Components"),
    "pharma": ("Pharma", "Life Sciences", "Medical"),
    "FMCG": ("Foods", "Beverages", "Brands"),
    "electronics": ("Electronics", "Devices", "Technologies"),
    "chemicals": ("Chemicals", "Materials", "Polymers"),
}
_INDUSTRIES = tuple(_INDUSTRY_WORDS)
# share of lanes per mode (FTL, LTL, Parcel, Intermodal, Air, Ocean) by industry
_MODE_MIX = {
    "retail": (0.30, 0.32, 0.25, 0.06, 0.02, 0.05),
    "automotive": (0.45, 0.25, 0.04, 0.16, 0.05, 0.05),
    "pharma": (0.15, 0.30, 0.30, 0.00, 0.20, 0.05),
    "FMCG": (0.50, 0.22, 0.08, 0.18, 0.00, 0.02),
    "electronics": (0.15, 0.20, 0.35, 0.05, 0.15, 0.10),
    "chemicals": (0.40, 0.22, 0.00, 0.25, 0.00, 0.13),
}
_WEIGHT_FACTOR = {"retail": 0.9, "automotive": 1.1, "pharma": 0.8, "FMCG": 1.0, "electronics": 0.7, "chemicals": 1.2}

_REGIONS = {  # region → (continent, home cities of the client's sites)
    "Benelux": ("EU", ("Rotterdam", "Venlo", "Antwerp", "Liege")),
    "Nordics": ("EU", ("Gothenburg", "Copenhagen", "Stockholm")),
    "Iberia": ("EU", ("Madrid", "Zaragoza", "Barcelona", "Valencia")),
    "France": ("EU", ("Lyon", "Paris", "Lille")),
    "DACH": ("EU", ("Duisburg", "Frankfurt", "Stuttgart", "Munich")),
    "Italy": ("EU", ("Milan", "Verona", "Bologna")),
    "Central Europe": ("EU", ("Prague", "Poznan", "Budapest")),
    "US West": ("US", ("Los Angeles", "Reno", "Phoenix")),
    "US Midwest": ("US", ("Chicago", "Indianapolis", "Columbus", "Kansas City")),
    "US Northeast": ("US", ("Harrisburg", "Newark")),
    "US South": ("US", ("Dallas", "Atlanta", "Memphis")),
}
_OWNERS = {
    "EU": ("Sophie Laurent", "Martin Keller", "Ana Ribeiro", "Lars Eriksen"),
    "US": ("Rachel Kim", "Marcus Bell"),
}
_CITIES = {  # name → (lat, lon, continent); GW = overseas gateway
    "Rotterdam": (51.92, 4.48, "EU"),
    "Antwerp": (51.22, 4.40, "EU"),
    "Amsterdam": (52.37, 4.90, "EU"),
    "Venlo": (51.37, 6.17, "EU"),
    "Liege": (50.63, 5.57, "EU"),
    "Brussels": (50.85, 4.35, "EU"),
    "Hamburg": (53.55, 9.99, "EU"),
    "Duisburg": (51.43, 6.76, "EU"),
    "Cologne": (50.94, 6.96, "EU"),
    "Frankfurt": (50.11, 8.68, "EU"),
    "Stuttgart": (48.78, 9.18, "EU"),
    "Munich": (48.14, 11.58, "EU"),
    "Berlin": (52.52, 13.40, "EU"),
    "Leipzig": (51.34, 12.37, "EU"),
    "Vienna": (48.21, 16.37, "EU"),
    "Zurich": (47.38, 8.54, "EU"),
    "Paris": (48.86, 2.35, "EU"),
    "Lille": (50.63, 3.06, "EU"),
    "Lyon": (45.76, 4.84, "EU"),
    "Marseille": (43.30, 5.37, "EU"),
    "Madrid": (40.42, -3.70, "EU"),
    "Barcelona": (41.39, 2.17, "EU"),
    "Valencia": (39.47, -0.38, "EU"),
    "Zaragoza": (41.65, -0.89, "EU"),
    "Lisbon": (38.72, -9.14, "EU"),
    "Porto": (41.15, -8.61, "EU"),
    "Milan": (45.46, 9.19, "EU"),
    "Verona": (45.44, 10.99, "EU"),
    "Bologna": (44.49, 11.34, "EU"),
    "Turin": (45.07, 7.69, "EU"),
    "Prague": (50.08, 14.44, "EU"),
    "Poznan": (52.41, 16.93, "EU"),
    "Warsaw": (52.23, 21.01, "EU"),
    "Budapest": (47.50, 19.04, "EU"),
    "Gothenburg": (57.71, 11.97, "EU"),
    "Stockholm": (59.33, 18.07, "EU"),
    "Copenhagen": (55.68, 12.57, "EU"),
    "Oslo": (59.91, 10.75, "EU"),
    "Chicago": (41.88, -87.63, "US"),
    "Indianapolis": (39.77, -86.16, "US"),
    "Columbus": (39.96, -83.00, "US"),
    "Kansas City": (39.10, -94.58, "US"),
    "Dallas": (32.78, -96.80, "US"),
    "Houston": (29.76, -95.37, "US"),
    "Atlanta": (33.75, -84.39, "US"),
    "Memphis": (35.15, -90.05, "US"),
    "Nashville": (36.16, -86.78, "US"),
    "Louisville": (38.25, -85.76, "US"),
    "Charlotte": (35.23, -80.84, "US"),
    "Harrisburg": (40.27, -76.88, "US"),
    "Newark": (40.74, -74.17, "US"),
    "Jacksonville": (30.33, -81.66, "US"),
    "Denver": (39.74, -104.99, "US"),
    "Phoenix": (33.45, -112.07, "US"),
    "Los Angeles": (34.05, -118.24, "US"),
    "Reno": (39.53, -119.81, "US"),
    "Seattle": (47.61, -122.33, "US"),
    "Salt Lake City": (40.76, -111.89, "US"),
    "Shanghai": (31.23, 121.47, "GW"),
    "Shenzhen": (22.54, 114.06, "GW"),
    "Ningbo": (29.87, 121.54, "GW"),
    "Singapore": (1.35, 103.82, "GW"),
    "Busan": (35.18, 129.08, "GW"),
    "Hong Kong": (22.32, 114.17, "GW"),
    "Mumbai": (19.08, 72.88, "GW"),
    "Ho Chi Minh City": (10.82, 106.63, "GW"),
}
_CITY_NAMES = tuple(_CITIES)
_CITY_IDX = {c: i for i, c in enumerate(_CITY_NAMES)}
_IMPORT_HUBS = {  # (continent, mode) → destination gateways
    ("EU", "Air"): ("Frankfurt", "Amsterdam", "Liege", "Milan"),
    ("EU", "Ocean"): ("Rotterdam", "Antwerp", "Hamburg", "Valencia"),
    ("US", "Air"): ("Chicago", "Los Angeles", "Atlanta", "Newark"),
    ("US", "Ocean"): ("Los Angeles", "Newark", "Houston", "Seattle"),
}
_CARRIERS = (  # name, modes, continents served
    ("Baltic Road Freight", ("FTL", "LTL"), ("EU",)),
    ("Transalpina Logistik", ("FTL", "LTL", "Intermodal"), ("EU",)),
    ("Iberline Transportes", ("FTL", "LTL"), ("EU",)),
    ("Nordvik Haulage", ("FTL", "LTL"), ("EU",)),
    ("Rheinland Kombi Rail", ("Intermodal",), ("EU",)),
    ("Meridian Parcel", ("Parcel",), ("EU",)),
    ("Kitepost Courier", ("Parcel",), ("EU", "US")),
    ("Cottonwood Trucking", ("FTL", "LTL"), ("US",)),
    ("Prairie Line Carriers", ("FTL", "LTL"), ("US",)),
    ("Lone Pine Freight", ("FTL", "LTL"), ("US",)),
    ("Great Plains Intermodal", ("Intermodal",), ("US",)),
    ("SkyBridge Air Cargo", ("Air",), ("EU", "US")),
    ("Aerolynx Cargo", ("Air",), ("EU", "US")),
    ("BlueWake Ocean Lines", ("Ocean",), ("EU", "US")),
    ("Harborstone Shipping", ("Ocean",), ("EU", "US")),
)
_CARRIER_NAMES = tuple(c[0] for c in _CARRIERS)
# per mode (MODES order): km per transit day, extra days, promise hour, pickup slots (15 min) lo..hi,
# weight (median kg, sigma, min, max), margin, volume factor of a lane, lateness factor, distance factor
_M_KMDAY = np.array([650, 500, 600, 450, 4000, 700])
_M_ADD = np.array([0, 1, 0, 1, 2, 3])
_M_PROMISE_H = np.array([17, 17, 18, 17, 16, 12])
_M_SLOT = np.array([[24, 64], [24, 64], [60, 72], [24, 64], [32, 64], [32, 64]])
_M_WEIGHT = np.array(
    [
        [16000, 0.25, 6000, 24000],
        [700, 0.8, 80, 6000],
        [5, 0.9, 0.3, 31.5],
        [18000, 0.2, 8000, 26000],
        [350, 1.0, 20, 5000],
        [14000, 0.35, 3000, 26000],
    ]
)
_M_MARGIN = np.array([0.11, 0.18, 0.21, 0.14, 0.17, 0.12])
_M_VOLUME = np.array([1.0, 1.3, 2.5, 0.6, 0.35, 0.25])
_M_LATE = np.array([1.0, 1.1, 0.9, 1.2, 0.9, 1.6])
_M_DIST = np.array([1.22, 1.22, 1.22, 1.3, 1.05, 2.1])  # road detour; sea routes run via canals
_ROAD = (0, 1)  # FTL, LTL
_MONTH = np.array([0.94, 0.96, 1.02, 1.0, 1.0, 0.98, 0.90, 0.84, 1.02, 1.06, 1.16, 1.08])  # Q4 peak, summer dip
_WEEKDAY = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.05])

_PROFILES = {  # late: background late probability; pick: pickups a day late; err: billing-error share of
    # invoiced shipments; pay: days paid after due (mean, sd); complain: share of late shipments raised as a
    # case; comm: communication/other cases per quarter; resolve: resolution-time factor; margin: margin
    # shift in the last quarters
    "healthy": dict(
        late=0.022,
        pick=0.02,
        err=0.015,
        unbilled=0.002,
        dup=0.0004,
        damage=0.0025,
        short=0.002,
        pay=(-2.0, 5.0),
        complain=0.12,
        comm=1.2,
        resolve=1.0,
        margin=0.0,
        cancel=0.006,
    ),
    "at_risk": dict(
        late=0.04,
        pick=0.06,
        err=0.08,
        unbilled=0.008,
        dup=0.003,
        damage=0.008,
        short=0.006,
        pay=(14.0, 10.0),
        complain=0.30,
        comm=4.0,
        resolve=2.0,
        margin=-0.035,
        cancel=0.012,
    ),
    "growing": dict(
        late=0.032,
        pick=0.03,
        err=0.022,
        unbilled=0.004,
        dup=0.001,
        damage=0.003,
        short=0.003,
        pay=(1.0, 6.0),
        complain=0.15,
        comm=2.0,
        resolve=1.2,
        margin=-0.01,
        cancel=0.008,
    ),
    "shrinking": dict(
        late=0.05,
        pick=0.04,
        err=0.035,
        unbilled=0.004,
        dup=0.001,
        damage=0.004,
        short=0.003,
        pay=(6.0, 8.0),
        complain=0.2,
        comm=2.5,
        resolve=1.4,
        margin=-0.015,
        cancel=0.01,
    ),
}
_AT_RISK_OTD = (0.91, 0.875, 0.845)  # OTD the planted clusters drive an at-risk account to, last 3 quarters
_ERROR_KINDS = ("overbilled_rate", "underbilled", "missing_fuel", "unauthorised_accessorial")
_ACCESSORIALS = np.array([35.0, 45.0, 60.0, 75.0, 95.0, 120.0, 150.0])
_CATEGORY = {c: i for i, c in enumerate(CASE_CATEGORIES)}
_ROOT_CAUSES = (
    "carrier capacity",
    "hub congestion",
    "driver shortage",
    "missed linehaul connection",
    "weather disruption",
    "traffic and road closures",
    "customs hold",
    "port congestion",
    "incorrect delivery address",
    "handling at cross-dock",
    "insufficient packaging",
    "load not secured",
    "mis-sorted at hub",
    "theft in transit",
    "picking error at origin",
    "rate card not updated",
    "fuel surcharge not applied",
    "accessorial not agreed",
    "duplicate invoice line",
    "client PO mismatch",
    "no proactive delay notice",
    "tracking not updated",
    "POD not provided",
    "wrong contact details",
    "portal access issue",
    "reporting request",
)
_RC = {r: i for i, r in enumerate(_ROOT_CAUSES)}
_LATE_CAUSES = np.array(
    [
        _RC[r]
        for r in (
            "carrier capacity",
            "hub congestion",
            "driver shortage",
            "missed linehaul connection",
            "weather disruption",
            "traffic and road closures",
            "incorrect delivery address",
        )
    ]
)
_OVERSEAS_CAUSES = np.array([_RC["customs hold"], _RC["port congestion"], _RC["weather disruption"]])


# --- small helpers ----------------------------------------------------------------------------------------


def _day(d: dt.date) -> int:
    return (d - _EPOCH).days


def _date(day: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=int(day))


def _add_years(d: dt.date, years: int) -> dt.date:
    return d.replace(year=d.year + years)  # days are ≤ 28, so always valid


def _km(a: str, b: str, factor: float) -> float:
    """Great-circle distance between two catalogue cities × a route factor, whole km."""
    la1, lo1, _ = _CITIES[a]
    la2, lo2, _ = _CITIES[b]
    p1, p2, dl = math.radians(la1), math.radians(la2), math.radians(lo2 - lo1)
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return float(round(6371.0 * math.acos(min(1.0, c)) * factor))


def _unique_names(n: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """n (name, industry) pairs: the base clients first, then combinatorial ones; no name inside another."""
    out = [(b[0], b[1]) for b in _BASE_ACCOUNTS[:n]]
    if n <= len(out):
        return out
    combos = [(s + p, ind, w) for s in _STEMS for p in _PLACES for ind in _INDUSTRIES for w in _INDUSTRY_WORDS[ind]]
    names = [o[0] for o in out]
    for i in rng.permutation(len(combos)):
        stem, ind, word = combos[i]
        cand = f"{stem} {word}"
        # a name inside another would leak one client's name into another client's report filters
        if stem == "Hollywood" or any(cand in x or x in cand for x in names):
            continue
        names.append(cand)
        out.append((cand, ind))
        if len(out) == n:
            return out
    raise ConfigError(f"accounts={n}: at most {len(out)} distinct sample client names can be generated")


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """1, 2 … → 'SHP-000001', … as an Arrow string array (vectorised)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _cat(codes: np.ndarray, labels: tuple[str, ...] | list[str] | pa.Array, null: np.ndarray | None = None) -> pa.Array:
    """Integer codes → dictionary-encoded strings; ``null`` (or a negative code) marks empty values."""
    codes = np.asarray(codes)
    mask = codes < 0 if null is None else (null | (codes < 0))
    idx = pa.array(np.where(mask, 0, codes).astype(np.int32), mask=mask)
    dictionary = labels if isinstance(labels, pa.Array) else pa.array(list(labels), pa.string())
    return pa.DictionaryArray.from_arrays(idx, dictionary)


def _ts(minutes: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Minutes since 1970 → 'YYYY-MM-DD HH:MM' strings (dictionary take: ~6x faster than strftime)."""
    m = np.where(null, 0, minutes) if null is not None else minutes
    day = m // DAY
    d0 = int(day.min()) if len(day) else 0
    days = pa.array(np.arange(d0, int(day.max()) + 1 if len(day) else 1, dtype=np.int32), pa.date32())
    dstr = pc.strftime(pc.cast(days, pa.timestamp("s")), format="%Y-%m-%d")
    hm = pa.array([f"{h:02d}:{mm:02d}" for h in range(24) for mm in range(60)])
    return pc.binary_join_element_wise(
        pc.take(dstr, pa.array(day - d0, mask=null)), pc.take(hm, pa.array(m % DAY, mask=null)), " "
    )


def _dates(days: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), pa.date32(), mask=null)


def _money(x: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    x = np.round(np.asarray(x, dtype=np.float64), 2)
    return pa.array(x, pa.float64(), mask=np.isnan(x) if null is None else null | np.isnan(x))


def _group_rank(group: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Rank (0-based) of each element within its group, ordered by key."""
    order = np.lexsort((key, group))
    g = group[order]
    starts = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, len(g)]))
    rank = np.empty(len(group), np.int64)
    rank[order] = np.arange(len(group)) - first
    return rank


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


def _calendar(end: Quarter, quarters: int) -> _Calendar:
    qs = tuple(end.shift(i - quarters + 1) for i in range(quarters))
    bounds = np.array([_day(q.start) for q in qs] + [_day(end.end) + 1], dtype=np.int64)
    days = np.arange(bounds[0], bounds[-1])
    month = (days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)) % 12
    return _Calendar(qs, bounds, _MONTH[month] * _WEEKDAY[(days + 3) % 7])


def _trend(profile: str, q: int) -> np.ndarray:
    i = np.arange(q)
    if profile == "growing":
        return 1.07**i
    if profile == "shrinking":
        return 0.94**i
    if profile == "at_risk":
        peak = max(q - 4, 0)
        return 1.02 ** np.minimum(i, peak) * 0.92 ** np.maximum(i - peak, 0)
    return 1.01**i


def _accounts(n: int, cal: _Calendar, rng: np.random.Generator) -> list[dict]:
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


def _services(a: dict, q: int, rng: np.random.Generator) -> list[dict]:
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


def _rate_cards(accts: list[dict], svcs: list[list[dict]], cal: _Calendar, rng: np.random.Generator) -> tuple:
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


def _sample_shipments(accts, svcs, counts, cal, rngs) -> dict[str, np.ndarray]:
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


def _per_account(accts: list[dict], key: str) -> np.ndarray:
    return np.array([_PROFILES[a["profile"]][key] for a in accts], dtype=np.float64)


def _shipments(accts, svcs, cal, smp, rates, rng) -> dict[str, np.ndarray]:
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
    pick = np.where(rng.random(n) < _per_account(accts, "pick")[acc], next_day, pick)
    earliest = pick + np.maximum((0.6 * transit * DAY).astype(np.int64), 60)
    forced = earliest // DAY > promised // DAY
    del jitter, next_day

    # lateness: background by profile and mode, bad weeks, and for at-risk accounts planted lane × carrier cells
    # whose late rate is solved so the account's OTD follows the planted slide
    week = (pday + 3) // 7
    bad = rng.random((A, int(week.max() - week.min()) + 1)) < 2 / 52
    p = _per_account(accts, "late")[acc] * _M_LATE[mode] * np.where(bad[acc, week - week.min()], 3.0, 1.0)
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
    cancelled = rng.random(n) < _per_account(accts, "cancel")[acc]
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
    damaged = delivered & (rng.random(n) < _per_account(accts, "damage")[acc] * np.where(on_carrier, 2.0, 1.0))
    short = delivered & (rng.random(n) < _per_account(accts, "short")[acc])

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

    shift = _per_account(accts, "margin")[acc] * (q >= Q - 3)
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


def _invoices(accts, cal, sh, rng) -> dict[str, np.ndarray]:
    """Bill delivered shipments in weekly or monthly runs, planting billing errors, duplicate lines and
    unbilled shipments; sets ``sh['revenue']`` to the billed amount. → invoice and line arrays."""
    A, last = len(accts), cal.last
    days = np.arange(cal.first, last + 1)
    weekly_run = days + (6 - (days + 3) % 7) + 2  # the Tuesday after the week's Sunday
    month = (days + 3).astype("datetime64[D]").astype("datetime64[M]")  # the last 3 days roll into next month
    monthly_run = ((month + 1).astype("datetime64[D]") - 1).astype(np.int64)
    weekly = np.array([a["weekly"] for a in accts])
    offset = np.array([a["run_offset"] for a in accts])
    run = np.where(weekly[:, None], weekly_run[None, :] + offset[:, None], monthly_run[None, :])
    cutoff = np.where(run <= last, days[None, :], -1).max(axis=1)

    acc = sh["acc"]
    delivered = sh["status"] == 2
    dday = np.where(delivered, sh["deliv"] // DAY, cal.first)
    runday = run[acc, dday - cal.first]
    billable = delivered & (runday <= last)
    unbilled = billable & (rng.random(len(acc)) < _per_account(accts, "unbilled")[acc])
    bidx = np.flatnonzero(billable & ~unbilled)
    b_acc = acc[bidx]
    uniq, inv = np.unique(runday[bidx] * A + b_acc, return_inverse=True)  # numbered by issue day, then account
    inv_acc, issued = uniq % A, uniq // A
    ni = len(uniq)
    size = np.bincount(inv, minlength=ni)

    # billing errors come in incidents: a share of one invoice's shipments, all of one kind; invoices are
    # drawn in random order until the account's quota (its error rate × billed shipments) is used up
    kind = rng.choice(4, ni, p=[0.4, 0.2, 0.25, 0.15])
    k = np.maximum(1, np.round(size * rng.uniform(0.3, 0.7, ni))).astype(np.int64)
    k = np.where(kind == 3, np.minimum(k, 2), k)
    quota = np.round(_per_account(accts, "err") * np.bincount(b_acc, minlength=A))
    order = np.lexsort((rng.random(ni), inv_acc))
    used = np.cumsum(k[order]) - k[order]
    first = np.r_[0, np.flatnonzero(np.diff(inv_acc[order])) + 1]
    used -= np.repeat(used[first], np.diff(np.r_[first, ni]))
    k[order] = np.clip(quota[inv_acc[order]] - used, 0, k[order])
    incident = k > 0
    factor = np.where(kind == 0, rng.uniform(1.04, 1.12, ni), rng.uniform(0.80, 0.95, ni))
    rank = _group_rank(inv, rng.random(len(bidx)))
    ek = kind[inv]
    lh, fu, pct, exp_ = sh["linehaul"][bidx], sh["fuel"][bidx], sh["fuel_pct"][bidx], sh["expected"][bidx]
    err = incident[inv] & (rank < k[inv]) & ~((ek == 2) & (fu < 1.0))
    del rank
    rerated = err & (ek <= 1)
    bl = np.where(rerated, np.round(lh * factor[inv], 2), lh)
    bf = np.where(rerated, np.round(bl * pct / 100, 2), np.where(err & (ek == 2), 0.0, fu))
    fx = np.array([a["fx"] for a in accts])
    ba = np.where(err & (ek == 3), _ACCESSORIALS[rng.integers(0, len(_ACCESSORIALS), len(bidx))] * fx[b_acc], 0.0)
    err &= np.abs(np.round(bl + bf + ba, 2) - exp_) >= 0.5  # planted errors are material, not rounding
    bl, bf, ba = np.where(err, bl, lh), np.where(err, bf, fu), np.where(err, ba, 0.0)
    billed = np.round(bl + bf + ba, 2)
    delta = np.round(billed - exp_, 2)
    sh["revenue"][bidx] = billed
    dup = ~err & (rng.random(len(bidx)) < _per_account(accts, "dup")[b_acc])

    # lines: linehaul, fuel (if any), accessorial (planted only), then duplicated lines at the invoice's end
    has_f, has_a = bf > 0, ba > 0
    nl = 1 + has_f + has_a
    ship = np.repeat(np.arange(len(bidx)), nl)
    pos = np.arange(len(ship)) - np.repeat(np.cumsum(nl) - nl, nl)
    ctype = np.where(pos == 0, 0, np.where((pos == 1) & has_f[ship], 1, 2))
    del pos
    d = np.flatnonzero(dup)
    ship = np.concatenate([ship, d])
    ctype = np.concatenate([ctype, np.zeros(len(d), np.int64)])
    is_dup = np.r_[np.zeros(len(ship) - len(d), np.int8), np.ones(len(d), np.int8)]
    order = np.lexsort((ctype, ship, is_dup, inv[ship]))
    ship, ctype, is_dup = ship[order], ctype[order], is_dup[order]
    del order
    l_inv = inv[ship]
    amount = np.select([ctype == 0, ctype == 1], [bl[ship], bf[ship]], ba[ship])
    starts = np.r_[0, np.flatnonzero(l_inv[1:] != l_inv[:-1]) + 1]
    line_no = np.arange(len(ship)) - np.repeat(starts, np.diff(np.r_[starts, len(ship)])) + 1
    inv_amount = np.round(np.bincount(l_inv, weights=amount, minlength=ni), 2)

    # status: clients dispute over-charges, credits fix them; the rest is paid after the terms (or still open)
    flagged = (np.bincount(inv, weights=err & (delta > 0), minlength=ni) > 0) | (
        np.bincount(inv, weights=dup, minlength=ni) > 0
    )
    short_billed = np.bincount(inv, weights=err & (delta < 0), minlength=ni) > 0
    false_dispute = ~flagged & ~short_billed & (rng.random(ni) < 0.002)
    r = rng.random(ni)
    disputed = (flagged & (r < 0.45)) | false_dispute
    credited = (flagged & (r >= 0.45) & (r < 0.8)) | (~flagged & short_billed & (r < 0.4))
    mu, sd = np.array([_PROFILES[a["profile"]]["pay"] for a in accts]).T
    terms = np.array([a["terms"] for a in accts])[inv_acc]
    days_to_pay = np.maximum(3, np.round(terms + rng.normal(mu[inv_acc], sd[inv_acc]))).astype(np.int64)
    paid = issued + days_to_pay + 15 * credited
    paid_null = disputed | (paid > last)
    inv_status = np.select([disputed, credited, paid_null], [2, 3, 0], 1)  # INVOICE_STATUSES order

    return dict(
        bidx=bidx,
        inv=inv,
        err=err,
        kind=ek,
        delta=delta,
        dup=dup,
        unbilled=np.flatnonzero(unbilled),
        cutoff=cutoff,
        acc=inv_acc,
        issued=issued,
        due=issued + terms,
        paid=paid,
        paid_null=paid_null,
        amount=inv_amount,
        status=inv_status,
        raised=disputed | (credited & flagged),
        false_dispute=false_dispute,
        l_inv=l_inv,
        l_ship=bidx[ship],
        l_type=ctype,
        l_amount=amount,
        l_no=line_no,
        l_dup=is_dup.astype(bool),
    )


def _cases(accts, cal, sh, iv, counts, rng) -> dict[str, np.ndarray]:
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
    i = np.flatnonzero(late & (rng.random(n) < _per_account(accts, "complain")[acc]))
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
    lam = _per_account(accts, "comm")[:, None] * np.sqrt(counts / 300.0)
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
    median_h = np.array([18.0, 120.0, 160.0, 96.0, 6.0, 24.0])[c["cat"]] * _per_account(accts, "resolve")[c["acc"]]
    closed = c["opened"] + np.round(median_h * rng.lognormal(0.0, 0.9, m) * 60).astype(np.int64) + 15
    risk = np.array([a["profile"] == "at_risk" for a in accts])
    backlog = risk[c["acc"]] & (c["opened"] >= cal.bounds[-2] * DAY) & (rng.random(m) < 0.3)
    c["closed"] = closed
    c["closed_null"] = (closed > end) | backlog
    c["root"] = np.where(c["closed_null"] & (rng.random(m) < 0.6), -1, c["root"])  # not found yet
    return c


def _opportunities(accts, svcs, cal, annual, rng) -> dict[str, list]:
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


def _targets(accts, cal, season, scale, sh) -> dict[str, list]:
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


# --- output -----------------------------------------------------------------------------------------------


def _write_csv(folder: Path, name: str, columns: dict[str, pa.Array | list | np.ndarray]) -> int:
    """Columns (in schema order) → ``<name>.csv`` with a plain header; → rows written."""
    fields = TABLES[name].columns
    if list(columns) != fields:
        raise AssertionError(f"{name}: columns {list(columns)} differ from the schema {fields}")
    table = pa.table([c if isinstance(c, pa.Array) else pa.array(c) for c in columns.values()], names=fields)
    with open(folder / f"{name}.csv", "wb") as fh:
        fh.write((",".join(fields) + "\n").encode())
        # quoting 'none' fails loudly on a comma or quote in a value instead of writing a broken file
        pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return table.num_rows


def _publish(out_dir: Path, write: Callable[[Path], None]) -> None:
    """Run ``write`` into a temporary folder beside ``out_dir``, then swap it into place."""
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: exists and is not a folder")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=parent))
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the book should get the usual permissions
        if out_dir.exists():
            old = tmp.with_suffix(".old")
            out_dir.rename(old)
            try:
                tmp.rename(out_dir)
            except BaseException:
                old.rename(out_dir)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _planted_json(planted: dict) -> str:
    """Ground truth as JSON with one planted item per line (diffable, and fast at millions of items)."""
    out = []
    for k, v in planted.items():
        if isinstance(v, list) and v:
            items = ",\n    ".join(json.dumps(x, ensure_ascii=False) for x in v)
            out.append(f"  {json.dumps(k)}: [\n    {items}\n  ]")
        else:
            out.append(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False, indent=None)}")
    return "{\n" + ",\n".join(out) + "\n}\n"


def _allocate(weights: np.ndarray, total: int) -> np.ndarray:
    """Real weights → integers with exactly ``total`` in all (largest remainder, ties by position)."""
    x = weights / weights.sum() * total
    out = np.floor(x).astype(np.int64)
    rest = total - int(out.sum())
    order = np.argsort(-(x - out).ravel(), kind="stable")
    out.ravel()[order[:rest]] += 1
    return out


def _planted(accts, svcs, cal, sh, iv, seed: int) -> dict:
    """The ground truth of every planted problem, with the ids the CSVs use."""
    n, ni = len(sh["acc"]), len(iv["issued"])
    sw, iw = max(6, len(str(n))), max(6, len(str(ni)))

    def sid(i: int) -> str:
        return f"SHP-{int(i) + 1:0{sw}d}"

    def iid(i: int) -> str:
        return f"INV-{int(i) + 1:0{iw}d}"

    e = np.flatnonzero(iv["err"])
    errors = [
        dict(shipment_id=sid(s), invoice_id=iid(i), kind=_ERROR_KINDS[k], amount=float(a))
        for s, i, k, a in zip(
            iv["bidx"][e].tolist(), iv["inv"][e].tolist(), iv["kind"][e].tolist(), iv["delta"][e].tolist(), strict=False
        )
    ]
    d = np.flatnonzero(iv["l_dup"])
    dups = [
        dict(invoice_id=iid(i), line_no=int(no), shipment_id=sid(s))
        for i, no, s in zip(iv["l_inv"][d].tolist(), iv["l_no"][d].tolist(), iv["l_ship"][d].tolist(), strict=False)
    ]
    Q = len(cal.quarters)
    clusters = []
    for a in accts:
        for qi in range(max(0, Q - 3), Q):
            for o, dst in a.get("planted_lanes", []):
                clusters.append(
                    dict(
                        account_id=a["id"],
                        lane=f"{o} → {dst}",
                        carrier=_CARRIER_NAMES[a["planted_carrier"]],
                        quarter=str(cal.quarters[qi]),
                    )
                )
    return {
        "seed": seed,
        "quarters": [str(q) for q in cal.quarters],
        "profiles": {a["id"]: a["profile"] for a in accts},
        "billing_errors": errors,
        "duplicate_invoice_lines": dups,
        "unbilled_shipments": [sid(i) for i in iv["unbilled"].tolist()],
        "late_clusters": clusters,
        # deliveries after this day are legitimately not billed yet (the next billing run is after the period)
        "billing_cutoff": {a["id"]: _date(c).isoformat() for a, c in zip(accts, iv["cutoff"].tolist(), strict=False)},
    }


def _write_tables(folder: Path, accts, svcs, sh, iv, rates, cases, opps, targets, scale: float) -> dict[str, int]:
    """The generated arrays → one CSV per schema table in ``folder``; → rows per table."""
    rows: dict[str, int] = {}
    n = len(sh["acc"])
    acc_ids = pa.array([a["id"] for a in accts])
    cities = pa.array(list(_CITY_NAMES))
    rows["accounts"] = _write_csv(
        folder,
        "accounts",
        dict(
            account_id=acc_ids,
            name=[a["name"] for a in accts],
            industry=[a["industry"] for a in accts],
            tier=[a["tier"] for a in accts],
            region=[a["region"] for a in accts],
            owner=[a["owner"] for a in accts],
            contract_start=_dates(np.array([_day(a["start"]) for a in accts])),
            contract_end=_dates(np.array([_day(a["end"]) for a in accts])),
            currency=[a["currency"] for a in accts],
            committed_shipments=[int(round(4 * a["base"] * scale * a["commit"], -1)) for a in accts],
        ),
    )
    ship_ids = _ids("SHP-", np.arange(1, n + 1), max(6, len(str(n))))
    flat = [s for ss in svcs for s in ss]
    s_orig = np.array([_CITY_IDX[s["origin"]] for s in flat])
    s_dest = np.array([_CITY_IDX[s["destination"]] for s in flat])
    pick_null = sh["status"] % 3 == 0  # booked or cancelled: not picked up
    not_delivered = sh["status"] != 2
    cancelled = sh["status"] == 3
    rows["shipments"] = _write_csv(
        folder,
        "shipments",
        dict(
            shipment_id=ship_ids,
            account_id=_cat(sh["acc"], acc_ids),
            mode=_cat(sh["mode"], MODES),
            origin=_cat(s_orig[sh["svc"]], cities),
            destination=_cat(s_dest[sh["svc"]], cities),
            carrier=_cat(sh["carrier"], _CARRIER_NAMES),
            pickup_planned=_ts(sh["plan"]),
            pickup_actual=_ts(sh["pick"], pick_null),
            delivery_promised=_ts(sh["promised"]),
            delivery_actual=_ts(sh["deliv"], not_delivered),
            weight_kg=pa.array(sh["weight"]),
            pieces=pa.array(sh["pieces"]),
            pallets=pa.array(sh["pallets"]),
            distance_km=pa.array(sh["dist"]),
            revenue=_money(sh["revenue"], cancelled),
            cost=_money(sh["cost"], cancelled),
            status=_cat(sh["status"], SHIPMENT_STATUSES),
            damaged=pa.array(sh["damaged"], mask=not_delivered),
            short=pa.array(sh["short"], mask=not_delivered),
        ),
    )
    ni = len(iv["issued"])
    inv_ids = _ids("INV-", np.arange(1, ni + 1), max(6, len(str(ni))))
    rows["invoices"] = _write_csv(
        folder,
        "invoices",
        dict(
            invoice_id=inv_ids,
            account_id=_cat(iv["acc"], acc_ids),
            issued=_dates(iv["issued"]),
            due=_dates(iv["due"]),
            paid=_dates(iv["paid"], iv["paid_null"]),
            amount=_money(iv["amount"]),
            status=_cat(iv["status"], INVOICE_STATUSES),
        ),
    )
    rows["invoice_lines"] = _write_csv(
        folder,
        "invoice_lines",
        dict(
            invoice_id=_cat(iv["l_inv"], inv_ids),
            line_no=pa.array(iv["l_no"]),
            shipment_id=_cat(iv["l_ship"], ship_ids),
            charge_type=_cat(iv["l_type"], CHARGE_TYPES),
            amount=_money(iv["l_amount"]),
        ),
    )
    rc = rates[0]
    nr = len(rc["rate_id"])
    rows["rate_cards"] = _write_csv(
        folder,
        "rate_cards",
        dict(
            rate_id=_ids("RC-", np.arange(1, nr + 1), max(5, len(str(nr)))),
            account_id=_cat(np.array(rc["account_id"]), acc_ids),
            mode=_cat(np.array(rc["mode"]), MODES),
            origin=_cat(np.array(rc["origin"]), cities),
            destination=_cat(np.array(rc["destination"]), cities),
            basis=_cat(np.array(rc["basis"]), RATE_BASES),
            rate=pa.array(rc["rate"], pa.float64()),
            minimum=_money(np.array(rc["minimum"])),
            fuel_surcharge_pct=_money(np.array(rc["fuel_surcharge_pct"])),
            valid_from=_dates(rc["valid_from"]),
            valid_to=_dates(np.array(rc["valid_to"]), np.array(rc["valid_to"]) < 0),
        ),
    )
    nc = len(cases["acc"])
    rows["cases"] = _write_csv(
        folder,
        "cases",
        dict(
            case_id=_ids("CS-", np.arange(1, nc + 1), max(6, len(str(nc)))),
            account_id=_cat(cases["acc"], acc_ids),
            opened=_ts(cases["opened"]),
            closed=_ts(cases["closed"], cases["closed_null"]),
            category=_cat(cases["cat"], CASE_CATEGORIES),
            severity=_cat(cases["sev"], CASE_SEVERITIES),
            shipment_id=_cat(cases["ship"], ship_ids),
            claim_amount=_money(cases["claim"]),
            status=_cat(np.where(cases["closed_null"], 0, 1), CASE_STATUSES),
            root_cause=_cat(cases["root"], _ROOT_CAUSES),
        ),
    )
    no = len(opps["opp_id"])
    rows["opportunities"] = _write_csv(
        folder,
        "opportunities",
        dict(
            opp_id=_ids("OPP-", np.array(opps["opp_id"]), max(4, len(str(no)))),
            account_id=_cat(np.array(opps["account_id"]), acc_ids),
            service=opps["service"],
            stage=opps["stage"],
            amount=_money(np.array(opps["amount"])),
            probability=pa.array(opps["probability"], pa.float64()),
            expected_close=_dates(opps["expected_close"]),
        ),
    )
    rows["targets"] = _write_csv(
        folder,
        "targets",
        dict(
            account_id=_cat(np.array(targets["account_id"]), acc_ids),
            period=targets["period"],
            metric=targets["metric"],
            target=pa.array(targets["target"], pa.float64()),
            tolerance=pa.array(targets["tolerance"], pa.float64()),
        ),
    )
    return rows


def generate_book(
    out_dir: Path,
    *,
    accounts: int = 12,
    end_quarter: Quarter | None = None,
    quarters: int = 8,
    shipments: int | None = None,
    seed: int = 7,
) -> SampleSummary:
    """Write a sample book of business into ``out_dir`` (one CSV per schema table, plus ``planted.json``).

    ``quarters`` calendar quarters ending at ``end_quarter`` (default: the last complete one);
    ``shipments`` in all (default ~150–600 per account and quarter). Same arguments → same bytes.
    """
    t0 = time.perf_counter()
    if isinstance(accounts, bool) or not isinstance(accounts, int) or accounts < 1:
        raise ConfigError(f"accounts={accounts!r}: expected a whole number ≥ 1")
    if isinstance(quarters, bool) or not isinstance(quarters, int) or quarters < 1:
        raise ConfigError(f"quarters={quarters!r}: expected a whole number ≥ 1")
    if shipments is not None and (not isinstance(shipments, int) or shipments < 10 * accounts * quarters):
        raise ConfigError(
            f"shipments={shipments!r}: expected at least 10 per account and quarter "
            f"({10 * accounts * quarters} for {accounts} accounts × {quarters} quarters)"
        )
    end = Quarter.last_complete() if end_quarter is None else Quarter.parse(end_quarter)
    out_dir = Path(out_dir)
    cal = _calendar(end, quarters)
    rng = np.random.default_rng(seed)
    accts = _accounts(accounts, cal, rng)
    acc_rngs = rng.spawn(accounts)
    svcs = [_services(a, quarters, r) for a, r in zip(accts, acc_rngs, strict=False)]
    rates = _rate_cards(accts, svcs, cal, rng)

    season = np.add.reduceat(cal.weight, cal.bounds[:-1] - cal.first)
    season = season / season.mean()
    expected = np.array([a["base"] * _trend(a["profile"], quarters) for a in accts]) * season
    if shipments is None:
        counts, scale = np.maximum(1, np.round(expected)).astype(np.int64), 1.0
    else:
        counts, scale = _allocate(expected, shipments), shipments / expected.sum()
    sh = _shipments(accts, svcs, cal, _sample_shipments(accts, svcs, counts, cal, acc_rngs), rates, rng)
    iv = _invoices(accts, cal, sh, rng)
    cases = _cases(accts, cal, sh, iv, counts, rng)
    recent = (sh["status"] != 3) & (sh["q"] >= quarters - 4)
    annual = np.bincount(sh["acc"][recent], weights=sh["expected"][recent], minlength=accounts) * 4 / min(4, quarters)
    opps = _opportunities(accts, svcs, cal, annual, rng)
    targets = _targets(accts, cal, season, scale, sh)
    planted = _planted(accts, svcs, cal, sh, iv, seed)
    rows: dict[str, int] = {}

    def write(folder: Path) -> None:
        rows.update(_write_tables(folder, accts, svcs, sh, iv, rates, cases, opps, targets, scale))
        (folder / "planted.json").write_text(_planted_json(planted), encoding="utf-8", newline="\n")

    _publish(out_dir, write)
    return SampleSummary(
        out_dir=out_dir,
        accounts=accounts,
        quarters=tuple(str(q) for q in cal.quarters),
        rows=dict(rows),
        seconds=round(time.perf_counter() - t0, 3),
    )
