"""The secretary's pages cost the same however large the plan (issue 20): a page of 50 actions,
filters in SQL, counts by ``GROUP BY``, flags from the kept read model, ETags and 304s, and
cached assets.

The plans here are written straight into the store with SQL Core (a few thousand actions in
well under a second): areas, leads, actions with statuses, an update for some, a meeting's
requests and the replies waiting for review. Timings are not tested (``bench/scale.py`` measures
them); what is tested is what makes them flat: each page's number of queries and of rows.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, insert, select, update
from sqlmodel import Session, col

from integrations.web import create_app
from tests.clock import Clock
from tests.signin import TEST_SIGNIN, sign_in
from workflows.digest.contents import Flag, Severity
from workflows.store.models import (
    Action,
    Area,
    Delivery,
    DeliveryAction,
    Person,
    Plan,
    Reply,
    StatusChange,
)
from workflows.store.read_models import touch
from workflows.views.flag_model import Computed, FlagRules

PLAN = "cornwall-send-2025"
BASE = "http://127.0.0.1:8080"
NOW = datetime(2025, 9, 26, 11, 0, tzinfo=UTC)
MEETING = "SIB:2025-09-30"
ASKED = datetime(2025, 9, 16, 8, 30, tzinfo=UTC)
SCALE = [
    {"value": "Green", "label": "On track", "meaning": "on_track", "colour": "00B050"},
    {"value": "Amber", "label": "At risk", "meaning": "at_risk", "colour": "FFC000"},
    {"value": "Red", "label": "Off track", "meaning": "off_track", "colour": "FF0000"},
]
STATUSES = [(None, ""), ("on_track", "Green"), ("at_risk", "Amber"), ("off_track", "Red")]
AREAS = 6
ACTIONS_PER_LEAD = 20
STALLED = Flag("overdue", Severity.HIGH, "Overdue: due Mar 2024, not complete")
_SIGNIN_TABLES = ("web_session", "user_account", "user_role")


def _flag_every_seventh(session: Session, now: datetime, only: Collection[int] | None) -> Computed:
    """The pages' flags: every seventh action of the plan is overdue (the digest's own rules
    are tested elsewhere; here what matters is that pages read what the read model keeps)."""
    query = select(col(Action.id), col(Action.ref), col(Action.position))
    if only is not None:
        query = query.where(col(Action.id).in_(sorted(only)))
    return {
        action_id: (ref, (STALLED,) if position % 7 == 0 else ())
        for action_id, ref, position in session.execute(query)
    }


FLAGS = FlagRules(meeting_key=lambda now: MEETING, compute=_flag_every_seventh)


@dataclass
class Store:
    engine: Engine
    plan_id: int
    area_ids: list[int]
    actions: int = 0  # how many the plan holds
    leads: int = 0
    replies: int = 0

    def grow(self, actions: int) -> None:
        """Add ``actions`` more actions (a lead for every 20, each lead asked for the meeting,
        a status and an update for most, and one reply waiting for review per lead)."""
        now = NOW - timedelta(days=100)
        first_lead = self.leads
        leads = actions // ACTIONS_PER_LEAD
        with self.engine.begin() as conn:
            people = [
                {
                    "partnership": "",
                    "code": f"L{first_lead + i:04d}",
                    "name": f"Lead {first_lead + i:04d}",
                    "role": "",
                    "email": f"lead{first_lead + i}@example.org",
                    "teams_id": "",
                    "delegate_code": "",
                    "is_sro": False,
                    "updated_at": now,
                }
                for i in range(leads)
            ]
            conn.execute(insert(Person), people)
            ids = dict(
                conn.execute(
                    select(col(Person.code), col(Person.id)).where(
                        col(Person.code).in_([p["code"] for p in people])
                    )
                ).all()
            )
            rows = []
            for i in range(self.actions, self.actions + actions):
                meaning, label = STATUSES[i % len(STATUSES)]
                lead = f"L{i // ACTIONS_PER_LEAD:04d}"
                rows.append(
                    {
                        "plan_id": self.plan_id,
                        "area_id": self.area_ids[i * AREAS // (self.actions + actions) % AREAS],
                        "ref": f"{i // 100 + 1}.{i % 100 + 1}",
                        "ref_generated": False,
                        "position": i,
                        "title": f"Action {i} on waiting times"
                        if i % 10 == 0
                        else f"Action {i} on assessments",
                        "accountable_id": ids[lead],
                        "lead_raw": lead,
                        "reporting_group": "",
                        "due_kind": "empty",
                        "due_note": "",
                        "status": meaning,
                        "status_label": label,
                        "embedded": False,
                        "withdrawn": i % 50 == 49,
                        "outcomes": "",
                        "evidence": "",
                        "progress": f"Progress on action {i}.",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            conn.execute(insert(Action), rows)
            found = conn.execute(
                select(
                    col(Action.id),
                    col(Action.ref),
                    col(Action.position),
                    col(Action.accountable_id),
                ).where(
                    col(Action.plan_id) == self.plan_id,
                    col(Action.position) >= self.actions,
                )
            ).all()
            conn.execute(
                insert(StatusChange),
                [
                    {
                        "action_id": action_id,
                        "recorded_at": ASKED + timedelta(hours=2 + position % 48),
                        "person_id": lead_id,
                        "channel": "email",
                        "kind": "update",
                        "status_label_after": "",
                        "narrative": "Updated.",
                        "evidence": "",
                        "late": False,
                        "note": "",
                    }
                    for action_id, _ref, position, lead_id in found
                    if position % 3
                ],
            )
            by_lead: dict[int | None, list[str]] = {}
            for _id, ref, _position, lead_id in found:
                by_lead.setdefault(lead_id, []).append(ref)
            codes = {v: k for k, v in ids.items()}
            conn.execute(
                insert(Delivery),
                [
                    {
                        "key": f"{PLAN}/request:{codes[lead_id]}:{MEETING}",
                        "reference": f"CHS-{codes[lead_id]}",
                        "kind": "request",
                        "channel": "email",
                        "sender": "",
                        "plan_id": self.plan_id,
                        "person_code": codes[lead_id],
                        "recipient_code": codes[lead_id],
                        "meeting_key": MEETING,
                        "action_refs": refs,
                        "payload": {},
                        "state": "sent",
                        "attempts": 1,
                        "not_before": ASKED,
                        "lease_owner": "",
                        "provider_id": "",
                        "last_error": "",
                        "created_at": ASKED,
                        "updated_at": ASKED,
                        "sent_at": ASKED,
                    }
                    for lead_id, refs in by_lead.items()
                ],
            )
            requests = dict(
                conn.execute(
                    select(col(Delivery.person_code), col(Delivery.id)).where(
                        col(Delivery.plan_id) == self.plan_id
                    )
                ).all()
            )
            conn.execute(
                insert(DeliveryAction),
                [
                    {
                        "delivery_id": requests[codes[lead_id]],
                        "ref": ref,
                        "plan_id": self.plan_id,
                        "lead_code": codes[lead_id],
                    }
                    for lead_id, refs in by_lead.items()
                    for ref in refs
                ],
            )
            conn.execute(
                insert(Reply),
                [
                    {
                        "plan_id": self.plan_id,
                        "channel": "email",
                        "received_at": ASKED + timedelta(days=1, minutes=n),
                        "message_id": f"<r{first_lead + n}@example.org>",
                        "sender": "someone@elsewhere.example",
                        "person_id": None,
                        "delivery_id": requests[f"L{first_lead + n:04d}"],
                        "raw": "",
                        "parsed": {"subject": "Re: update", "body": "All fine."},
                        "verdict": "review",
                        "reason": "the sender is not in the people directory",
                        "late": False,
                        "decided_by": "",
                    }
                    for n in range(leads)
                ],
            )
        self.actions += actions
        self.leads += leads
        self.replies += leads
        with Session(self.engine) as session:  # an import's change: the flags are recomputed
            touch(session, self.plan_id)
            session.commit()


def _store(engine: Engine) -> Store:
    with engine.begin() as conn:
        plan_id = conn.execute(
            insert(Plan)
            .returning(col(Plan.id))
            .values(
                code=PLAN,
                partnership="",
                title="Cornwall SEND improvement plan",
                mapping_name="generated",
                status_scale=SCALE,
                created_at=NOW,
            )
        ).scalar_one()
        conn.execute(
            insert(Area),
            [
                {
                    "plan_id": plan_id,
                    "number": n,
                    "kind": "Priority action area",
                    "label": f"PAA {n}",
                    "title": f"Area {n}",
                    "sro_codes": [],
                    "sro_raw": "",
                }
                for n in range(1, AREAS + 1)
            ],
        )
        area_ids = list(
            conn.execute(
                select(col(Area.id)).where(col(Area.plan_id) == plan_id).order_by(col(Area.number))
            ).scalars()
        )
    assert plan_id is not None
    return Store(engine, plan_id, [i for i in area_ids if i is not None])


@dataclass
class Site:
    store: Store
    client: TestClient

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def html(self, path: str) -> str:
        response = self.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        return str(response.text)

    def queries(self, path: str) -> int:
        """The statements a page runs, its sign-in check left out."""
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(str(args[2]))

        event.listen(self.store.engine, "before_cursor_execute", count)
        try:
            self.html(path)
        finally:
            event.remove(self.store.engine, "before_cursor_execute", count)
        return len([s for s in statements if not any(f"FROM {n}" in s for n in _SIGNIN_TABLES)])


def _app(engine: Engine) -> Any:
    return create_app(
        engine=engine,
        secret=b"s" * 40,
        clock=Clock(NOW),
        form_url=BASE,
        plan_code=PLAN,
        flags=FLAGS,
        signin=TEST_SIGNIN,
    )


@pytest.fixture
def site(engine: Engine) -> Iterator[Site]:
    store = _store(engine)
    store.grow(300)
    with TestClient(_app(engine), base_url=BASE) as client:
        sign_in(client, engine, now=NOW)
        yield Site(store, client)


def _refs(html: str) -> list[str]:
    """The actions listed on a plan page, in order."""
    return re.findall(r'govuk-!-font-weight-bold" href="/actions/([^"?]+)', html)


def _plan_order(engine: Engine, **where: Any) -> list[str]:
    """Every action's ref in the order the plan page lists them: by area, then plan order."""
    with Session(engine) as s:
        query = (
            select(col(Action.ref))
            .join(Area, col(Area.id) == col(Action.area_id))
            .where(col(Action.withdrawn).is_(False))
            .order_by(col(Area.number), col(Action.position))
        )
        for name, value in where.items():
            query = query.where(getattr(Action, name) == value)
        return list(s.execute(query).scalars())


