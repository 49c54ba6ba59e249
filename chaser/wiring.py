"""Building the service from its settings and configuration files: the one place it is wired.

:func:`build_runtime` reads the admin-edited files (``chasing.yaml``, ``cycles.yaml``,
``digest.yaml``, templates), builds the channels the settings configure (through
:mod:`integrations.channels.registry`) and the one Graph client they share with the inbox, and
hands the domain a :class:`~chaser.runtime.Runtime`. The web app, the reply listener and the
signing key are built here too. Secrets come only from :class:`~chaser.settings.Settings`.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import Engine

from chaser.config_reload import CyclesReloader, default_status_path
from chaser.plans import PlanFiles, choose_plan, configured_plans
from chaser.runtime import PlanRuntime, Runtime, utc_now
from chaser.settings import Settings, SettingsError
from chaser.settings_reload import PlanSettingsReloader
from integrations.channels.base import ChannelConfigError
from integrations.channels.registry import build_channels
from integrations.graph.client import GraphClient
from integrations.graph.inbox import GraphInbox
from integrations.mail.inbound_smtp import InboundSmtp
from notifications.channel import Address, Channel
from notifications.outbox import NewDelivery, enqueue
from notifications.render import load_templates, render_signin
from workflows.chasing.config import load_chasing
from workflows.digest.config import load_digest_config
from workflows.replies.authentication import Receiver
from workflows.replies.intake import ingest_email
from workflows.replies.links import reference_for
from workflows.store.models import UserAccount

if TYPE_CHECKING:  # the web app (FastAPI) is loaded only by the verbs that serve it
    from fastapi import FastAPI

    from integrations.web import FormServer
    from integrations.web.outbox_pages import CapturedMail
    from integrations.web.signin import SignInOptions

log = structlog.get_logger(__name__)


def secret_key(settings: Settings) -> bytes:
    """``CHASER_SECRET_KEY``, else a key generated once and kept in the data directory."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    path = settings.data_dir / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
        log.warning("secret_key_generated", hint="set CHASER_SECRET_KEY in production")
    return path.read_text().strip().encode()


def graph_client(settings: Settings) -> GraphClient | None:
    """The service's one Microsoft Graph client, when ``CHASER_GRAPH_*`` are set."""
    if not settings.graph_configured or settings.graph_client_secret is None:
        return None
    return GraphClient(
        tenant_id=settings.graph_tenant_id,
        client_id=settings.graph_client_id,
        client_secret=settings.graph_client_secret.get_secret_value(),
        authority_host=settings.graph_authority_host,
        graph_url=settings.graph_url,
    )


def public_url(settings: Settings) -> str:
    """The address people reach Chaser at: ``form_url`` in (the first plan's) chasing.yaml."""
    first = next(iter(configured_plans(settings.config_dir).values()))
    return load_chasing(first.chasing).form_url.rstrip("/")


def plan_runtime(
    settings: Settings, files: PlanFiles, *, now: datetime, several: bool
) -> PlanRuntime:
    """One plan's configuration, checked: its calendar (reloaded as admins edit it), its
    chasing.yaml and digest.yaml against that calendar, its templates."""
    reloader = CyclesReloader(
        files.cycles,
        status_path=default_status_path(settings.data_dir, files.code if several else ""),
    )
    groups = reloader.poll(now).codes
    chasing = load_chasing(files.chasing, groups=groups)
    digests = load_digest_config(files.digest, groups=groups) if files.digest else None
    return PlanRuntime(
        code=chasing.plan,
        chasing=chasing,
        cycles=reloader.poll,
        templates=load_templates(files.templates),
        digests=digests,
        settings=PlanSettingsReloader(files.chasing, files.digest),
    )


