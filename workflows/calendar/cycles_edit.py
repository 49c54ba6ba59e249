"""Editing ``cycles.yaml`` as its admin wrote it: comments, order and quoting kept.

Each edit takes the file's text and returns the new text (pure: no file is read or written).
The text is read and written with ruamel.yaml's round-trip mode, so everything the edit does
not touch is kept byte for byte, comments included. The result is not validated here: the
caller validates it with :func:`workflows.calendar.cycles.parse_cycles`, exactly as
``chaser cycles validate`` does.

Edits: :func:`add_exception` (move, cancel or add one meeting), :func:`remove_exception`,
:func:`add_recess`, :func:`remove_recess` and :func:`set_people` (a group's members or
mandatory invitees). Removing an entry removes the comments ruamel.yaml attaches to it
(those on the lines after it, up to the next entry); removing a list's last entry removes its
key. A form value that cannot be written into the file at all (a date that is
not a date) raises :class:`EditError` naming the field, the value and what was expected.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

#: Exception kinds the form offers.
MOVE, CANCEL, ADD = "move", "cancel", "add"
PEOPLE_FIELDS = ("members", "mandatory_invitees")


class EditError(ValueError):
    """A form value that cannot go into the file: ``problems`` maps each field to the message
    shown beside it."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = problems


@dataclass(frozen=True)
class PersonLine:
    """One person as the form writes them: ``Name, role, email`` (role and email optional)."""

    name: str
    role: str = ""
    email: str = ""


def sha256_of(text: str) -> str:
    """The SHA-256 of the file's UTF-8 bytes (as the running service's reloader computes it)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def unified_diff(before: str, after: str, *, name: str = "cycles.yaml") -> str:
    """The change from ``before`` to ``after`` as a unified diff (empty when they are equal)."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"{name} (before)",
            tofile=f"{name} (after)",
        )
    )


def _yaml() -> YAML:
    y = YAML()  # round-trip
    y.preserve_quotes = True
    y.width = 4096
    # The shipped file's style: "key:\n  - item:\n    key: value".
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _load(text: str) -> CommentedMap:
    try:
        data = _yaml().load(text)
    except YAMLError as exc:
        raise EditError(
            {
                "yaml": "The file cannot be read as YAML, so this change cannot be made to it "
                f"({str(exc).splitlines()[0][:200]}); fix the YAML below first"
            }
        ) from None
    if not isinstance(data, CommentedMap):
        raise EditError({"yaml": "The file must be a mapping with a 'groups' list; fix it below"})
    return data


def _dump(data: CommentedMap) -> str:
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def _group(data: CommentedMap, code: str) -> CommentedMap:
    groups = data.get("groups")
    if isinstance(groups, list):
        for entry in groups:
            if isinstance(entry, CommentedMap) and str(entry.get("code", "")) == code:
                return entry
    raise EditError(
        {"group": f"There is no group {code[:20]!r} in the file; choose one from the list"}
    )


def _date(field: str, label: str, value: str, *, required: bool = True) -> dt.date | None:
    text = value.strip()
    if not text:
        if required:
            raise EditError({field: f"Enter the {label}, like 2026-03-10"})
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise EditError(
            {
                field: f"The {label} must be a date written YYYY-MM-DD, like 2026-03-10 "
                f"(you wrote {text[:20]!r})"
            }
        ) from None


def _seq(parent: CommentedMap, key: str) -> CommentedSeq:
    found = parent.get(key)
    if isinstance(found, CommentedSeq):
        return found
    seq = CommentedSeq()
    if key in parent:
        parent[key] = seq
    else:
        parent.insert(len(parent), key, seq)
    return seq


def add_exception(
    text: str,
    *,
    group: str,
    kind: str,
    slot: str = "",
    moved_to: str = "",
    time: str = "",
    note: str = "",
) -> tuple[str, int]:
    """The text with one exception appended to ``group``'s ``exceptions``, and its index there
    (so a problem ``groups[g].exceptions[i].slot`` can be shown beside the form's field)."""
    data = _load(text)
    entry = _group(data, group)
    new = CommentedMap()
    if kind == ADD:
        new["added"] = _date("slot", "date of the extra meeting", slot)
    elif kind in (MOVE, CANCEL):
        new["slot"] = _date("slot", "date the cycle gave the meeting", slot)
        if kind == MOVE:
            to = _date("moved_to", "new date", moved_to, required=not time.strip())
            if to is not None:
                new["moved_to"] = to
        else:
            new["cancelled"] = True
    else:
        raise EditError({"kind": "Choose whether the meeting is moved, cancelled or added"})
    if time.strip() and kind != CANCEL:
        new["time"] = time.strip()
    if note.strip():
        new["note"] = note.strip()[:200]
    exceptions = _seq(entry, "exceptions")
    exceptions.append(new)
    return _dump(data), len(exceptions) - 1


