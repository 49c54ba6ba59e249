"""Dates as councils write them.

Council action plans rarely hold clean dates. A "Completion date" cell may say ``August 2023``,
``Feb-23``, ``TBC``, ``Completed``, ``April 2024 (Reviewed annually)`` or several dated stages in
one cell. :func:`parse_date_cell` reads one cell and says what it found; nothing here does I/O or
reads the clock, so the same cell always reads the same way.

What a cell can hold
====================

**One date** (``kind == "date"``). Each date keeps the precision it was written with:

- month and year: ``August 2023``, ``Feb 2024``, ``Sept. 2024``, ``feb-23``, ``Feb '24``,
  ``Feb 24``, ``March, 2024``, ``end of March 2024``, ``by June 2024``. Month names may be full or
  abbreviated (``Sep`` and ``Sept`` both work), with or without a dot, in any case; a few common
  misspellings (``Febuary``, ``Janurary`` ...) are read with a warning. A two-digit year is read as
  20xx; after a space (``Feb 24``, which could mean 24 February) that reading carries a warning.
  A year before 2000 or after 2075 is read as written, with a warning.
- ``24-Apr``: this is how Excel shows a typed ``Apr-24`` (it takes it for 24 April). It is read as
  April 2024, with a warning.
- a day: ``2024-03-31`` (ISO), ``31/03/2024``, ``31.03.24``, ``31-03-2024`` (UK order, day first),
  ``31 March 2024``, ``31st March 2024``, ``31st of March 2024``, ``31-Mar-24``, ``March 31, 2024``.
  A value such as ``1/5/2026``, where both numbers could be the month, is read day first (1 May
  2026) with a warning. ``5/31/2026`` can only be US order and is read that way, with a warning.
- a range: ``Jan 2024-Sept 2026``, ``January to July 2024``, ``Sept/Oct 2024``: the cell is due at
  the end of the range and ``start`` holds its beginning. ``September to July 2024`` means
  September 2023 to July 2024 (with a warning).
- a quarter: ``Q1 2024`` is a calendar quarter (due end of March 2024, with a warning saying so);
  ``Q1 2024/25`` is a financial-year quarter (April to June 2024, due end of June 2024).
- a school term: ``Autumn term 2024`` (due December), ``Spring term 2025`` (due March),
  ``Summer term 2025`` (due July); the word "term" may be left out.
- a year alone: ``2025`` (due end of 2025), and ``2024/25`` or ``2024-2026`` (year ranges, with a
  warning). A year alone only counts when the cell holds no month or day.
- an Excel serial number such as ``45382`` (a CSV export of a date cell), as a number or as text.
- a real spreadsheet date (``datetime``/``date``). Its Excel number format, when the reader can see
  it, sets the precision: ``mmm-yy``, ``mmm-yyyy`` or ``mmmm yyyy`` give a month; a day-and-month
  format without a year (``d-mmm``) is Excel's mangled ``Apr-24`` and reads as April 2024 with a
  warning; ``dd/mm/yyyy``, ``General`` or no format give the day.

Words around a single date are kept in ``note``, without the brackets: ``April 2024 (Reviewed
annually)`` has the note ``Reviewed annually``; ``Review August 2024`` the note ``Review``. Filler
such as "by", "end of" or "due" is dropped. Text that looks like a date but has no year
(``Sept/Oct annually``) goes into the note too; it is not an error. Cells that say how often
something repeats (annually, monthly, termly, half termly, thereafter, every year, ...) are marked
``recurring``.

**Several dated parts** (``kind == "parts"``), one :class:`DatePart` each, in cell order:

- numbered or lettered items, on separate lines or on one line: ``1) April 2024 2) December 2023
  3) December 2023`` gives parts labelled ``1``, ``2``, ``3``. The numbering must start at 1 (or a)
  at the start of the cell and go up one at a time. When a start-date cell and a due-date cell are
  both numbered, pair their parts by label.
- stages, split by full stops, semicolons or line breaks, or simply one after another:
  ``Developed by February 2024 Disseminated and training has occurred by June 2024``,
  ``Publication November 2023; Implementation Jan 2024-Sept 2026.``,
  ``December 2023 (for statement to be developed). February 2024 (for confirming commitment).``
  The words before a date (or, in brackets or starting with "for", after it) become its label.

The cell's overall ``date`` is the latest due date among the parts: the action is due when all of
its parts are. Text with no date of its own goes into ``note``.

**No date**: ``TBC``, ``TBA``, ``TBD``, ``To be confirmed``/``agreed``, ``Pending``, ``N/A`` and
``Ongoing`` (any case, trailing full stop allowed) read as ``kind == "tbc"``; the words are kept in
``note`` (so ``Ongoing`` is a tbc with the note ``Ongoing``: there is no date to chase against).
These words only decide the kind when the cell has no date; ``March 2024 TBC`` is a date with the
note ``TBC``. ``Completed``, ``Complete``, ``Done`` and ``Achieved`` read as ``kind ==
"completed"``; anything after the word (``Completed March 2024``) is kept in ``note``.
``Complete by March 2024`` is a deadline, not a status. Empty cells, and cells holding only dashes
or dots, are ``kind == "empty"``.

**Unreadable** (``kind == "unreadable"``): ``problem`` says what was wrong and what was expected,
for example ``'Q5 2024' is not a quarter`` or ``'31/02/2024' is not a real date``. A time of day
(``10:30``, a cell formatted as a time) and a duration (``[h]:mm``) are not dates: the problem
says so, with the fix.

Uncertain readings never fail silently: each one adds a sentence to ``warnings``.
"""