def build_runtime(
    settings: Settings,
    engine: Engine,
    *,
    channels: dict[str, Channel] | None = None,
    clock: Callable[[], datetime] | None = None,
    sleep: Callable[[float], None] | None = None,
    only: str | None = None,
) -> Runtime:
    """The service as configured: every plan (or ``only`` that one). ``channels`` replaces the
    configured ones (tests, the demo), and then no mailbox is read either."""
    found = configured_plans(settings.config_dir)
    several = len(found) > 1
    if only is not None:
        found = {only: choose_plan(settings.config_dir, only)}
    now = (clock or utc_now)()
    plans = {code: plan_runtime(settings, f, now=now, several=several) for code, f in found.items()}
    first = next(iter(plans.values()))
    inbox = None
    if channels is None:
        graph = graph_client(settings)
        mailboxes = {p.chasing.sender.mailbox.lower() for p in plans.values()}
        if graph is not None and len(mailboxes) > 1:
            raise SettingsError(
                [
                    "the plans send from different mailboxes ("
                    + ", ".join(sorted(mailboxes))
                    + "), but Microsoft Graph sends from one (CHASER_GRAPH_MAILBOX): give every "
                    "plan's chasing.yaml the same sender.mailbox"
                ]
            )
        try:
            channels = build_channels(settings, sender=first.chasing.sender, graph=graph)
        except ChannelConfigError as exc:
            raise SettingsError([str(exc)]) from None
        if graph is not None and settings.graph_poll:
            # Replies are read from the shared mailbox when Graph is configured (unless
            # CHASER_GRAPH_POLL=no, e.g. while another system reads that mailbox).
            mailbox = settings.graph_mailbox or first.chasing.sender.mailbox
            inbox = GraphInbox(graph, mailbox=mailbox)
    return Runtime(
        engine=engine,
        plans=plans,
        secret=secret_key(settings),
        channels=channels,
        data_dir=settings.data_dir,
        clock=clock or utc_now,
        sleep=sleep,
        inbox=inbox,
    )


def inbound_listener(settings: Settings, runtime: Runtime) -> InboundSmtp | None:
    """The SMTP listener for replies when ``CHASER_INBOUND_SMTP=host:port`` is set. It takes mail
    only from ``CHASER_INBOUND_SMTP_RELAYS``, and believes the ``Authentication-Results`` only of
    ``CHASER_INBOUND_AUTHSERV_IDS`` (the council's gateway): nothing is applied on From alone."""
    if settings.inbound_smtp is None:
        return None
    host, port = settings.inbound_smtp

    # With one plan, a reply naming no request is that plan's; with several, intake finds it.
    only = next(iter(runtime.plans)) if len(runtime.plans) == 1 else None
    receiver = Receiver.smtp(settings.inbound_authserv_ids)

    def take_in(raw: bytes) -> None:
        ingest_email(runtime.engine, raw, now=runtime.clock(), plan_code=only, receiver=receiver)

    return InboundSmtp(host, port, take_in, relays=settings.inbound_smtp_relays)


def signin_options(settings: Settings, runtime: Runtime) -> SignInOptions:
    """How people sign in to the secretary's pages: Microsoft Entra ID when configured, a link
    by email unless ``CHASER_SIGNIN_EMAIL=no``."""
    from datetime import timedelta

    from integrations.entra import EntraSignIn
    from integrations.web.signin import SignInOptions

    entra = None
    if settings.entra_configured and settings.entra_client_secret is not None:
        entra = EntraSignIn(
            tenant=settings.entra_tenant_id,
            client_id=settings.entra_client_id,
            client_secret=settings.entra_client_secret.get_secret_value(),
            authority_host=settings.entra_authority_host,
            allowed_tenants=settings.entra_allowed_tenants,
        )
    return SignInOptions(
        entra=entra,
        send_link=link_sender(runtime) if settings.signin_email else None,
        network=settings.signin_configured,
        idle=timedelta(minutes=settings.session_idle_minutes),
        lifetime=timedelta(hours=settings.session_hours),
    )


