"""The sample book's catalogues (client names, places, carriers, modes, account profiles, causes of delay) and
the small array helpers the generators share (days and minutes since 1970, ids, Arrow columns).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kam_helpers.core.errors import ConfigError
from kam_helpers.data.schema import CASE_CATEGORIES

DAY = 1440  # minutes; timestamps are int64 minutes since 1970-01-01, dates int days since then
_EPOCH = dt.date(1970, 1, 1)


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


def _stamps(minutes: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Minutes since 1970 → an Arrow timestamp array (the store's type; :func:`_ts` gives the exports' text)."""
    return pa.array(np.asarray(minutes, dtype=np.int64) * 60_000_000, pa.timestamp("us"), mask=null)


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
