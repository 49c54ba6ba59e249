"""Leads as councils write them.

A plan's "Lead" (or "Senior Responsible Officer") cell names one or more people, usually by a role
title followed by the person's initials in brackets::

    DCS PCC (DH) Head of Women and Children’s Commissioning – Devon ICB (HP)

:func:`parse_leads` (or :class:`LeadResolver`, which builds the directory index once) splits such a
cell into mentions and resolves each against the people directory. It does no I/O.

How a cell is read
==================

1. **Codes in brackets end a person.** ``(DH)``, ``(AP);``, ``(AP),`` and ``(ap)``: the words
   before a directory code, back to the previous code or the previous line break, semicolon,
   colon or full stop, describe that person. Connecting words (``with``, ``and``, ``&``, commas)
   and list markers (``a.``, ``b)``, ``1.``, ``–``) at the start of a description are dropped. A
   team entered in the directory under a code (``Head of Service (CDT)``) resolves like a person.
2. **Bracketed text that is not a code** stays part of the description: ``(DCS PCC)``,
   ``(interim)``. So does an organisation's acronym: a bracketed word that spells the initials of
   the words before it (``Plymouth Parent and Carer Voice (PPCV)``) or that appears in the
   directory's role wording (``(ICB)``, ``(PPCV)``). An acronym right next to a code, as in
   ``Plymouth Parent and Carer Voice (PPCV) (CP)``, is simply ignored; otherwise the description it
   ends is resolved by its wording (rule 5).
3. **An unknown code** (a bracketed ``(ZZ)`` that is not in the directory and not an acronym) is
   reported as unresolved with its description: Chaser will not guess who a code it does not know
   stands for, even if the role wording matches someone else. If it sits right next to a known code
   with nothing between them, it is ignored.
4. **Codes without brackets** resolve when they are directory codes: a description that is only
   codes (``DMO``, ``DMO, JB``), a code in front of a description (``DMO Head of SEND (AP)``), and
   lists inside brackets such as ``Head teacher Chairs of Phases (LS – secondary school heads, SN –
   primary school heads and CW – special school heads)``: each listed code is a person and the words
   before the bracket are just a heading for the list.
5. **Descriptions without a code** are matched against the directory, in this order: the role
   wording, the name and any aliases of each person, fuzzily (``Assistant Director Learning and
   Skills``, ``Head of Women and Children's commissioning – NHS Devon``); a match needs a score of
   at least ``role_match_threshold`` (0–100) and must not tie with a different person. If the whole
   description does not match, it is tried split at commas, ``and``, ``with``, ``&`` and ``/``
   (``Head of SEND and Head of Education``).
6. **Not people.** Descriptions matching one of ``non_person_patterns`` (regular expressions,
   case-insensitive; see :data:`DEFAULT_NON_PERSON_PATTERNS`) are kept in ``non_people`` rather
   than reported as unresolved: boards, groups, committees, partnerships, forums, panels, councils
   (unless the words also name a post such as head, director, chair or manager), and collective
   groups such as ``Children and Young People``, ``parents and carers``, ``schools``. A label
   before a colon (``SEND Sufficiency group: PCC Director of Education (AG)``) is its own
   description. A code always wins over these patterns.
7. Anything else that is left (``Virtual School lead``, ``TBC``) is unresolved: the importer
   reports it so that someone adds the person to the directory or corrects the plan. A wording
   that several people in the directory share (two people whose role is ``Head of SEND``) is
   unresolved too, and its mention lists their codes in ``candidates`` (``ParsedLeads.ambiguous``),
   so that the importer can name them.

Wordings are compared the way a person reads them: capitals, punctuation (a trailing full stop,
commas, dashes), straight or curly apostrophes and repeated spaces do not matter, and words in
brackets that are not a code (``Head of Service (interim)``) may be left out.

``people`` lists the resolved codes in the order they are first mentioned; a code named twice
appears once. Choosing the accountable lead among them is the importer's job.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from rapidfuzz import fuzz, process

__all__ = [
    "DEFAULT_NON_PERSON_PATTERNS",
    "DEFAULT_ROLE_MATCH_THRESHOLD",
    "DirectoryEntry",
    "LeadMention",
    "LeadResolver",
    "MentionHow",
    "ParsedLeads",
    "directory_from_rows",
    "parse_leads",
]

MentionHow = Literal["code", "bare_code", "role", "name", "unresolved", "not_a_person"]

#: Minimum fuzzy score (0–100, rapidfuzz ``token_sort_ratio`` on normalised text) for a
#: description without a code to resolve to a directory role, name or alias.
DEFAULT_ROLE_MATCH_THRESHOLD = 85.0

_POSTS = (
    r"head|heads|director|chair|chairs|manager|lead|officer|chief|ceo|cex|dcs|coordinator"
    r"|co-ordinator|teacher|principal|senco|commissioner|consultant|nurse|doctor|dr|assistant"
    r"|deputy|adviser|advisor|secretary|member|cllr|councillor|president|clerk"
)
_COLLECTIVE = (
    r"children|young\s+people|parents|carers|families|schools|colleges|settings|providers"
    r"|partners|pupils|students|learners|residents|staff|practitioners|professionals|everyone"
    r"|all\s+services|services"
)

#: What the importer should not report as an unresolved person. Regular expressions, searched
#: case-insensitively in a description that has no code.
DEFAULT_NON_PERSON_PATTERNS: tuple[str, ...] = (
    # organisations and meetings, unless a post is named ("Chair of the SEND Board")
    rf"^(?!.*\b(?:{_POSTS})\b).*\b(?:boards?|groups?|committees?|partnerships?|forums?|panels?"
    r"|networks?|alliances?|consortium|councils?|steering|task\s+and\s+finish|working\s+party"
    r"|workstreams?)\b",
    # collective groups of people: "Children and Young People", "parents and carers", "schools"
    rf"^(?:all\s+|the\s+|our\s+)*(?:{_COLLECTIVE})"
    rf"(?:\s*(?:,|and|&|\+)\s*(?:all\s+|the\s+)*(?:{_COLLECTIVE}))*$",
)


@dataclass(frozen=True)
class DirectoryEntry:
    """One person (or team) in the directory."""

    code: str
    name: str
    role: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class LeadMention:
    """One person-shaped fragment of a lead cell and what it resolved to."""

    text: str
    person_code: str | None
    how: MentionHow
    score: float | None = None
    #: For an unresolved wording several people share: their codes (the wording is ambiguous).
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedLeads:
    """Everything one lead cell names, in cell order."""

    raw: str
    mentions: tuple[LeadMention, ...]
    people: tuple[str, ...]
    unresolved: tuple[str, ...]
    non_people: tuple[str, ...]
    #: The unresolved wordings that several people in the directory share, with their codes.
    ambiguous: tuple[tuple[str, tuple[str, ...]], ...] = ()


# --------------------------------------------------------------------------------------------
# Patterns

_BRACKET = re.compile(r"\(([^()]*)\)")
_CODE_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9&]{0,7}")
_UPPER_CODE = re.compile(r"[A-Z][A-Z0-9&]{1,7}")
_LIST_ITEM = re.compile(r"\s*([A-Z][A-Z0-9]{1,5})\s*(?:[–—-]\s*(.*?))?\s*")
_LIST_SPLIT = re.compile(r",|;|\band\b")
#: Where one description ends and another begins, outside codes.
_STRONG_SEP = re.compile(
    r"\n|;|:(?=\s)|(?<!\bDr)(?<!\bMr)(?<!\bMs)(?<!\bSt)(?<!\bNo)(?<!\bMrs)(?<!\bCllr)(?<!\bProf)"
    r"\.(?=\s|$)"
)
_WEAK_SEP = re.compile(r",|/|&|\s+(?:and|with|plus)\s+", re.IGNORECASE)
_LEAD_JUNK = re.compile(
    r"^(?:[\s,;:.–—\-•*·/&+]+|(?:with|and|plus|also|supported\s+by|jointly\s+with)\b"
    r"|\(?(?:[a-z]|\d{1,2}|[ivx]{1,4})[.)](?=\s))+",
    re.IGNORECASE,
)
_TRAIL_JUNK = re.compile(r"(?:[\s,;:.–—\-•*·/&+]+|\b(?:with|and|plus)\b)+$", re.IGNORECASE)
_LEADING_CODES = re.compile(r"([A-Z][A-Z0-9]{1,5})(?:\s*[,;&]\s*|\s+(?:and|with)\s+|\s+)")
_HEADING_ONLY = re.compile(
    r"(?:(?:joint|co|leads?|owners?|officers?|responsible|accountable|supported|by|with|and"
    r"|plus|also|support|from|the|sro|contacts?|named)\b[\s:,]*)+",
    re.IGNORECASE,
)
_LIST_MARKER = re.compile(r"\(?(?:[a-z]|\d{1,2}|[ivx]{1,4})\)?")
_NORM_DROP = re.compile(r"[^a-z0-9 ]+")
_MINOR_WORDS = frozenset({"and", "of", "for", "the", "&", "in", "to", "at", "on", "with"})


_APOSTROPHES = re.compile("['’‘‛ʼ`´′]")


def _norm(text: str) -> str:
    text = _APOSTROPHES.sub("", text.lower()).replace("&", " and ")
    return " ".join(_NORM_DROP.sub(" ", text).split())


def _same_length_clean(text: str) -> str:
    """The text for matching: same length as the cell, so spans line up with the original."""
    return (
        text.replace("\r", " ")
        .replace("\u00a0", " ")
        .replace("’", "'")
        .replace("‘", "'")
        .replace("\t", " ")
    )


# --------------------------------------------------------------------------------------------
# The resolver


@dataclass
class _Builder:
    raw: str
    text: str
    mentions: list[LeadMention]

    def add(
        self,
        a: int,
        b: int,
        code: str | None,
        how: MentionHow,
        score: float | None = None,
        candidates: tuple[str, ...] = (),
    ) -> None:
        self.mentions.append(LeadMention(self.raw[a:b].strip(), code, how, score, candidates))


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    """Drop connecting words, list markers and punctuation at both ends of text[a:b]."""
    piece = text[a:b]
    lead = _LEAD_JUNK.match(piece)
    if lead:
        a += lead.end()
        piece = piece[lead.end() :]
    trail = _TRAIL_JUNK.search(piece)
    if trail:
        b -= len(piece) - trail.start()
    return a, max(a, b)


def _pieces(text: str, a: int, b: int) -> list[tuple[int, int]]:
    """Split text[a:b] at line breaks, semicolons, colons and full stops; trimmed, non-empty."""
    out: list[tuple[int, int]] = []
    begin = a
    for sep in _STRONG_SEP.finditer(text, a, b):
        out.append((begin, sep.start()))
        begin = sep.end()
    out.append((begin, b))
    trimmed = [_trim(text, x, y) for x, y in out]
    return [(x, y) for x, y in trimmed if y > x and not _LIST_MARKER.fullmatch(text, x, y)]


class LeadResolver:
    """Resolves lead cells against one directory. Build it once; :meth:`parse` caches by cell.

    ``non_person_patterns`` replaces :data:`DEFAULT_NON_PERSON_PATTERNS` when given;
    ``role_match_threshold`` (0–100) is the least fuzzy score that resolves a description without
    a code.
    """

    def __init__(
        self,
        directory: Iterable[DirectoryEntry],
        *,
        non_person_patterns: Sequence[str] | None = None,
        role_match_threshold: float = DEFAULT_ROLE_MATCH_THRESHOLD,
        cache_size: int = 16384,
    ) -> None:
        self.directory: tuple[DirectoryEntry, ...] = tuple(directory)
        self.role_match_threshold = float(role_match_threshold)
        patterns = (
            DEFAULT_NON_PERSON_PATTERNS if non_person_patterns is None else non_person_patterns
        )
        self._non_person = tuple(re.compile(p, re.IGNORECASE) for p in patterns)
        self._codes: dict[str, str] = {}  # upper-case code -> code as written in the directory
        for entry in self.directory:
            self._codes.setdefault(entry.code.strip().upper(), entry.code.strip())
        # exact wordings (short ones and acronyms match only exactly) and fuzzy wordings
        self._exact: dict[str, set[tuple[str, MentionHow]]] = {}
        self._choices: list[str] = []
        self._choice_owner: list[tuple[str, MentionHow]] = []
        self._acronyms: set[str] = set()
        for entry in self.directory:
            code = entry.code.strip()
            wordings: list[tuple[str, MentionHow]] = [(entry.name, "name")]
            wordings += [(w, "role") for w in self._role_wordings(entry.role)]
            wordings += [(w, "role") for w in entry.aliases]
            for wording, how in wordings:
                key = _norm(wording)
                if not key:
                    continue
                self._exact.setdefault(key, set()).add((code, how))
                if " " in key and len(key) >= 6:
                    self._choices.append(key)
                    self._choice_owner.append((code, how))
            for token in re.findall(r"\b[A-Z][A-Z0-9&]{1,7}\b", entry.role):
                if token.upper() not in self._codes:
                    self._acronyms.add(token)
        self._cached: Callable[[str | None], ParsedLeads] = lru_cache(maxsize=cache_size)(
            self._parse
        )

    def parse(self, cell: str | None) -> ParsedLeads:
        """Read one lead cell. The same text is only worked out once (an LRU cache)."""
        return self._cached(cell)

    def entry(self, code: str) -> DirectoryEntry | None:
        """The directory entry with this code, if any."""
        wanted = code.strip().upper()
        return next((e for e in self.directory if e.code.strip().upper() == wanted), None)

    @staticmethod
    def _role_wordings(role: str) -> list[str]:
        """The wordings a role can be written in.

        ``Director EPS (Director of Education)`` gives the role, ``Director EPS`` and ``Director of
        Education``; ``Head of X – Devon ICB`` also gives ``Head of X``.
        """
        role = role.strip()
        out = [role]
        bare = " ".join(_BRACKET.sub(" ", role).split())
        out.append(bare)
        out += [inner.strip() for inner in _BRACKET.findall(role)]
        for candidate in (role, bare):
            for dash in (" – ", " - ", " — "):
                if dash in candidate:
                    out.append(candidate.split(dash, 1)[0])
        return [w for w in dict.fromkeys(out) if w]

    # ------------------------------------------------------------------ matching

    def match_wording(self, text: str) -> LeadMention | None:
        """Resolve a description that has no code by its wording; None if nothing is close.

        Words in brackets that are not a code (``(interim)``) may be left out: the wording with
        and without them is tried exactly first, then fuzzily."""
        for fuzzy in (False, True):
            for wording in self._wordings(text):
                found, codes = self._lookup(wording, fuzzy=fuzzy)
                if found is not None:
                    return LeadMention(text, found.person_code, found.how, found.score)
                if codes:
                    return None
        return None

    def candidates(self, text: str) -> tuple[str, ...]:
        """The codes of the people a wording fits equally well (empty unless it is ambiguous)."""
        for fuzzy in (False, True):
            for wording in self._wordings(text):
                found, codes = self._lookup(wording, fuzzy=fuzzy)
                if found is not None:
                    return ()
                if codes:
                    return codes
        return ()

    @staticmethod
    def _wordings(text: str) -> list[str]:
        return [text, _BRACKET.sub(" ", text)] if "(" in text else [text]

    def _lookup(self, text: str, *, fuzzy: bool) -> tuple[LeadMention | None, tuple[str, ...]]:
        """The one person a wording names, or the several it fits equally well."""
        key = _norm(text)
        if not key:
            return None, ()
        exact = self._exact.get(key)
        if exact:
            codes = {code for code, _ in exact}
            if len(codes) == 1:
                code, how = sorted(exact, key=lambda x: x[1] != "name")[0]
                return LeadMention(text, code, how, 100.0), ()
            return None, tuple(sorted(codes))  # the same wording for several people
        if not fuzzy or " " not in key or not self._choices:
            return None, ()
        found = process.extract(
            key,
            self._choices,
            scorer=fuzz.token_sort_ratio,
            score_cutoff=self.role_match_threshold,
            limit=8,
        )
        if not found:
            return None, ()
        best_score = found[0][1]
        best = self._choice_owner[found[0][2]]
        tied = {
            self._choice_owner[index][0] for _, score, index in found if score >= best_score - 2.0
        }
        if len(tied) > 1:
            return None, tuple(sorted(tied))  # ties with someone else
        return LeadMention(text, best[0], best[1], round(float(best_score), 1)), ()

    def is_non_person(self, text: str) -> bool:
        """True when a description without a code names a group, not a person."""
        flat = " ".join(text.replace("’", "'").split()).strip(" .,;:")
        return any(p.search(flat) for p in self._non_person)

    def _known(self, token: str) -> str | None:
        return self._codes.get(token.strip().upper())

    def _is_acronym(self, token: str, before: str) -> bool:
        if token in self._acronyms:
            return True
        words = [w for w in re.findall(r"[A-Za-z][\w']*", before) if w.lower() not in _MINOR_WORDS]
        initials = "".join(w[0] for w in words).upper()
        return len(token) >= 2 and initials.endswith(token.upper())

    # ------------------------------------------------------------------ one cell

    def _parse(self, cell: str | None) -> ParsedLeads:
        raw = "" if cell is None else str(cell)
        text = _same_length_clean(raw)
        out = _Builder(raw, text, [])
        cursor = 0
        groups = list(_BRACKET.finditer(text))
        for i, group in enumerate(groups):
            if group.start() < cursor:
                continue
            inner = group.group(1).strip().strip(".,;:").strip()
            code = self._known(inner) if _CODE_TOKEN.fullmatch(inner) else None
            if code is not None and (inner.isupper() or len(inner) <= 5):
                a, _ = self._before(out, cursor, group.start())
                out.add(a, group.end(), code, "code")
                cursor = group.end()
                continue
            listed = self._bracket_list(inner)
            if listed is not None:
                self._before(out, cursor, group.start(), heading=True)
                self._add_list(out, group, listed)
                cursor = group.end()
                continue
            if not _UPPER_CODE.fullmatch(inner):
                continue  # ordinary words in brackets: part of the description
            between_prev = text[cursor : group.start()].strip(" ,;.")
            nxt = groups[i + 1] if i + 1 < len(groups) else None
            if nxt is not None and not text[group.end() : nxt.start()].strip(" ,;."):
                nxt_inner = nxt.group(1).strip().strip(".,;:").strip()
                if self._known(nxt_inner):
                    continue  # "(PPCV) (CP)": the known code's description includes it
            if not between_prev and out.mentions and out.mentions[-1].how == "code":
                cursor = group.end()  # "(CP) (PPCV)": ignored
                continue
            if self._is_acronym(inner, text[cursor : group.start()]):
                self._codeless_span(out, cursor, group.end())
            else:
                a, _ = self._before(out, cursor, group.start())
                if self.is_non_person(text[a : group.start()]):
                    out.add(a, group.end(), None, "not_a_person")
                else:
                    out.add(a, group.end(), None, "unresolved")
            cursor = group.end()
        self._codeless_span(out, cursor, len(text))
        return _finish(raw, out.mentions)

    def _before(self, out: _Builder, a: int, b: int, *, heading: bool = False) -> tuple[int, int]:
        """Handle the text before a code: earlier descriptions, then the code's own one.

        Returns the span of the code's own description (empty when there is none).
        """
        pieces = _pieces(out.text, a, b)
        if not pieces:
            return b, b
        for x, y in pieces[:-1]:
            self._codeless(out, x, y)
        x, y = pieces[-1]
        if heading:
            return x, y
        # bare directory codes in front of the description: "DMO Head of SEND (AP)"
        while True:
            lead = _LEADING_CODES.match(out.text, x, y)
            if not lead or not self._known(lead.group(1)):
                break
            out.add(lead.start(1), lead.end(1), self._known(lead.group(1)), "bare_code")
            x, y = _trim(out.text, lead.end(), y)
        return x, y

    def _bracket_list(self, inner: str) -> list[tuple[str, str]] | None:
        """``LS – secondary school heads, SN – primary school heads and CW – …``."""
        if "," not in inner and " and " not in inner and ";" not in inner:
            return None
        items = [item for item in _LIST_SPLIT.split(inner) if item.strip()]
        parsed: list[tuple[str, str]] = []
        for item in items:
            m = _LIST_ITEM.fullmatch(item)
            if not m:
                return None
            parsed.append((m.group(1), item.strip()))
        if not any(self._known(code) for code, _ in parsed):
            return None
        return parsed

    def _add_list(self, out: _Builder, group: re.Match[str], listed: list[tuple[str, str]]) -> None:
        offset = group.start(1)
        inner = group.group(1)
        search_from = 0
        for code, item in listed:
            at = inner.find(item, search_from)
            search_from = at + len(item)
            known = self._known(code)
            how: MentionHow = "bare_code" if known else "unresolved"
            out.add(offset + at, offset + at + len(item), known, how)

    def _codeless_span(self, out: _Builder, a: int, b: int) -> None:
        for x, y in _pieces(out.text, a, b):
            self._codeless(out, x, y)

    def _codeless(self, out: _Builder, a: int, b: int) -> None:
        """A description with no code in brackets."""
        text = out.text[a:b]
        if _HEADING_ONLY.fullmatch(text):
            return
        tokens = [t for t in re.split(r"[\s,;&/]+|\band\b|\bwith\b", text) if t]
        if tokens and all(self._known(t) and t.isupper() for t in tokens):
            pos = a
            for token in tokens:
                at = out.text.index(token, pos)
                out.add(at, at + len(token), self._known(token), "bare_code")
                pos = at + len(token)
            return
        dashed = re.fullmatch(r"([A-Z][A-Z0-9]{1,5})\s*[–—-]\s*\S.*", text, re.DOTALL)
        if dashed and self._known(dashed.group(1)):
            out.add(a, b, self._known(dashed.group(1)), "bare_code")
            return
        matched = self.match_wording(text)
        if matched is not None:
            out.add(a, b, matched.person_code, matched.how, matched.score)
            return
        if self.is_non_person(text) and not self._names_someone(out.text, a, b):
            out.add(a, b, None, "not_a_person")
            return
        self._split_and_match(out, a, b)

    def _names_someone(self, text: str, a: int, b: int) -> bool:
        """Whether a part of text[a:b] between commas, "and", "with"… names a person, as in
        "Director of Children's Services with SEND Family Voice": then it is not only a group."""
        cuts = [a]
        for sep in _WEAK_SEP.finditer(text, a, b):
            cuts += [sep.start(), sep.end()]
        cuts.append(b)
        parts = [text[cuts[k] : cuts[k + 1]] for k in range(0, len(cuts), 2)]
        return len(parts) > 1 and any(self.match_wording(p) for p in parts if p.strip())

    def _split_and_match(self, out: _Builder, a: int, b: int) -> None:
        """Try "Head of SEND and Head of Education": the longest runs of atoms that match."""
        cuts = [a]
        for sep in _WEAK_SEP.finditer(out.text, a, b):
            cuts += [sep.start(), sep.end()]
        cuts.append(b)
        atoms = [(cuts[k], cuts[k + 1]) for k in range(0, len(cuts), 2)]
        atoms = [(x, y) for x, y in atoms if out.text[x:y].strip()]
        if len(atoms) < 2:
            out.add(a, b, None, "unresolved", candidates=self.candidates(out.text[a:b]))
            return
        results: list[tuple[int, int, LeadMention | None]] = []
        k = 0
        while k < len(atoms):
            for end in range(len(atoms), k, -1):
                span = (atoms[k][0], atoms[end - 1][1])
                if end - k == len(atoms):
                    continue  # the whole description was tried already
                found = self.match_wording(out.text[span[0] : span[1]])
                if found is not None:
                    results.append((span[0], span[1], found))
                    k = end
                    break
            else:
                results.append((atoms[k][0], atoms[k][1], None))
                k += 1
        if all(found is None for _, _, found in results):
            if self.is_non_person(out.text[a:b]):
                out.add(a, b, None, "not_a_person")
            else:
                out.add(a, b, None, "unresolved", candidates=self.candidates(out.text[a:b]))
            return
        pending: tuple[int, int] | None = None
        for x, y, found in [*results, (b, b, LeadMention("", None, "unresolved"))]:
            if found is None:
                pending = (pending[0], y) if pending else (x, y)
                continue
            if pending is not None:
                rest = out.text[pending[0] : pending[1]]
                if self.is_non_person(rest):
                    out.add(pending[0], pending[1], None, "not_a_person")
                else:
                    codes = self.candidates(rest)
                    out.add(pending[0], pending[1], None, "unresolved", candidates=codes)
                pending = None
            if found.person_code is not None:
                out.add(x, y, found.person_code, found.how, found.score)


def _finish(raw: str, mentions: list[LeadMention]) -> ParsedLeads:
    kept = [m for m in mentions if m.text]
    people = tuple(dict.fromkeys(m.person_code for m in kept if m.person_code is not None))
    return ParsedLeads(
        raw=raw,
        mentions=tuple(kept),
        people=people,
        unresolved=tuple(m.text for m in kept if m.how == "unresolved"),
        non_people=tuple(m.text.strip(" .,;:") for m in kept if m.how == "not_a_person"),
        ambiguous=tuple(
            (m.text, m.candidates) for m in kept if m.how == "unresolved" and m.candidates
        ),
    )


@lru_cache(maxsize=8)
def _resolver_for(
    directory: tuple[DirectoryEntry, ...],
    non_person_patterns: tuple[str, ...] | None,
    role_match_threshold: float,
) -> LeadResolver:
    return LeadResolver(
        directory,
        non_person_patterns=non_person_patterns,
        role_match_threshold=role_match_threshold,
    )


def parse_leads(
    cell: str | None,
    directory: Sequence[DirectoryEntry],
    *,
    non_person_patterns: Sequence[str] | None = None,
    role_match_threshold: float = DEFAULT_ROLE_MATCH_THRESHOLD,
) -> ParsedLeads:
    """Read one lead cell against a directory. See the module docstring for the rules.

    Convenience wrapper: the resolver for the same directory and settings is built once and reused.
    """
    patterns = None if non_person_patterns is None else tuple(non_person_patterns)
    resolver = _resolver_for(tuple(directory), patterns, float(role_match_threshold))
    return resolver.parse(cell)


def directory_from_rows(rows: Iterable[Mapping[str, str | None]]) -> tuple[DirectoryEntry, ...]:
    """Directory entries from rows with ``code``, ``name``, ``role`` and optional ``aliases``.

    ``aliases`` holds extra wordings separated by ``;`` or ``|``. Rows without a code are skipped.
    """
    entries: list[DirectoryEntry] = []
    for row in rows:
        code = (row.get("code") or "").strip()
        if not code:
            continue
        aliases = tuple(a.strip() for a in re.split(r"[;|]", row.get("aliases") or "") if a.strip())
        entries.append(
            DirectoryEntry(
                code=code,
                name=(row.get("name") or "").strip(),
                role=(row.get("role") or "").strip(),
                aliases=aliases,
            )
        )
    return tuple(entries)
