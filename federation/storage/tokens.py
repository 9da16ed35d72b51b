"""API bearer tokens: creation (shown once), SHA-256 digests at rest, lookup and revocation."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.schema.records import utcnow
from federation.storage.mapping import from_micros, to_micros
from federation.storage.tables import tokens

TOKEN_PREFIX = "rgs_"
ROLES = ("admin", "national", "regional")


@dataclass(frozen=True)
class Actor:
    """Who a bearer token speaks for: the node's administrator, or a national or regional coordinator."""

    name: str
    role: str = "admin"
    region: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_coordinator(self) -> bool:
        return self.role in ("national", "regional")

    def sees_region(self, region: str | None) -> bool:
        """National coordinators and administrators see every region; a regional coordinator only theirs."""
        return self.role != "regional" or (region is not None and region == self.region)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    prefix: str
    created_at: str
    revoked_at: str | None
    last_used_at: str | None
    role: str = "admin"
    region: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def digest(token: str) -> str:
    # Tokens carry 256 random bits, so a fast unsalted hash is enough; there is nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _iso(micros: int | None) -> str | None:
    return None if micros is None else from_micros(micros).isoformat().replace("+00:00", "Z")


async def create_token(engine: AsyncEngine, name: str, role: str = "admin", region: str | None = None) -> str:
    """Store a new token's digest and return the token itself, which is never stored."""
    from federation.schema.geo import REGIONS

    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("token name must be 1–100 characters")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "regional" and region not in REGIONS:
        raise ValueError(f"a regional coordinator needs --region, one of: {', '.join(sorted(REGIONS))}")
    if role != "regional" and region is not None:
        raise ValueError("only regional coordinators have a region")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with engine.begin() as connection:
        await connection.execute(
            insert(tokens).values(
                name=name,
                token_hash=digest(token),
                prefix=token[:10],
                created_at_us=to_micros(utcnow()),
                role=role,
                region=region,
            )
        )
    return token


async def verify_token(engine: AsyncEngine, token: str) -> Actor | None:
    """Who the active token matching `token` speaks for, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(tokens.c.name, tokens.c.role, tokens.c.region).where(
                    tokens.c.token_hash == digest(token), tokens.c.revoked_at_us.is_(None)
                )
            )
        ).first()
    return None if row is None else Actor(str(row[0]), str(row[1]), row[2])


async def list_tokens(engine: AsyncEngine) -> list[TokenInfo]:
    async with engine.connect() as connection:
        rows = (await connection.execute(select(tokens).order_by(tokens.c.id))).mappings().all()
    return [
        TokenInfo(
            row["id"],
            row["name"],
            row["prefix"],
            _iso(row["created_at_us"]) or "",
            _iso(row["revoked_at_us"]),
            _iso(row["last_used_at_us"]),
            row["role"],
            row["region"],
        )
        for row in rows
    ]


async def revoke_tokens(engine: AsyncEngine, name_or_id: str) -> int:
    """Revoke the active tokens with this name (or this numeric id); returns how many were revoked."""
    condition = tokens.c.name == name_or_id
    if name_or_id.isdigit():
        condition = tokens.c.id == int(name_or_id)
    async with engine.begin() as connection:
        result = await connection.execute(
            update(tokens).where(condition, tokens.c.revoked_at_us.is_(None)).values(revoked_at_us=to_micros(utcnow()))
        )
    return int(result.rowcount)