from __future__ import annotations

import calendar
import itertools
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Literal, TypeAlias

__all__ = [
    "EXPECTED",
    "DateKind",
    "DatePart",
    "FuzzyDate",
    "ParsedDate",
    "Precision",
    "parse_date_cell",
]

DateKind = Literal["empty", "date", "parts", "tbc", "completed", "unreadable"]

#: What a readable cell looks like; the end of most ``problem`` messages.
EXPECTED = (
    "expected a month and year such as 'March 2024', a date such as '31/03/2024', "
    "'TBC' or 'Completed'"
)

_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_FULL = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class Precision(StrEnum):
    """How exactly a date was written."""

    DAY = "day"
    MONTH = "month"
    YEAR = "year"


@dataclass(frozen=True)
class FuzzyDate:
    """A date known to a day, a month or a year.

    ``first_day`` and ``last_day`` give the period it covers: a due date of "December 2023" means
    "by the end of December", so its deadline is ``last_day`` (2023-12-31).
    """

    year: int
    month: int | None
    day: int | None
    precision: Precision

    def __post_init__(self) -> None:
        precision = Precision(self.precision)
        if precision is not self.precision:
            object.__setattr__(self, "precision", precision)
        if not 1 <= self.year <= 9999:
            raise ValueError(f"year {self.year} is out of range")
        if precision is Precision.YEAR:
            if self.month is not None or self.day is not None:
                raise ValueError("a year-precision date has no month or day")
        elif self.month is None or not 1 <= self.month <= 12:
            raise ValueError(f"month {self.month} is out of range")
        elif precision is Precision.MONTH:
            if self.day is not None:
                raise ValueError("a month-precision date has no day")
        elif self.day is None:
            raise ValueError("a day-precision date needs a day")
        else:
            date(self.year, self.month, self.day)  # raises ValueError for 31 February

    @classmethod
    def month_of(cls, year: int, month: int) -> FuzzyDate:
        """A month: ``FuzzyDate.month_of(2023, 12)`` is "Dec 2023"."""
        return cls(year, month, None, Precision.MONTH)

    @classmethod
    def day_of(cls, d: date) -> FuzzyDate:
        """A day. Also available as ``FuzzyDate.day(d)`` on the class."""
        if isinstance(d, datetime):
            d = d.date()
        return cls(d.year, d.month, d.day, Precision.DAY)

    @classmethod
    def year_of(cls, year: int) -> FuzzyDate:
        """A whole year: "2025"."""
        return cls(year, None, None, Precision.YEAR)

    @classmethod
    def from_stored(cls, d: date, precision: str | Precision, *, end: bool) -> FuzzyDate:
        """Rebuild a date from a stored ``date`` column and its precision column.

        ``end`` says whether the column holds the last day of the period (due dates) or the first
        (start dates); either way the same month or year comes back.
        """
        del end  # both ends of a month or year name the same month or year
        p = Precision(precision)
        if p is Precision.YEAR:
            return cls.year_of(d.year)
        if p is Precision.MONTH:
            return cls.month_of(d.year, d.month)
        return cls.day_of(d)

    @property
    def first_day(self) -> date:
        """The first day of the period: 2023-12-01 for "Dec 2023"."""
        if self.precision is Precision.YEAR:
            return date(self.year, 1, 1)
        assert self.month is not None
        return date(self.year, self.month, self.day or 1)

    @property
    def last_day(self) -> date:
        """The last day of the period, the deadline: 2023-12-31 for "Dec 2023"."""
        if self.precision is Precision.YEAR:
            return date(self.year, 12, 31)
        assert self.month is not None
        if self.day is not None:
            return date(self.year, self.month, self.day)
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def display(self) -> str:
        """How the date reads on screen: ``5 Dec 2023``, ``Dec 2023`` or ``2023``."""
        if self.precision is Precision.YEAR:
            return str(self.year)
        assert self.month is not None
        text = f"{_MONTH_ABBR[self.month - 1]} {self.year}"
        return f"{self.day} {text}" if self.day is not None else text

    def __str__(self) -> str:
        return self.display


def _month_classmethod(cls: type[FuzzyDate], year: int, month: int) -> FuzzyDate:
    """A month: ``FuzzyDate.month(2023, 12)`` is "Dec 2023"."""
    return cls.month_of(year, month)


def _day_classmethod(cls: type[FuzzyDate], d: date) -> FuzzyDate:
    """A day: ``FuzzyDate.day(date(2023, 12, 5))`` is "5 Dec 2023"."""
    return cls.day_of(d)


class _FieldOrClassmethod:
    """On the class, a constructor (``FuzzyDate.month(2023, 12)``); on an instance, the field.

    ``month`` and ``day`` are both fields and, on the class, constructors. A dataclass cannot
    declare both in its body, so the constructors are attached after it. Type checkers only see
    the fields: typed code should call :meth:`FuzzyDate.month_of` and :meth:`FuzzyDate.day_of`.
    """

    def __init__(self, name: str, factory: object) -> None:
        self._name = name
        self._factory = factory

    def __get__(self, instance: object, owner: type | None = None) -> object:
        if instance is None:
            return classmethod(self._factory).__get__(None, owner)  # type: ignore[arg-type]
        return instance.__dict__[self._name]

    def __set__(self, instance: object, value: object) -> None:
        instance.__dict__[self._name] = value


