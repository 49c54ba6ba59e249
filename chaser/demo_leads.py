"""The demo's simulated leads: people who answer Chaser's update requests through the real paths.

Each lead reads the request as it arrived in the demo's mailbox, then, according to its
:class:`Persona`, opens the emailed link and fills in the reply form over HTTP, or replies to
the email through the SMTP listener that takes in replies — some soon, some only after the
reminder, some after the papers deadline, some never; one reports a slip, one writes from a
personal address (so the secretary has something to review). Nothing here writes to the store
directly: whatever Chaser records, it recorded from a form post or an email.

Emailed replies reach the listener as they would through a council's inbound gateway: stamped
with its ``Authentication-Results`` (authserv-id :data:`GATEWAY`, which the demo tells Chaser to
believe), saying the sender's domain passed. That vouches only for the domain: the reply from a
personal address passes it too, and still goes to review, its sender not being in the directory.
"""

from __future__ import annotations

import hashlib
import re
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from html import unescape
from typing import Literal
from urllib.parse import unquote

import requests
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from integrations.web.outbox_pages import CapturedMessage
from notifications.channel import KEY_HEADER
from workflows.calendar.cycles import LONDON
from workflows.calendar.working_days import add_working_days
from workflows.chasing.chases import plan_of_key
from workflows.store.models import Action, Delivery, Measure, Person, Plan, Risk

Way = Literal["form", "no_change", "email", "email_all", "stranger", "never"]

#: The authserv-id of the demo's simulated council mail gateway (CHASER_INBOUND_AUTHSERV_IDS).
GATEWAY = "mx.council.example"
When = Literal["soon", "after_reminder", "late"]


@dataclass(frozen=True)
class Persona:
    """How one lead answers: which way, how soon, and at which meeting they report a slip."""

    way: Way
    when: When = "soon"
    slip_for: str = ""  # the group ("SIB") at whose request the lead reports a slip

    def describe(self) -> str:
        if self.way == "never":
            return "never answers"
        how = {
            "form": "the form",
            "no_change": "the form's 'no change' button",
            "email": "email",
            "email_all": "a one-line email",
            "stranger": "email from a personal address",
        }[self.way]
        timing = {
            "soon": "the working day after the request",
            "after_reminder": "after the reminder",
            "late": "after the papers deadline",
        }[self.when]
        slip = f", reports a slip before {self.slip_for}" if self.slip_for else ""
        return f"answers by {how}, {timing}{slip}"


#: The Plymouth sample's leads. Anyone not listed answers by the form the day after a request.
PERSONAS: dict[str, Persona] = {
    "AP": Persona("form"),
    "DH": Persona("email"),
    "HP": Persona("form", "after_reminder"),
    "TC": Persona("never"),
    "MM": Persona("email", "late"),
    "FO": Persona("form", slip_for="SIB"),
    "AG": Persona("no_change"),
    "JB": Persona("email_all", "after_reminder"),
    "JF": Persona("stranger"),
    "FG": Persona("form", "after_reminder"),
    "LE": Persona("email"),
    "ND": Persona("never"),
    "TL": Persona("form", "late"),
}
DEFAULT = Persona("form")

#: What leads write. No status words in them ("complete", "late"…): a reply that says "amber"
#: and "complete" about one action is rightly sent to the review queue.
NARRATIVES = (
    "Workshop with schools held; draft guidance out for comment.",
    "Both posts recruited; induction under way and caseloads transferring next week.",
    "Data now reported monthly; the first dashboard went to the delivery group.",
    "Co-production group met twice; parents' feedback is being written up.",
    "Training delivered to 40 staff; evaluation forms returned and positive.",
    "Pathway mapped with health partners; sign-off expected at the next board.",
    "Audit of 30 plans carried out; actions agreed with the quality assurance team.",
)
DELIVERED = "Delivered; the evidence is in the programme's shared folder."
#: An action due this long ago is reported as delivered (the sample plan dates from 2023).
DELIVERED_AFTER = timedelta(days=90)
SLIP_WORDS = "Recruitment has stalled after two failed rounds; we now expect to finish later."
#: This period's figures the leads give on the form (chaser/samples/plymouth_measures/): by
#: measure code and the period the form asks for. August's EHCP timeliness falls off its
#: trajectory (46% against about 59% expected), so the SIB digest shows it off trajectory.
FIGURES: dict[str, dict[str, str]] = {
    "M1": {"Aug 2025": "46%"},
    "M2": {"Aug 2025": "24.5"},
    "M3": {"Aug 2025": "505"},
    "M4": {"Aug 2025": "64%"},
    "M5": {"Aug 2025": "8,610"},
}
#: Risk reviews the leads make on the form, at the request for one group's meeting: Freya Odgers
#: raises the likelihood of R3 (waiting lists) from 3 to 4, its score from 12 to 16, which is
#: over the register's escalation threshold (15).
REVIEWS: dict[str, tuple[str, dict[str, str]]] = {
    "R3": (
        "SIB",
        {
            "likelihood": "4",
            "mitigation": "Extra clinics booked; a locum paediatrician starts in October.",
        },
    ),
}
_FIGURE_LABEL = re.compile(r'for="a\d+-measure-(\d+)">\s*Figure for ([A-Za-z]{3} \d{4}):')
_RISK_FIELD = re.compile(r'name="risk-(\d+)-likelihood"')
_ACTION_FORM = re.compile(r'action="(/r/[^"/]+/actions/[^"]+)"')
_NO_CHANGE_FORM = re.compile(r'action="(/r/[^"/]+/no-change)"')
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
_LINK = re.compile(r"(https?://\S+/r/[A-Za-z0-9_.~-]+)")