PAGES = (
    "/plan",
    "/plan?page=3",
    "/plan?status=Amber",
    "/plan?flagged=yes",
    "/plan?q=waiting+times&lead=L0003",
    "/actions/1.5",
    "/meetings",
    f"/meetings/{MEETING}",
    "/review",
    "/review?page=2",
)


def test_it_reads_every_page_in_the_same_few_queries_and_rows_at_ten_times_the_plan(
    site: Site,
) -> None:
    site.store.grow(300)  # 600 actions: two pages of the review queue
    site.html("/plan")  # the first page fills the kept flags; the others read them
    small = {path: site.queries(path) for path in PAGES}
    # the plan, its areas, the kept flags (whether a change came since, and the page's flags),
    # the counts (one GROUP BY), the page's rows with their last updates, the leads, the
    # outbox's counts; a filter adds the count of its matches and of those in each area shown
    assert small["/plan"] <= 9 and small["/plan?status=Amber"] <= 11, small
    # a meeting's view: the plan and its stamp (revision, last outbox change), then 7 queries
    # when it is computed again (a first look, or a change since)
    assert small["/actions/1.5"] <= 16 and small["/meetings"] <= 10, small
    assert small[f"/meetings/{MEETING}"] <= 10 and small["/review"] <= 9, small

    site.store.grow(5400)  # ten times the actions, leads, requests and waiting replies
    site.html("/plan")  # the import's change is taken into the kept flags once
    assert {path: site.queries(path) for path in PAGES} == small

    html = site.html("/plan")
    assert "Showing 5880 of 5880 actions" in html
    assert len(_refs(html)) == 50  # one page, however many actions
    # the page's actions, the counts by status, and a header row per area shown
    assert html.count('<tr class="govuk-table__row">') <= 50 + 5 + AREAS
    meeting = site.html(f"/meetings/{MEETING}")
    assert meeting.count('id="lead-') == 50 and "Page 1 of 6: leads 1 to 50 of 300" in meeting
    review = site.html("/review")
    assert review.count('<section id="reply-') == 20
    assert "300 replies waiting for review" in review