@dataclass(frozen=True)
class DatePart:
    """One dated part of a multi-part cell; the importer turns each into a milestone."""

    label: str
    due: FuzzyDate
    start: FuzzyDate | None
    text: str


@dataclass(frozen=True)
class ParsedDate:
    """What one date cell says. See the module docstring for the forms it understands."""

    raw: str
    kind: DateKind
    date: FuzzyDate | None
    start: FuzzyDate | None
    parts: tuple[DatePart, ...]
    note: str
    recurring: bool
    warnings: tuple[str, ...]
    problem: str | None

    @property
    def readable(self) -> bool:
        """False only for ``kind == "unreadable"``."""
        return self.kind != "unreadable"

    @property
    def earliest(self) -> FuzzyDate | None:
        """The earliest date in the cell (a range's start counts): useful for start-date cells."""
        dates: list[FuzzyDate] = []
        for part in self.parts:
            dates.append(part.start or part.due)
        if not self.parts:
            if self.start is not None:
                dates.append(self.start)
            elif self.date is not None:
                dates.append(self.date)
        return min(dates, key=lambda d: d.first_day) if dates else None


# --------------------------------------------------------------------------------------------
# Spellings and patterns

_MONTH_SPELLINGS: dict[str, int] = {}
for _i, _full in enumerate(_MONTH_FULL, start=1):
    _MONTH_SPELLINGS[_full.lower()] = _i
    _MONTH_SPELLINGS[_full[:3].lower()] = _i
_MONTH_SPELLINGS["sept"] = 9
_MONTH_SPELLINGS["june"] = 6
_MONTH_SPELLINGS["july"] = 7

#: Misspellings seen in council papers, read with a warning.
_MONTH_TYPOS: dict[str, int] = {
    "janurary": 1,
    "janury": 1,
    "janaury": 1,
    "febuary": 2,
    "feburary": 2,
    "febraury": 2,
    "februrary": 2,
    "feburay": 2,
    "apirl": 4,
    "aprill": 4,
    "agust": 8,
    "augest": 8,
    "augst": 8,
    "septmber": 9,
    "septemer": 9,
    "septemeber": 9,
    "setpember": 9,
    "ocotber": 10,
    "octobre": 10,
    "novemeber": 11,
    "novmber": 11,
    "decemeber": 12,
    "decmber": 12,
    "decemer": 12,
}
_ALL_MONTH_WORDS = {**_MONTH_SPELLINGS, **_MONTH_TYPOS}


