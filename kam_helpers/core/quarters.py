"""Calendar quarters: parsing '2026Q3' (or a date, to its quarter), their date bounds, neighbours, and the last
complete quarter."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from kam_helpers.core.errors import ConfigError

_PATTERN = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")
ACCEPTED = "a quarter like 2026Q3, 2026-Q3 or 2026q3, or a date like 2026-08-15 (which stands for its quarter)"


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter; ``Quarter.parse('2026Q3')`` → Quarter(2026, 3)."""

    year: int
    q: int

    @classmethod
    def parse(cls, text: str | Quarter) -> Quarter:
        """'2026Q3' (also '2026-Q3', '2026q3') → Quarter; anything else raises ConfigError."""
        if isinstance(text, Quarter):
            return text
        m = _PATTERN.match(str(text))
        if not m:
            raise ConfigError(f"quarter {text!r}: expected a quarter like 2026Q3")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def coerce(cls, value: str | dt.date | Quarter) -> Quarter:
        """A quarter in any form an analyst types → Quarter: '2026Q3', '2026-Q3', '2026q3', a Quarter, or a date
        (``datetime.date``, ``datetime``, ``pandas.Timestamp``, '2026-08-15') for the quarter it falls in.
        Anything else raises ConfigError naming the value and these forms.

        >>> [str(Quarter.coerce(v)) for v in ("2026Q3", "2026-q3", dt.date(2026, 8, 15), "2026-08-15 10:30")]
        ['2026Q3', '2026Q3', '2026Q3', '2026Q3']
        """
        if isinstance(value, Quarter):
            return value
        if isinstance(value, dt.date) and value == value:  # NaT is a datetime that equals nothing
            return cls.of(value)
        if isinstance(value, str):
            if _PATTERN.match(value):
                return cls.parse(value)
            try:
                return cls.of(dt.datetime.fromisoformat(value.strip()))
            except ValueError:
                pass
        raise ConfigError(f"quarter {value!r}: expected {ACCEPTED}")

    @classmethod
    def of(cls, day: dt.date) -> Quarter:
        """The quarter a date falls in."""
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def last_complete(cls, today: dt.date | None = None) -> Quarter:
        """The last quarter that ended before ``today``."""
        return cls.of(today or dt.date.today()).shift(-1)

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 3 * self.q - 2, 1)

    @property
    def end(self) -> dt.date:
        """Last day of the quarter."""
        return self.shift(1).start - dt.timedelta(days=1)

    def shift(self, quarters: int) -> Quarter:
        """This quarter moved by ``quarters`` (negative = earlier)."""
        index = self.year * 4 + (self.q - 1) + quarters
        return Quarter(index // 4, index % 4 + 1)

    @property
    def prior(self) -> Quarter:
        return self.shift(-1)

    @property
    def last_year(self) -> Quarter:
        return self.shift(-4)

    def months(self) -> list[dt.date]:
        """First day of each month of the quarter."""
        return [dt.date(self.year, 3 * self.q - 2 + i, 1) for i in range(3)]

    def __str__(self) -> str:
        return f"{self.year}Q{self.q}"
