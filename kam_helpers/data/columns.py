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