_Trie: TypeAlias = dict[str, "_Trie"]


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex alternation for many words, shared prefixes factored out (much faster)."""
    trie: _Trie = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: _Trie) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return "(?:" + body + ")?" if "" in node else body

    return build(trie)


# The trie tries longer spellings first (greedy "?"), and (?![a-z]) rejects "Mar" in "Mark".
_M = r"(?<![a-z])(?:" + _trie_pattern(_ALL_MONTH_WORDS) + r")(?![a-z])\.?"


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace("{M}", _M), re.IGNORECASE | re.VERBOSE)


_YEAR = r"(?:'?(?:\d{4}|\d{2}))"  # 2024, '24, 24
_NOT_DAY_SUFFIX = r"(?!\d|:|st\b|nd\b|rd\b|th\b)"

_ISO = _rx(
    r"""(?<![\d/.\-]) (?P<y>\d{4}) (?P<sep>[-/]) (?P<m>\d{1,2}) (?P=sep) (?P<d>\d{1,2})
    (?:[T\ ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)? (?![\d/\-]|\.\d)"""
)
_NUMERIC = _rx(
    r"""(?<![\d/.\-]) (?P<a>\d{1,2}) (?P<sep>[/.\-]) (?P<b>\d{1,2}) (?P=sep) (?P<y>\d{4}|\d{2})
    (?![\d/\-]|\.\d)"""
)
_DAY_MONTH_YEAR = _rx(
    r"""(?<![\d/.\-]) (?P<d>\d{1,2}) \s?(?:st|nd|rd|th)? (?:\s+of)? [\s\-/]* (?P<mon>{M})
    [\s,\-/]* (?P<y>'?\d{4}|'?\d{2}) (?!\d)"""
)
_MONTH_DAY_YEAR = _rx(
    r"""(?P<mon>{M}) \s+ (?P<d>\d{1,2}) (?:st|nd|rd|th)? ,?\s+ (?P<y>\d{4}) (?!\d)"""
)
_RANGE = _rx(
    r"""(?P<m1>{M}) (?:[\s,\-]*(?P<y1>'?\d{4}|'\d{2}|(?<=-)\d{2}) )??
    \s* (?:-|–|—|/|\bto\b|\buntil\b|\btill\b|\bthrough\b|\bthrough\ to\b) \s*
    (?P<m2>{M}) [\s,\-']* (?P<y2>\d{4}|\d{2}) """
    + _NOT_DAY_SUFFIX
)
_QUARTER = _rx(
    r"""(?<![a-z0-9]) (?:Q|quarter\s*) (?P<q>\d) \s* (?:of\s+)? (?P<y>'?\d{4})
    (?:\s*[/\-]\s*(?P<y2>\d{4}|\d{2}))? (?!\d)"""
)
_TERM = _rx(r"""(?<![a-z]) (?P<term>autumn|spring|summer) (?:\s+term)? \s+ (?P<y>\d{4}) (?!\d)""")
_MONTH_YEAR = _rx(r"""(?P<mon>{M}) (?:[\s,\-/']*) (?P<y>\d{4}|\d{2}) """ + _NOT_DAY_SUFFIX)
_MANGLED = _rx(r"""(?<![\d/.\-]) (?P<d>\d{1,2}) - (?P<mon>{M}) (?![\s\-'/,]*\d)""")
_YEAR_SPAN = _rx(
    r"""(?<![\d/.\-£$]) (?P<y1>\d{4}) \s*[/\-–]\s* (?P<y2>\d{4}|\d{2}) (?![\d/\-%]|\.\d)"""
)
_BARE_YEAR = _rx(r"""(?<![\d/.\-£$,]) (?P<y>(?:19|20)\d{2}) (?![\d/\-%]|\.\d)""")
_BARE_MONTH = _rx(r"{M}")
_PLAIN_MONTH_YEAR = _rx(r"""(?P<mon>{M}) [\s,\-/']* (?P<y>\d{4})""")  # the common case, fast

_SERIAL = re.compile(r"\d{5}(?:\.\d+)?")
_ONLY_FILLER = re.compile(r"[\s\-–—_.,/\\]*")
_QUESTION = re.compile(r"\?+")
_COMPLETED = re.compile(
    r"(?:completed?|done|achieved)\b(?!\s+(?:by|before|within|no\s+later|in\s+time)\b)",
    re.IGNORECASE,
)
_TBC = re.compile(
    r"(?:tbc|tba|tbd|tbconfirmed|to\s+be\s+(?:confirmed|agreed|decided|determined|arranged|set)"
    r"|ongoing|on-going|pending|n/?a|not\s+applicable|not\s+yet\s+(?:known|agreed|set))(?![a-z])",
    re.IGNORECASE,
)
_RELATIVE = re.compile(
    r"\b(?:next|this|last|coming|following)\s+(?:year|month|term|week|quarter|spring|summer|"
    r"autumn|winter)\b|\basap\b|\bsoon\b",
    re.IGNORECASE,
)
_RECURRING = re.compile(
    r"""\b(?:annual(?:ly)?|yearly|monthly|quarterly|weekly|fortnightly|termly|bi-?annual(?:ly)?
    |half[\s-]?termly|six[\s-]?monthly|thereafter|continuous(?:ly)?
    |(?:every|each)\s+(?:year|month|term|half[\s-]?term|week|quarter|meeting
        |\d+\s+(?:weeks|months|years))
    |on\s+an?\s+(?:annual|monthly|termly|quarterly|rolling|ongoing|regular)\s+basis)\b""",
    re.IGNORECASE | re.VERBOSE,
)
_NUMBER_MARK = re.compile(r"(?:^|(?<=\s))\(?(?P<n>\d{1,2}|[a-h])[.)](?=\s)", re.IGNORECASE)

_FILLER_START = re.compile(
    r"^(?:\(?(?:\d{1,2}|[a-h])[.)]\s+|[–—\-•*·:]+\s*|by\s+the\s+end\s+of\b|by\s+end\s+of\b"
    r"|the\s+end\s+of\b|end\s+of\b|by\b|due\s+by\b|due\s+in\b|due\b|from\b|in\b|on\b|before\b"
    r"|no\s+later\s+than\b|deadline:?|date:?)\s*",
    re.IGNORECASE,
)
_FILLER_END = re.compile(
    r"\s*(?:\bby\s+the\s+end\s+of|\bby\s+end\s+of|\bthe\s+end\s+of|\bend\s+of|\bby|\bdue\s+by"
    r"|\bdue\s+in|\bdue|\bfrom|\bin|\bon|\bbefore|\bno\s+later\s+than|[–—\-:•*·]+)$",
    re.IGNORECASE,
)

_TERMS = {"autumn": (9, 12), "spring": (1, 3), "summer": (4, 7)}


# --------------------------------------------------------------------------------------------
# Reading one date mention


@dataclass
class _Mention:
    start: int
    end: int
    due: FuzzyDate | None  # None for an invalid mention
    first: FuzzyDate | None = None
    warnings: list[str] = field(default_factory=list)
    problem: str | None = None
    year_only: bool = False


def _month_number(word: str, warnings: list[str]) -> int:
    key = word.lower().rstrip(".")
    if key in _MONTH_TYPOS:
        month = _MONTH_TYPOS[key]
        warnings.append(f"read '{word}' as {_MONTH_FULL[month - 1]}")
        return month
    return _MONTH_SPELLINGS[key]


def _year_number(text: str, warnings: list[str], context: str) -> int:
    digits = text.lstrip("'’")
    year = int(digits)
    if len(digits) == 2:
        year += 2000  # "Feb-24", "31.03.24": always this century in a plan
    if not 2000 <= year <= 2075:
        warnings.append(f"the year {year} in '{context.strip()}' looks unlikely; check it")
    return year


def _make_day(y: int, m: int, d: int, text: str) -> tuple[FuzzyDate | None, str | None]:
    if not 1 <= m <= 12:
        return None, f"'{text}' is not a real date: there is no month {m}"
    last = calendar.monthrange(y, m)[1] if 1 <= y <= 9999 else 31
    if not 1 <= d <= last:
        return None, (f"'{text}' is not a real date: {_MONTH_FULL[m - 1]} {y} has {last} days")
    return FuzzyDate(y, m, d, Precision.DAY), None


def _read_iso(m: re.Match[str]) -> _Mention:
    text = m.group(0)
    due, problem = _make_day(int(m["y"]), int(m["m"]), int(m["d"]), text)
    return _Mention(m.start(), m.end(), due, problem=problem)


def _read_numeric(m: re.Match[str]) -> _Mention:
    text = m.group(0)
    warnings: list[str] = []
    a, b = int(m["a"]), int(m["b"])
    year = _year_number(m["y"], warnings, text)
    day, month = a, b
    if a <= 12 and b <= 12 and a != b:
        warnings.append(
            f"'{text}' could be day/month or month/day; read it day first as "
            f"{a} {_MONTH_FULL[b - 1]} {year}"
        )
    elif b > 12 and a <= 12 and 1 <= b <= 31:
        day, month = b, a
        warnings.append(
            f"'{text}' only makes sense month first (US order); read it as "
            f"{b} {_MONTH_FULL[a - 1]} {year}"
        )
    due, problem = _make_day(year, month, day, text)
    return _Mention(m.start(), m.end(), due, warnings=warnings, problem=problem)


def _read_day_month_year(m: re.Match[str]) -> _Mention:
    text = m.group(0)
    warnings: list[str] = []
    month = _month_number(m["mon"], warnings)
    year = _year_number(m["y"], warnings, text)
    due, problem = _make_day(year, month, int(m["d"]), text.strip())
    return _Mention(m.start(), m.end(), due, warnings=warnings, problem=problem)


def _read_range(m: re.Match[str]) -> _Mention | None:
    text = m.group(0)
    warnings: list[str] = []
    m1 = _month_number(m["m1"], warnings)
    m2 = _month_number(m["m2"], warnings)
    y2 = _year_number(m["y2"], warnings, text)
    if m["y1"]:
        y1 = _year_number(m["y1"], warnings, text)
    else:
        y1 = y2 if m1 <= m2 else y2 - 1
        if m1 > m2:
            warnings.append(
                f"read '{text.strip()}' as {_MONTH_FULL[m1 - 1]} {y1} to {_MONTH_FULL[m2 - 1]} {y2}"
            )
    if (y1, m1) >= (y2, m2):
        return None  # not a range after all: "April 2024 - March 2024" reads as two dates
    return _Mention(
        m.start(),
        m.end(),
        FuzzyDate.month_of(y2, m2),
        first=FuzzyDate.month_of(y1, m1),
        warnings=warnings,
    )


def _read_quarter(m: re.Match[str]) -> _Mention:
    text = m.group(0).strip()
    q = int(m["q"])
    warnings: list[str] = []
    if not 1 <= q <= 4:
        return _Mention(
            m.start(),
            m.end(),
            None,
            problem=f"'{text}' is not a quarter: a year has quarters Q1 to Q4",
        )
    year = _year_number(m["y"], warnings, text)
    if m["y2"]:
        # a financial year, April to March: Q1 2024/25 is April to June 2024
        end_month = 3 * q + 3
        year, end_month = (year, end_month) if end_month <= 12 else (year + 1, end_month - 12)
        due = FuzzyDate.month_of(year, end_month)
    else:
        due = FuzzyDate.month_of(year, 3 * q)
        warnings.append(
            f"read '{text}' as a calendar quarter, due by the end of {due.display}; "
            f"write 'Q{q} {year}/{(year + 1) % 100:02d}' for a financial-year quarter"
        )
    return _Mention(m.start(), m.end(), due, warnings=warnings)


def _read_term(m: re.Match[str]) -> _Mention:
    warnings: list[str] = []
    year = _year_number(m["y"], warnings, m.group(0))
    _, end_month = _TERMS[m["term"].lower()]
    return _Mention(m.start(), m.end(), FuzzyDate.month_of(year, end_month), warnings=warnings)


def _read_month_year(m: re.Match[str]) -> _Mention:
    warnings: list[str] = []
    month = _month_number(m["mon"], warnings)
    year = _year_number(m["y"], warnings, m.group(0))
    between = m.group(0)[len(m["mon"]) : m.start("y") - m.start()]
    if len(m["y"]) == 2 and not between.strip() and int(m["y"]) <= 31:
        text = m.group(0)
        warnings.append(
            f"read '{text}' as {_MONTH_FULL[month - 1]} {year}; if it means day {int(m['y'])} "
            f"of {_MONTH_FULL[month - 1]}, write the year too"
        )
    return _Mention(m.start(), m.end(), FuzzyDate.month_of(year, month), warnings=warnings)


def _read_mangled(m: re.Match[str]) -> _Mention:
    text = m.group(0)
    warnings: list[str] = []
    month = _month_number(m["mon"], warnings)
    short = int(m["d"])
    if short == 0:
        return _Mention(m.start(), m.end(), None, problem=f"'{text}' is not a date")
    year = 2000 + short
    warnings.append(
        f"read '{text}' as {_MONTH_FULL[month - 1]} {year}: Excel shows a typed "
        f"'{_MONTH_ABBR[month - 1]}-{short:02d}' as '{text}'; check the year"
    )
    return _Mention(m.start(), m.end(), FuzzyDate.month_of(year, month), warnings=warnings)


def _read_year_span(m: re.Match[str]) -> _Mention | None:
    y1 = int(m["y1"])
    raw2 = m["y2"]
    y2 = int(raw2) if len(raw2) == 4 else (y1 // 100) * 100 + int(raw2)
    if not y1 < y2 <= y1 + 10:
        return None
    text = m.group(0)
    return _Mention(
        m.start(),
        m.end(),
        FuzzyDate.year_of(y2),
        first=FuzzyDate.year_of(y1),
        warnings=[f"read '{text}' as the years {y1} to {y2}, due by the end of {y2}"],
        year_only=True,
    )


def _read_bare_year(m: re.Match[str]) -> _Mention:
    return _Mention(m.start(), m.end(), FuzzyDate.year_of(int(m["y"])), year_only=True)


_READERS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], _Mention | None]], ...] = (
    (_ISO, _read_iso),
    (_NUMERIC, _read_numeric),
    (_DAY_MONTH_YEAR, _read_day_month_year),
    (_MONTH_DAY_YEAR, _read_day_month_year),
    (_RANGE, _read_range),
    (_QUARTER, _read_quarter),
    (_TERM, _read_term),
    (_MONTH_YEAR, _read_month_year),
    (_MANGLED, _read_mangled),
    (_YEAR_SPAN, _read_year_span),
    (_BARE_YEAR, _read_bare_year),
)


