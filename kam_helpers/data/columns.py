"""Reading a column of a frame as a given type, tolerating its absence (tables from real exports lack some)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def dates(frame: pd.DataFrame, column: str) -> pd.Series:
    """Column of ``frame`` as datetime64 (all NaT when the column is absent)."""
    if column not in frame.columns:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    values = frame[column]
    return values if pd.api.types.is_datetime64_any_dtype(values) else pd.to_datetime(values, errors="coerce")


def numbers(frame: pd.DataFrame, column: str) -> pd.Series:
    """Column of ``frame`` as float64 (all NaN when the column is absent)."""
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def flags(frame: pd.DataFrame, column: str) -> pd.Series:
    """Boolean column with missing values (or a missing column) read as False."""
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[column].astype("boolean").fillna(False).astype(bool)


def present(frame: pd.DataFrame, column: str) -> pd.Series:
    """True where the column holds a value (False everywhere when the column is absent)."""
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[column].notna()


def words(frame: pd.DataFrame, column: str) -> pd.Series:
    """Text column, stripped and lower-cased, '' where missing: for comparing statuses and categories."""
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype="str")
    values = frame[column]
    if not isinstance(values.dtype, pd.StringDtype):
        values = values.astype("str").where(values.notna())
    return values.str.strip().str.lower().fillna("")


UNKNOWN = "(unknown)"


def labels(frame: pd.DataFrame, column: str) -> pd.Series:
    """Text column for display, '(unknown)' where missing."""
    if column not in frame.columns:
        return pd.Series(UNKNOWN, index=frame.index, dtype="str")
    return frame[column].astype("string").fillna(UNKNOWN).astype("str")


def ids(frame: pd.DataFrame | None, column: str) -> pd.Series:
    """The distinct non-empty values of an id column (empty when the frame or column is absent)."""
    if frame is None or column not in frame.columns:
        return pd.Series([], dtype="str")
    return frame[column].dropna().astype("str").drop_duplicates()


def isin(values: pd.Series, wanted: object) -> pd.Series:
    """Series.isin on plain objects: pyarrow-backed string isin is ~30× slower on thousands of ids."""
    return pd.Series(values.astype(object)).isin(pd.Series(wanted, dtype=object))