def test_it_pages_the_plan_in_order_and_the_next_page_shows_the_next_rows(site: Site) -> None:
    every = _plan_order(site.store.engine)
    first, second = site.html("/plan"), site.html("/plan?page=2")
    assert _refs(first) == every[:50] and _refs(second) == every[50:100]
    assert "Showing 294 of 294 actions" in first
    assert "Page 1 of 6: actions 1 to 50." in first and "Page 2 of 6: actions 51 to 100." in second
    # GOV.UK's pagination: the current page marked, previous and next, the last page
    assert 'href="/plan?page=2" aria-label="Page 2" aria-current="page"' in second
    assert 'href="/plan" rel="prev"' in second and 'href="/plan?page=3" rel="next"' in second
    assert 'href="/plan?page=6" aria-label="Page 6"' in first and 'rel="prev"' not in first
    last = site.html("/plan?page=6")
    assert _refs(last) == every[250:] and 'rel="next"' not in last
    # the status counts are of the whole plan on every page
    assert re.search(r"75<span class=\"govuk-visually-hidden\"> Amber actions", second)


def test_it_keeps_the_filters_across_pages(site: Site) -> None:
    amber = _plan_order(site.store.engine, status_label="Amber")
    first = site.html("/plan?status=Amber")
    assert "Showing 75 of 294 actions" in first and _refs(first) == amber[:50]
    assert 'href="/plan?status=Amber&amp;page=2" rel="next"' in first
    second = site.html("/plan?status=Amber&page=2")
    assert _refs(second) == amber[50:]
    assert '<option value="Amber" selected>' in second  # the form still says the filter