def _find_mentions(text: str) -> list[_Mention]:
    found: list[_Mention] = []
    taken = bytearray(len(text))  # the characters an earlier mention covers
    for pattern, reader in _READERS:
        for match in pattern.finditer(text):
            if 1 in taken[match.start() : match.end()]:
                continue
            mention = reader(match)
            if mention is not None:
                found.append(mention)
                taken[mention.start : mention.end] = b"\x01" * (mention.end - mention.start)
    found.sort(key=lambda f: f.start)
    return found


# --------------------------------------------------------------------------------------------
# Splitting a cell into clauses and labels


def _clean(text: str) -> str:
    """Trim brackets, punctuation and filler words ("by", "end of") from a label or note."""
    previous = None
    text = " ".join(text.split())
    while text != previous:
        previous = text
        text = text.strip(" \t\n.,;:")
        if text.startswith("(") and text.endswith(")") and text.count("(") == 1:
            text = text[1:-1]
        elif text.startswith("(") and ")" not in text:
            text = text[1:]
        elif text.endswith(")") and "(" not in text:
            text = text[:-1]
        text = _FILLER_START.sub("", text)
        text = _FILLER_END.sub("", text)
    return text


def _clause_spans(text: str, lo: int, hi: int, mentions: list[_Mention]) -> list[tuple[int, int]]:
    """Split ``text[lo:hi]`` at line breaks, semicolons and full stops outside dates/brackets."""
    skip = {m.start: m.end for m in mentions if lo <= m.start < hi}
    spans: list[tuple[int, int]] = []
    depth = 0
    begin = lo
    i = lo
    while i < hi:
        if i in skip:
            i = skip[i]
            continue
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif depth == 0 and (ch in "\n;" or (ch == "." and (i + 1 >= hi or text[i + 1].isspace()))):
            spans.append((begin, i + 1))
            begin = i + 1
        i += 1
    spans.append((begin, hi))
    return [(a, b) for a, b in spans if text[a:b].strip(" \t\n.;,")]


