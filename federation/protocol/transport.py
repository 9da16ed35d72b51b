"""Outgoing server-to-server HTTP: signed requests to other nodes' feeds and inboxes, discovery fetches."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from federation import __version__
from federation.protocol.discovery import NodeIdentity, RemoteNode, parse_discovery
from federation.protocol.signing import HttpMessage, SignatureError, sign_request, verify_response

USER_AGENT = f"regies-federation/{__version__}"


class TransportError(Exception):
    """A request to another node failed. `status` is the HTTP status (None: no answer); `permanent` tells the
    sender not to retry: a 4xx other than 401 (keys may be mid-rotation), 408, 425 and 429 means the request
    itself is wrong."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def permanent(self) -> bool:
        return self.status is not None and 400 <= self.status < 500 and self.status not in (401, 408, 425, 429)


class SignerKeys(Protocol):
    """The public keys an answer may be signed with, by keyid (`<node id>#<key id>`); may refresh them first
    when the answer names a key that is not pinned yet (the peer rotated its keys)."""

    async def keys(self, answer_headers: Mapping[str, str]) -> dict[str, Ed25519PublicKey]: ...


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FederationClient:
    """Signs every request with this node's current key. One per app (or per CLI command)."""

    def __init__(self, identity: NodeIdentity, timeout_s: float = 30) -> None:
        self.identity = identity
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout_s), headers={"User-Agent": USER_AGENT}
        )

    async def close(self) -> None:
        await self._session.close()

    async def request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        on_headers: Callable[[Mapping[str, str]], None] | None = None,
        signed_by: SignerKeys | None = None,
    ) -> Response:
        """Send a signed request; `on_headers` sees a successful answer's headers before its body is read.

        With `signed_by` (the federation endpoints), a successful answer must carry that peer's signature bound
        to this request, else TransportError: an answer altered or replayed on the way is never used.
        """
        kid, private_key = self.identity.keys.signing
        headers = sign_request(method, url, body, node_id=self.identity.node_id, kid=kid, private_key=private_key)
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(method, url, data=body, headers=headers) as response:
                if on_headers is not None and response.status < 400:
                    on_headers(response.headers)
                payload = await response.read()
                status = response.status
                answer_headers = response.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
        if status >= 400:
            raise TransportError(f"{method} {url} answered {status}: {_problem_detail(payload)}", status)
        if signed_by is not None:
            sent = HttpMessage(method.upper(), url, headers)
            try:
                verify_response(status, answer_headers, payload, sent, await signed_by.keys(answer_headers))
            except SignatureError as exc:
                raise TransportError(f"{method} {url}: {exc}") from exc
        return Response(status, payload)

    async def fetch_discovery(self, base_url: str, expected_node_id: str | None = None) -> RemoteNode:
        address = urlsplit(base_url)
        if address.scheme not in ("http", "https") or not address.hostname:
            raise TransportError(
                f"'{base_url}' is not a node's address: it starts with https:// (or http://), "
                "e.g. https://regie-voisine.example"
            )
        url = f"{base_url.rstrip('/')}/.well-known/regies-node"
        try:
            async with self._session.get(url) as response:
                payload = await response.read()
                if response.status == 404:
                    raise TransportError(
                        f"GET {url} answered 404: no régie node answers at this address "
                        "(check the URL, and that the node is running there)",
                        404,
                    )
                if response.status != 200:
                    raise TransportError(f"GET {url} answered {response.status}", response.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportError(f"GET {url}: {type(exc).__name__}: {exc}") from exc
        try:
            return parse_discovery(json.loads(payload), expected_node_id)
        except (ValueError, KeyError) as exc:
            raise TransportError(f"{url}: {exc}") from exc


def _problem_detail(payload: bytes) -> str:
    try:
        document = json.loads(payload)
        if isinstance(document, dict):
            return str(document.get("detail") or document.get("title") or document)[:500]
    except ValueError:
        pass
    return payload[:200].decode("utf-8", "replace")
