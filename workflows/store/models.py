"""The tables of the status store.

Dates that councils write with month precision ("December 2023") are stored as a date plus a
precision column. A *due* date is stored as the last day of its period (due "December 2023" means
"by the end of December": 2023-12-31, precision ``month``); a *start* date as the first day
(start "August 2023": 2023-08-01). :class:`workflows.plan.dates.FuzzyDate` rebuilds the value for
display ("Dec 2023").

Append-only tables (:class:`StatusChange`, :class:`ImportRun`, :class:`ImportedRow`) are never
updated or deleted by Chaser: they are the audit trail the improvement notice asks for.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from workflows.store.types import UTCDateTime


class StatusMeaning(StrEnum):
    """What a value on a plan's own status scale means to Chaser."""

    COMPLETE = "complete"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"
    NOT_DUE = "not_due"


class Channel(StrEnum):
    """Where a change to the store came from."""

    IMPORT = "import"
    FORM = "form"
    EMAIL = "email"
    TEAMS = "teams"
    ADMIN = "admin"


class ChangeKind(StrEnum):
    CREATED = "created"
    STATUS = "status"
    FORECAST = "forecast"
    MILESTONE_FORECAST = "milestone_forecast"
    WITHDRAWN = "withdrawn"
    REINSTATED = "reinstated"
    UPDATE = "update"
    #: A re-import changed the action's wording, lead, contributors, area or the like.
    EDITED = "edited"


def _json_column() -> Any:
    return Column(JSON, nullable=False)


def _utc_column(nullable: bool = False) -> Any:
    return Column(UTCDateTime(), nullable=nullable)


class Plan(SQLModel, table=True):
    """One improvement plan. A deployment may hold several; plans of one partnership share its
    people directory, and nothing else is shared between plans."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True, max_length=64)
    #: Whose people directory the plan's leads come from ("" for the deployment's default one).
    partnership: str = Field(default="", max_length=64)
    title: str = ""
    mapping_name: str = ""
    #: The plan's own status scale as configured in its mapping (list of value/meaning/colour).
    status_scale: list[dict[str, Any]] = Field(default_factory=list, sa_column=_json_column())
    created_at: datetime = Field(sa_column=_utc_column())


class Area(SQLModel, table=True):
    """A priority action area, improvement area or strategic priority of a plan."""

    __table_args__ = (UniqueConstraint("plan_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    number: int
    kind: str = ""  # "Priority action area", "Improvement area", "Strategic priority"
    label: str = ""  # as written: "PRIORITY ACTION AREA I"
    title: str = ""
    sro_id: int | None = Field(default=None, foreign_key="person.id")
    #: Everyone named in the senior responsible officer heading, in order (person codes).
    sro_codes: list[str] = Field(default_factory=list, sa_column=_json_column())
    sro_raw: str = ""


class Person(SQLModel, table=True):
    """Someone Chaser can chase or report to, in one partnership's directory. ``code`` is the
    initials the plans use, unique within the partnership; the same person (the same email) may
    be in two partnerships' directories, as two rows."""

    __table_args__ = (UniqueConstraint("partnership", "code", name="uq_person_partnership_code"),)

    id: int | None = Field(default=None, primary_key=True)
    partnership: str = Field(default="", max_length=64)
    code: str = Field(index=True, max_length=32)
    name: str = ""
    role: str = ""
    email: str = ""
    teams_id: str = ""
    delegate_code: str = ""
    away_until: date | None = None
    is_sro: bool = False
    updated_at: datetime = Field(sa_column=_utc_column())