@dataclass
class _Part:
    mention: _Mention
    label: str
    text: str


def _split_between(between: str) -> int:
    """Text between two dates: where what trails the first ends and what leads the second begins.

    Brackets, or words starting with "for", right after a date belong to it ("December 2023 (for
    statement to be developed)"); other words lead into the next date ("... Report April 2024").
    """
    lead = len(between) - len(between.lstrip())
    rest = between[lead:]
    if rest.startswith("("):
        depth = 0
        for i, ch in enumerate(rest):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0:
                return lead + i + 1
        return len(between)
    if re.match(r"for\b", rest, re.IGNORECASE):
        return len(between)
    return 0


def _parts_in(
    text: str, lo: int, hi: int, mentions: list[_Mention], notes: list[str]
) -> list[_Part]:
    parts: list[_Part] = []
    for a, b in _clause_spans(text, lo, hi, mentions):
        inside = [mt for mt in mentions if a <= mt.start < b]
        if not inside:
            note = _clean(text[a:b])
            if note:
                notes.append(note)
            continue
        # each date owns text[bounds[i]:bounds[i + 1]]
        bounds = [a]
        for left, right in itertools.pairwise(inside):
            bounds.append(left.end + _split_between(text[left.end : right.start]))
        bounds.append(b)
        for i, mt in enumerate(inside):
            lead, trail = text[bounds[i] : mt.start], text[mt.end : bounds[i + 1]]
            label = " ".join(x for x in (_clean(lead), _clean(trail)) if x)
            parts.append(_Part(mt, label, text[bounds[i] : bounds[i + 1]].strip(" \t\n;,")))
    return parts


def _numbered_segments(text: str) -> list[tuple[str, int, int]] | None:
    """``1) … 2) … 3) …`` or ``a. … b. …`` items: (label, start, end) for each, else None."""
    marks = list(_NUMBER_MARK.finditer(text))
    if len(marks) < 2 or text[: marks[0].start()].strip():
        return None
    labels = [m["n"].lower() for m in marks]
    if labels[0] == "1":
        expected = [str(i) for i in range(1, len(labels) + 1)]
    elif labels[0] == "a":
        expected = [chr(ord("a") + i) for i in range(len(labels))]
    else:
        return None
    if labels != expected:
        return None
    bounds = [m.start() for m in marks] + [len(text)]
    return [(labels[i], marks[i].end(), bounds[i + 1]) for i in range(len(marks))]