def test_a_page_past_the_last_is_a_clear_page_not_an_error(site: Site) -> None:
    response = site.get("/plan?status=Red&page=40")
    assert response.status_code == 404
    assert "There is no page 40: the actions that match fill 2 pages" in response.text
    assert 'href="/plan?status=Red">the first page</a>' in response.text
    assert 'href="/plan?status=Red&amp;page=2">the last page</a>' in response.text
    assert _refs(response.text) == []
    for nonsense in ("0", "-1", "two", "9" * 12):  # unreadable: the first page
        assert "Page 1 of 6" in site.html(f"/plan?page={nonsense}")
    review = site.get("/review?page=9")
    assert review.status_code == 404 and "There is no page 9" in review.text


def test_the_flagged_filter_shows_what_the_read_model_keeps(site: Site) -> None:
    flagged = [
        ref for ref, position in _plan_order_with_positions(site.store.engine) if position % 7 == 0
    ]
    html = site.html("/plan?flagged=yes")
    assert f"Showing {len(flagged)} of 294 actions" in html
    assert _refs(html) == flagged[:50]
    assert STALLED.reason in html
    # an action whose flag clears (a change makes it stale): gone from the filter at once
    with Session(site.store.engine) as s:
        action = s.execute(select(Action).where(col(Action.ref) == flagged[0])).scalar_one()
        action.position = 1  # (the rules here flag every seventh position)
        s.add(action)
        s.commit()
    again = site.html("/plan?flagged=yes")
    assert flagged[0] not in _refs(again)
    assert f"Showing {len(flagged) - 1} of 294 actions" in again


