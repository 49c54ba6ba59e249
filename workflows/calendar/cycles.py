"""``config/cycles.yaml``: the governance groups, their meeting cycles and reporting lines.

The format is documented for admins in ``docs/cycles.md``; this module is its schema and
validator. ``load_cycles(path)`` reads the one file and returns a frozen :class:`CyclesConfig`,
or raises :class:`CyclesConfigError` carrying *every* problem found, each a
:class:`ConfigProblem` naming the file, the line, the key and the fix.

The YAML is read with ``yaml.compose`` rather than ``yaml.safe_load``: every value is taken as
the text the admin wrote (so ``time: 10:00`` is not read as the base-60 number 600, ``no`` is
not ``False`` and a date stays a date string until this module parses it), and every key keeps
its line number for the error messages.

Councils write cadences in their own words ("Six weekly", "Moving to Quarterly"). These are
accepted, and each group's reading is kept in :attr:`CyclesConfig.readings` so that
``chaser cycles validate`` can say how each was read.

Apart from reading the one file in :func:`load_cycles`, everything here is pure.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from workflows.yaml_files import ConfigProblem

__all__ = [
    "DEFAULT_DURATION_MINUTES",
    "DEFAULT_PAPERS_DEADLINE_WORKING_DAYS",
    "DEFAULT_TIME",
    "DEFAULT_TIMEZONE",
    "LONDON",
    "Cadence",
    "CadenceUnit",
    "ChangeKind",
    "ConfigProblem",
    "CyclesConfig",
    "CyclesConfigError",
    "Group",
    "MeetingChange",
    "Person",
    "Reading",
    "Recess",
    "load_cycles",
    "normalise_name",
    "nth_weekday",
    "parse_cycles",
]

DEFAULT_TIMEZONE = "Europe/London"
#: The calendar's timezone: every date Chaser shows, and every working day, is London's.
LONDON = ZoneInfo(DEFAULT_TIMEZONE)
DEFAULT_TIME = time(10, 0)
DEFAULT_DURATION_MINUTES = 120
DEFAULT_PAPERS_DEADLINE_WORKING_DAYS = 5

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
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
_ORDINAL_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
_ORDINALS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "last": -1,
}
_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class CyclesConfigError(Exception):
    """The file was refused. ``problems`` lists every problem found, in file order."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.key))
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Reading:
    """How a council's own wording was read, e.g. ``'Six weekly' read as every 6 weeks``."""

    file: str
    line: int
    key: str
    written: str
    read_as: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key}: '{self.written}' read as {self.read_as}"


@dataclass(frozen=True)
class Person:
    """A chair, secretary, member or invitee. ``name`` may be a role ("External - TBC")."""

    name: str
    email: str | None = None
    role: str | None = None


class CadenceUnit(StrEnum):
    WEEKS = "weeks"
    MONTHS = "months"


def nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The ``n``-th ``weekday`` (0 = Monday) of the month; ``n = -1`` is the last one."""
    if n == -1:
        nxt = date(year + month // 12, month % 12 + 1, 1)
        last = nxt - timedelta(days=1)
        return last - timedelta(days=(last.weekday() - weekday) % 7)
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


@dataclass(frozen=True)
class Cadence:
    """Every ``interval`` weeks on ``weekday``, or every ``interval`` months on a rule such as
    the second Tuesday (``week_of_month`` 1-4, or -1 for the last)."""

    unit: CadenceUnit
    interval: int
    weekday: int
    week_of_month: int | None = None

    def describe(self) -> str:
        day = WEEKDAYS[self.weekday]
        if self.unit is CadenceUnit.WEEKS:
            every = "every week" if self.interval == 1 else f"every {self.interval} weeks"
            return f"{every} on {day}"
        rule = f"the {_ORDINAL_WORDS[self.week_of_month or 1]} {day}"
        if self.interval == 1:
            return f"monthly on {rule}"
        if self.interval == 3:
            return f"quarterly (every 3 months) on {rule}"
        return f"every {self.interval} months on {rule}"

    def on_rule(self, d: date) -> bool:
        """Whether ``d`` is the right weekday (and week of the month) for this cadence."""
        if d.weekday() != self.weekday:
            return False
        if self.unit is CadenceUnit.MONTHS:
            return d == nth_weekday(d.year, d.month, self.weekday, self.week_of_month or 1)
        return True


class ChangeKind(StrEnum):
    MOVED = "moved"
    CANCELLED = "cancelled"
    ADDED = "added"


@dataclass(frozen=True)
class MeetingChange:
    """An exception to a group's cycle: a meeting moved, cancelled or added."""

    kind: ChangeKind
    #: The originally scheduled date (for an added meeting: its date).
    slot: date
    #: The new date of a moved meeting (``None`` keeps the date, e.g. only the time changed).
    moved_to: date | None = None
    #: The new start time, if it changed.
    time: time | None = None
    note: str = ""


@dataclass(frozen=True)
class Recess:
    """A period without meetings: one-off (``start``..``end``) or every year (``months``).

    ``groups`` is ``None`` for every group."""

    name: str
    groups: frozenset[str] | None = None
    start: date | None = None
    end: date | None = None
    months: frozenset[int] = frozenset()

    def applies_to(self, code: str) -> bool:
        return self.groups is None or code in self.groups

    def covers(self, d: date) -> bool:
        if d.month in self.months:
            return True
        return self.start is not None and self.end is not None and self.start <= d <= self.end


