"""Web interface accounts: argon2 password hashes, roles, server-side sessions (login throttling: throttle.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.schema.geo import REGIONS
from federation.schema.records import utcnow
from federation.storage.mapping import from_micros, to_micros
from federation.storage.tables import sessions, users

NODE_ROLES = ("admin", "staff")
HUB_ROLES = ("national", "regional")
ROLES = NODE_ROLES + HUB_ROLES
MIN_PASSWORD_LENGTH = 10
MAX_USERNAME_LENGTH = 100


class UserError(Exception):
    """An account cannot be created as asked (duplicate name, unknown role, short password…)."""


@dataclass(frozen=True)
class WebUser:
    """Who is logged in: a régie's admin or staff member, or a national or regional coordinator of the hub."""

    id: int
    username: str
    role: str
    region: str | None = None

    @property
    def is_coordinator(self) -> bool:
        return self.role in HUB_ROLES

    def sees_region(self, region: str | None) -> bool:
        """National coordinators see every region; a regional coordinator only theirs."""
        return self.role != "regional" or (region is not None and region == self.region)


@dataclass(frozen=True)
class UserInfo:
    username: str
    role: str
    region: str | None
    created_at: str
    last_login_at: str | None


def _hasher() -> PasswordHasher:
    # argon2id with the library's defaults (RFC 9106 "low memory" profile); cheap to build, no state kept.
    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """The blocking argon2 check; the web goes through LoginGuard.verify, which bounds how many run at once."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_new_user(username: str, password: str, role: str, region: str | None) -> None:
    """Refuse an account that could not work, with a message saying what to change."""
    if not username or len(username) > MAX_USERNAME_LENGTH or any(ch.isspace() for ch in username):
        raise UserError(f"the username must be 1 to {MAX_USERNAME_LENGTH} characters without spaces")
    if role not in ROLES:
        raise UserError(f"unknown role '{role}' (choose one of {', '.join(ROLES)})")
    if role == "regional":
        if region not in REGIONS:
            raise UserError("a regional coordinator needs --region, an INSEE region code such as 84 or 11")
    elif region is not None:
        raise UserError("only regional coordinators have a region")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")


async def create_user(engine: AsyncEngine, username: str, password: str, role: str, region: str | None) -> WebUser:
    check_new_user(username, password, role, region)
    password_hash = await asyncio.to_thread(hash_password, password)
    return await store_user(engine, username, password_hash, role, region)


async def store_user(engine: AsyncEngine, username: str, password_hash: str, role: str, region: str | None) -> WebUser:
    """Insert an account whose password is already hashed (create_user checks and hashes first)."""
    try:
        async with engine.begin() as connection:
            result = await connection.execute(
                insert(users).values(
                    username=username,
                    password_hash=password_hash,
                    role=role,
                    region=region,
                    failed_attempts=0,
                    created_at_us=to_micros(utcnow()),
                )
            )
    except IntegrityError as exc:
        raise UserError(f"a user named '{username}' already exists") from exc
    user_id = result.inserted_primary_key[0] if result.inserted_primary_key else 0
    return WebUser(int(user_id), username, role, region)


async def set_password(engine: AsyncEngine, username: str, password: str) -> None:
    """Replace a user's password and end its sessions; UserError if there is no such user."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    password_hash = await asyncio.to_thread(hash_password, password)
    async with engine.begin() as connection:
        user_id = await connection.scalar(select(users.c.id).where(users.c.username == username))
        if user_id is None:
            raise UserError(f"no user named '{username}' (see `regies user list`)")
        await connection.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))
        await connection.execute(delete(sessions).where(sessions.c.user_id == user_id))


async def remove_user(engine: AsyncEngine, username: str) -> None:
    """Delete an account and its sessions; UserError if there is no such user."""
    async with engine.begin() as connection:
        user_id = await connection.scalar(select(users.c.id).where(users.c.username == username))
        if user_id is None:
            raise UserError(f"no user named '{username}' (see `regies user list`)")
        await connection.execute(delete(sessions).where(sessions.c.user_id == user_id))
        await connection.execute(delete(users).where(users.c.id == user_id))


async def list_users(engine: AsyncEngine) -> list[UserInfo]:
    async with engine.connect() as connection:
        rows = (await connection.execute(select(users).order_by(users.c.username))).mappings().all()
    return [
        UserInfo(
            row["username"],
            row["role"],
            row["region"],
            from_micros(row["created_at_us"]).isoformat(timespec="seconds"),
            from_micros(row["last_login_at_us"]).isoformat(timespec="seconds") if row["last_login_at_us"] else None,
        )
        for row in rows
    ]


async def authenticate(
    engine: AsyncEngine, username: str, password: str, verify: Callable[[str | None, str], Awaitable[bool]]
) -> WebUser | None:
    """The account if `password` is its password, else None. `verify` runs even for an unknown username (with no
    hash: it checks a dummy one), so that the answer and its time say nothing about which names exist."""
    row = None
    if len(username) <= MAX_USERNAME_LENGTH:
        async with engine.connect() as connection:
            row = (await connection.execute(select(users).where(users.c.username == username))).mappings().first()
    if not await verify(row["password_hash"] if row else None, password) or row is None:
        return None
    async with engine.begin() as connection:
        await connection.execute(
            update(users).where(users.c.id == row["id"]).values(last_login_at_us=to_micros(utcnow()))
        )
    return WebUser(row["id"], row["username"], row["role"], row["region"])


def _session_digest(session_id: str) -> str:
    # Session ids carry 256 random bits: a plain SHA-256 is enough to make a stolen table useless.
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


async def open_session(engine: AsyncEngine, user: WebUser, hours: float) -> tuple[str, str]:
    """A new session for `user`: (session id for the cookie, CSRF token). Expired sessions are purged."""
    session_id = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    now = utcnow()
    async with engine.begin() as connection:
        await connection.execute(delete(sessions).where(sessions.c.expires_at_us < to_micros(now)))
        await connection.execute(
            insert(sessions).values(
                id_hash=_session_digest(session_id),
                user_id=user.id,
                csrf_token=csrf_token,
                created_at_us=to_micros(now),
                expires_at_us=to_micros(now + dt.timedelta(hours=hours)),
            )
        )
    return session_id, csrf_token


async def load_session(engine: AsyncEngine, session_id: str) -> tuple[WebUser, str] | None:
    """The user and CSRF token of a live session, or None (unknown or expired)."""
    query = (
        select(users.c.id, users.c.username, users.c.role, users.c.region, sessions.c.csrf_token)
        .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
        .where(sessions.c.id_hash == _session_digest(session_id), sessions.c.expires_at_us > to_micros(utcnow()))
    )
    async with engine.connect() as connection:
        row = (await connection.execute(query)).mappings().first()
    if row is None:
        return None
    return WebUser(row["id"], row["username"], row["role"], row["region"]), row["csrf_token"]


async def close_session(engine: AsyncEngine, session_id: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(delete(sessions).where(sessions.c.id_hash == _session_digest(session_id)))
