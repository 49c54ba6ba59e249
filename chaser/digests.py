"""The secretary's digest: built from the store before each meeting, saved, and sent.

``chaser digest`` builds one by hand; ``tick`` enqueues each scheduled digest through the outbox
under the key ``digest:{group}:{slot}``, so it goes once. The XLSX action and impact log and the
DOCX board paper are attached, and kept under the data directory
(``digests/{group}/{meeting date}/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy import select as core_select
from sqlmodel import Session, select

from chaser.invitations import INVITATION
from chaser.runtime import PlanRuntime, Runtime
from notifications.channel import Address, Attachment, OutgoingMessage
from notifications.outbox import DELIVERY, NewDelivery, enqueue
from workflows.calendar.meetings import Meeting, meetings
from workflows.chasing.chases import outbox_key
from workflows.digest.build import build_digest
from workflows.digest.config import BoardPaper, DigestConfig, due_digests
from workflows.digest.contents import Digest
from workflows.digest.slippage import SlippageConfig
from workflows.replies.links import reference_for
from workflows.store.models import Delivery, DeliveryState, Plan

log = structlog.get_logger(__name__)


class DigestError(Exception):
    """The digest cannot be built as asked; the message says why and what to do."""


@dataclass
class BuiltDigest:
    digest: Digest
    message: OutgoingMessage | None  # None when the group has no secretary's address
    files: list[Path]


def find_meeting(plan: PlanRuntime, group: str, on: date | None, now: datetime) -> Meeting:
    """The group's meeting on ``on``, else its next one from ``now``."""
    cycles = plan.cycles(now)
    try:
        cycles.group(group)
    except KeyError as exc:
        raise DigestError(
            f"there is no group {group!r} in cycles.yaml (groups: {', '.join(cycles.codes)})"
        ) from exc
    start = on or now.date()
    found = meetings(cycles, start, start + timedelta(days=400), groups=[group])
    if on is not None:
        found = [m for m in found if m.date == on]
    if not found:
        when = f"on {on:%d %b %Y}" if on else "ahead"
        raise DigestError(f"{group} has no meeting {when}; `chaser cycles preview` lists them")
    return found[0]


def build(
    runtime: Runtime, plan: PlanRuntime, group: str, meeting: Meeting, now: datetime
) -> Digest:
    """The digest of ``plan`` for ``meeting`` of ``group``, as of ``now``."""
    config = plan.digests or DigestConfig(groups=(group,))
    cycles = plan.cycles(now)
    with Session(runtime.engine) as session:
        return build_digest(
            session,
            plan_code=plan.code,
            cycles=cycles,
            group_code=group,
            meeting=meeting,
            now=now,
            config=SlippageConfig.from_mapping(config.slippage),
            invited=invited_to(runtime, plan, meeting),
            cycle_groups=list(config.cycle_groups or (group,)),
        )


def invited_to(runtime: Runtime, plan: PlanRuntime, meeting: Meeting) -> list[str]:
    """Who holds the meeting's invitation, from the records: the addresses whose latest
    invitation to it is a request that was sent (not a cancellation, not one still waiting or
    dead in the outbox)."""
    plans = Plan.__table__  # type: ignore[attr-defined]
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            core_select(
                INVITATION.c.email, INVITATION.c.sequence, INVITATION.c.method, DELIVERY.c.state
            )
            .join(plans, plans.c.id == INVITATION.c.plan_id)
            .join(DELIVERY, DELIVERY.c.key == INVITATION.c.delivery_key)
            .where(plans.c.code == plan.code, INVITATION.c.meeting_key == meeting.key)
        ).all()
    latest: dict[str, tuple[int, str, str]] = {}
    for email, sequence, method, state in rows:
        if email not in latest or sequence > latest[email][0]:
            latest[email] = (sequence, method, state)
    return sorted(
        email
        for email, (_, method, state) in latest.items()
        if method == "REQUEST" and state == DeliveryState.SENT
    )


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def write_files(digest: Digest, folder: Path, cover: BoardPaper | None = None) -> list[Path]:
    from notifications.digest_render import digest_docx, write_digest_xlsx  # docx, openpyxl

    template = Path(cover.template).read_bytes() if cover and cover.template else None

    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{digest.group_code}-{digest.meeting_date.isoformat()}"
    xlsx = folder / f"{stem}-action-and-impact-log.xlsx"
    docx = folder / f"{stem}-board-paper.docx"
    write_digest_xlsx(digest, xlsx)  # streamed to the file, row by row
    docx.write_bytes(digest_docx(digest, cover, template=template))
    return [xlsx, docx]