@dataclass(frozen=True)
class Request:
    """An update request (or its reminder) as it reached a lead's mailbox."""

    key: str  # "plymouth-send-2023/request:AP:SIB:2025-09-30"
    step: str  # request, reminder, final_reminder
    lead: str
    group: str
    meeting: str  # "SIB:2025-09-30"
    message_id: str
    subject: str
    link: str
    refs: tuple[str, ...]
    due_by: datetime | None


@dataclass(order=True)
class Planned:
    at: datetime
    lead: str = field(compare=False)
    request: Request = field(compare=False)


@dataclass(frozen=True)
class Answer:
    """What a simulated lead did, for the demo's progress lines."""

    at: datetime
    lead: str
    way: Way
    meeting: str
    actions: int
    late: bool
    slipped: str = ""
    figures: int = 0  # measure figures given on the form
    reviewed: tuple[str, ...] = ()  # register risks reviewed on the form

    def describe(self) -> str:
        how = {
            "form": "the form",
            "no_change": "the form (no change)",
            "email": "email",
            "email_all": "email",
            "stranger": "email from a personal address",
            "never": "",
        }[self.way]
        words = f"{self.lead} answered {self.actions} action(s) for {self.meeting} by {how}"
        if self.late:
            words += ", after the papers deadline"
        if self.slipped:
            words += f"; {self.slipped} has slipped"
        if self.figures:
            words += f"; gave {self.figures} figure(s)"
        if self.reviewed:
            words += f"; reviewed risk {', '.join(self.reviewed)}"
        return words


