"""Turning a :class:`~workflows.chasing.chases.Chase` into messages: pure functions over Jinja2.

Two environments share one loader: HTML (autoescape on, so an action titled ``<script>`` arrives as
text) and plain text (autoescape off). Both use ``StrictUndefined``, so a template that names
something the renderer does not provide fails loudly instead of sending a message with a gap in it.

The loader looks in an override directory first (``<config_dir>/templates/``), then in the
templates shipped in ``notifications/templates/``. An admin overrides a file by copying it there
and editing it. The files are:

* ``_wording.j2``: the per-step sentences, as macros, shared by the HTML and text bodies;
* ``chase_subject.txt``: the subject line (the reference is added if the template leaves it out);
* ``chase.txt`` and ``chase.html`` (which extends ``_base.html``, holding the CSS): the email;
* ``teams.txt``: the text of the Teams card (paragraphs; lines starting ``- `` are the list).

Every template sees the names built by :func:`chase_context` (see its docstring), and the filters
``long_date`` ("Tuesday 1 July 2025"), ``short_date`` ("Tue 1 Jul"), ``month_date``
("1 Jul 2025"), ``plural`` ("3 actions") and ``oneline`` (whitespace squashed, for the
multi-line macros in ``_wording.j2``).

The HTML's ``<style>`` block is inlined into ``style=""`` attributes at render time (Outlook
ignores most ``<style>`` rules); remote stylesheets are never fetched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import css_inline
import jinja2
from markupsafe import Markup

from notifications.channel import KEY_HEADER, REFERENCE_HEADER, Address, Mention, OutgoingMessage
from notifications.template_cache import shared_bytecode
from workflows.chasing.chases import NUDGE_KINDS, Chase, ChasedAction, Step, Who

SHIPPED_TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Templates:
    """The two Jinja2 environments (and the CSS inliner) messages are rendered with."""

    html: jinja2.Environment
    text: jinja2.Environment
    inliner: css_inline.CSSInliner
    override_dir: Path | None = None


def load_templates(override_dir: Path | None = None) -> Templates:
    """Environments that look in ``override_dir`` (if given and present) before the shipped ones.

    ``override_dir`` is normally ``<config_dir>/templates``; it need not exist.
    """
    searchpath: list[str] = []
    if override_dir is not None and override_dir.is_dir():
        searchpath.append(str(override_dir))
    searchpath.append(str(SHIPPED_TEMPLATES))
    loader = jinja2.FileSystemLoader(searchpath)
    common: dict[str, Any] = {
        "loader": loader,
        "undefined": jinja2.StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": False,
    }
    # Each kind of environment compiles a template once per process (its settings and search
    # path are the cache's key: code compiled to escape is never used where it must not).
    options = tuple(sorted((k, v) for k, v in common.items() if k not in ("loader", "undefined")))
    html, text = (
        jinja2.Environment(
            autoescape=escape,
            bytecode_cache=shared_bytecode(("message", escape, tuple(searchpath), options)),
            **common,
        )
        for escape in (True, False)
    )
    for env in (html, text):
        env.filters["long_date"] = long_date
        env.filters["short_date"] = short_date
        env.filters["month_date"] = month_date
        env.filters["plural"] = plural
        env.filters["oneline"] = oneline
    inliner = css_inline.CSSInliner(
        keep_style_tags=False,
        keep_link_tags=False,
        load_remote_stylesheets=False,
    )
    return Templates(html=html, text=text, inliner=inliner, override_dir=override_dir)


# -- filters -----------------------------------------------------------------------------------


def long_date(value: date | None) -> str:
    """``Tuesday 1 July 2025`` (GOV.UK style), or "" for None."""
    if value is None:
        return ""
    return f"{value:%A} {value.day} {value:%B %Y}"


def month_date(value: date | None) -> str:
    """``3 Jun 2025``, for the short line of an action, or "" for None."""
    if value is None:
        return ""
    return f"{value.day} {value:%b %Y}"


def short_date(value: date | None) -> str:
    """``Tue 1 Jul``, for subject lines, or "" for None."""
    if value is None:
        return ""
    return f"{value:%a} {value.day} {value:%b}"


def oneline(value: object) -> str:
    """Whitespace squashed to single spaces (keeps HTML-safe text safe, without escaping twice)."""
    if isinstance(value, Markup):
        return Markup(" ").join(value.split())
    return " ".join(str(value).split())


def plural(count: int, singular: str, many: str | None = None) -> str:
    """``1 action``, ``3 actions``."""
    word = singular if count == 1 else (many or singular + "s")
    return f"{count} {word}"


# -- the context every template sees -----------------------------------------------------------


def chase_context(chase: Chase, *, link: str, reference: str) -> dict[str, Any]:
    """The names a chase template can use.

    ``chase`` (the Chase itself), ``step`` (its value: "request", "reminder", "final_reminder",
    "escalation", "nudge_before", "nudge_due", "nudge_overdue"), ``recipient`` and ``lead``
    (``Who``: ``.name``, ``.email``), ``actions`` (``ChasedAction``: ``.ref``, ``.title``,
    ``.due``, ``.forecast`` ("" when unchanged), ``.last_status``, ``.last_update``, ``.lead``),
    ``count``,
    ``first_ref``, ``group`` (the group's name, or ""), ``meeting_date``, ``papers_deadline``,
    ``delegated``, ``escalation``, ``nudge``, ``whose`` ("your" or "Hester Pengelly's"),
    ``link``, ``reference`` and ``reply_example``; ``leads`` (``(Who, [ChasedAction])`` pairs:
    one, the lead, unless an escalation lists several silent leads, or a nudge to a delegate
    covering several away leads) and ``lead_names`` ("Hester Pengelly, Kit Trelawny and Tom
    Carne"); ``nudge_groups``, a nudge's actions by kind, most urgent first (each with
    ``.kind`` "nudge_overdue", "nudge_due" or "nudge_before", ``.heading`` "Overdue", "Due
    today" or "Due soon", ``.count`` and ``.actions``; empty for other steps) and
    ``nudge_counts`` ("1 action overdue, 2 due soon"); and, in every template but
    ``chase_subject.txt``, ``subject``. ``teams.txt`` also has ``mention(person)``. The step of
    a nudge listing more than one kind is "nudge".
    """
    first_ref = chase.actions[0].ref if chase.actions else "2.5"
    escalation = chase.step is Step.ESCALATION
    own = chase.to.code == chase.lead.code and not chase.delegated and not escalation
    leads = [(who, list(actions)) for who, actions in chase.leads]
    names = [who.name for who, _ in leads]
    groups = nudge_groups(chase) if chase.step.is_nudge else []
    lead_names = (
        " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)
    )
    several = len(names) > 1 and not escalation  # a delegate's nudge for several away leads
    return {
        "nudge_groups": groups,
        "nudge_counts": ", ".join(
            f"{g.count} action{'' if g.count == 1 else 's'} {g.phrase}"
            if n == 0
            else f"{g.count} {g.phrase}"
            for n, g in enumerate(groups)
        ),
        "leads": leads,
        "lead_names": lead_names,
        "chase": chase,
        "step": chase.step.value,
        "recipient": chase.to,
        # an escalation's lead is its first silent lead (chase.lead is the officer), so an
        # override written before escalations listed several leads still names one of them
        "lead": leads[0][0] if escalation and leads else chase.lead,
        "actions": list(chase.actions),
        "count": len(chase.actions),
        "first_ref": first_ref,
        "group": chase.group_name,
        "meeting_date": chase.meeting_date,
        "papers_deadline": chase.papers_deadline,
        "delegated": chase.delegated,
        "escalation": escalation,
        "nudge": chase.step.is_nudge,
        "whose": "your" if own else f"{lead_names if several else chase.lead.name}'s",
        "link": link,
        "reference": reference,
        "reply_example": f"{first_ref}: amber – recruitment under way",
    }


@dataclass(frozen=True)
class NudgeGroup:
    """The actions of one kind in a nudge."""

    kind: str  # "nudge_overdue", "nudge_due", "nudge_before"
    heading: str  # "Overdue"
    phrase: str  # "overdue", as in "2 actions overdue"
    actions: tuple[ChasedAction, ...]

    @property
    def count(self) -> int:
        return len(self.actions)


_NUDGE_WORDS = {
    Step.NUDGE_OVERDUE: ("Overdue", "overdue"),
    Step.NUDGE_DUE: ("Due today", "due today"),
    Step.NUDGE_BEFORE: ("Due soon", "due soon"),
}


def nudge_groups(chase: Chase) -> list[NudgeGroup]:
    """A nudge's actions by kind, most urgent first (an action without a kind takes the
    chase's own step, as a nudge built before actions carried one did)."""
    groups = []
    for kind in NUDGE_KINDS:
        mine = tuple(a for a in chase.actions if (a.nudge or str(chase.step)) == kind)
        if mine:
            heading, phrase = _NUDGE_WORDS[kind]
            groups.append(NudgeGroup(str(kind), heading, phrase, mine))
    return groups


# -- email -------------------------------------------------------------------------------------


def render_chase(
    chase: Chase,
    *,
    link: str,
    reference: str,
    sender: str,
    templates: Templates,
    reply_to: Address | None = None,
    sender_name: str = "",
) -> OutgoingMessage:
    """The email for ``chase``: plain-English subject with ``[ref …]``, text and inlined HTML."""
    context = chase_context(chase, link=link, reference=reference)
    subject = _subject(templates, context, reference)
    context["subject"] = subject
    text = templates.text.get_template("chase.txt").render(context).strip() + "\n"
    html = templates.inliner.inline(templates.html.get_template("chase.html").render(context))
    html = html.encode("ascii", "xmlcharrefreplace").decode("ascii")  # 7-bit safe, same page
    return OutgoingMessage(
        key=chase.key,
        channel="email",
        sender=sender,
        sender_name=sender_name,
        to=(_address(chase.to),),
        cc=tuple(_address(w) for w in chase.cc if w.email),
        reply_to=reply_to,
        subject=subject,
        text=text,
        html=html,
        headers={KEY_HEADER: chase.key, REFERENCE_HEADER: reference},
        link=link,
    )


def _subject(templates: Templates, context: dict[str, Any], reference: str) -> str:
    raw = templates.text.get_template("chase_subject.txt").render(context)
    subject = " ".join(raw.split())  # one line, whatever the template or the data did
    if reference and reference not in subject:
        subject = f"{subject} [ref {reference}]"
    return subject


def _address(who: Who) -> Address:
    return Address(name=who.name, email=who.email)


# -- Teams -------------------------------------------------------------------------------------

_AT_TAG = re.compile(r"</?at\s*>", re.IGNORECASE)


def render_teams(
    chase: Chase, *, link: str, reference: str, webhook: str, templates: Templates
) -> OutgoingMessage:
    """The Teams post for ``chase``, to the Workflows webhook named ``webhook`` (the group code).

    The people concerned (the recipient, and the lead when someone else receives it) are
    @mentioned where the template writes ``mention(person)`` and their Teams UPN is known;
    others are just named. User-supplied text cannot
    forge a mention: ``<at>`` tags are stripped from it.
    """
    people = [chase.to] if chase.to.code == chase.lead.code else [chase.to, chase.lead]
    mentions = tuple(Mention(name=_no_at(w.name), upn=w.teams_id) for w in people if w.teams_id)
    upns = {m.upn for m in mentions}

    def mention(who: Who) -> str:
        name = _no_at(who.name)
        return f"<at>{name}</at>" if who.teams_id and who.teams_id in upns else name

    context = chase_context(_teams_safe(chase), link=link, reference=reference)
    context["mention"] = mention
    subject = _subject(templates, context, reference)
    context["subject"] = subject
    text = templates.text.get_template("teams.txt").render(context).strip()
    mentions = tuple(m for m in mentions if f"<at>{m.name}</at>" in text)
    return OutgoingMessage(
        key=chase.key,
        channel="teams",
        sender="",
        to=(_address(chase.to),),
        subject=subject,
        text=text,
        mentions=mentions,
        webhook=webhook,
        link=link,
        headers={KEY_HEADER: chase.key, REFERENCE_HEADER: reference},
    )


def _no_at(value: str) -> str:
    return _AT_TAG.sub("", value)


_MARKDOWN = re.compile(r"([\\`*_\[\]()#~>|])")


def md_escape(text: str) -> str:
    """``text`` with Adaptive Card markdown's special characters backslash-escaped, so a plan's
    or a lead's words show as written: ``[click](https://…)`` cannot become a link that says
    something other than where it goes, and ``**`` cannot make them bold."""
    return _MARKDOWN.sub(r"\\\1", text)


def _teams_safe(chase: Chase) -> Chase:
    """The chase with ``<at>`` tags removed from every piece of user-supplied text, and the
    plan's and leads' words escaped as markdown (names, from the directory, are kept as they
    are: a mention's text must match its entity)."""

    def who(w: Who) -> Who:
        return replace(w, name=_no_at(w.name))

    def words(text: str) -> str:
        return md_escape(_no_at(text))

    actions = tuple(
        replace(
            a,
            ref=words(a.ref),
            title=words(a.title),
            due=words(a.due),
            forecast=words(a.forecast),
            last_status=words(a.last_status),
        )
        for a in chase.actions
    )
    return replace(
        chase,
        to=who(chase.to),
        lead=who(chase.lead),
        cc=tuple(who(w) for w in chase.cc),
        actions=actions,
        group_name=_no_at(chase.group_name),
    )


# -- sign-in links -----------------------------------------------------------------------------


def render_signin(
    *,
    key: str,
    to: Address,
    link: str,
    minutes: int,
    service: str,
    sender: str,
    templates: Templates,
) -> OutgoingMessage:
    """The email carrying a one-time sign-in link to the secretary's pages."""
    context = {
        "name": to.name,
        "email": to.email,
        "link": link,
        "minutes": minutes,
        "service": service,
    }
    subject = " ".join(templates.text.get_template("signin_subject.txt").render(context).split())
    context["subject"] = subject
    text = templates.text.get_template("signin.txt").render(context).strip() + "\n"
    html = templates.inliner.inline(templates.html.get_template("signin.html").render(context))
    return OutgoingMessage(
        key=key,
        channel="email",
        sender=sender,
        sender_name=service,
        to=(to,),
        subject=subject,
        text=text,
        html=html.encode("ascii", "xmlcharrefreplace").decode("ascii"),
        headers={KEY_HEADER: key},
        link=link,
    )


# -- dead letters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetterLine:
    """One message Chaser gave up on, as the secretary is told of it."""

    what: str  # "Update request"
    meeting: str  # "SIB 30 Sep 2025", or ""
    to: str  # the recipient's name (or code)
    when: str  # when it was given up, London time
    reason: str


def render_dead_letters(
    lines: Sequence[DeadLetterLine],
    *,
    key: str,
    to: Address,
    plan_title: str,
    command: str,
    sender: str,
    sender_name: str,
    templates: Templates,
) -> OutgoingMessage:
    """The email telling a secretary which messages could not be sent, and how to send them
    again once the cause is fixed."""
    context: dict[str, Any] = {
        "name": to.name,
        "lines": list(lines),
        "plan_title": plan_title,
        "command": command,
    }
    raw = templates.text.get_template("dead_letters_subject.txt").render(context)
    subject = " ".join(raw.split())
    context["subject"] = subject
    text = templates.text.get_template("dead_letters.txt").render(context).strip() + "\n"
    html = templates.inliner.inline(
        templates.html.get_template("dead_letters.html").render(context)
    )
    return OutgoingMessage(
        key=key,
        channel="email",
        sender=sender,
        sender_name=sender_name,
        to=(to,),
        subject=subject,
        text=text,
        html=html.encode("ascii", "xmlcharrefreplace").decode("ascii"),
        headers={KEY_HEADER: key},
    )
