"""The conformance kit's own node: a throwaway (or kept) Ed25519 identity, a small server publishing its discovery
document so that the tested node can pin it, and signed requests built by hand, so that a check can also send
what a correct peer never would (stale, replayed, tampered, unknown key)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from multidict import CIMultiDict
from yarl import URL

from federation.protocol.keys import PublicKeyInfo, b64url, b64url_decode, fingerprint, raw_public
from federation.protocol.signing import HttpMessage, SignatureError, sign_request, sign_response, verify_response
from federation.versions import PROTOCOL_HEADER, PROTOCOL_VERSION, SCHEMA_VERSION

IDENTITY_FILE = "conformance-identity.json"
TIMEOUT = aiohttp.ClientTimeout(total=30)


@dataclass(frozen=True)
class KitIdentity:
    """The kit's node id and signing key."""

    node_id: str
    kid: str
    private_key: Ed25519PrivateKey
    created: int

    @classmethod
    def throwaway(cls) -> KitIdentity:
        now = dt.datetime.now(dt.UTC)
        suffix = secrets.token_hex(3)
        return cls(
            f"conformance-{suffix}", f"key-{now:%Y%m%d}-{suffix}", Ed25519PrivateKey.generate(), int(now.timestamp())
        )

    @classmethod
    def kept_in(cls, key_dir: Path) -> KitIdentity:
        """The identity saved in `key_dir` (created there the first time, private file), so that a node that
        added the kit once need not add it again."""
        path = key_dir / IDENTITY_FILE
        if path.exists():
            saved = json.loads(path.read_text())
            key = Ed25519PrivateKey.from_private_bytes(b64url_decode(saved["d"]))
            return cls(saved["node_id"], saved["kid"], key, int(saved["created"]))
        identity = cls.throwaway()
        seed = identity.private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        key_dir.mkdir(parents=True, exist_ok=True)
        saved = {"node_id": identity.node_id, "kid": identity.kid, "created": identity.created, "d": b64url(seed)}
        path.touch(mode=0o600)
        path.write_text(json.dumps(saved))
        return identity

    @property
    def public(self) -> PublicKeyInfo:
        return PublicKeyInfo(self.kid, b64url(raw_public(self.private_key.public_key())), self.created)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public.x)

    def discovery(self, base_url: str) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "name": "Regies conformance kit",
            "base_url": base_url,
            "software": {"name": "regies-conformance", "version": PROTOCOL_VERSION},
            "protocol_version": PROTOCOL_VERSION,
            "schema_versions": [SCHEMA_VERSION],
            "record_kinds": [],
            "keys": [self.public.jwk()],
            "endpoints": {
                "changes": f"{base_url}/federation/v1/changes",
                "inbox": f"{base_url}/federation/v1/inbox",
            },
            "plugins": [],
            "service_types": [],
        }


async def serve_kit(identity: KitIdentity, host: str, port: int, public_url: str | None) -> tuple[web.AppRunner, str]:
    """Serve the kit's discovery document (what `regies peer add` fetches) and an empty, signed feed (what the node
    then pulls); returns the runner and the kit's base URL."""
    app = web.Application()
    base: dict[str, str] = {}

    async def well_known(_request: web.Request) -> web.Response:
        return web.json_response(identity.discovery(base["url"]))

    async def changes(request: web.Request) -> web.Response:
        # Not a check of the node (its pulls come whenever its worker runs): an empty page, signed as §5.6 says.
        body = json.dumps(
            {"origin": identity.node_id, "records": [], "next_cursor": "", "more": False, "remaining": 0}
        ).encode()
        message = HttpMessage(request.method, base["url"] + request.raw_path, request.headers)
        headers = sign_response(
            200, body, message, node_id=identity.node_id, kid=identity.kid, private_key=identity.private_key
        )
        headers[PROTOCOL_HEADER] = PROTOCOL_VERSION
        return web.Response(body=body, content_type="application/json", headers=headers)

    app.router.add_get("/.well-known/regies-node", well_known)
    app.router.add_get("/federation/v1/changes", changes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    base["url"] = (public_url or f"http://{host}:{bound}").rstrip("/")
    return runner, base["url"]


@dataclass
class Answer:
    status: int
    headers: CIMultiDict[str]
    body: bytes
    # What the request carried, to check the answer's signature, which is bound to it.
    request: HttpMessage

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def problem_type(self) -> str | None:
        document = self.json()
        return document.get("type") if isinstance(document, dict) else None


@dataclass
class Signing:
    """How a request is signed: by default as a correct peer signs it (section 5)."""

    keyid_node: str | None = None
    kid: str | None = None
    private_key: Ed25519PrivateKey | None = None
    created: dt.datetime | None = None
    target_base: str | None = None  # sign for another URL than the one the request goes to
    nonce: str | None = None


@dataclass
class KitClient:
    """Requests from the kit to the tested node at `base_url`, signed with the kit's key."""

    identity: KitIdentity
    base_url: str
    node_keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> KitClient:
        self.session = aiohttp.ClientSession(timeout=TIMEOUT, auto_decompress=False)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def get_unsigned(self, path: str) -> Answer:
        return await self.send("GET", path, signing=None)

    async def send(
        self,
        method: str,
        path_and_query: str,
        body: bytes | None = None,
        *,
        signing: Signing | None = Signing(),  # noqa: B008 — read only
        headers: dict[str, str] | None = None,
        sent_body: bytes | None = None,
        raw_headers: CIMultiDict[str] | None = None,
    ) -> Answer:
        """`method` `base_url + path_and_query`, sent exactly as spelled (no re-encoding), signed as `signing` says
        (None: unsigned); `sent_body`: the bytes sent instead of the signed `body` (tampering); `raw_headers`: a
        request's headers to send again as they were (a replay)."""
        assert self.session is not None
        url = self.base_url + path_and_query
        if raw_headers is not None:
            sent = CIMultiDict(raw_headers)
        elif signing is None:
            sent = CIMultiDict()
        else:
            sent = sign_request(
                method,
                (signing.target_base or self.base_url) + path_and_query,
                body,
                node_id=signing.keyid_node or self.identity.node_id,
                kid=signing.kid or self.identity.kid,
                private_key=signing.private_key or self.identity.private_key,
                created=signing.created,
                nonce=signing.nonce,
            )
        sent.setdefault(PROTOCOL_HEADER, PROTOCOL_VERSION)
        sent.setdefault("Accept-Encoding", "identity")
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        sent.update(headers or {})
        data = sent_body if sent_body is not None else body
        async with self.session.request(method, URL(url, encoded=True), data=data, headers=sent) as response:
            received = await response.read()
            return Answer(response.status, CIMultiDict(response.headers), received, HttpMessage(method, url, sent))

    def answer_signed(self, answer: Answer) -> str | None:
        """Why the answer's signature does not hold (section 5.6), or None when it verifies with a key of the node."""
        try:
            verify_response(answer.status, answer.headers, answer.body, answer.request, self.node_keys)
        except SignatureError as exc:
            return str(exc)
        return None