# --------------------------------------------------------------------------------------------
# Whole cells


def _result(
    raw: str,
    kind: DateKind,
    *,
    when: FuzzyDate | None = None,
    start: FuzzyDate | None = None,
    parts: tuple[DatePart, ...] = (),
    note: str = "",
    recurring: bool = False,
    warnings: tuple[str, ...] | list[str] = (),
    problem: str | None = None,
) -> ParsedDate:
    return ParsedDate(
        raw=raw,
        kind=kind,
        date=when,
        start=start,
        parts=parts,
        note=note,
        recurring=recurring,
        warnings=tuple(dict.fromkeys(warnings)),
        problem=problem,
    )


def _serial_to_date(serial: float) -> date:
    # Same as openpyxl.utils.datetime.from_excel for the 1900 date system, for serials after
    # 1 March 1900 (Excel's phantom 29 February 1900 lies before them).
    return date(1899, 12, 30) + timedelta(days=math.floor(serial))


_SERIAL_MIN, _SERIAL_MAX = 18264, 73050  # 1 January 1950 to 31 December 2099


def _from_number(raw: str, value: float) -> ParsedDate:
    if math.isnan(value):
        return _result(raw, "empty")
    if math.isinf(value):
        return _result(raw, "unreadable", problem=f"the number {raw} is not a date; {EXPECTED}")
    if value == int(value) and 1900 <= value <= 2100:
        return _result(raw, "date", when=FuzzyDate.year_of(int(value)))
    if _SERIAL_MIN <= value <= _SERIAL_MAX:
        return _result(raw, "date", when=FuzzyDate.day_of(_serial_to_date(value)))
    return _result(
        raw,
        "unreadable",
        problem=(
            f"the number {raw} is not a date: expected an Excel date serial such as 45382 "
            "(31/03/2024), a month and year such as 'March 2024', 'TBC' or 'Completed'"
        ),
    )


_FORMAT_NOISE = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.|_.|\*.|am/pm|a/p', re.IGNORECASE)
_FORMAT_TIME = re.compile(r"h+[^dy]*|[^dy]*s+", re.IGNORECASE)


def _format_precision(number_format: str | None) -> Literal["day", "month", "year", "mangled"]:
    if number_format is None:
        return "day"
    fmt = _FORMAT_NOISE.sub("", number_format).split(";")[0].lower()
    if fmt.strip() in ("", "general", "@"):
        return "day"
    fmt = _FORMAT_TIME.sub("", fmt)  # hours, minutes and seconds
    has_d, has_m, has_y = "d" in fmt, "m" in fmt, ("y" in fmt or "e" in fmt)
    if has_d:
        return "mangled" if has_m and not has_y else "day"
    if has_m:
        return "month"
    if has_y:
        return "year"
    return "day"


def _from_date(raw: str, value: date, number_format: str | None) -> ParsedDate:
    if isinstance(value, datetime):
        value = value.date()
    how = _format_precision(number_format)
    if how == "month":
        return _result(raw, "date", when=FuzzyDate.month_of(value.year, value.month))
    if how == "year":
        return _result(raw, "date", when=FuzzyDate.year_of(value.year))
    if how == "mangled":
        shown = f"{value.day}-{_MONTH_ABBR[value.month - 1]}"
        year = 2000 + value.day
        return _result(
            raw,
            "date",
            when=FuzzyDate.month_of(year, value.month),
            warnings=[
                f"the cell shows '{shown}' (format {number_format!r}); read it as "
                f"{_MONTH_FULL[value.month - 1]} {year}, because Excel shows a typed "
                f"'{_MONTH_ABBR[value.month - 1]}-{value.day:02d}' that way; check the year"
            ],
        )
    return _result(raw, "date", when=FuzzyDate.day_of(value))


def _normalise(text: str) -> str:
    return (
        text.replace("\r\n", "\n")
        .replace("\r", "\n")
        .replace("\u00a0", " ")
        .replace("’", "'")
        .replace("‘", "'")
        .strip()
    )


def _status(raw: str, text: str, kind: DateKind, match: re.Match[str]) -> ParsedDate:
    rest = _clean(text[match.end() :])
    note = text[: match.end()] if kind == "tbc" else ""
    note = "; ".join(x for x in (note, rest) if x)
    return _result(raw, kind, note=note, recurring=bool(_RECURRING.search(text)))


def _no_date_problem(text: str, invalid: list[_Mention]) -> str:
    if invalid:
        assert invalid[0].problem is not None
        return invalid[0].problem
    relative = _RELATIVE.search(text)
    if relative:
        return (
            f"'{relative.group(0)}' is relative and changes meaning over time: write the month "
            f"and year instead, such as 'March 2025'; {EXPECTED}"
        )
    month = _BARE_MONTH.search(text)
    if month:
        return f"found the month '{month.group(0)}' but no year; {EXPECTED}"
    return f"no date found in '{' '.join(text.split())}'; {EXPECTED}"


