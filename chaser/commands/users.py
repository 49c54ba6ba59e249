"""``chaser users``: who may sign in to the secretary's pages, and with which role."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from typing import Any

import click
from sqlmodel import Session

from chaser.commands.common import engine_from, fail
from chaser.settings import Settings
from workflows.access import audit
from workflows.access.links import create_link
from workflows.access.users import ALL_PLANS, UserError, add_user, find_user, list_users
from workflows.store.models import Role

ROLES = [str(r) for r in Role]


def _operator() -> str:
    """Who ran the command, for the audit log (the server's login name)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@click.group()
def users() -> None:
    """Who may sign in to the secretary's pages: add users, list them, print a sign-in link."""


@users.command("add")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    required=True,
    help="admin (settings, people, users), secretary (the plan's pages, review, digests) or "
    "viewer (read only).",
)
@click.option("--plan", "plan_code", metavar="CODE", help="Only on this plan (default: all).")
@click.option("--name", default="", help="Their name, as the history will show it.")
@click.pass_obj
def add(settings: Settings, email: str, role: str, plan_code: str | None, name: str) -> None:
    """Add a user (or give an existing one a role on a plan)."""
    engine = engine_from(settings)
    now = datetime.now(UTC)
    with Session(engine) as session:
        try:
            user, created = add_user(
                session,
                email,
                role=Role(role),
                plan_code=plan_code or ALL_PLANS,
                name=name,
                by=_operator(),
                now=now,
            )
        except UserError as exc:
            fail(str(exc))
        audit.record(
            session,
            "user_added" if created else "role_granted",
            now=now,
            email=user.email,
            user_id=user.id,
            reason=f"{role} on {plan_code or 'every plan'}",
            by=_operator(),
        )
        address = user.email
        session.commit()
    where = f"plan {plan_code}" if plan_code else "every plan"
    verb = "added" if created else "updated"
    click.echo(f"{verb} {address}: {role} on {where}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_(settings: Settings, as_json: bool) -> None:
    """Every user, with their roles."""
    engine = engine_from(settings)
    with Session(engine) as session:
        rows: list[dict[str, Any]] = [
            {
                "email": u.email,
                "name": u.name,
                "active": u.active,
                "microsoft": bool(u.entra_oid),
                "roles": [{"plan": r.plan_code or None, "role": r.role} for r in roles],
            }
            for u, roles in list_users(session)
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no users yet; add the first admin with: chaser users add EMAIL --role admin")
    for row in rows:
        roles = ", ".join(f"{r['role']} on {r['plan'] or 'every plan'}" for r in row["roles"])
        click.echo(f"{row['email']:<40} {row['name'][:24]:<24} {roles}")


@users.command("signin-link")
@click.argument("email")
@click.pass_obj
def signin_link(settings: Settings, email: str) -> None:
    """Print a one-time sign-in link for EMAIL (the first admin's way in, and for tests).

    It works once, for 15 minutes, in any browser: give it only to that person.
    """
    from chaser.wiring import public_url

    engine = engine_from(settings)
    now = datetime.now(UTC)
    with Session(engine) as session:
        user = find_user(session, email)
        if user is None or not user.active:
            fail(f"no active user {email}; add them first with: chaser users add {email} --role …")
        token = create_link(session, user, now=now)
        audit.record(
            session, "link_printed", now=now, email=user.email, user_id=user.id, by=_operator()
        )
        session.commit()
    click.echo(f"{public_url(settings)}/signin/link/{token}")