class Action(SQLModel, table=True):
    """One action of a plan."""

    __table_args__ = (
        UniqueConstraint("plan_id", "ref"),
        Index("ix_action_plan_accountable", "plan_id", "accountable_id"),
        # the plan page: its order by area (and the area filter), its counts and status filter
        Index("ix_action_plan_area_position", "plan_id", "area_id", "position"),
        Index("ix_action_plan_status", "plan_id", "area_id", "withdrawn", "status", "status_label"),
        Index("ix_action_plan_lead_withdrawn", "plan_id", "accountable_id", "withdrawn"),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    area_id: int | None = Field(default=None, foreign_key="area.id")
    #: The plan's own ref ("2.5"), or a generated one ("P7-01") when the plan numbers nothing.
    ref: str = Field(max_length=32)
    ref_generated: bool = False
    position: int = 0  # order in the workbook
    title: str = ""
    accountable_id: int | None = Field(default=None, foreign_key="person.id")
    lead_raw: str = ""
    sro_id: int | None = Field(default=None, foreign_key="person.id")
    #: The group the action reports through (the plan's "Task and Finish Group" column).
    reporting_group: str = ""
    start_date: date | None = None
    start_precision: str | None = None
    baseline_due: date | None = None
    baseline_due_precision: str | None = None
    forecast_due: date | None = None
    forecast_due_precision: str | None = None
    #: How the due cell read: "date", "parts", "tbc", "completed", "empty" or "unreadable".
    due_kind: str = "empty"
    due_note: str = ""
    status: str | None = None  # a StatusMeaning value; None until someone reports one
    status_label: str = ""  # the plan's own value ("Amber")
    embedded: bool = False  # complete and embedded: never chased again
    withdrawn: bool = False
    outcomes: str = ""
    evidence: str = ""
    progress: str = ""
    # The source row's cells as read are kept once, in ImportedRow (every import's, the latest
    # by its id); an action the board set names its meeting in Decision.
    created_at: datetime = Field(sa_column=_utc_column())
    updated_at: datetime = Field(sa_column=_utc_column())


class ActionContributor(SQLModel, table=True):
    """People named on an action besides its accountable lead."""

    action_id: int = Field(foreign_key="action.id", primary_key=True)
    person_id: int = Field(foreign_key="person.id", primary_key=True)
    position: int = 0


class Milestone(SQLModel, table=True):
    """A dated part of an action ("1) April 2024", "Developed by February 2024")."""

    __table_args__ = (UniqueConstraint("action_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="action.id", index=True)
    position: int
    label: str = ""
    start_date: date | None = None
    start_precision: str | None = None
    baseline_due: date
    baseline_due_precision: str
    forecast_due: date
    forecast_due_precision: str
    complete: bool = False
    raw: str = ""


class StatusChange(SQLModel, table=True):
    """Append-only history of everything that changed an action: who, when, how, old → new."""

    __tablename__ = "status_change"
    #: a meeting's chase reads the changes since its requests went out
    __table_args__ = (Index("ix_status_change_recorded_at", "recorded_at"),)

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="action.id", index=True)
    recorded_at: datetime = Field(sa_column=_utc_column())
    person_id: int | None = Field(default=None, foreign_key="person.id")
    channel: str  # a Channel value
    kind: str  # a ChangeKind value
    status_before: str | None = None
    status_after: str | None = None
    #: The plan's own value after the change ("Amber"): several values can share a meaning.
    status_label_after: str = ""
    due_before: date | None = None
    due_before_precision: str | None = None
    due_after: date | None = None
    due_after_precision: str | None = None
    narrative: str = ""
    evidence: str = ""
    late: bool = False
    note: str = ""
    import_run_id: int | None = Field(default=None, foreign_key="import_run.id")
    reply_id: int | None = Field(default=None, foreign_key="reply.id")


class Risk(SQLModel, table=True):
    """An entry in the risk register, against an action or an area, scored likelihood x impact
    on the 5x5 scale (each 1-5). Every change to it is kept in ``risk_change``."""

    __table_args__ = (Index("ix_risk_plan_code", "plan_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    action_id: int | None = Field(default=None, foreign_key="action.id")
    area_id: int | None = Field(default=None, foreign_key="area.id")
    #: The register's own reference ("R3"); "" for a risk a lead wrote on the form.
    code: str = Field(default="", max_length=32)
    title: str = Field(default="", max_length=500)
    description: str
    cause: str = ""
    effect: str = ""
    #: Refs of the actions the risk threatens (the first is ``action_id``).
    action_refs: list[str] = Field(default_factory=list, sa_column=_json_column())
    likelihood: int | None = None
    impact: int | None = None
    target_score: int | None = None
    mitigation: str = ""
    owner_id: int | None = Field(default=None, foreign_key="person.id")
    review_date: date | None = None
    status: str = Field(default="open", max_length=16)  # open | closed
    closed: bool = False
    closed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    source: str = Field(default="", max_length=200)
    created_at: datetime = Field(sa_column=_utc_column())
    updated_at: datetime = Field(sa_column=_utc_column())


class Measure(SQLModel, table=True):
    """An impact measure (a KPI) with its baseline, targets and expected trajectory.

    ``trajectory`` and ``targets`` are lists of ``{"date": "2025-03-31", "value": 55.0}``; the
    expected value on a day between two points is interpolated. ``amber_within`` is how far
    (in per cent of the expected value) short of the trajectory a reading is still amber.
    """

    __table_args__ = (Index("ix_measure_plan_code", "plan_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    action_id: int | None = Field(default=None, foreign_key="action.id")
    area_id: int | None = Field(default=None, foreign_key="area.id")
    #: The scorecard's own reference ("M1"); unique in a plan.
    code: str = Field(default="", max_length=32)
    name: str
    unit: str = ""
    baseline: float | None = None
    baseline_period: date | None = None
    target: float | None = None
    higher_is_better: bool = True
    #: Expected values over time: [{"date": "2024-03-31", "value": 12.0}, ...].
    trajectory: list[dict[str, Any]] = Field(default_factory=list, sa_column=_json_column())
    targets: list[dict[str, Any]] = Field(default_factory=list, sa_column=_json_column())
    amber_within: float = 15.0
    #: How often a figure is due: month | quarter | year.
    frequency: str = Field(default="month", max_length=16)
    #: The periods readings may be given for (inclusive; None: open).
    first_period: date | None = None
    last_period: date | None = None
    owner_id: int | None = Field(default=None, foreign_key="person.id")
    #: Refs of the actions the measure evidences (the first is ``action_id``).
    action_refs: list[str] = Field(default_factory=list, sa_column=_json_column())
    source: str = Field(default="", max_length=500)
    created_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    updated_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class MeasureReading(SQLModel, table=True):
    """A reported figure for an impact measure (append-only): a later reading for the same
    period supersedes an earlier one, which is kept."""

    __tablename__ = "measure_reading"

    id: int | None = Field(default=None, primary_key=True)
    measure_id: int = Field(foreign_key="measure.id", index=True)
    period_end: date
    value: float
    recorded_at: datetime = Field(sa_column=_utc_column())
    person_id: int | None = Field(default=None, foreign_key="person.id")
    channel: str
    #: Who gave it when no person is known ("import by Morwenna Tregear").
    given_by: str = Field(default="", max_length=200)
    #: Where it came from: the file's name, "reply 12", "form".
    source: str = Field(default="", max_length=200)
    reply_id: int | None = Field(default=None, foreign_key="reply.id")


class ImportRun(SQLModel, table=True):
    """One import of a workbook into a plan: what file, which mapping, what was found."""

    __tablename__ = "import_run"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    source_name: str
    source_sha256: str = Field(max_length=64)
    sheet: str = ""
    mapping_name: str = ""
    imported_at: datetime = Field(sa_column=_utc_column())
    #: Counts ({"created": 3, "updated": 70, ...}) and the validation report.
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=_json_column())
    warnings: list[dict[str, Any]] = Field(default_factory=list, sa_column=_json_column())


class ImportedRow(SQLModel, table=True):
    """Every source row of every import, cell by cell as read (nothing is lost)."""

    __tablename__ = "imported_row"
    #: an action's latest row (what a re-import compares the workbook with), by its id
    __table_args__ = (Index("ix_imported_row_action", "action_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    import_run_id: int = Field(foreign_key="import_run.id", index=True)
    action_id: int | None = Field(default=None, foreign_key="action.id")
    row_number: int
    cells: dict[str, Any] = Field(default_factory=dict, sa_column=_json_column())


ALL_TABLES = SQLModel.metadata


class DeliveryState(StrEnum):
    PENDING = "pending"
    #: Claimed by a worker (under its lease), not yet handed to the channel.
    SENDING = "sending"
    #: Handed to the channel, the outcome not yet recorded: after a crash its fate is unknown.
    SUBMITTING = "submitting"
    SENT = "sent"
    DEAD = "dead"


class Delivery(SQLModel, table=True):
    """The outbox: one row per message, unique by its idempotency key.

    pending ─claim─▶ sending ─handed to the channel─▶ submitting ─ok─▶ sent; a transient failure
    puts it back to pending with ``not_before`` in the future; a permanent one (or too many
    attempts) makes it dead, with the reason. A ``sending`` row whose lease has expired was
    claimed by a worker that died before sending it: it is simply sent. A ``submitting`` one died
    mid-send: its channel is first asked whether the provider already has it (docs/outbox.md).
    """

    __table_args__ = (
        Index("ix_delivery_claim", "state", "not_before", "id"),
        # a plan's dead letters, its waiting messages: without it a query reads every row,
        # and a request listing hundreds of actions is a large row
        Index("ix_delivery_plan_state", "plan_id", "state", "updated_at"),
        # the last change to a plan's outbox, in one lookup (a page's view is still current)
        Index("ix_delivery_plan_updated", "plan_id", "updated_at"),
        # an action's page (messages about a person, the escalations), a meeting's chase
        Index("ix_delivery_plan_person", "plan_id", "person_code"),
        Index("ix_delivery_plan_kind", "plan_id", "kind"),
        Index("ix_delivery_plan_meeting", "plan_id", "meeting_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=255)
    #: Short code quoted in the subject and body, so an emailed reply finds its request.
    reference: str = Field(unique=True, max_length=32)
    kind: str = Field(max_length=32)  # the chase step, or "digest"
    channel: str = Field(max_length=16)
    sender: str = Field(default="", max_length=255)
    plan_id: int | None = Field(default=None, foreign_key="plan.id")
    person_code: str = Field(default="", max_length=32)  # the lead concerned
    recipient_code: str = Field(default="", max_length=32)  # who it went to (delegate, SRO…)
    meeting_key: str = Field(default="", max_length=64)
    #: The actions the message asked about (refs), so a reply without refs can be read.
    action_refs: list[str] = Field(default_factory=list, sa_column=_json_column())
    #: When updates for this request count as late (the papers deadline, end of day, London).
    due_by: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=_json_column())
    state: str = Field(default=DeliveryState.PENDING, max_length=16)
    attempts: int = 0
    not_before: datetime = Field(sa_column=_utc_column())
    lease_owner: str = Field(default="", max_length=64)
    lease_expires_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    provider_id: str = Field(default="", max_length=255)
    last_error: str = ""
    created_at: datetime = Field(sa_column=_utc_column())
    updated_at: datetime = Field(sa_column=_utc_column())
    sent_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class DeliveryAction(SQLModel, table=True):
    """One action a message asked about (a ref of ``Delivery.action_refs``), so that an action's
    page finds every message about it by one index, whoever it went to: its lead, a lead it had
    before, a delegate or an officer. Written with the message, never changed."""

    __tablename__ = "delivery_action"
    __table_args__ = (Index("ix_delivery_action_plan_ref", "plan_id", "ref"),)

    delivery_id: int = Field(foreign_key="delivery.id", primary_key=True)
    ref: str = Field(primary_key=True, max_length=32)
    plan_id: int = Field(foreign_key="plan.id")
    #: Whose action it was when the message asked (an escalation lists several leads' actions;
    #: the lead may change later); "" for an escalation sent before this was recorded.
    lead_code: str = Field(default="", max_length=32)


class SenderPace(SQLModel, table=True):
    """Per-sender-mailbox pacing shared by every worker: the earliest time the next send may go.

    Exchange Online allows about 30 messages a minute per mailbox; pacing one message every
    two seconds keeps every rolling minute within that, whichever worker sends.
    """

    __tablename__ = "sender_pace"

    sender: str = Field(primary_key=True, max_length=255)
    next_at: datetime = Field(sa_column=_utc_column())


class ReplyVerdict(StrEnum):
    APPLIED = "applied"  # trusted: its updates are in the history
    REVIEW = "review"  # waiting for the secretary to apply or reject
    AUTO_REPLY = "auto_reply"  # an out-of-office: marks the person away, changes nothing else
    DUPLICATE = "duplicate"  # the same message again (same Message-ID): not applied again
    REJECTED = "rejected"  # the secretary rejected it from the review queue
    #: Could not be read or stored as read (too big, or it broke something): kept as it arrived,
    #: on the review queue with the reason; nothing reads it again and it changes nothing.
    QUARANTINED = "quarantined"


class Reply(SQLModel, table=True):
    """Everything that came back: an email, a form post or a Teams answer, kept raw.

    ``parsed`` holds what Chaser read from it and ``verdict`` what it did; nothing is dropped.
    """

    __table_args__ = (
        # the review queue (waiting, by plan), and the replies to a request
        Index("ix_reply_verdict_plan", "verdict", "plan_id"),
        Index("ix_reply_delivery", "delivery_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int | None = Field(default=None, foreign_key="plan.id", index=True)
    channel: str = Field(max_length=16)
    received_at: datetime = Field(sa_column=_utc_column())
    message_id: str = Field(default="", max_length=998, index=True)
    sender: str = Field(default="", max_length=320)  # the From address (not trusted by itself)
    person_id: int | None = Field(default=None, foreign_key="person.id")
    delivery_id: int | None = Field(default=None, foreign_key="delivery.id")
    #: The message as received: RFC 5322 text when it is UTF-8 without NUL, else "base64:" and
    #: its bytes (see workflows.replies.intake.raw_text); or the form post as JSON.
    raw: str = ""
    parsed: dict[str, Any] = Field(default_factory=dict, sa_column=_json_column())
    verdict: str = Field(max_length=16)
    reason: str = ""
    late: bool = False
    decided_by: str = ""  # who applied or rejected it from the review queue
    decided_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class MailboxCursor(SQLModel, table=True):
    """Where incremental mailbox reading got to (a Graph delta link), per mailbox."""

    __tablename__ = "mailbox_cursor"

    mailbox: str = Field(primary_key=True, max_length=320)
    cursor: str = ""
    updated_at: datetime = Field(sa_column=_utc_column())


# -- who may use the secretary's pages ------------------------------------------------------------


class Role(StrEnum):
    """What a user may do, on one plan or on all of them.

    Each role includes the ones after it: an admin may do everything a secretary may, and a
    secretary everything a viewer may.
    """

    ADMIN = "admin"  # configuration, people, plan imports, users
    SECRETARY = "secretary"  # everything about the plan: pages, review queue, digests
    VIEWER = "viewer"  # board members: read only


class UserAccount(SQLModel, table=True):
    """Someone who signs in to the secretary's pages (not a lead: leads need no account)."""

    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)  # stored lower-case
    name: str = ""
    #: Entra ID's object id and tenant, recorded at the first Microsoft sign-in.
    entra_oid: str = Field(default="", max_length=64, index=True)
    entra_tid: str = Field(default="", max_length=64)
    active: bool = True
    created_at: datetime = Field(sa_column=_utc_column())
    created_by: str = Field(default="", max_length=320)


class UserRole(SQLModel, table=True):
    """One role of a user: on one plan (``plan_code``), or on every plan (``""``)."""

    __tablename__ = "user_role"
    __table_args__ = (UniqueConstraint("user_id", "plan_code"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    plan_code: str = Field(default="", max_length=64)
    role: str = Field(max_length=16)  # a Role value
    granted_at: datetime = Field(sa_column=_utc_column())
    granted_by: str = Field(default="", max_length=320)


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is kept here."""

    __tablename__ = "web_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    method: str = Field(max_length=16)  # "email" or "entra"
    csrf_secret: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=_utc_column())
    last_seen_at: datetime = Field(sa_column=_utc_column())
    expires_at: datetime = Field(sa_column=_utc_column())  # the absolute limit
    revoked_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class SigninLink(SQLModel, table=True):
    """A one-time sign-in link. Only the token's SHA-256 is kept; it works once, until
    ``expires_at``, and (when ``browser_hash`` is set) only in the browser that asked for it."""

    __tablename__ = "signin_link"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    browser_hash: str = Field(default="", max_length=64)
    #: Printed to a terminal for the person at it (the demo), not emailed: opening it signs in.
    on_open: bool = False
    created_at: datetime = Field(sa_column=_utc_column())
    expires_at: datetime = Field(sa_column=_utc_column())
    used_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class SigninFlow(SQLModel, table=True):
    """A Microsoft sign-in under way: msal's flow (state, nonce, PKCE verifier) kept on the
    server, found again by the hash of its state and tied to the browser that started it."""

    __tablename__ = "signin_flow"

    state_hash: str = Field(primary_key=True, max_length=64)
    browser_hash: str = Field(max_length=64)
    flow: dict[str, Any] = Field(default_factory=dict, sa_column=_json_column())
    next_path: str = Field(default="/", max_length=500)
    created_at: datetime = Field(sa_column=_utc_column())
    expires_at: datetime = Field(sa_column=_utc_column())


class AuditEvent(SQLModel, table=True):
    """Sign-ins, sign-outs, refusals and changes to users, append-only. Never a token."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_address_at", "address", "at"),
        Index("ix_audit_event_email_at", "email", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_utc_column())
    kind: str = Field(max_length=32)  # signin, signin_refused, link_sent, signout, user_added…
    email: str = Field(default="", max_length=320)  # the account concerned, if known
    user_id: int | None = Field(default=None, foreign_key="user_account.id")
    address: str = Field(default="", max_length=64)  # the browser's IP address
    method: str = Field(default="", max_length=16)
    reason: str = Field(default="", max_length=200)
    by: str = Field(default="", max_length=320)  # who made a change to a user


from workflows.store import admin_models as _admin_models  # noqa: E402,F401
from workflows.store import board_models as _board_models  # noqa: E402,F401
from workflows.store import invitation_models as _invitation_models  # noqa: E402,F401
from workflows.store import measures_models as _measures_models  # noqa: E402,F401
from workflows.store import read_models as _read_models  # noqa: E402,F401