def digest_key(plan: PlanRuntime, meeting: Meeting) -> str:
    return outbox_key(plan.code, f"digest:{meeting.key}")


def digest_folder(runtime: Runtime, plan: PlanRuntime, meeting: Meeting) -> Path:
    """Where a digest's files are kept: ``digests/{group}/{date}/`` (under the plan's code,
    when the deployment runs several)."""
    base = runtime.data_dir / "digests"
    if len(runtime.plans) > 1:
        base = base / plan.code
    return base / meeting.group / meeting.date.isoformat()


def prepare(
    runtime: Runtime,
    plan: PlanRuntime,
    group: str,
    meeting: Meeting,
    now: datetime,
    folder: Path,
) -> BuiltDigest:
    digest = build(runtime, plan, group, meeting, now)
    files = write_files(digest, folder, plan.digests.board_paper if plan.digests else None)
    secretary = plan.cycles(now).group(group).secretary
    message = None
    if secretary is not None and secretary.email:
        from notifications.digest_render import render_digest_email

        xlsx, docx = files
        message = render_digest_email(
            digest,
            templates=plan.templates,
            sender=plan.chasing.sender.mailbox,
            sender_name=plan.chasing.sender.name,
            to=(Address(secretary.name, secretary.email),),
            key=digest_key(plan, meeting),
            attachments=(
                Attachment(xlsx.name, XLSX_TYPE, xlsx.read_bytes()),
                Attachment(docx.name, DOCX_TYPE, docx.read_bytes()),
            ),
        )
    return BuiltDigest(digest, message, files)


def enqueue_one(
    runtime: Runtime, plan: PlanRuntime, message: OutgoingMessage, meeting: Meeting, now: datetime
) -> int:
    with Session(runtime.engine) as session:
        row = session.exec(select(Plan).where(Plan.code == plan.code)).first()
    with runtime.engine.begin() as conn:
        return enqueue(
            conn,
            [
                NewDelivery(
                    message=message,
                    reference=reference_for(runtime.secret, message.key),
                    kind="digest",
                    not_before=min(now, runtime.clock()),
                    plan_id=row.id if row else None,
                    meeting_key=meeting.key,
                )
            ],
            now=now,
        )


def enqueue_due_digests(runtime: Runtime, plan: PlanRuntime, now: datetime) -> int:
    """Build and enqueue every digest of ``plan`` that is due and not yet in the outbox."""
    if plan.digests is None:
        return 0
    cycles = plan.cycles(now)
    due = due_digests(cycles, plan.digests, plan.chasing.send_window, now)
    if not due:
        return 0
    with Session(runtime.engine) as session:
        known = set(
            session.exec(
                select(Delivery.key).where(
                    Delivery.key.in_([digest_key(plan, m) for m in due])  # type: ignore[attr-defined]
                )
            )
        )
    added = 0
    for meeting in due:
        if digest_key(plan, meeting) in known:
            continue
        built = prepare(
            runtime, plan, meeting.group, meeting, now, digest_folder(runtime, plan, meeting)
        )
        if built.message is None:
            log.warning("digest_without_secretary", plan=plan.code, group=meeting.group)
            continue
        added += enqueue_one(runtime, plan, built.message, meeting, now)
        log.info(
            "digest_enqueued",
            plan=plan.code,
            group=meeting.group,
            meeting=meeting.date.isoformat(),
        )
    return added
