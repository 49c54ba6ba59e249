"""Building the service from settings, config files and the environment (secrets: env only)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import structlog
from fastapi import FastAPI
from sqlalchemy import Engine

from chaser.config_reload import CyclesReloader, default_status_path
from chaser.service import Runtime
from chaser.settings import Settings, default_data_dir
from chaser.web_feeds import flags_now, meetings_near
from integrations.graph_inbox import GraphInbox
from integrations.inbound_smtp import InboundSmtp
from integrations.web import FormServer, create_app
from integrations.web.outbox_pages import CapturedMail
from notifications.channel import Channel
from notifications.file_channel import FileChannel
from notifications.render import load_templates
from notifications.smtp import SmtpChannel
from notifications.teams import TeamsWebhookChannel
from workflows.chasing.config import ChasingConfig, load_chasing
from workflows.digest.config import load_digest_config
from workflows.replies.intake import ingest_email

log = structlog.get_logger(__name__)
WEBHOOK_PREFIX = "CHASER_TEAMS_WEBHOOK_"


class WiringError(Exception):
    """A setting is missing or wrong; the message names the variable and the fix."""


def secret_key(env: Mapping[str, str], data_dir: Path) -> bytes:
    """``CHASER_SECRET_KEY``, else a key generated once and kept in the data directory."""
    given = env.get("CHASER_SECRET_KEY", "")
    if given:
        if len(given) < 32:
            raise WiringError("CHASER_SECRET_KEY is too short; use at least 32 random characters")
        return given.encode()
    path = data_dir / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
        log.warning("secret_key_generated", hint="set CHASER_SECRET_KEY in production")
    return path.read_text().strip().encode()


def _flag(value: str, name: str) -> bool | str:
    lowered = value.strip().lower()
    if lowered in ("auto", ""):
        return "auto"
    if lowered in ("1", "yes", "true", "on"):
        return True
    if lowered in ("0", "no", "false", "off"):
        return False
    raise WiringError(f"{name}={value!r} is not understood; write auto, yes or no")


def email_channel(env: Mapping[str, str], config: ChasingConfig, data_dir: Path) -> Channel:
    """SMTP if CHASER_SMTP_HOST is set, Microsoft Graph if CHASER_GRAPH_* are, else files."""
    if env.get("CHASER_SMTP_HOST"):
        port_text = env.get("CHASER_SMTP_PORT", "587")
        if not port_text.isdigit():
            raise WiringError(f"CHASER_SMTP_PORT={port_text!r} is not a port number")
        starttls = _flag(env.get("CHASER_SMTP_STARTTLS", "auto"), "CHASER_SMTP_STARTTLS")
        return SmtpChannel(
            env["CHASER_SMTP_HOST"],
            int(port_text),
            sender_address=config.sender.mailbox,
            from_name=config.sender.name,
            username=env.get("CHASER_SMTP_USERNAME") or None,
            password=env.get("CHASER_SMTP_PASSWORD") or None,
            starttls=starttls,  # type: ignore[arg-type]
            ssl=_flag(env.get("CHASER_SMTP_SSL", "no"), "CHASER_SMTP_SSL") is True,
        )
    graph = [env.get(f"CHASER_GRAPH_{n}", "") for n in ("TENANT_ID", "CLIENT_ID", "CLIENT_SECRET")]
    if any(graph):
        if not all(graph):
            raise WiringError(
                "set all of CHASER_GRAPH_TENANT_ID, CHASER_GRAPH_CLIENT_ID and "
                "CHASER_GRAPH_CLIENT_SECRET to send through Microsoft Graph"
            )
        from integrations.graph_mail import GraphMailChannel, graph_settings

        mailbox = env.get("CHASER_GRAPH_MAILBOX") or config.sender.mailbox
        if mailbox.lower() != config.sender.mailbox.lower():
            raise WiringError(
                f"CHASER_GRAPH_MAILBOX ({mailbox}) differs from sender.mailbox in chasing.yaml "
                f"({config.sender.mailbox}); messages are sent as sender.mailbox, so make them "
                "the same (or unset CHASER_GRAPH_MAILBOX)"
            )
        return GraphMailChannel(**graph_settings(env, mailbox=mailbox))
    folder = data_dir / "outbox"
    log.warning("email_to_files", folder=str(folder), hint="set CHASER_SMTP_HOST or CHASER_GRAPH_*")
    return FileChannel(folder)


def teams_webhooks(env: Mapping[str, str]) -> dict[str, str]:
    return {
        k.removeprefix(WEBHOOK_PREFIX): v
        for k, v in env.items()
        if k.startswith(WEBHOOK_PREFIX) and v
    }


def build_runtime(
    settings: Settings,
    engine: Engine,
    *,
    env: Mapping[str, str] | None = None,
    channels: dict[str, Channel] | None = None,
    clock: Callable[[], datetime] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Runtime:
    """The service as configured: ``channels`` replaces the environment's (tests, the demo)."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("CHASER_DATA_DIR") or default_data_dir())
    config_dir = settings.config_dir
    chasing = load_chasing(config_dir / "chasing.yaml")
    reloader = CyclesReloader(config_dir / "cycles.yaml", status_path=default_status_path(data_dir))
    channels_from_env = channels is None
    if channels is None:
        channels = {"email": email_channel(env, chasing, data_dir)}
        webhooks = teams_webhooks(env)
        if webhooks:
            channels["teams"] = TeamsWebhookChannel(webhooks)
    inbox = graph_inbox(env, chasing) if channels_from_env else None
    digest_file = config_dir / "digest.yaml"
    template_dir = config_dir / "templates"
    return Runtime(
        engine=engine,
        chasing=chasing,
        cycles=reloader.poll,
        templates=load_templates(template_dir if template_dir.is_dir() else None),
        secret=secret_key(env, data_dir),
        channels=channels,
        clock=clock or (lambda: datetime.now(UTC)),
        sleep=sleep,
        inbox=inbox,
        digests=load_digest_config(digest_file) if digest_file.is_file() else None,
        data_dir=data_dir,
    )