@dataclass(frozen=True)
class Group:
    """A governance group and its meeting cycle."""

    code: str
    name: str
    cadence: Cadence
    first_meeting: date
    time: time = DEFAULT_TIME
    duration: timedelta = timedelta(minutes=DEFAULT_DURATION_MINUTES)
    timezone: str = DEFAULT_TIMEZONE
    papers_deadline_working_days: int = DEFAULT_PAPERS_DEADLINE_WORKING_DAYS
    chair: Person | None = None
    secretary: Person | None = None
    members: tuple[Person, ...] = ()
    mandatory_invitees: tuple[Person, ...] = ()
    until: date | None = None
    alternates_with: str | None = None
    reports_to: str | None = None
    plan_areas: frozenset[int] = frozenset()
    plan_task_and_finish_groups: tuple[str, ...] = ()
    changes: tuple[MeetingChange, ...] = ()
    location: str | None = None
    purpose: str | None = None
    #: ``invitations: {ahead_days, flag_days}``: how many days before a meeting its calendar
    #: invitations go, and from how many days before it the secretary is told of a mandatory
    #: invitee who does not yet hold one.
    invite_ahead_days: int = 42
    invite_flag_days: int = 14

    def is_slot(self, d: date) -> bool:
        """Whether the cycle schedules a meeting on ``d`` (before any exception or recess)."""
        if d < self.first_meeting or (self.until is not None and d > self.until):
            return False
        c = self.cadence
        if c.unit is CadenceUnit.WEEKS:
            return (d - self.first_meeting).days % (7 * c.interval) == 0
        months = _month_index(d) - _month_index(self.first_meeting)
        return months % c.interval == 0 and c.on_rule(d)

    def slots(self, start: date, end: date) -> Iterator[date]:
        """The cycle's scheduled dates in ``start..end`` (inclusive), in order."""
        last = end if self.until is None else min(end, self.until)
        c = self.cadence
        if c.unit is CadenceUnit.WEEKS:
            step = 7 * c.interval
            k = max(0, -(-(start - self.first_meeting).days // step))
            d = self.first_meeting + timedelta(days=k * step)
            while d <= last:
                yield d
                d += timedelta(days=step)
            return
        base = _month_index(self.first_meeting)
        k = max(0, (_month_index(start) - base) // c.interval - 1)
        while True:
            idx = base + k * c.interval
            d = nth_weekday(idx // 12, idx % 12 + 1, c.weekday, c.week_of_month or 1)
            if d > last:
                return
            if d >= start and d >= self.first_meeting:
                yield d
            k += 1


@dataclass(frozen=True)
class CyclesConfig:
    """The validated ``cycles.yaml``."""

    groups: tuple[Group, ...]
    recesses: tuple[Recess, ...] = ()
    extra_bank_holidays: frozenset[date] = frozenset()
    timezone: str = DEFAULT_TIMEZONE
    #: How each group's cadence wording was read (for ``chaser cycles validate``).
    readings: tuple[Reading, ...] = ()
    #: The file it came from, as given to the loader.
    source: str = ""
    _by_code: dict[str, Group] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_code.update({g.code: g for g in self.groups})

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(g.code for g in self.groups)

    def group(self, code: str) -> Group:
        """The group with this code; ``KeyError`` naming the known codes if there is none."""
        try:
            return self._by_code[code]
        except KeyError:
            known = ", ".join(self.codes)
            raise KeyError(
                f"no group '{code}' in {self.source or 'cycles.yaml'} ({known})"
            ) from None

    def recess_covering(self, code: str, d: date) -> Recess | None:
        for recess in self.recesses:
            if recess.applies_to(code) and recess.covers(d):
                return recess
        return None


def normalise_name(text: str) -> str:
    """Case-, apostrophe-, dash- and space-insensitive form of a name, for matching plan values
    ("Social Care and Children’s Disability Team") against configured ones."""
    text = text.casefold()
    text = re.sub(r"[’‘`´']", "'", text)
    text = re.sub(r"[–—‐-]", "-", text)
    text = re.sub(r"\s*-\s*", " - ", text)
    return re.sub(r"\s+", " ", text).strip()


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_cycles(path: str | Path) -> CyclesConfig:
    """Read and validate one ``cycles.yaml``. Raises :class:`CyclesConfigError`."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CyclesConfigError(
            [
                ConfigProblem(
                    name,
                    None,
                    "",
                    "file not found; create it (see docs/cycles.md) or pass its path",
                )
            ]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CyclesConfigError(
            [ConfigProblem(name, None, "", f"cannot read the file ({exc}); save it as UTF-8 text")]
        ) from None
    return parse_cycles(text, source=name)


def parse_cycles(text: str, *, source: str = "cycles.yaml") -> CyclesConfig:
    """Validate YAML text (pure). Raises :class:`CyclesConfigError`."""
    try:
        root = yaml.compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or "not valid YAML"
        raise CyclesConfigError(
            [
                ConfigProblem(
                    source,
                    line,
                    "",
                    f"the YAML cannot be read ({what}); check the indentation and that text "
                    "containing ': ' or '#' is in quotes",
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise CyclesConfigError(
            [ConfigProblem(source, None, "", f"the YAML cannot be read ({exc})")]
        ) from None
    return _Parser(source).parse(root)


# --------------------------------------------------------------------------------------------
# Cadence wording
# --------------------------------------------------------------------------------------------

_WD = r"(?P<wd>monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?"
_ORD = r"(?P<ord>first|second|third|fourth|last|1st|2nd|3rd|4th)"
_RULE = rf"(?:the )?{_ORD} {_WD}(?: of (?:the |each |every )?month)?"
_ON_WD = rf"(?: on (?:a |each |every )?{_WD})?"
_ON_RULE = rf"(?: on {_RULE})?"

_CADENCE_PATTERNS: tuple[tuple[re.Pattern[str], CadenceUnit, int | None], ...] = tuple(
    (re.compile(p), unit, n)
    for p, unit, n in (
        (rf"^(?:every )?(?P<n>\w+) weekly{_ON_WD}$", CadenceUnit.WEEKS, None),
        (rf"^weekly{_ON_WD}$", CadenceUnit.WEEKS, 1),
        (rf"^(?:every )?fortnight(?:ly)?{_ON_WD}$", CadenceUnit.WEEKS, 2),
        (rf"^every (?:(?P<n>\w+) )?weeks?{_ON_WD}$", CadenceUnit.WEEKS, None),
        (rf"^(?P<moving>moving to )?quarterly{_ON_RULE}$", CadenceUnit.MONTHS, 3),
        (rf"^(?P<moving>moving to )?monthly{_ON_RULE}$", CadenceUnit.MONTHS, 1),
        (rf"^every (?:(?P<n>\w+) )?months?{_ON_RULE}$", CadenceUnit.MONTHS, None),
        (rf"^(?P<n>\w+) monthly{_ON_RULE}$", CadenceUnit.MONTHS, None),
        (rf"^{_RULE}$", CadenceUnit.MONTHS, 1),
        (rf"^(?:annually|yearly){_ON_RULE}$", CadenceUnit.MONTHS, 12),
    )
)


@dataclass(frozen=True)
class _CadenceSpec:
    unit: CadenceUnit
    interval: int
    weekday: int | None
    week_of_month: int | None
    moving: bool


def _normalise_cadence(text: str) -> str:
    s = text.strip().lower().rstrip(".")
    s = re.sub(r"[-_–—/]", " ", s)
    return re.sub(r"\s+", " ", s)


def _number(token: str | None) -> int | None:
    if token is None:
        return None
    if token.isdigit():
        return int(token)
    return _NUMBER_WORDS.get(token)


def _parse_cadence(text: str) -> _CadenceSpec | None:
    s = _normalise_cadence(text)
    for pattern, unit, fixed in _CADENCE_PATTERNS:
        m = pattern.match(s)
        if m is None:
            continue
        groups = m.groupdict()
        n = fixed
        if n is None:
            n = _number(groups.get("n")) if groups.get("n") else 1
        if n is None or n < 1:
            return None
        wd = groups.get("wd")
        ordinal = groups.get("ord")
        return _CadenceSpec(
            unit=unit,
            interval=n,
            weekday=WEEKDAYS.index(wd.capitalize()) if wd else None,
            week_of_month=_ORDINALS[ordinal] if ordinal else None,
            moving=bool(groups.get("moving")),
        )
    return None


def _week_of_month(d: date) -> int:
    """1-4 for the first to fourth weekday of its kind in the month; -1 for a fifth."""
    n = (d.day - 1) // 7 + 1
    return -1 if n == 5 else n


def _cadence_fix(text: str, first: date | None) -> str:
    """What to write instead of a cadence that was not understood."""
    s = _normalise_cadence(text)
    rule = "the second Tuesday"
    if first is not None:
        rule = f"the {_ORDINAL_WORDS[_week_of_month(first)]} {WEEKDAYS[first.weekday()]}"
    words = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
    found = re.search(rf"\d+|{words}", s)
    number = _number(found.group(0)) if found else None
    if re.search(r"\bbi ?(weekly|monthly)|\bsemi", s):
        unit = "weeks" if "week" in s else "months"
        return (
            f"'{text}' is ambiguous (every 2 {unit}, or twice a {unit[:-1]}?); write "
            f"'every 2 {unit}', or add a second group for the extra meeting"
        )
    if "fortnight" in s:
        return "write 'every 2 weeks'"
    if "quart" in s:
        return f"write 'quarterly' or 'quarterly on {rule}'"
    if re.search(r"w(ee|ea|e|k)", s):
        return f"write 'every {number or 3} weeks'"
    if re.search(r"mon|mnth", s):
        if number and number > 1:
            return f"write 'every {number} months on {rule}'"
        return f"write 'monthly on {rule}'"
    return (
        "write one of 'every 6 weeks', 'every 3 weeks on Tuesday', 'monthly on "
        f"{rule}', 'quarterly' (council wordings such as 'Six weekly' also work)"
    )


# --------------------------------------------------------------------------------------------
# The parser: walks the composed YAML nodes, collecting every problem
# --------------------------------------------------------------------------------------------

_TOP_KEYS = ("version", "timezone", "defaults", "extra_bank_holidays", "recesses", "groups")
_DEFAULT_KEYS = ("time", "duration_minutes", "papers_deadline_working_days")
_GROUP_KEYS = (
    "code",
    "name",
    "purpose",
    "chair",
    "secretary",
    "members",
    "mandatory_invitees",
    "cadence",
    "first_meeting",
    "until",
    "alternates_with",
    "time",
    "duration_minutes",
    "timezone",
    "location",
    "papers_deadline_working_days",
    "reports_to",
    "plan_areas",
    "plan_task_and_finish_groups",
    "exceptions",
    "invitations",
)
_INVITATION_KEYS = ("ahead_days", "flag_days")
_PERSON_KEYS = ("name", "email", "role")
_CHANGE_KEYS = ("slot", "added", "moved_to", "time", "cancelled", "note")
_RECESS_KEYS = ("name", "groups", "from", "to", "months")

_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$")
_EMAIL_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_NULL_TAG = "tag:yaml.org,2002:null"

Mapping_ = dict[str, tuple[yaml.Node, yaml.Node]]


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


@dataclass
class _Draft:
    """A group while it is being checked (before alternation is resolved)."""

    index: int
    node: yaml.Node
    key: str
    code: str | None = None
    name: str | None = None
    cadence_text: str | None = None
    cadence_node: yaml.Node | None = None
    first_meeting: date | None = None
    first_node: yaml.Node | None = None
    alternates_with: str | None = None
    alternates_node: yaml.Node | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    changes_node: yaml.Node | None = None
    reports_to_node: yaml.Node | None = None
    plan_tfg_nodes: list[tuple[yaml.Node, str]] = field(default_factory=list)
    cadence: Cadence | None = None
    first_derived: bool = False
    until_node: yaml.Node | None = None


class _Parser:
    def __init__(self, source: str) -> None:
        self.file = source
        self.problems: list[ConfigProblem] = []
        self.readings: list[Reading] = []

    # -- helpers ------------------------------------------------------------------------

    def problem(self, node: yaml.Node | int | None, key: str, message: str) -> None:
        line = node if isinstance(node, int) or node is None else _line(node)
        self.problems.append(ConfigProblem(self.file, line, key, message))

    def mapping(self, node: yaml.Node, key: str, allowed: tuple[str, ...]) -> Mapping_ | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(
                node,
                key,
                f"should be a set of 'key: value' lines ({', '.join(allowed[:4])}, …)",
            )
            return None
        out: Mapping_ = {}
        merged: Mapping_ = {}
        for k, v in node.value:
            kname = str(k.value) if isinstance(k, yaml.ScalarNode) else "?"
            if kname == "<<":
                sources = v.value if isinstance(v, yaml.SequenceNode) else [v]
                for src in sources:
                    if isinstance(src, yaml.MappingNode):
                        for mk, mv in src.value:
                            merged.setdefault(str(mk.value), (mk, mv))
                continue
            if kname in out:
                self.problem(
                    k,
                    f"{key}.{kname}" if key else kname,
                    f"'{kname}' appears twice here (first on line {_line(out[kname][0])}); "
                    "keep one",
                )
                continue
            out[kname] = (k, v)
        for mk_name, pair in merged.items():
            out.setdefault(mk_name, pair)
        for kname, (k, _) in out.items():
            if kname not in allowed:
                close = difflib.get_close_matches(kname, allowed, n=1, cutoff=0.6)
                hint = (
                    f"did you mean '{close[0]}'?"
                    if close
                    else f"the keys allowed here are {', '.join(allowed)}"
                )
                self.problem(k, f"{key}.{kname}" if key else kname, f"unknown key; {hint}")
        return out

    def required(self, m: Mapping_, parent: yaml.Node, key: str, name: str, hint: str) -> bool:
        if name in m and not self.is_null(m[name][1]):
            return True
        self.problem(
            m[name][0] if name in m else parent, f"{key}.{name}", f"is missing; add {hint}"
        )
        return False

    @staticmethod
    def is_null(node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and (
            node.tag == _NULL_TAG or (node.style is None and node.value == "")
        )

    def text(self, node: yaml.Node, key: str) -> str | None:
        if self.is_null(node):
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.problem(node, key, "should be a single value, not a list or a set of keys")
            return None
        value = str(node.value).strip()
        return value or None

    def integer(self, node: yaml.Node, key: str, low: int, high: int, unit: str) -> int | None:
        raw = self.text(node, key)
        if raw is None:
            return None
        words = _number(raw.lower())
        if not re.fullmatch(r"\d+", raw) and words is None:
            self.problem(node, key, f"'{raw}' is not a whole number; write a number of {unit}")
            return None
        value = int(raw) if words is None else words
        if not low <= value <= high:
            self.problem(node, key, f"{value} is out of range; write {low} to {high} {unit}")
            return None
        return value

    def boolean(self, node: yaml.Node, key: str) -> bool | None:
        raw = self.text(node, key)
        if raw is None:
            return None
        if raw.lower() in ("true", "yes", "y", "on"):
            return True
        if raw.lower() in ("false", "no", "n", "off"):
            return False
        self.problem(node, key, f"'{raw}' is not yes/no; write true or false")
        return None

    def date_value(self, node: yaml.Node, key: str) -> date | None:
        raw = self.text(node, key)
        if raw is None:
            return None
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            try:
                return date.fromisoformat(raw)
            except ValueError:
                self.problem(node, key, f"'{raw}' is not a real date; check the day and month")
                return None
        guess = _guess_date(raw)
        fix = f"write {guess.isoformat()}" if guess else "write it as YYYY-MM-DD, e.g. 2025-07-08"
        self.problem(node, key, f"'{raw}' is not a date in the form YYYY-MM-DD; {fix}")
        return None

    def time_value(self, node: yaml.Node, key: str) -> time | None:
        raw = self.text(node, key)
        if raw is None:
            return None
        m = re.fullmatch(r"(\d{1,2})[:.](\d{2})", raw)
        if m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            guess = _guess_time(raw)
            fix = f"write '{guess}'" if guess else "write a 24-hour time such as '10:00' or '14:30'"
            self.problem(node, key, f"'{raw}' is not a time of day; {fix}")
            return None
        value = time(int(m.group(1)), int(m.group(2)))
        if time(1, 0) <= value < time(3, 0):
            self.problem(
                node,
                key,
                f"{value:%H:%M} falls in the hour the clocks change on two nights a year; "
                "choose a time outside 01:00-03:00",
            )
            return None
        return value

    def timezone(self, node: yaml.Node, key: str) -> str | None:
        raw = self.text(node, key)
        if raw is None:
            return None
        try:
            ZoneInfo(raw)
        except (ZoneInfoNotFoundError, ValueError):
            self.problem(
                node, key, f"timezone '{raw}' is not known; write 'Europe/London' (an IANA name)"
            )
            return None
        return raw

    def sequence(self, node: yaml.Node, key: str, *, scalars_ok: bool = False) -> list[yaml.Node]:
        if self.is_null(node):
            return []
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        if scalars_ok and isinstance(node, yaml.ScalarNode):
            return [node]
        self.problem(node, key, "should be a list: one '- item' line per entry")
        return []

    def person(self, node: yaml.Node, key: str, *, need_email: bool) -> Person | None:
        if isinstance(node, yaml.ScalarNode) and not need_email:
            name = self.text(node, key)
            return Person(name=name) if name else None
        m = self.mapping(node, key, _PERSON_KEYS)
        if m is None:
            return None
        ok = self.required(m, node, key, "name", "the person's name (or role)")
        if need_email:
            ok = self.required(m, node, key, "email", "an email address") and ok
        if not ok:
            return None
        name = self.text(m["name"][1], f"{key}.name")
        email = self.text(m["email"][1], f"{key}.email") if "email" in m else None
        role = self.text(m["role"][1], f"{key}.role") if "role" in m else None
        if email is not None and not _EMAIL_RE.match(email):
            self.problem(
                m["email"][1], f"{key}.email", "is not an email address; write name@example.org"
            )
            return None
        return Person(name=name or "", email=email, role=role)

    # -- the file -----------------------------------------------------------------------

    def parse(self, root: yaml.Node | None) -> CyclesConfig:
        if root is None:
            self.problem(None, "", "the file is empty; add a 'groups:' list (see docs/cycles.md)")
            raise CyclesConfigError(self.problems)
        top = self.mapping(root, "", _TOP_KEYS)
        if top is None:
            raise CyclesConfigError(self.problems)

        if "version" in top:
            version = self.text(top["version"][1], "version")
            if version not in (None, "1"):
                self.problem(
                    top["version"][1], "version", f"version {version} is not known; write 1"
                )

        tz = DEFAULT_TIMEZONE
        if "timezone" in top:
            tz = self.timezone(top["timezone"][1], "timezone") or tz

        defaults: dict[str, Any] = {
            "time": DEFAULT_TIME,
            "duration_minutes": DEFAULT_DURATION_MINUTES,
            "papers_deadline_working_days": DEFAULT_PAPERS_DEADLINE_WORKING_DAYS,
            "timezone": tz,
        }
        if "defaults" in top:
            node = top["defaults"][1]
            dm = self.mapping(node, "defaults", _DEFAULT_KEYS) if not self.is_null(node) else {}
            for name, value in self._timing(dm or {}, "defaults").items():
                if value is not None:
                    defaults[name] = value

        extra: set[date] = set()
        if "extra_bank_holidays" in top:
            node = top["extra_bank_holidays"][1]
            for i, item in enumerate(self.sequence(node, "extra_bank_holidays", scalars_ok=True)):
                day = self.date_value(item, f"extra_bank_holidays[{i}]")
                if day is not None:
                    extra.add(day)

        drafts: list[_Draft] = []
        if "groups" not in top or self.is_null(top["groups"][1]):
            self.problem(
                top["groups"][0] if "groups" in top else root,
                "groups",
                "is missing; add a 'groups:' list with one entry per board or group",
            )
        else:
            gnode = top["groups"][1]
            for i, item in enumerate(self.sequence(gnode, "groups")):
                draft = self._group(i, item, defaults)
                if draft is not None:
                    drafts.append(draft)

        known = {draft.code: draft for draft in drafts if draft.code}
        self._resolve_alternation(known)
        for draft in drafts:
            self._finish_cadence(draft)

        recesses: list[Recess] = []
        if "recesses" in top:
            node = top["recesses"][1]
            for i, item in enumerate(self.sequence(node, "recesses")):
                recess = self._recess(i, item, known)
                if recess is not None:
                    recesses.append(recess)

        groups = self._build_groups(drafts, known)
        if self.problems:
            raise CyclesConfigError(self.problems)
        return CyclesConfig(
            groups=tuple(groups),
            recesses=tuple(recesses),
            extra_bank_holidays=frozenset(extra),
            timezone=tz,
            readings=tuple(self.readings),
            source=self.file,
        )

    def _timing(self, m: Mapping_, key: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "time" in m:
            out["time"] = self.time_value(m["time"][1], f"{key}.time")
        if "duration_minutes" in m:
            out["duration_minutes"] = self.integer(
                m["duration_minutes"][1], f"{key}.duration_minutes", 5, 24 * 60, "minutes"
            )
        if "papers_deadline_working_days" in m:
            out["papers_deadline_working_days"] = self.integer(
                m["papers_deadline_working_days"][1],
                f"{key}.papers_deadline_working_days",
                0,
                60,
                "working days",
            )
        if "timezone" in m:
            out["timezone"] = self.timezone(m["timezone"][1], f"{key}.timezone")
        return out

    def _group(self, index: int, node: yaml.Node, defaults: dict[str, Any]) -> _Draft | None:
        key = f"groups[{index}]"
        m = self.mapping(node, key, _GROUP_KEYS)
        if m is None:
            return None
        d = _Draft(index=index, node=node, key=key)
        if self.required(m, node, key, "code", "a short code such as SIB"):
            code = self.text(m["code"][1], f"{key}.code")
            if code is not None:
                if _CODE_RE.match(code) and len(code) <= 16:
                    d.code = code
                else:
                    fixed = re.sub(r"[^A-Z0-9-]", "", code.upper().replace(" ", "-"))[:16]
                    self.problem(
                        m["code"][1],
                        f"{key}.code",
                        f"code '{code}' should be capital letters, digits and hyphens "
                        f"(up to 16); write '{fixed or 'SIB'}'",
                    )
        if self.required(m, node, key, "name", "the group's full name"):
            d.name = self.text(m["name"][1], f"{key}.name")

        if "alternates_with" in m:
            d.alternates_with = self.text(m["alternates_with"][1], f"{key}.alternates_with")
            d.alternates_node = m["alternates_with"][1]
        if "cadence" in m:
            d.cadence_text = self.text(m["cadence"][1], f"{key}.cadence")
            d.cadence_node = m["cadence"][1]
        if d.cadence_text is None and d.alternates_with is None:
            self.problem(
                m["cadence"][0] if "cadence" in m else node,
                f"{key}.cadence",
                "is missing; add e.g. 'cadence: every 6 weeks' (or 'alternates_with: CODE')",
            )
        if "first_meeting" in m:
            d.first_meeting = self.date_value(m["first_meeting"][1], f"{key}.first_meeting")
            d.first_node = m["first_meeting"][1]
        elif d.alternates_with is None:
            self.problem(
                node,
                f"{key}.first_meeting",
                "is missing; add the date of a meeting that took place or is fixed, "
                "e.g. 'first_meeting: 2025-07-08'",
            )

        f = d.fields
        timing = {k: v for k, v in self._timing(m, key).items() if v is not None}
        f["time"] = timing.get("time", defaults["time"])
        f["duration"] = timedelta(
            minutes=timing.get("duration_minutes", defaults["duration_minutes"])
        )
        f["papers_deadline_working_days"] = timing.get(
            "papers_deadline_working_days", defaults["papers_deadline_working_days"]
        )
        f["timezone"] = timing.get("timezone", defaults["timezone"])
        if "until" in m:
            f["until"] = self.date_value(m["until"][1], f"{key}.until")
            d.until_node = m["until"][1]
        for name in ("purpose", "location"):
            if name in m:
                f[name] = self.text(m[name][1], f"{key}.{name}")
        if "chair" in m:
            f["chair"] = self.person(m["chair"][1], f"{key}.chair", need_email=False)
        if "secretary" in m:
            f["secretary"] = self.person(m["secretary"][1], f"{key}.secretary", need_email=True)
        for name, need_email in (("members", False), ("mandatory_invitees", True)):
            people: list[Person] = []
            if name in m:
                for i, item in enumerate(self.sequence(m[name][1], f"{key}.{name}")):
                    person = self.person(item, f"{key}.{name}[{i}]", need_email=need_email)
                    if person is not None:
                        people.append(person)
            f[name] = tuple(people)
        if "reports_to" in m:
            f["reports_to"] = self.text(m["reports_to"][1], f"{key}.reports_to")
            d.reports_to_node = m["reports_to"][1]
        areas: set[int] = set()
        if "plan_areas" in m:
            seq = self.sequence(m["plan_areas"][1], f"{key}.plan_areas", scalars_ok=True)
            for i, item in enumerate(seq):
                area = self.integer(item, f"{key}.plan_areas[{i}]", 1, 999, "(an area number)")
                if area is not None:
                    areas.add(area)
        f["plan_areas"] = frozenset(areas)
        if "plan_task_and_finish_groups" in m:
            seq = self.sequence(
                m["plan_task_and_finish_groups"][1], f"{key}.plan_task_and_finish_groups"
            )
            for i, item in enumerate(seq):
                value = self.text(item, f"{key}.plan_task_and_finish_groups[{i}]")
                if value:
                    d.plan_tfg_nodes.append((item, value))
        f["plan_task_and_finish_groups"] = tuple(v for _, v in d.plan_tfg_nodes)
        if "exceptions" in m:
            d.changes_node = m["exceptions"][1]
        if "invitations" in m:
            self._invitations(m["invitations"][1], f"{key}.invitations", f)
        return d

    def _invitations(self, node: yaml.Node, key: str, f: dict[str, Any]) -> None:
        """``invitations: {ahead_days: 42, flag_days: 14}``: both whole days, flag <= ahead."""
        if self.is_null(node):
            return
        m = self.mapping(node, key, _INVITATION_KEYS)
        if m is None:
            return
        ahead = flag = None
        if "ahead_days" in m:
            ahead = self.integer(m["ahead_days"][1], f"{key}.ahead_days", 1, 365, "days")
            if ahead is not None:
                f["invite_ahead_days"] = ahead
        if "flag_days" in m:
            flag = self.integer(m["flag_days"][1], f"{key}.flag_days", 0, 365, "days")
            if flag is not None:
                f["invite_flag_days"] = flag
        ahead_days = f.get("invite_ahead_days", 42)
        flag_days = f.get("invite_flag_days", 14)
        if (ahead is not None or flag is not None) and flag_days > ahead_days:
            self.problem(
                m["flag_days"][1] if "flag_days" in m else m["ahead_days"][1],
                f"{key}.flag_days",
                f"{flag_days} days is more than ahead_days ({ahead_days}): the secretary would "
                "be told an invitation is missing before it is due to go; write a flag_days of "
                f"at most {ahead_days}",
            )
            f.pop("invite_flag_days", None)
            f.pop("invite_ahead_days", None)

    def _resolve_alternation(self, known: dict[str, _Draft]) -> None:
        """Fill in cadence and first meeting of alternating groups from their partners."""
        resolving: set[str] = set()
        done: dict[str, bool] = {}

        def resolve(d: _Draft) -> bool:
            if d.code in done:
                return done[d.code or ""]
            ok = check(d)
            done[d.code or ""] = ok
            return ok

        def check(d: _Draft) -> bool:
            if d.alternates_with is None:
                return d.cadence_text is not None and d.first_meeting is not None
            key = f"{d.key}.alternates_with"
            partner = known.get(d.alternates_with)
            if partner is None or partner is d:
                others = ", ".join(c for c in known if c != d.code) or "none yet"
                what = "itself" if partner is d else f"'{d.alternates_with}'"
                self.problem(
                    d.alternates_node,
                    key,
                    f"alternates with {what}, which is not a group here; "
                    f"write one of the other groups' codes ({others})",
                )
                return False
            if d.code in resolving:
                self.problem(
                    d.alternates_node,
                    key,
                    "alternation goes round in a circle; only one group of each pair should "
                    "say 'alternates_with'",
                )
                return False
            resolving.add(d.code or "")
            ok = resolve(partner)
            resolving.discard(d.code or "")
            if not ok or partner.cadence_text is None or partner.first_meeting is None:
                return False
            p_spec = _parse_cadence(partner.cadence_text)
            if p_spec is None or p_spec.unit is not CadenceUnit.WEEKS or p_spec.interval % 2:
                self.problem(
                    d.alternates_node,
                    key,
                    f"{partner.code} meets '{partner.cadence_text}', and only a cycle of an "
                    "even number of weeks can alternate (half a cycle apart); give this group "
                    "its own cadence and first_meeting instead",
                )
                return False
            if d.cadence_text is not None:
                spec = _parse_cadence(d.cadence_text)
                if spec is not None and (
                    spec.unit is not CadenceUnit.WEEKS or spec.interval != p_spec.interval
                ):
                    self.problem(
                        d.cadence_node,
                        f"{d.key}.cadence",
                        f"'{d.cadence_text}' differs from {partner.code}'s "
                        f"'{partner.cadence_text}'; a group that alternates with another "
                        f"meets on the same cycle: write 'every {p_spec.interval} weeks' or "
                        "remove the cadence line",
                    )
                    return False
            else:
                d.cadence_text = f"every {p_spec.interval} weeks"
            half = timedelta(weeks=p_spec.interval // 2)
            expected = partner.first_meeting + half
            if d.first_meeting is None:
                d.first_meeting = expected
                d.first_derived = True
                return True
            monday = d.first_meeting - timedelta(days=d.first_meeting.weekday())
            p_monday = partner.first_meeting - timedelta(days=partner.first_meeting.weekday())
            weeks = (monday - p_monday).days // 7
            if weeks % p_spec.interval != p_spec.interval // 2:
                self.problem(
                    d.first_node,
                    f"{d.key}.first_meeting",
                    f"{d.first_meeting.isoformat()} is not in a week half a cycle "
                    f"({p_spec.interval // 2} weeks) after {partner.code}'s meetings, so the "
                    f"two would meet in the same weeks; write {expected.isoformat()} or remove "
                    "first_meeting to have it worked out",
                )
                return False
            return True

        for d in known.values():
            resolve(d)

    def _finish_cadence(self, d: _Draft) -> None:
        if d.cadence_text is None or d.first_meeting is None:
            return
        spec = _parse_cadence(d.cadence_text)
        key = f"{d.key}.cadence"
        node = d.cadence_node if d.cadence_node is not None else d.alternates_node or d.node
        if spec is None:
            fix = _cadence_fix(d.cadence_text, d.first_meeting)
            self.problem(node, key, f"cadence '{d.cadence_text}' is not understood; {fix}")
            return
        first = d.first_meeting
        first_key = f"{d.key}.first_meeting"
        first_node = d.first_node if d.first_node is not None else node
        day = WEEKDAYS[first.weekday()]
        if spec.weekday is not None and spec.weekday != first.weekday():
            self.problem(
                first_node,
                first_key,
                f"{first.isoformat()} is a {day}, but the cadence says "
                f"{WEEKDAYS[spec.weekday]}; correct the date or the cadence",
            )
            return
        week_of_month = None
        if spec.unit is CadenceUnit.MONTHS:
            week_of_month = spec.week_of_month or _week_of_month(first)
            rule_day = nth_weekday(first.year, first.month, first.weekday(), week_of_month)
            if rule_day != first:
                self.problem(
                    first_node,
                    first_key,
                    f"{first.isoformat()} is not the {_ORDINAL_WORDS[week_of_month]} {day} of "
                    f"{MONTHS[first.month - 1]}; write {rule_day.isoformat()} or correct the "
                    "cadence",
                )
                return
        cadence = Cadence(spec.unit, spec.interval, first.weekday(), week_of_month)
        d.cadence = cadence
        read_as = cadence.describe()
        inferred = spec.weekday is None or (
            spec.unit is CadenceUnit.MONTHS and spec.week_of_month is None
        )
        if d.alternates_with is not None and d.first_derived:
            read_as += (
                f" from {first.isoformat()}, half a cycle after {d.alternates_with} "
                "(so the two never meet in the same week)"
            )
        elif d.alternates_with is not None:
            read_as += f" in the weeks between {d.alternates_with}'s meetings"
        elif inferred:
            what = "weekday" if spec.unit is CadenceUnit.WEEKS else "weekday and week of the month"
            read_as += f" (the {what} of first_meeting {first.isoformat()})"
        written = d.cadence_text
        if d.cadence_node is None:
            written = f"alternates_with: {d.alternates_with}"
        if spec.moving:
            read_as += (
                "; the group is still moving to this cycle, so make first_meeting the first "
                "meeting on the new cycle"
            )
        self.readings.append(Reading(self.file, _line(node), key, written, read_as))

    def _recess(self, index: int, node: yaml.Node, known: dict[str, _Draft]) -> Recess | None:
        key = f"recesses[{index}]"
        m = self.mapping(node, key, _RECESS_KEYS)
        if m is None:
            return None
        ok = self.required(m, node, key, "name", "a name such as 'Summer recess'")
        name = self.text(m["name"][1], f"{key}.name") if ok else None
        groups: frozenset[str] | None = None
        if "groups" in m:
            codes: set[str] = set()
            seq = self.sequence(m["groups"][1], f"{key}.groups", scalars_ok=True)
            for i, item in enumerate(seq):
                code = self.text(item, f"{key}.groups[{i}]")
                if code is None:
                    continue
                if code not in known:
                    self.problem(item, f"{key}.groups[{i}]", _unknown_code(code, known))
                    ok = False
                codes.add(code)
            groups = frozenset(codes)
        months: set[int] = set()
        if "months" in m:
            seq = self.sequence(m["months"][1], f"{key}.months", scalars_ok=True)
            for i, item in enumerate(seq):
                raw = self.text(item, f"{key}.months[{i}]") or ""
                month = _month_number(raw)
                if month is None:
                    self.problem(
                        item, f"{key}.months[{i}]", f"'{raw}' is not a month; write e.g. August"
                    )
                    ok = False
                else:
                    months.add(month)
        start = self.date_value(m["from"][1], f"{key}.from") if "from" in m else None
        end = self.date_value(m["to"][1], f"{key}.to") if "to" in m else None
        if ("from" in m) != ("to" in m):
            missing = "to" if "from" in m else "from"
            self.problem(
                node, f"{key}.{missing}", "is missing; a dated recess needs both from and to"
            )
            ok = False
        elif start is not None and end is not None and end < start:
            self.problem(m["to"][1], f"{key}.to", "is before 'from'; swap the two dates")
            ok = False
        if not months and "from" not in m:
            self.problem(
                node,
                key,
                "says neither when nor which months; add 'months: [August]' (every year) or "
                "'from:' and 'to:' dates",
            )
            ok = False
        if not ok or name is None:
            return None
        return Recess(name=name, groups=groups, start=start, end=end, months=frozenset(months))

    def _changes(self, d: _Draft, group: Group) -> tuple[MeetingChange, ...]:
        if d.changes_node is None:
            return ()
        out: list[MeetingChange] = []
        seen: dict[date, int] = {}
        for i, node in enumerate(self.sequence(d.changes_node, f"{d.key}.exceptions")):
            key = f"{d.key}.exceptions[{i}]"
            m = self.mapping(node, key, _CHANGE_KEYS)
            if m is None:
                continue
            change = self._change(m, node, key, group)
            if change is None:
                continue
            if change.slot in seen:
                self.problem(
                    node,
                    key,
                    f"{change.slot.isoformat()} already has an exception on line "
                    f"{seen[change.slot]}; merge the two",
                )
                continue
            seen[change.slot] = _line(node)
            out.append(change)
        # A meeting may not be moved onto a date the cycle still holds a meeting on.
        kept = {c.slot for c in out if c.kind is ChangeKind.ADDED}
        changed = {c.slot for c in out if c.kind is not ChangeKind.ADDED}
        for c in out:
            target = c.moved_to if c.kind is ChangeKind.MOVED else None
            if target is None or target == c.slot:
                continue
            if (group.is_slot(target) and target not in changed) or target in kept:
                self.problem(
                    seen[c.slot],
                    f"{d.key}.exceptions",
                    f"{c.slot.isoformat()} is moved to {target.isoformat()}, which already has a "
                    f"{group.code} meeting; cancel {c.slot.isoformat()} instead",
                )
        return tuple(sorted(out, key=lambda c: c.slot))

    def _change(self, m: Mapping_, node: yaml.Node, key: str, group: Group) -> MeetingChange | None:
        note = (self.text(m["note"][1], f"{key}.note") if "note" in m else None) or ""
        new_time = self.time_value(m["time"][1], f"{key}.time") if "time" in m else None
        if "added" in m:
            if "slot" in m or "moved_to" in m or "cancelled" in m:
                self.problem(
                    node,
                    key,
                    "an added meeting takes only 'added', 'time' and 'note'; put a move or "
                    "cancellation in its own exception",
                )
                return None
            day = self.date_value(m["added"][1], f"{key}.added")
            if day is None:
                return None
            if group.is_slot(day):
                self.problem(
                    m["added"][1],
                    f"{key}.added",
                    f"{day.isoformat()} is already a scheduled {group.code} meeting; remove "
                    "this exception (or use 'slot' with 'time' to change its time)",
                )
                return None
            return MeetingChange(ChangeKind.ADDED, day, None, new_time, note)
        if not self.required(m, node, key, "slot", "the date the meeting was scheduled for"):
            return None
        slot = self.date_value(m["slot"][1], f"{key}.slot")
        if slot is None:
            return None
        if not group.is_slot(slot):
            near = _nearest_slots(group, slot)
            self.problem(
                m["slot"][1],
                f"{key}.slot",
                f"{slot.isoformat()} is not a scheduled {group.code} meeting "
                f"({group.cadence.describe()}); write the scheduled date: {near}",
            )
            return None
        cancelled = (
            self.boolean(m["cancelled"][1], f"{key}.cancelled") if "cancelled" in m else None
        )
        moved_to = self.date_value(m["moved_to"][1], f"{key}.moved_to") if "moved_to" in m else None
        if cancelled:
            if "moved_to" in m or "time" in m:
                self.problem(
                    node,
                    key,
                    "is both cancelled and moved; remove 'cancelled: true' or the new date/time",
                )
                return None
            return MeetingChange(ChangeKind.CANCELLED, slot, None, None, note)
        if moved_to is None and new_time is None:
            if not any(k in m for k in ("moved_to", "time", "cancelled")):
                self.problem(
                    node,
                    key,
                    "says nothing about the meeting; add 'moved_to: YYYY-MM-DD', 'time: HH:MM' "
                    "or 'cancelled: true'",
                )
            return None
        return MeetingChange(ChangeKind.MOVED, slot, moved_to or slot, new_time, note)

    def _build_groups(self, drafts: list[_Draft], known: dict[str, _Draft]) -> list[Group]:
        seen_codes: dict[str, _Draft] = {}
        for d in drafts:
            if d.code is None:
                continue
            if d.code in seen_codes:
                self.problem(
                    d.node,
                    f"{d.key}.code",
                    f"code '{d.code}' is also used by {seen_codes[d.code].key} (line "
                    f"{_line(seen_codes[d.code].node)}); give each group its own code",
                )
            else:
                seen_codes[d.code] = d
        # Reporting lines: known codes, and no circles.
        for d in drafts:
            target = d.fields.get("reports_to")
            if target is None:
                continue
            if target not in known or target == d.code:
                msg = (
                    "a group cannot report to itself; write the code of the group above it"
                    if target == d.code
                    else _unknown_code(target, known)
                )
                self.problem(d.reports_to_node, f"{d.key}.reports_to", msg)
                d.fields["reports_to"] = None
        for d in drafts:
            path = [d.code]
            cur = d.fields.get("reports_to")
            while cur is not None and cur not in path:
                path.append(cur)
                cur = known[cur].fields.get("reports_to") if cur in known else None
            if cur is not None and cur == d.code:
                chain = " -> ".join(str(c) for c in [*path, cur])
                self.problem(
                    d.reports_to_node,
                    f"{d.key}.reports_to",
                    f"reporting lines go round in a circle ({chain}); the top group should "
                    "have no reports_to",
                )
                break
        # Each plan task-and-finish value reports to one group only.
        owners: dict[str, tuple[str, int]] = {}
        for d in drafts:
            for i, (node, value) in enumerate(d.plan_tfg_nodes):
                norm = normalise_name(value)
                if norm in owners and owners[norm][0] != d.code:
                    other, line = owners[norm]
                    self.problem(
                        node,
                        f"{d.key}.plan_task_and_finish_groups[{i}]",
                        f"'{value}' is already listed under {other} (line {line}); a plan "
                        "task-and-finish group reports to one group only, so remove one",
                    )
                else:
                    owners[norm] = (d.code or "?", _line(node))

        groups: list[Group] = []
        for d in drafts:
            if d.code is None or d.name is None or d.cadence is None or d.first_meeting is None:
                continue
            f = d.fields
            group = Group(
                code=d.code,
                name=d.name,
                cadence=d.cadence,
                first_meeting=d.first_meeting,
                time=f["time"],
                duration=f["duration"],
                timezone=f["timezone"],
                papers_deadline_working_days=f["papers_deadline_working_days"],
                chair=f.get("chair"),
                secretary=f.get("secretary"),
                members=f["members"],
                mandatory_invitees=f["mandatory_invitees"],
                until=f.get("until"),
                alternates_with=d.alternates_with,
                reports_to=f.get("reports_to"),
                plan_areas=f["plan_areas"],
                plan_task_and_finish_groups=f["plan_task_and_finish_groups"],
                location=f.get("location"),
                purpose=f.get("purpose"),
                invite_ahead_days=f.get("invite_ahead_days", 42),
                invite_flag_days=f.get("invite_flag_days", 14),
            )
            if group.until is not None and group.until < group.first_meeting:
                self.problem(
                    d.until_node,
                    f"{d.key}.until",
                    "is before first_meeting; correct the date or remove 'until'",
                )
            changes = self._changes(d, group)
            groups.append(replace(group, changes=changes))
        return groups


def _unknown_code(code: str, known: dict[str, _Draft]) -> str:
    close = difflib.get_close_matches(code, list(known), n=1, cutoff=0.7)
    if close:
        return f"no group has the code '{code}'; did you mean '{close[0]}'?"
    return f"no group has the code '{code}'; write one of {', '.join(known) or '(none)'}"


def _month_number(raw: str) -> int | None:
    s = raw.strip().lower()
    if s.isdigit() and 1 <= int(s) <= 12:
        return int(s)
    for i, name in enumerate(MONTHS, start=1):
        if len(s) >= 3 and name.lower().startswith(s):
            return i
    return None


def _nearest_slots(group: Group, d: date) -> str:
    span = timedelta(
        weeks=group.cadence.interval * (5 if group.cadence.unit is CadenceUnit.MONTHS else 1)
    )
    before = [s for s in group.slots(d - span, d)]
    after = list(group.slots(d, d + span))
    options = ([before[-1]] if before else []) + ([after[0]] if after else [])
    if not options:
        return f"the first is {group.first_meeting.isoformat()}"
    return " or ".join(o.isoformat() for o in options)


def _guess_date(raw: str) -> date | None:
    cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", raw.strip())
    cleaned = re.sub(r"^(mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+", "", cleaned, flags=re.I)
    for fmt in ("%d %B %Y", "%d %b %Y", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d"):
        try:
            return datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    return None


def _guess_time(raw: str) -> str | None:
    m = re.fullmatch(r"(\d{1,2})(?:[:.](\d{2}))?\s*([ap])\.?m\.?", raw.strip().lower())
    if m is None:
        return None
    hour = int(m.group(1)) % 12 + (12 if m.group(3) == "p" else 0)
    return f"{hour:02d}:{int(m.group(2) or 0):02d}"
