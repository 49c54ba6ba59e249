"""Users and their roles: who may read, work on or administer each plan."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from workflows.store.models import Role, UserAccount, UserRole

#: Each role, and the roles it includes.
RANKS = {Role.ADMIN: 3, Role.SECRETARY: 2, Role.VIEWER: 1}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ALL_PLANS = ""


class UserError(ValueError):
    """A user cannot be added or changed as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Grant:
    role: Role
    plan_code: str  # "" for every plan


@dataclass(frozen=True)
class SignedIn:
    """A signed-in user, as the pages see them."""

    user_id: int
    email: str
    name: str
    grants: tuple[Grant, ...]

    @property
    def label(self) -> str:
        """How the history names them: ``Morwenna Tregear <morwenna@…>``."""
        return f"{self.name} <{self.email}>" if self.name else self.email

    def role_on(self, plan_code: str) -> Role | None:
        """Their highest role on ``plan_code`` (a grant for every plan counts)."""
        roles = [g.role for g in self.grants if g.plan_code in (plan_code, ALL_PLANS)]
        return max(roles, key=RANKS.__getitem__, default=None)

    def may(self, need: Role, plan_code: str) -> bool:
        """Whether their role on ``plan_code`` includes ``need``."""
        role = self.role_on(plan_code)
        return role is not None and RANKS[role] >= RANKS[need]

    @property
    def plans(self) -> tuple[str, ...]:
        """The plans they have a role on (``""`` meaning all of them)."""
        return tuple(sorted({g.plan_code for g in self.grants}))


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user(session: Session, email: str) -> UserAccount | None:
    return session.exec(
        select(UserAccount).where(UserAccount.email == normalise_email(email))
    ).first()


def signed_in(session: Session, user: UserAccount) -> SignedIn:
    assert user.id is not None
    grants = session.exec(select(UserRole).where(UserRole.user_id == user.id)).all()
    return SignedIn(
        user_id=user.id,
        email=user.email,
        name=user.name,
        grants=tuple(Grant(Role(g.role), g.plan_code) for g in grants),
    )


def add_user(
    session: Session,
    email: str,
    *,
    role: Role,
    plan_code: str = ALL_PLANS,
    name: str = "",
    by: str,
    now: datetime,
) -> tuple[UserAccount, bool]:
    """Add a user (or give an existing one this role on ``plan_code``); whether they are new.
    Does not commit."""
    address = normalise_email(email)
    if not _EMAIL.match(address) or len(address) > 320:
        raise UserError(f"{email!r} is not an email address; write it as name@example.org")
    user = find_user(session, address)
    created = user is None
    if user is None:
        user = UserAccount(email=address, name=name.strip(), created_at=now, created_by=by)
        session.add(user)
        session.flush()
    elif name.strip():
        user.name = name.strip()
    user.active = True
    assert user.id is not None
    grant = session.exec(
        select(UserRole).where(UserRole.user_id == user.id, UserRole.plan_code == plan_code)
    ).first()
    if grant is None:
        grant = UserRole(user_id=user.id, plan_code=plan_code, role=role, granted_at=now)
    grant.role, grant.granted_at, grant.granted_by = str(role), now, by
    session.add(grant)
    session.flush()
    return user, created


def list_users(session: Session) -> Sequence[tuple[UserAccount, Sequence[UserRole]]]:
    users = session.exec(select(UserAccount).order_by(col(UserAccount.email))).all()
    roles = session.exec(select(UserRole).order_by(col(UserRole.plan_code))).all()
    return [(u, [r for r in roles if r.user_id == u.id]) for u in users]