def graph_inbox(env: Mapping[str, str], config: ChasingConfig) -> GraphInbox | None:
    """Replies are read from the shared mailbox when Graph is configured (unless
    CHASER_GRAPH_POLL=no, e.g. while another system reads that mailbox)."""
    if not env.get("CHASER_GRAPH_TENANT_ID") or env.get("CHASER_GRAPH_POLL", "yes") == "no":
        return None
    from integrations.graph_inbox import GraphInbox
    from integrations.graph_mail import graph_settings

    try:
        return GraphInbox(
            **graph_settings(env, what="Reading replies", mailbox=config.sender.mailbox)
        )
    except ValueError as exc:
        raise WiringError(str(exc)) from exc


def inbound_listener(env: Mapping[str, str], runtime: Runtime) -> InboundSmtp | None:
    """The SMTP listener for replies when ``CHASER_INBOUND_SMTP=host:port`` is set."""
    spec = env.get("CHASER_INBOUND_SMTP", "")
    if not spec:
        return None
    host, _, port = spec.rpartition(":")
    if not host or not port.isdigit():
        raise WiringError(
            f"CHASER_INBOUND_SMTP={spec!r} is not host:port; write e.g. 127.0.0.1:2525"
        )

    def take_in(raw: bytes) -> None:
        ingest_email(runtime.engine, raw, now=runtime.clock(), plan_code=runtime.chasing.plan)

    return InboundSmtp(host, int(port), take_in)


def web_app(
    runtime: Runtime,
    *,
    bind_host: str,
    mailbox: CapturedMail | None = None,
    liveness: Callable[[], str | None] | None = None,
) -> FastAPI:
    """The whole web app: the reply form, and the secretary's pages (served to a local browser
    only; see integrations/web/access.py). ``mailbox`` adds the demo's ``/outbox``;
    ``liveness`` (the service's heartbeat) makes ``/health`` report a stalled loop."""
    return create_app(
        engine=runtime.engine,
        secret=runtime.secret,
        clock=runtime.clock,
        form_url=runtime.chasing.form_url,
        contact_email=runtime.chasing.sender.mailbox,
        plan_code=runtime.chasing.plan,
        bind_host=bind_host,
        mailbox=mailbox,
        flags=flags_now(runtime),
        meetings=meetings_near(runtime),
        liveness=liveness,
    )


def form_server(
    env: Mapping[str, str],
    runtime: Runtime,
    *,
    liveness: Callable[[], str | None] | None = None,
) -> FormServer:
    """The web app on ``CHASER_WEB_LISTEN=host:port`` (default 127.0.0.1 and the port of
    ``form_url``). It binds to loopback unless told otherwise: put a TLS proxy in front, and
    know that the secretary's pages are then refused until sign-in is configured."""
    default_port = urlsplit(runtime.chasing.form_url).port or 8080
    spec = env.get("CHASER_WEB_LISTEN", f"127.0.0.1:{default_port}")
    host, _, port = spec.rpartition(":")
    if not host or not port.isdigit():
        raise WiringError(f"CHASER_WEB_LISTEN={spec!r} is not host:port; write e.g. 127.0.0.1:8080")
    app = web_app(runtime, bind_host=host, liveness=liveness)
    return FormServer(app, host=host, port=int(port))
