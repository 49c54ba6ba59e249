"""Choosing channels and secrets from the environment, with errors that name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaser.wiring import WiringError, email_channel, secret_key, teams_webhooks
from notifications.file_channel import FileChannel
from notifications.smtp import SmtpChannel
from tests.conftest import ROOT
from workflows.chasing.config import load_chasing

CONFIG = load_chasing(ROOT / "config" / "chasing.yaml")


def test_it_sends_email_by_smtp_when_a_host_is_set(tmp_path: Path) -> None:
    channel = email_channel({"CHASER_SMTP_HOST": "mail.example.org"}, CONFIG, tmp_path)
    assert isinstance(channel, SmtpChannel)


def test_it_falls_back_to_files_for_development(tmp_path: Path) -> None:
    assert isinstance(email_channel({}, CONFIG, tmp_path), FileChannel)


def test_it_sends_through_graph_as_the_configured_mailbox(tmp_path: Path) -> None:
    from integrations.graph_mail import GraphMailChannel

    env = {
        "CHASER_GRAPH_TENANT_ID": "t",
        "CHASER_GRAPH_CLIENT_ID": "c",
        "CHASER_GRAPH_CLIENT_SECRET": "s",
    }
    assert isinstance(email_channel(env, CONFIG, tmp_path), GraphMailChannel)


@pytest.mark.parametrize(
    ("env", "fix"),
    [
        ({"CHASER_GRAPH_TENANT_ID": "t"}, "set all of CHASER_GRAPH_TENANT_ID"),
        (
            {
                "CHASER_GRAPH_TENANT_ID": "t",
                "CHASER_GRAPH_CLIENT_ID": "c",
                "CHASER_GRAPH_CLIENT_SECRET": "s",
                "CHASER_GRAPH_MAILBOX": "other@example.org",
            },
            "make them the same",
        ),
        ({"CHASER_SMTP_HOST": "h", "CHASER_SMTP_PORT": "smtp"}, "is not a port number"),
        ({"CHASER_SMTP_HOST": "h", "CHASER_SMTP_STARTTLS": "maybe"}, "write auto, yes or no"),
    ],
)
def test_it_names_the_fix_for_a_wrong_setting(
    tmp_path: Path, env: dict[str, str], fix: str
) -> None:
    with pytest.raises(WiringError, match=fix):
        email_channel(env, CONFIG, tmp_path)


def test_it_reads_teams_webhooks_by_group() -> None:
    env = {"CHASER_TEAMS_WEBHOOK_SIB": "https://x", "CHASER_TEAMS_WEBHOOK_SSDG": "", "PATH": "/bin"}
    assert teams_webhooks(env) == {"SIB": "https://x"}


def test_it_keeps_a_generated_signing_key_and_refuses_a_short_one(tmp_path: Path) -> None:
    first = secret_key({}, tmp_path)
    assert first == secret_key({}, tmp_path) and len(first) >= 32
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(WiringError, match="too short"):
        secret_key({"CHASER_SECRET_KEY": "short"}, tmp_path)