def _plan_order_with_positions(engine: Engine) -> list[tuple[str, int]]:
    with Session(engine) as s:
        return [
            (ref, position)
            for ref, position in s.execute(
                select(col(Action.ref), col(Action.position))
                .join(Area, col(Area.id) == col(Action.area_id))
                .where(col(Action.withdrawn).is_(False))
                .order_by(col(Area.number), col(Action.position))
            )
        ]


@pytest.mark.parametrize("path", ["/plan?status=Amber", "/actions/1.5", "/meetings", "/review"])
def test_a_page_unchanged_since_the_browser_read_it_is_a_304(site: Site, path: str) -> None:
    first = site.get(path)
    tag = first.headers["ETag"]
    assert first.status_code == 200 and re.fullmatch(r'"[0-9a-f]{32}"', tag)
    assert first.headers["Cache-Control"] == "private, no-cache"  # never a shared cache
    again = site.get(path, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == tag
    # a change to what the page shows: the whole page again, with a new tag
    with Session(site.store.engine) as s:
        s.execute(update(Action).values(title="Renamed action"))
        s.execute(update(Reply).values(reason="a new reason"))
        s.commit()
    changed = site.get(path, headers={"If-None-Match": tag})
    if path != "/meetings":  # the meetings list shows neither titles nor reasons
        assert changed.status_code == 200 and changed.headers["ETag"] != tag


def test_a_304_never_answers_someone_not_signed_in(site: Site) -> None:
    tag = site.get("/plan").headers["ETag"]
    with TestClient(_app(site.store.engine), base_url=BASE) as stranger:
        response = stranger.get("/plan", headers={"If-None-Match": tag}, follow_redirects=False)
    assert response.status_code != 304 and "ETag" not in response.headers
    assert "Showing" not in response.text


def test_the_assets_are_cached_and_revalidated(site: Site) -> None:
    css = site.get("/assets/chaser.css")
    assert css.status_code == 200
    assert css.headers["Cache-Control"] == "public, max-age=3600"
    assert css.headers["ETag"] and css.headers["Last-Modified"]
    again = site.get("/assets/chaser.css", headers={"If-None-Match": css.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    since = site.get(
        "/assets/chaser.css", headers={"If-Modified-Since": css.headers["Last-Modified"]}
    )
    assert since.status_code == 304


def test_the_review_queue_is_paged_oldest_first(site: Site) -> None:
    with Session(site.store.engine) as s:
        ids = list(s.execute(select(col(Reply.id)).order_by(col(Reply.id))).scalars())
        assert s.execute(select(func.count()).select_from(Reply)).scalar_one() == 15
    first = site.html("/review")
    assert "15 replies waiting for review" in first
    assert re.findall(r'<section id="reply-(\d+)"', first) == [str(i) for i in ids[:20]]
    # 15 replies: one page, no pagination; with more, page 2 holds the rest
    assert "Page 1 of" not in first
    site.store.grow(300)
    first, second = site.html("/review"), site.html("/review?page=2")
    with Session(site.store.engine) as s:
        ids = list(s.execute(select(col(Reply.id)).order_by(col(Reply.id))).scalars())
    assert re.findall(r'<section id="reply-(\d+)"', first) == [str(i) for i in ids[:20]]
    assert re.findall(r'<section id="reply-(\d+)"', second) == [str(i) for i in ids[20:30]]
    assert "Page 2 of 2, oldest first." in second and 'href="/review" rel="prev"' in second


def test_a_refused_decision_is_shown_again_on_the_page_of_its_reply(site: Site) -> None:
    site.store.grow(300)  # 30 replies waiting: two pages
    with Session(site.store.engine) as s:
        later = list(s.execute(select(col(Reply.id)).order_by(col(Reply.id))).scalars())[25]
    html = site.html("/review?page=2")
    token = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert token is not None
    response = site.client.post(
        f"/review/{later}", data={"csrf_token": token.group(1)}, follow_redirects=False
    )
    assert response.status_code == 400
    assert f"Select whether to apply or reject reply {later}" in response.text
    assert f'<section id="reply-{later}"' in response.text  # its error beside it
    assert "Page 2 of 2, oldest first." in response.text
