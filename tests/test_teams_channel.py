"""The Teams channel against a fake Workflows webhook on 127.0.0.1: integrations.channels.teams."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from integrations.channels.teams import (
    CARD_CONTENT_TYPE,
    TeamsWebhookChannel,
    build_card,
    env_var_for,
)
from notifications.channel import (
    Address,
    DeliveryError,
    Mention,
    OutgoingMessage,
    PermanentError,
    TransientError,
)
from notifications.render import load_templates, render_teams
from tests.mail_servers import FakeWebhook
from workflows.chasing.chases import Chase, ChasedAction, Step, Who

HESTER = Mention("Hester Pengelly", "hester@council.example")
KIT = Mention("Kit Trelawny", "kit@council.example")
LINK = "https://chaser.council.example/u/tok"


def message(**changes: Any) -> OutgoingMessage:
    fields: dict[str, Any] = {
        "key": "request:HP:SIB-2025-07-08",
        "channel": "teams",
        "sender": "",
        "to": (Address("Hester Pengelly", "hester.pengelly@council.example"),),
        "subject": "Update needed by Tue 1 Jul [ref CHS-abc123]",
        "text": (
            "**Update needed by Tue 1 Jul**\n\n"
            "<at>Hester Pengelly</at>: please send an update on your 2 actions.\n\n"
            "- **2.5** Recruit teachers. Due: Dec 2023.\n"
            "- **3.1** Publish the local offer. Due: TBC.\n\n"
            "Use the button below. Reference: CHS-abc123"
        ),
        "mentions": (HESTER,),
        "webhook": "SIB",
        "link": LINK,
    }
    fields.update(changes)
    return OutgoingMessage(**fields)


def card_of(payload: dict[str, Any]) -> dict[str, Any]:
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == CARD_CONTENT_TYPE
    content: dict[str, Any] = attachment["content"]
    return content


def texts(payload: dict[str, Any]) -> list[str]:
    return [block["text"] for block in card_of(payload)["body"]]


@pytest.fixture
def hook() -> Iterator[FakeWebhook]:
    with FakeWebhook() as h:
        yield h


@pytest.fixture
def channel(hook: FakeWebhook) -> Iterator[TeamsWebhookChannel]:
    ch = TeamsWebhookChannel({"SIB": hook.url("sib")}, timeout=(2.0, 5.0))
    yield ch
    ch.close()


# -- the card (pure) ------------------------------------------------------------------------------


def test_it_builds_a_workflows_payload_with_an_adaptive_card() -> None:
    payload = build_card(message())
    assert payload["type"] == "message"
    card = card_of(payload)
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    assert texts(payload) == [
        "**Update needed by Tue 1 Jul**",
        "<at>Hester Pengelly</at>: please send an update on your 2 actions.",
        "- **2.5** Recruit teachers. Due: Dec 2023.",
        "- **3.1** Publish the local offer. Due: TBC.",
        "Use the button below. Reference: CHS-abc123",
    ]
    assert all(block["type"] == "TextBlock" and block["wrap"] for block in card["body"])
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Send your update", "url": LINK}]


def test_it_adds_a_mention_entity_per_person() -> None:
    card = card_of(build_card(message(mentions=(HESTER, KIT))))
    assert card["msteams"]["entities"] == [
        {
            "type": "mention",
            "text": "<at>Hester Pengelly</at>",
            "mentioned": {"id": "hester@council.example", "name": "Hester Pengelly"},
        },
        {
            "type": "mention",
            "text": "<at>Kit Trelawny</at>",
            "mentioned": {"id": "kit@council.example", "name": "Kit Trelawny"},
        },
    ]
    # Kit is not mentioned in the text, so the card mentions Kit at the top.
    assert card["body"][0]["text"] == "<at>Kit Trelawny</at>"


def test_it_leaves_out_the_button_without_a_link() -> None:
    assert "actions" not in card_of(build_card(message(link="")))


def test_it_shortens_a_long_list_to_fit_teams_limit() -> None:
    items = "\n".join(f"- **{i}.1** " + "A long action title, " * 20 for i in range(400))
    m = message(text=f"Intro.\n\n{items}\n\nThe end.", mentions=())
    payload = build_card(m)
    size = len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
    assert size <= 27_000
    body = texts(payload)
    assert body[0] == "Intro." and body[-1] == "The end."
    assert body[-2].startswith("…and ") and body[-2].endswith(" more")
    kept = len(body) - 3
    assert 0 < kept < 400 and body[-2] == f"…and {400 - kept} more"
    assert body[1].startswith("- **0.1**")  # the first items are the ones kept


def test_it_keeps_a_short_list_whole() -> None:
    assert not any("more" in t for t in texts(build_card(message())))


def test_it_names_the_environment_variable_for_a_webhook() -> None:
    assert env_var_for("SIB") == "CHASER_TEAMS_WEBHOOK_SIB"
    assert env_var_for("t&f-1") == "CHASER_TEAMS_WEBHOOK_T_F_1"


# -- posting --------------------------------------------------------------------------------------


def test_it_posts_the_card_to_the_groups_webhook(
    hook: FakeWebhook, channel: TeamsWebhookChannel
) -> None:
    hook.respond(202, headers={"x-ms-workflow-run-id": "08585-run-1"})
    receipt = channel.send(message())
    [request] = hook.requests
    assert request.path.startswith("/workflows/sib/triggers/manual/paths/invoke?")
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == build_card(message())
    assert receipt.provider_id == "08585-run-1" and receipt.detail == "HTTP 202"


def test_it_accepts_a_200_too(hook: FakeWebhook, channel: TeamsWebhookChannel) -> None:
    hook.respond(200)
    assert channel.send(message()).detail == "HTTP 200"


def test_it_matches_the_webhook_name_in_any_case(
    hook: FakeWebhook, channel: TeamsWebhookChannel
) -> None:
    channel.send(message(webhook="sib"))
    assert len(hook.requests) == 1


def test_it_posts_a_rendered_chase(hook: FakeWebhook, channel: TeamsWebhookChannel) -> None:
    hester = Who("HP", "Hester Pengelly", "hester.pengelly@council.example", HESTER.upn)
    chase = Chase(
        key="request:HP:SIB-2025-07-08",
        step=Step.REQUEST,
        plan_code="PLY",
        to=hester,
        lead=hester,
        cc=(),
        actions=(ChasedAction("2.5", "Recruit teachers", "Dec 2023", "", "Amber", None),),
        channels=("teams",),
        group_code="SIB",
        group_name="SEND Improvement Board",
        papers_deadline=date(2025, 7, 1),
    )
    m = render_teams(
        chase, link=LINK, reference="CHS-1", webhook="SIB", templates=load_templates(None)
    )
    channel.send(m)
    card = card_of(hook.requests[0].json())
    assert [e["mentioned"]["id"] for e in card["msteams"]["entities"]] == [HESTER.upn]
    assert any("<at>Hester Pengelly</at>" in b["text"] for b in card["body"])
    assert any(b["text"].startswith("- **2.5** Recruit teachers.") for b in card["body"])


def test_it_honours_retry_after_on_429(hook: FakeWebhook, channel: TeamsWebhookChannel) -> None:
    hook.respond(429, headers={"Retry-After": "7"})
    with pytest.raises(TransientError) as caught:
        channel.send(message())
    assert caught.value.retry_after == 7.0
    assert "429" in str(caught.value)
    _assert_no_secret(caught.value)


def test_it_reports_a_5xx_as_transient(hook: FakeWebhook, channel: TeamsWebhookChannel) -> None:
    hook.respond(500, body={"error": {"code": "InternalServerError", "message": "boom"}})
    with pytest.raises(TransientError, match="HTTP 500") as caught:
        channel.send(message())
    assert caught.value.retry_after is None
    _assert_no_secret(caught.value)


def test_it_reports_a_4xx_as_permanent(hook: FakeWebhook, channel: TeamsWebhookChannel) -> None:
    hook.respond(400, body={"error": {"code": "TriggerInputSchemaMismatch", "message": "bad"}})
    with pytest.raises(PermanentError, match="HTTP 400") as caught:
        channel.send(message())
    assert "CHASER_TEAMS_WEBHOOK_SIB" in str(caught.value)
    _assert_no_secret(caught.value)


def test_it_does_not_follow_redirects(hook: FakeWebhook, channel: TeamsWebhookChannel) -> None:
    hook.respond(302, headers={"Location": "http://127.0.0.1:9/elsewhere"})
    with pytest.raises(PermanentError, match="unexpected HTTP 302"):
        channel.send(message())
    assert len(hook.requests) == 1


def test_it_names_the_fix_for_an_unknown_webhook(
    hook: FakeWebhook, channel: TeamsWebhookChannel
) -> None:
    with pytest.raises(PermanentError, match="set CHASER_TEAMS_WEBHOOK_TF1 to the URL"):
        channel.send(message(webhook="TF1"))
    with pytest.raises(PermanentError, match="no Teams webhook is configured"):
        channel.send(message(webhook=""))
    assert hook.requests == []


def test_it_reports_an_unreachable_webhook_as_transient_without_the_url() -> None:
    hook = FakeWebhook()
    url = hook.url("sib")
    hook.stop()  # never started: nothing listens any more
    channel = TeamsWebhookChannel({"SIB": url}, timeout=(1.0, 1.0))
    with pytest.raises(TransientError) as caught:
        channel.send(message())
    _assert_no_secret(caught.value)


def test_it_times_out_a_silent_webhook() -> None:
    with socket.socket() as listener:  # accepts the connection, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        url = f"http://127.0.0.1:{port}/workflows/x?sig=SECRET-sib"
        channel = TeamsWebhookChannel({"SIB": url}, timeout=(1.0, 0.3))
        with pytest.raises(TransientError, match="ReadTimeout") as caught:
            channel.send(message())
    _assert_no_secret(caught.value)


def test_it_never_shows_the_urls(channel: TeamsWebhookChannel) -> None:
    assert "SECRET" not in repr(channel) and "sib" in repr(channel).lower()


def _assert_no_secret(exc: DeliveryError) -> None:
    """Neither the message nor anything chained to it may carry the webhook URL."""
    seen: BaseException | None = exc
    while seen is not None:
        assert "SECRET" not in str(seen) and "sig=" not in str(seen)
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
