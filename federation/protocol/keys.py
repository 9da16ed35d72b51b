"""This node's Ed25519 signing keys: creation, private key files, rotation proofs, JWKs and fingerprints.

Private keys live in `<data-dir>/keys/<kid>.pem` (mode 0600, directory 0700); the public half of every key,
its validity and its rotation proof are in the `node_keys` table so every process of a node publishes the
same set. A rotation creates a new key and signs a statement naming it with the previous key; receivers
accept the new key only if that proof verifies with a key they already trust.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.schema.records import utcnow
from federation.storage.mapping import from_micros, to_micros
from federation.storage.tables import node_keys

log = logging.getLogger(__name__)

DEFAULT_OVERLAP = dt.timedelta(days=7)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public_x: str) -> str:
    """SHA-256 of the raw public key, as colon-separated hex pairs an operator can compare by eye."""
    digest = hashlib.sha256(b64url_decode(public_x)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def rotation_statement(node_id: str, kid: str, public_x: str, created: int) -> bytes:
    """The canonical bytes an old key signs to vouch for a new one."""
    statement = {"node_id": node_id, "kid": kid, "x": public_x, "created": created, "purpose": "regies-key-rotation"}
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


def _quoted(value: object, limit: int = 60) -> str:
    """Another node's value as an error message quotes it: repr (control characters escaped), cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class PublicKeyInfo:
    """A key as published in the discovery document."""

    kid: str
    x: str
    created: int
    not_after: int | None = None
    signed_by: str | None = None
    rotation_signature: str | None = None

    def jwk(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "kty": "OKP",
            "crv": "Ed25519",
            "kid": self.kid,
            "x": self.x,
            "use": "sig",
            "alg": "EdDSA",
            "created": self.created,
            "not_after": self.not_after,
        }
        if self.signed_by:
            document["rotation"] = {"signed_by": self.signed_by, "signature": self.rotation_signature}
        return document

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any]) -> PublicKeyInfo:
        if not isinstance(jwk, dict):
            raise ValueError(f"a key must be a JWK object, not {type(jwk).__name__}")
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise ValueError(f"key {_quoted(jwk.get('kid'))} is not an Ed25519 JWK")
        x = jwk.get("x")
        if not isinstance(x, str) or len(b64url_decode(x)) != 32:
            raise ValueError(f"key {_quoted(jwk.get('kid'))} has a malformed public value")
        rotation = jwk.get("rotation") or {}
        not_after = jwk.get("not_after")
        # Another node's document: a wrong type is its error (ValueError), never a crash here (TypeError).
        try:
            if not isinstance(rotation, dict) or not isinstance(jwk["kid"], str):
                raise TypeError("kid must be a string and rotation an object")
            return cls(
                kid=jwk["kid"],
                x=x,
                created=int(jwk.get("created") or 0),
                not_after=int(not_after) if not_after is not None else None,
                signed_by=rotation.get("signed_by"),
                rotation_signature=rotation.get("signature"),
            )
        except (TypeError, KeyError) as exc:
            raise ValueError(f"key {_quoted(jwk.get('kid'))} is malformed: {exc}") from exc

    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(b64url_decode(self.x))

    def valid_at(self, moment: int) -> bool:
        return self.not_after is None or moment < self.not_after


def verify_rotation(node_id: str, new: PublicKeyInfo, trusted: dict[str, PublicKeyInfo]) -> bool:
    """True if `new` carries a rotation proof made by one of the `trusted` keys."""
    signer = trusted.get(new.signed_by or "")
    if signer is None or not new.rotation_signature:
        return False
    try:
        signer.public_key().verify(
            b64url_decode(new.rotation_signature), rotation_statement(node_id, new.kid, new.x, new.created)
        )
    except (InvalidSignature, ValueError):
        return False
    return True


