"""Choosing channels and secrets from the settings, with errors that name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaser.settings import Settings, SettingsError, variables_table
from chaser.wiring import graph_client, secret_key
from integrations.channels.base import ChannelConfigError
from integrations.channels.files import FileChannel
from integrations.channels.registry import CHANNELS, build_channels
from integrations.channels.smtp import SmtpChannel
from integrations.channels.teams import TeamsWebhookChannel
from tests.conftest import ROOT
from workflows.chasing.config import load_chasing

CONFIG = load_chasing(ROOT / "config" / "chasing.yaml")


def email_channel(env: dict[str, str], data_dir: Path) -> object:
    settings = Settings.from_env({"CHASER_DATA_DIR": str(data_dir), **env})
    channels = build_channels(settings, sender=CONFIG.sender, graph=graph_client(settings))
    return channels["email"]


def test_it_sends_email_by_smtp_when_a_host_is_set(tmp_path: Path) -> None:
    channel = email_channel({"CHASER_SMTP_HOST": "mail.example.org"}, tmp_path)
    assert isinstance(channel, SmtpChannel)


def test_it_falls_back_to_files_for_development(tmp_path: Path) -> None:
    assert isinstance(email_channel({}, tmp_path), FileChannel)


def test_it_sends_through_graph_as_the_configured_mailbox(tmp_path: Path) -> None:
    from integrations.channels.graph_mail import GraphMailChannel

    env = {
        "CHASER_GRAPH_TENANT_ID": "t",
        "CHASER_GRAPH_CLIENT_ID": "c",
        "CHASER_GRAPH_CLIENT_SECRET": "s",
    }
    channel = email_channel(env, tmp_path)
    assert isinstance(channel, GraphMailChannel)
    assert channel.mailbox == CONFIG.sender.mailbox


@pytest.mark.parametrize(
    ("env", "fix"),
    [
        ({"CHASER_GRAPH_TENANT_ID": "t"}, "set all of CHASER_GRAPH_TENANT_ID"),
        ({"CHASER_SMTP_HOST": "h", "CHASER_SMTP_PORT": "smtp"}, "is not a port number"),
        ({"CHASER_SMTP_HOST": "h", "CHASER_SMTP_STARTTLS": "maybe"}, "write auto, yes or no"),
        ({"CHASER_WEB_LISTEN": "8080"}, "CHASER_WEB_LISTEN='8080' is not host:port"),
        ({"CHASER_LOG_FORMAT": "xml"}, "CHASER_LOG_FORMAT='xml'"),
    ],
)
def test_it_names_the_variable_and_the_fix_for_a_wrong_setting(
    tmp_path: Path, env: dict[str, str], fix: str
) -> None:
    with pytest.raises(SettingsError, match=fix):
        email_channel(env, tmp_path)


def test_it_refuses_a_graph_mailbox_other_than_the_sender(tmp_path: Path) -> None:
    env = {
        "CHASER_GRAPH_TENANT_ID": "t",
        "CHASER_GRAPH_CLIENT_ID": "c",
        "CHASER_GRAPH_CLIENT_SECRET": "s",
        "CHASER_GRAPH_MAILBOX": "other@example.org",
    }
    with pytest.raises(ChannelConfigError, match="make them the same"):
        email_channel(env, tmp_path)


def test_it_reads_teams_webhooks_by_group(tmp_path: Path) -> None:
    env = {"CHASER_TEAMS_WEBHOOK_SIB": "https://x", "CHASER_TEAMS_WEBHOOK_SSDG": "", "PATH": "/bin"}
    settings = Settings.from_env(env)
    assert {k: v.get_secret_value() for k, v in settings.teams_webhooks.items()} == {
        "SIB": "https://x"
    }
    channels = build_channels(settings, sender=CONFIG.sender, graph=None)
    assert isinstance(channels["teams"], TeamsWebhookChannel)
    assert "https://x" not in repr(channels["teams"]) and "https://x" not in repr(settings)


def test_it_keeps_a_generated_signing_key_and_refuses_a_short_one(tmp_path: Path) -> None:
    settings = Settings.from_env({"CHASER_DATA_DIR": str(tmp_path)})
    first = secret_key(settings)
    assert first == secret_key(settings) and len(first) >= 32
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(SettingsError, match="too short"):
        Settings.from_env({"CHASER_SECRET_KEY": "short"})


def test_it_refuses_a_placeholder_secret_without_showing_it() -> None:
    with pytest.raises(SettingsError, match="CHASER_SECRET_KEY is a placeholder") as caught:
        Settings.from_env({"CHASER_SECRET_KEY": "changethis-changethis-changethis-1234"})
    assert "changethis-changethis" not in str(caught.value)
    with pytest.raises(SettingsError, match="CHASER_SMTP_PASSWORD is a placeholder"):
        Settings.from_env({"CHASER_SMTP_HOST": "h", "CHASER_SMTP_PASSWORD": "changeme"})


def test_it_lists_every_problem_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"CHASER_SMTP_PORT": "x", "CHASER_INBOUND_SMTP": "nowhere"})
    assert [p.split("=")[0] for p in caught.value.problems] == [
        "CHASER_INBOUND_SMTP",
        "CHASER_SMTP_PORT",
    ]


def test_it_reads_a_dotenv_file_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "CHASER_SMTP_HOST=from-file\nCHASER_SMTP_PORT=2525\nCHASER_TEAMS_WEBHOOK_SIB=https://hook\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHASER_SMTP_HOST", "from-env")
    settings = Settings.load()
    assert (settings.smtp_host, settings.smtp_port) == ("from-env", 2525)
    assert settings.teams_webhooks["SIB"].get_secret_value() == "https://hook"


def test_it_reads_the_graph_settings_and_names_what_is_missing() -> None:
    """(Moved from the Graph channel and inbox tests: they no longer read the environment.)"""
    settings = Settings.from_env(
        {
            "CHASER_GRAPH_TENANT_ID": "tenant",
            "CHASER_GRAPH_CLIENT_ID": "client",
            "CHASER_GRAPH_CLIENT_SECRET": "shh-secret",
            "CHASER_GRAPH_MAILBOX": "chaser@council.example",
        }
    )
    client = graph_client(settings)
    assert client is not None
    assert (client.tenant_id, client.client_id) == ("tenant", "client")
    assert client.authority_host == "https://login.microsoftonline.com"
    assert client.graph_url == "https://graph.microsoft.com/v1.0"
    assert "shh-secret" not in repr(client) and "shh-secret" not in repr(settings)
    with pytest.raises(SettingsError, match="missing: CHASER_GRAPH_CLIENT_SECRET") as caught:
        Settings.from_env({"CHASER_GRAPH_TENANT_ID": "tenant", "CHASER_GRAPH_CLIENT_ID": "c"})
    assert "shh-secret" not in str(caught.value)


def test_every_channel_is_registered_by_its_own_name() -> None:
    assert {name: cls.kind for name, cls in CHANNELS.items()} == {n: n for n in CHANNELS}
    assert {cls.delivers for cls in CHANNELS.values()} == {"email", "teams"}


def test_every_variable_is_documented_in_one_table() -> None:
    docs = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert variables_table() in docs, "regenerate docs/settings.md's table (see its heading)"
