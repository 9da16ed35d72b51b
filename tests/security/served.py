"""A node (or a hub) served on 127.0.0.1 from a background thread, for synchronous clients such as schemathesis."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from federation import appkeys
from federation.app import create_app
from federation.bootstrap import init_node
from federation.config import Settings, load_settings
from federation.protocol import persistence
from federation.protocol.keys import PublicKeyInfo, b64url
from federation.protocol.signing import sign_request
from federation.serving import NodeRunner
from federation.storage.tokens import create_token

T = TypeVar("T")


@dataclass
class ServedNode:
    """A running node: its URL, settings, loop (to run coroutines on it) and tokens by role."""

    url: str
    settings: Settings
    loop: asyncio.AbstractEventLoop
    app: web.Application
    tokens: dict[str, str] = field(default_factory=dict)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def auth(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def pin_peer(self, node_id: str) -> PeerSigner:
        """A peer this node trusts (its key pinned, as `regies peer add` does), to sign requests with."""
        signer = PeerSigner(node_id, f"key-{node_id}", Ed25519PrivateKey.generate())
        key = PublicKeyInfo.from_jwk(signer.jwk())
        engine = self.app[appkeys.ENGINE]
        self.run(
            persistence.save_peer(engine, node_id=node_id, name=node_id, base_url="http://127.0.0.1:9", keys=[key])
        )
        return signer


@dataclass
class PeerSigner(requests.auth.AuthBase):
    """Signs each outgoing `requests` request per RFC 9421 as the federation does (fresh nonce, Content-Digest)."""

    node_id: str
    kid: str
    private_key: Ed25519PrivateKey

    def jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return PublicKeyInfo(kid=self.kid, x=b64url(public), created=int(time.time())).jwk()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        signed = sign_request(
            str(request.method),
            str(request.url),
            body,
            node_id=self.node_id,
            kid=self.kid,
            private_key=self.private_key,
        )
        request.headers.update(signed)
        return request


def _clean_environment() -> None:
    for key in list(os.environ):
        if key.startswith("REGIES_") and key != "REGIES_TEST_POSTGRES_URL":
            del os.environ[key]


@contextmanager
def served_node(
    data_dir: Path, node_id: str, *, hub: bool = False, database_url: str | None = None
) -> Iterator[ServedNode]:
    """Initialise a node in `data_dir` and serve it until the block ends; a hub gets coordinator tokens."""
    _clean_environment()
    overrides: dict[str, Any] = {"federation": {"worker": False, "allow_private_addresses": True}}
    if hub:
        overrides["plugins"] = {"hub": {"enabled": True}}
    if database_url:
        overrides["database"] = {"url": database_url}
    settings = load_settings(data_dir=data_dir, overrides=overrides)
    loop = asyncio.new_event_loop()
    ready: threading.Event = threading.Event()
    stop = asyncio.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        try:
            result = await init_node(settings, name=f"Régie {node_id}", node_id=node_id)
            assert result.admin_token
            app = create_app(settings)
            runner = NodeRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            settings.server.base_url = f"http://127.0.0.1:{port}"  # known only now; `init` would have written it
            served = ServedNode(f"http://127.0.0.1:{port}", settings, loop, app, {"admin": result.admin_token})
            if hub:
                engine = app[appkeys.ENGINE]
                served.tokens["national"] = await create_token(engine, "coordination nationale", "national")
                served.tokens["regional"] = await create_token(engine, "coordination IDF", "regional", "11")
            state["served"] = served
        except BaseException as exc:
            state["error"] = exc
            ready.set()
            raise
        ready.set()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    ready.wait(timeout=60)
    if "error" in state:
        raise state["error"]
    try:
        yield state["served"]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()