class KeyStore:
    """The node's own keys: which one signs, and the published set."""

    def __init__(self, keys_dir: Path, private: dict[str, Ed25519PrivateKey], public: list[PublicKeyInfo]):
        self.keys_dir = keys_dir
        self._private = private
        self.published = public

    @property
    def signing(self) -> tuple[str, Ed25519PrivateKey]:
        """The newest key with a private half on this machine."""
        now = int(utcnow().timestamp())
        for info in reversed(self.published):  # loaded oldest first, by creation time in microseconds
            if info.kid in self._private and info.valid_at(now):
                return info.kid, self._private[info.kid]
        raise RuntimeError(f"no usable private signing key in {self.keys_dir}; run `regies keys rotate`")

    @classmethod
    async def load(cls, engine: AsyncEngine, keys_dir: Path) -> KeyStore:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(node_keys).order_by(node_keys.c.created_us))).mappings().all()
        public = [
            PublicKeyInfo(
                row["kid"],
                row["public_x"],
                row["created_us"] // 1_000_000,
                row["not_after_us"] // 1_000_000 if row["not_after_us"] is not None else None,
                row["signed_by"],
                row["rotation_signature"],
            )
            for row in rows
        ]
        private = {}
        for info in public:
            path = keys_dir / f"{info.kid}.pem"
            if path.exists():
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
                if not isinstance(key, Ed25519PrivateKey):
                    raise RuntimeError(f"{path} is not an Ed25519 private key")
                private[info.kid] = key
        return cls(keys_dir, private, public)


def _write_private(keys_dir: Path, kid: str, key: Ed25519PrivateKey) -> None:
    keys_dir.mkdir(parents=True, exist_ok=True)
    keys_dir.chmod(0o700)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = keys_dir / f"{kid}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


async def create_key(
    engine: AsyncEngine, keys_dir: Path, node_id: str, overlap: dt.timedelta = DEFAULT_OVERLAP
) -> PublicKeyInfo:
    """Create a new signing key; if one exists, the newest signs the rotation and expires after `overlap`."""
    existing = await KeyStore.load(engine, keys_dir)
    key = Ed25519PrivateKey.generate()
    now = utcnow()
    created = int(now.timestamp())
    kid = f"key-{now.strftime('%Y%m%d')}-{secrets.token_hex(3)}"
    x = b64url(raw_public(key.public_key()))
    signed_by = signature = None
    if existing.published:
        signed_by, old_private = existing.signing
        signature = b64url(old_private.sign(rotation_statement(node_id, kid, x, created)))
    _write_private(keys_dir, kid, key)
    async with engine.begin() as connection:
        if signed_by is not None:
            await connection.execute(
                update(node_keys)
                .where(node_keys.c.not_after_us.is_(None), node_keys.c.kid != kid)
                .values(not_after_us=to_micros(now + overlap))
            )
        await connection.execute(
            insert(node_keys).values(
                kid=kid,
                public_x=x,
                created_us=to_micros(now),
                not_after_us=None,
                signed_by=signed_by,
                rotation_signature=signature,
            )
        )
    return PublicKeyInfo(kid, x, created, None, signed_by, signature)


async def load_or_create_keys(engine: AsyncEngine, keys_dir: Path, node_id: str) -> KeyStore:
    """This node's keys; a node initialised before federation existed gets its first key now."""
    keys = await KeyStore.load(engine, keys_dir)
    if not keys.published:
        created = await create_key(engine, keys_dir, node_id)
        log.info("created signing key %s in %s", created.kid, keys_dir)
        keys = await KeyStore.load(engine, keys_dir)
    return keys


async def revoke_key(engine: AsyncEngine, keys_dir: Path, kid: str) -> None:
    """End a key's validity now (peers refuse it once they re-read the discovery document)."""
    store = await KeyStore.load(engine, keys_dir)
    now = int(utcnow().timestamp())
    if kid not in {info.kid for info in store.published}:
        raise ValueError(f"no key '{kid}' (see `regies keys`)")
    others = [info for info in store.published if info.kid != kid and info.valid_at(now)]
    if not others:
        raise ValueError(f"'{kid}' is the only valid key: run `regies keys rotate` first, then revoke it")
    async with engine.begin() as connection:
        await connection.execute(
            update(node_keys).where(node_keys.c.kid == kid).values(not_after_us=to_micros(utcnow()))
        )


def describe_validity(info: PublicKeyInfo) -> str:
    if info.not_after is None:
        return "current"
    return f"valid until {from_micros(info.not_after * 1_000_000).isoformat()}"