def link_sender(runtime: Runtime) -> Callable[[UserAccount, str], None]:
    """Sends a sign-in link like every other message: an outbox row, then a dispatch at once
    (in the background: the page does not wait for the mail server)."""
    from workflows.access.links import LIFETIME

    def send(user: UserAccount, link: str) -> None:
        now = runtime.clock()
        key = f"signin:{hashlib.sha256(link.encode()).hexdigest()[:24]}"
        plan = _signin_plan(runtime, user)
        message = render_signin(
            key=key,
            to=Address(user.name, user.email),
            link=link,
            minutes=int(LIFETIME.total_seconds() // 60),
            service=plan.chasing.sender.name,
            sender=plan.chasing.sender.mailbox,
            templates=plan.templates,
        )
        with runtime.engine.begin() as conn:
            delivery = NewDelivery(message, reference_for(runtime.secret, key), "signin", now)
            enqueue(conn, [delivery], now=now)
        threading.Thread(
            target=runtime.get_dispatcher().dispatch, name="signin-mail", daemon=True
        ).start()

    return send


def _signin_plan(runtime: Runtime, user: UserAccount) -> PlanRuntime:
    """The plan whose name and mailbox a sign-in link is sent under: the first the user has a
    role on (the first plan for a user with a role on every plan)."""
    from sqlmodel import Session, select

    from workflows.store.models import UserRole

    with Session(runtime.engine) as session:
        codes = [
            r.plan_code for r in session.exec(select(UserRole).where(UserRole.user_id == user.id))
        ]
    return next((p for code, p in runtime.plans.items() if code in codes), runtime.first)


def web_app(
    runtime: Runtime,
    settings: Settings,
    *,
    bind_host: str,
    mailbox: CapturedMail | None = None,
    liveness: Callable[[], str | None] | None = None,
) -> FastAPI:
    """The whole web app: the reply form, sign-in, and the secretary's pages (on any address
    once sign-in is configured, else to a browser on this computer only). ``mailbox`` adds the
    demo's ``/outbox``; ``liveness`` (the service's heartbeat) makes ``/health`` report a
    stalled loop."""
    from chaser.web_feeds import flag_rules, meetings_near
    from integrations.web import create_app
    from integrations.web.admin_cycles import PlanConfigFiles
    from integrations.web.secretary import PlanSite

    first = runtime.first.chasing
    return create_app(
        engine=runtime.engine,
        secret=runtime.secret,
        clock=runtime.clock,
        form_url=first.form_url,
        contact_email=first.sender.mailbox,
        plans=[
            PlanSite(
                code,
                flags=flag_rules(runtime, plan),
                meetings=meetings_near(plan),
                cycles=plan.cycles,
            )
            for code, plan in runtime.plans.items()
        ],
        bind_host=bind_host,
        mailbox=mailbox,
        liveness=liveness,
        signin=signin_options(settings, runtime),
        trusted_proxies=settings.trusted_proxies,
        metrics=runtime.metrics.exposition if runtime.metrics is not None else None,
        metrics_token=(
            settings.metrics_token.get_secret_value() if settings.metrics_token is not None else ""
        ),
        config_files={
            code: PlanConfigFiles(
                cycles=f.cycles,
                chasing=f.chasing,
                digest=f.digest,
                mappings=settings.config_dir / "mappings",
            )
            for code, f in configured_plans(settings.config_dir).items()
            if code in runtime.plans
        },
        data_dir=settings.data_dir,
    )


def form_server(
    settings: Settings,
    runtime: Runtime,
    *,
    liveness: Callable[[], str | None] | None = None,
) -> FormServer:
    """The web app on ``CHASER_WEB_LISTEN`` (default 127.0.0.1 and the port of ``form_url``).
    It binds to loopback unless told otherwise: put a TLS proxy in front (and name it in
    ``CHASER_TRUSTED_PROXIES``); the secretary's pages need sign-in configured to be served
    there."""
    from urllib.parse import urlsplit

    from integrations.web import FormServer

    host, port = settings.web_listen or (
        "127.0.0.1",
        urlsplit(runtime.first.chasing.form_url).port or 8080,
    )
    app = web_app(runtime, settings, bind_host=host, liveness=liveness)
    return FormServer(app, host=host, port=port)