def remove_exception(text: str, *, group: str, slot: str) -> str:
    """The text without ``group``'s exception for the meeting of ``slot`` (its ``slot:`` or,
    for an added meeting, its ``added:`` date)."""
    data = _load(text)
    exceptions = _group(data, group).get("exceptions")
    for index, entry in enumerate(exceptions if isinstance(exceptions, list) else []):
        if isinstance(entry, dict) and slot in (str(entry.get("slot")), str(entry.get("added"))):
            del exceptions[index]
            if not exceptions:  # an emptied list would be written badly: drop the key
                del _group(data, group)["exceptions"]
            return _dump(data)
    raise EditError({"yaml": "That exception is no longer in the file; reload the page"})


def add_recess(
    text: str, *, name: str, start: str, end: str, groups: Sequence[str] = ()
) -> tuple[str, int]:
    """The text with a one-off recess (``from``/``to``) appended, and its index in
    ``recesses``. No ``groups`` means every group."""
    problems: dict[str, str] = {}
    if not name.strip():
        problems["recess_name"] = "Enter a name for the recess, like Pre-election period"
    first = last = None
    try:
        first = _date("recess_from", "first day of the recess", start)
    except EditError as exc:
        problems.update(exc.problems)
    try:
        last = _date("recess_to", "last day of the recess", end)
    except EditError as exc:
        problems.update(exc.problems)
    if problems:
        raise EditError(problems)
    data = _load(text)
    new = CommentedMap()
    new["name"] = name.strip()[:120]
    new["from"] = first
    new["to"] = last
    if groups:
        codes = CommentedSeq(list(groups))
        codes.fa.set_flow_style()
        new["groups"] = codes
    recesses = _seq(data, "recesses")
    recesses.append(new)
    return _dump(data), len(recesses) - 1


def remove_recess(text: str, *, index: int, name: str) -> str:
    """The text without recess number ``index`` (counting from 0), if it is still ``name``."""
    data = _load(text)
    recesses = data.get("recesses")
    if (
        not isinstance(recesses, list)
        or not 0 <= index < len(recesses)
        or not isinstance(recesses[index], dict)
        or str(recesses[index].get("name", "")) != name
    ):
        raise EditError({"yaml": "That recess is no longer in the file; reload the page"})
    del recesses[index]
    if not recesses:
        del data["recesses"]
    return _dump(data)


def read_people(field: str, text: str) -> list[PersonLine]:
    """The form's textarea, one person a line: ``Name, role, email`` (role and email may be
    left out; a line that is only an address is read as the email)."""
    people: list[PersonLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) > 3:
            raise EditError(
                {
                    field: f"Line {number} ({line[:60]!r}) has more than three parts; write "
                    "'Name, role, email' with commas only between them"
                }
            )
        email = next((p for p in parts if "@" in p), "")
        rest = [p for p in parts if p != email]
        people.append(
            PersonLine(
                name=rest[0] if rest else "", role=rest[1] if len(rest) > 1 else "", email=email
            )
        )
    return people


def people_text(entries: Any) -> str:
    """A group's members or invitees as the form's textarea shows them."""
    lines: list[str] = []
    for entry in entries or []:
        if isinstance(entry, dict):
            parts = [str(entry.get(k) or "") for k in ("name", "role", "email")]
            lines.append(", ".join(p for p in parts if p))
        elif entry is not None:
            lines.append(str(entry))
    return "\n".join(lines)


def set_people(text: str, *, group: str, field: str, people: Sequence[PersonLine]) -> str:
    """The text with ``group``'s ``members`` or ``mandatory_invitees`` replaced by ``people``.

    A member with only a name (a role such as "Chief Executive") is written as plain text, as
    the file allows; everyone else as ``{name, role, email}``. An empty list removes the key."""
    if field not in PEOPLE_FIELDS:
        raise EditError({"field": "Choose members or mandatory invitees"})
    data = _load(text)
    entry = _group(data, group)
    if not people:
        entry.pop(field, None)
        return _dump(data)
    seq = CommentedSeq()
    for person in people:
        if field == "members" and not person.email and not person.role:
            seq.append(person.name)
            continue
        item = CommentedMap()
        item["name"] = person.name
        if person.role:
            item["role"] = person.role
        if person.email:
            item["email"] = person.email
        item.fa.set_flow_style()
        seq.append(item)
    if field in entry:
        entry[field] = seq
    else:
        at = list(entry).index("secretary") + 1 if "secretary" in entry else len(entry)
        entry.insert(at, field, seq)
    return _dump(data)


def group_people(text: str) -> dict[str, dict[str, str]]:
    """Each group's name, members and mandatory invitees (as textarea text), by group code, in
    file order, read even when the file does not validate (empty when it is not YAML)."""
    try:
        data = _load(text)
    except EditError:
        return {}
    out: dict[str, dict[str, str]] = {}
    groups = data.get("groups")
    for entry in groups if isinstance(groups, list) else []:
        if isinstance(entry, dict) and entry.get("code"):
            out[str(entry["code"])] = {
                "name": str(entry.get("name") or ""),
                **{f: people_text(entry.get(f)) for f in PEOPLE_FIELDS},
            }
    return out


def group_index(text: str, code: str) -> int | None:
    """The position of group ``code`` in the file's ``groups`` (as problems' keys count)."""
    try:
        groups = _load(text).get("groups")
    except EditError:
        return None
    for index, entry in enumerate(groups if isinstance(groups, list) else []):
        if isinstance(entry, dict) and str(entry.get("code", "")) == code:
            return index
    return None