class SimulatedLeads:
    """Reads new mail in the demo's mailbox and answers it when each persona would."""

    def __init__(
        self,
        engine: Engine,
        mailbox: Callable[[int], Sequence[CapturedMessage]],
        *,
        plan_code: str,
        reply_to: str,
        inbound: tuple[str, int],
        personas: dict[str, Persona] | None = None,
    ) -> None:
        self.engine, self.mailbox, self.plan_code = engine, mailbox, plan_code
        self.reply_to, self.inbound = reply_to, inbound
        self.personas = PERSONAS if personas is None else personas
        self.seen = 0
        self.queue: list[Planned] = []
        self.answered: set[tuple[str, str]] = set()  # (lead, meeting)
        self.http = requests.Session()
        self.figures = 0  # given in the answer being sent
        self.reviewed: list[str] = []

    def persona(self, lead: str) -> Persona:
        return self.personas.get(lead, DEFAULT)

    # -- reading the mailbox -------------------------------------------------------------------
    def read_mail(self) -> None:
        new = self.mailbox(self.seen)
        self.seen += len(new)
        for captured in new:
            request = self._request_in(captured)
            if request is not None:
                self._plan(request)

    def _request_in(self, captured: CapturedMessage) -> Request | None:
        message = captured.parsed()
        key = str(message.get(KEY_HEADER, ""))
        step, _, rest = plan_of_key(key)[1].partition(":")
        if step not in ("request", "reminder", "final_reminder") or rest.endswith(":teams"):
            return None
        lead, _, meeting = rest.partition(":")
        body = message.get_body(preferencelist=("plain",))
        found = _LINK.search(body.get_content() if body is not None else "")
        if found is None:
            return None
        with Session(self.engine) as session:
            delivery = session.exec(select(Delivery).where(Delivery.key == key)).first()
        if delivery is None:
            return None
        return Request(
            key=key,
            step=step,
            lead=lead,
            group=meeting.split(":", 1)[0],
            meeting=meeting,
            message_id=str(message.get("Message-ID", "")),
            subject=str(message.get("Subject", "")),
            link=found.group(1),
            refs=tuple(delivery.action_refs),
            due_by=delivery.due_by,
        )

    def _plan(self, request: Request) -> None:
        persona = self.persona(request.lead)
        if persona.way == "never" or (request.lead, request.meeting) in self.answered:
            return
        if any(p.lead == request.lead and p.request.meeting == request.meeting for p in self.queue):
            return
        sent = self._sent_at(request.key)
        if persona.when == "soon" and request.step == "request":
            day = add_working_days(sent.astimezone(LONDON).date(), 1)
            at = _at(day, time(11, 0))
        elif persona.when == "after_reminder" and request.step == "reminder":
            at = _at(sent.astimezone(LONDON).date(), time(14, 30))
        elif persona.when == "late" and request.step == "request" and request.due_by:
            day = add_working_days(request.due_by.astimezone(LONDON).date(), 1)
            at = _at(day, time(10, 0))
        else:
            return
        self.queue.append(Planned(at, request.lead, request))
        self.queue.sort()

    def _sent_at(self, key: str) -> datetime:
        with Session(self.engine) as session:
            delivery = session.exec(select(Delivery).where(Delivery.key == key)).one()
        return delivery.sent_at or delivery.created_at

    # -- answering ----------------------------------------------------------------------------
    def act(self, now: datetime) -> list[Answer]:
        """Read new mail, then send every answer due by ``now``."""
        self.read_mail()
        answers = []
        while self.queue and self.queue[0].at <= now:
            planned = self.queue.pop(0)
            self.answered.add((planned.lead, planned.request.meeting))
            answers.append(self._answer(planned.request, now))
        return answers

    def _answer(self, request: Request, now: datetime) -> Answer:
        persona = self.persona(request.lead)
        slip = request.refs[0] if persona.slip_for == request.group and request.refs else ""
        self.figures, self.reviewed = 0, []
        if persona.way in ("form", "no_change"):
            count = self._by_form(request, now, no_change=persona.way == "no_change", slip=slip)
        else:
            count = self._by_email(request, persona.way, now, slip=slip)
        late = request.due_by is not None and now > request.due_by
        return Answer(
            now,
            request.lead,
            persona.way,
            request.meeting,
            count,
            late,
            slip,
            self.figures,
            tuple(self.reviewed),
        )

    def _by_form(self, request: Request, now: datetime, *, no_change: bool, slip: str) -> int:
        page = self.http.get(request.link, timeout=30)
        page.raise_for_status()
        csrf = _CSRF.search(page.text)
        if csrf is None:
            raise RuntimeError(f"the reply form for {request.key} has no CSRF field")
        origin = request.link.split("/r/", 1)[0]
        headers = {"Origin": origin}
        if no_change:
            found = _NO_CHANGE_FORM.search(page.text)
            if found is None:
                raise RuntimeError(f"the reply form for {request.key} has no 'no change' button")
            answer = self.http.post(
                origin + unescape(found.group(1)),
                data={"csrf_token": csrf.group(1), "intent": "no_change"},
                headers=headers,
                timeout=30,
            )
            answer.raise_for_status()
            return len(request.refs)
        current = self._current(request.refs)
        count = 0
        for path in _ACTION_FORM.findall(page.text):
            ref = unquote(unescape(path).rsplit("/actions/", 1)[1])
            label, forecast = current.get(ref, ("", None))
            status = _status(label, forecast, now.date())
            fields = {
                "csrf_token": csrf.group(1),
                "intent": "save",
                "status": status,
                "narrative": DELIVERED if status == "Green" else _narrative(ref, request.meeting),
            }
            if ref == slip:
                moved = _months_later(max(forecast or now.date(), now.date()), 4)
                fields |= {
                    "status": "Red",
                    "narrative": SLIP_WORDS,
                    "forecast-month": str(moved.month),
                    "forecast-year": str(moved.year),
                    "risks": "Posts may stay vacant into the new year.",
                    "mitigations": "Agency cover agreed while we advertise again.",
                }
            fields |= self._measures_and_risks(page.text, ref, request)
            answer = self.http.post(
                origin + unescape(path), data=fields, headers=headers, timeout=30
            )
            answer.raise_for_status()
            count += 1
        return count

    def _measures_and_risks(self, page: str, ref: str, request: Request) -> dict[str, str]:
        """The figures the form asks this lead for on action ``ref`` (for the period it names)
        and the reviews of the register risks it shows them, as :data:`FIGURES` and
        :data:`REVIEWS` say. Each field is on the form only for its own action."""
        fields: dict[str, str] = {}
        with Session(self.engine) as session:
            action = session.exec(
                select(Action).join(Plan).where(Plan.code == self.plan_code, Action.ref == ref)
            ).first()
            if action is None:
                return fields
            measures = {
                m.id: m.code
                for m in session.exec(select(Measure).where(Measure.action_id == action.id))
            }
            risks = {
                r.id: r.code for r in session.exec(select(Risk).where(Risk.action_id == action.id))
            }
        for measure_id, period in _FIGURE_LABEL.findall(page):
            code = measures.get(int(measure_id))
            figure = FIGURES.get(code or "", {}).get(period)
            if figure:
                fields[f"measure-{measure_id}"] = figure
                self.figures += 1
        for risk_id in _RISK_FIELD.findall(page):
            code = risks.get(int(risk_id))
            group, review = REVIEWS.get(code or "", ("", {}))
            if code and group == request.group:
                fields |= {f"risk-{risk_id}-{part}": value for part, value in review.items()}
                self.reviewed.append(code)
        return fields

    def _by_email(self, request: Request, way: Way, now: datetime, *, slip: str) -> int:
        with Session(self.engine) as session:
            person = session.exec(select(Person).where(Person.code == request.lead)).one()
        address = person.email
        if way == "stranger":
            first = (person.name.split() or ["someone"])[0].lower()
            address = f"{first}.at.home@personal-mail.example"
        if way == "email_all":
            lines = ["All on track, nothing new to report this time."]
        else:
            lines = []
            current = self._current(request.refs)
            for ref in request.refs:
                label, forecast = current.get(ref, ("", None))
                if ref == slip:
                    lines.append(f"{ref}: red - {SLIP_WORDS} Now expected end of March 2026.")
                elif _status(label, forecast, now.date()) == "Green":
                    lines.append(f"{ref}: complete - {DELIVERED}")
                else:
                    lines.append(f"{ref}: amber - {_narrative(ref, request.meeting)}")
        message = EmailMessage()
        # The gateway's stamp, topmost: it checked the sending domain (SPF, DKIM, DMARC).
        domain = address.rsplit("@", 1)[1]
        message["Authentication-Results"] = (
            f"{GATEWAY}; spf=pass smtp.mailfrom={domain}; dkim=pass header.d={domain}; "
            f"dmarc=pass header.from={domain}"
        )
        message["From"] = f"{person.name} <{address}>"
        message["To"] = self.reply_to
        message["Subject"] = f"RE: {request.subject}"
        message["Date"] = format_datetime(now.astimezone(LONDON))
        message["Message-ID"] = make_msgid(domain=domain)
        message["In-Reply-To"] = request.message_id
        message["References"] = request.message_id
        message.set_content(
            "Hello,\n\n"
            + "\n".join(lines)
            + f"\n\nThanks,\n{person.name}\n\n"
            + f"From: {self.reply_to}\nSent: {now.astimezone(LONDON):%d %B %Y}\n"
            + f"Subject: {request.subject}\n\n> (the original request)\n"
        )
        host, port = self.inbound
        with smtplib.SMTP(host, port, timeout=30) as smtp:
            smtp.send_message(message)
        return len(request.refs)

    def _current(self, refs: Sequence[str]) -> dict[str, tuple[str, date | None]]:
        """The status label and forecast each action has now (what the lead would know)."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(Action)
                .join(Plan)
                .where(Plan.code == self.plan_code, col(Action.ref).in_(list(refs)))
            ).all()
        return {a.ref: (a.status_label, a.forecast_due or a.baseline_due) for a in rows}


def _status(label: str, due: date | None, today: date) -> str:
    """What a lead reports: delivered if it was due long ago, else progressing (Amber)."""
    if label == "Blue" or (label == "Green"):
        return label
    if due is not None and due < today - DELIVERED_AFTER:
        return "Green"
    return "Amber"


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=LONDON)


def _narrative(ref: str, meeting: str) -> str:
    digest = hashlib.sha256(f"{ref}|{meeting}".encode()).digest()
    return NARRATIVES[digest[0] % len(NARRATIVES)]


def _months_later(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)