@lru_cache(maxsize=8192)
def _parse_text(raw: str) -> ParsedDate:
    text = _normalise(raw)
    if not text or _ONLY_FILLER.fullmatch(text):
        return _result(raw, "empty")
    if _QUESTION.fullmatch(text):
        return _result(raw, "tbc", note=text)
    if _SERIAL.fullmatch(text):
        parsed = _from_number(raw, float(text))
        if parsed.kind == "date":
            return parsed
    plain = _PLAIN_MONTH_YEAR.fullmatch(text)
    if plain:
        mention = _read_month_year(plain)
        return _result(raw, "date", when=mention.due, warnings=mention.warnings)
    completed = _COMPLETED.match(text)
    if completed and (completed.group(0).lower() != "complete" or not _clean(text[8:])):
        return _status(raw, text, "completed", completed)

    mentions = _find_mentions(text)
    valid = [m for m in mentions if m.due is not None]
    invalid = [m for m in mentions if m.due is None]
    if any(not m.year_only for m in valid):
        valid = [m for m in valid if not m.year_only]
    warnings = [w for m in valid for w in m.warnings]
    for bad in invalid:
        warnings.append(f"ignored '{text[bad.start : bad.end].strip()}': {bad.problem}")
    recurring = bool(_RECURRING.search(text))

    if not valid:
        tbc = _TBC.match(text)
        if tbc:
            return _status(raw, text, "tbc", tbc)
        return _result(raw, "unreadable", problem=_no_date_problem(text, invalid))

    notes: list[str] = []
    parts: list[DatePart] = []
    segments = _numbered_segments(text)
    if segments is not None:
        for label, lo, hi in segments:
            item_notes: list[str] = []
            found = _parts_in(text, lo, hi, valid, item_notes)
            if not found:
                item = _clean(text[lo:hi])
                warnings.append(f"item {label} has no date: '{item}'")
                notes.append(f"{label}) {item}")
            else:
                notes.extend(item_notes)
            for p in found:
                full = f"{label}) {p.label}" if p.label else label
                parts.append(_date_part(full, p, text[lo:hi].strip() if len(found) == 1 else None))
    else:
        for p in _parts_in(text, 0, len(text), valid, notes):
            parts.append(_date_part(p.label, p, None))

    if len(parts) == 1:
        only = parts[0]
        note = "; ".join(x for x in (only.label, *notes) if x)
        return _result(
            raw,
            "date",
            when=only.due,
            start=only.start,
            note=note,
            recurring=recurring,
            warnings=warnings,
        )
    latest = max((p.due for p in parts), key=lambda d: d.last_day)
    return _result(
        raw,
        "parts",
        when=latest,
        parts=tuple(parts),
        note="; ".join(notes),
        recurring=recurring,
        warnings=warnings,
    )


def _date_part(label: str, part: _Part, text: str | None) -> DatePart:
    assert part.mention.due is not None
    return DatePart(
        label=label, due=part.mention.due, start=part.mention.first, text=text or part.text
    )


def parse_date_cell(value: object, *, number_format: str | None = None) -> ParsedDate:
    """Read one date cell as a council wrote it. See the module docstring for the forms.

    ``value`` is whatever the spreadsheet reader returned: ``None``, text, a number (an Excel
    serial) or a ``date``/``datetime``. ``number_format`` is the cell's Excel number format when
    the reader can see it (openpyxl's ``cell.number_format``); it only matters for dates.
    """
    if value is None:
        return _result("", "empty")
    if isinstance(value, str):
        clock = _TIME_OF_DAY.fullmatch(value.strip())
        if clock is not None:
            return _not_a_date(value, f"the time of day {clock.group(0)}")
        # Only short cells are remembered: a cache of 32,767-character cells would be large.
        return _parse_text(value) if len(value) <= 500 else _parse_text.__wrapped__(value)
    if isinstance(value, time):
        shown = value.strftime("%H:%M:%S" if value.second else "%H:%M")
        return _not_a_date(str(value), f"the time of day {shown}")
    if isinstance(value, timedelta):
        return _not_a_date(str(value), f"the duration {show_duration(value)}")
    raw = str(value)
    if isinstance(value, bool):
        return _result(raw, "unreadable", problem=f"got a true/false value; {EXPECTED}")
    if isinstance(value, date):
        return _from_date(raw, value, number_format)
    if isinstance(value, int | float):
        return _from_number(raw, float(value))
    return _parse_text(raw)


#: "10:30", "10:30:15", "9:05 pm", "10.30am" (a point only with am or pm: "12.10" may be a ref).
_TIME_OF_DAY = re.compile(
    r"(?i)(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?:\s*[ap]\.?m\.?)?"
    r"|(?:0?\d|1[0-2])\.[0-5]\d\s*[ap]\.?m\.?"
)


def _not_a_date(raw: str, what: str) -> ParsedDate:
    return _result(
        raw,
        "unreadable",
        problem=(
            f"the cell holds {what}, not a date; type the date instead (such as 'March 2024' "
            "or '31/03/2024') and, if Excel shows it as a time, format the cell as a date "
            "(Format Cells > Date)"
        ),
    )


def show_duration(value: timedelta) -> str:
    """A duration as Excel's ``[h]:mm`` format shows it: 1 day 2 hours is ``26:00``."""
    seconds = int(value.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


FuzzyDate.month = _FieldOrClassmethod("month", _month_classmethod)  # type: ignore[assignment]
FuzzyDate.day = _FieldOrClassmethod("day", _day_classmethod)  # type: ignore[assignment]


def show_date(d: date | None, precision: str | None, *, end: bool = True) -> str:
    """A stored date as the plan wrote it: "Dec 2023" for month precision, "" for none."""
    if d is None or precision is None:
        return ""
    return FuzzyDate.from_stored(d, precision, end=end).display
