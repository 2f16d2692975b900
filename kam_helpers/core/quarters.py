"""Calendar quarters: parsing '2026Q3', their date bounds, neighbours, and the last complete quarter."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from kam_helpers.core.errors import ConfigError

_PATTERN = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")


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
