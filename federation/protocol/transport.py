"""Outgoing server-to-server HTTP: signed requests to other nodes' feeds and inboxes, discovery fetches.

Every request goes only where the outbound policy allows (federation.protocol.addresses), follows no redirect,
and reads at most a bounded answer; an error keeps the status and a short reason written here, never the text
of the answer (which could be anything an internal service said).
"""

from __future__ import annotations

import json
import os
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from yarl import URL

from federation import PROTOCOL_VERSION, __version__
from federation.config import FederationSettings
from federation.problems import PROBLEM_TYPE_BASE
from federation.protocol.addresses import AddressRefused, CheckedResolver, OutboundPolicy, shown
from federation.protocol.discovery import NodeIdentity, RemoteNode, parse_discovery
from federation.protocol.signing import HttpMessage, SignatureError, sign_request, verify_response
from federation.versions import PROTOCOL_HEADER, protocol_mismatch

USER_AGENT = f"regies-federation/{__version__}"
# A discovery document is a few kilobytes (its keys, endpoints, plugins): far more is not one.
MAX_DISCOVERY_BYTES = 256 * 1024
_READ_CHUNK = 1 << 16
# Of an error answer, only this much is read, for the name of its problem type.
MAX_PROBLEM_BYTES = 16 * 1024
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
# What a URL may hold as sent on a request line (RFC 3986: unreserved, reserved and percent-encoded octets).
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
# What this node says about a problem type another node answered with: known types get a helpful sentence
# written here; any other type is shown only by its (checked) name.
KNOWN_PROBLEMS = {
    "bad-signature": "the peer did not accept this node's signature (has it added this node? are the clocks right?)",
    "spoofed-origin": "the peer refused records it says are not this node's own",
    "validation": "the peer refused the data as invalid",
    "invalid-cursor": "the peer refused the feed cursor",
    "protocol-version": "the peer speaks another major version of the protocol",
}


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

    def __init__(self, identity: NodeIdentity, settings: FederationSettings) -> None:
        self.identity = identity
        self.policy = OutboundPolicy(settings.allow_private_addresses)
        self.max_answer_bytes = settings.max_answer_bytes
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=CheckedResolver(self.policy)),
            timeout=aiohttp.ClientTimeout(total=settings.request_timeout_s),
            # Answers are read as sent and decompressed here (a gzip answer that a peer sends anyway): a signed
            # answer's Content-Digest covers the bytes as sent, and the size bound applies to both forms.
            # `identity` is asked for so that a proxy does not compress an answer whose digest is already made.
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            auto_decompress=False,
        )

    async def close(self) -> None:
        await self._session.close()

    def check_url(self, url: str) -> None:
        """TransportError unless this node may contact `url` (the outbound policy)."""
        try:
            self.policy.check_url(url)
        except AddressRefused as exc:
            raise TransportError(str(exc)) from exc

    async def request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        on_headers: Callable[[Mapping[str, str]], None] | None = None,
        signed_by: SignerKeys | None = None,
        max_bytes: int | None = None,
    ) -> Response:
        """Send a signed request; `on_headers` sees a successful answer's headers before its body is read.

        With `signed_by` (the federation endpoints), a successful answer must carry that peer's signature bound
        to this request, else TransportError: an answer altered or replayed on the way is never used. An answer
        larger than `max_bytes` (default `[federation] max_answer_bytes`) is refused before it is all read.
        """
        self.check_url(url)
        # Sent exactly as signed: yarl would otherwise re-encode the query (`%3A` sent as `:`) after signing.
        if not _URL_CHARACTERS.fullmatch(url):
            raise TransportError(f"{method} {shown(url, 200)}: not a URL as sent (percent-encode it first)")
        target = URL(url, encoded=True)
        kid, private_key = self.identity.keys.signing
        headers = sign_request(method, url, body, node_id=self.identity.node_id, kid=kid, private_key=private_key)
        if body is not None:
            headers["Content-Type"] = "application/json"
        headers[PROTOCOL_HEADER] = PROTOCOL_VERSION
        where = f"{method} {shown(url, 200)}"
        try:
            async with self._session.request(
                method, target, data=body, headers=headers, allow_redirects=False
            ) as response:
                gzipped = await _check_answer(where, response)
                if on_headers is not None:
                    on_headers(response.headers)
                limit = max_bytes or self.max_answer_bytes
                payload = await _read_bounded(where, response, limit)
                status = response.status
                answer_headers = response.headers
        except (aiohttp.ClientError, TimeoutError, AddressRefused) as exc:
            raise TransportError(f"{where}: {_failure(exc)}") from exc
        if signed_by is not None:
            mismatch = protocol_mismatch(answer_headers)
            if mismatch is not None:
                raise TransportError(f"{where}: {mismatch}", status)
            sent = HttpMessage(method.upper(), url, headers)
            try:
                # Over the bytes as received, compressed or not (RFC 9530: the digest covers the content as sent).
                verify_response(status, answer_headers, payload, sent, await signed_by.keys(answer_headers))
            except SignatureError as exc:
                raise TransportError(f"{where}: {exc}") from exc
        return Response(status, _gunzip(where, payload, limit) if gzipped else payload)

    async def fetch_discovery(self, base_url: str, expected_node_id: str | None = None) -> RemoteNode:
        """Another node's discovery document, checked; the base URL it names must be one this node may contact."""
        self.check_url(base_url)
        url = f"{base_url.rstrip('/')}/.well-known/regies-node"
        where = f"GET {shown(url, 200)}"
        try:
            async with self._session.get(url, allow_redirects=False) as response:
                if response.status == 404:
                    raise TransportError(
                        f"{where} answered 404: no régie node answers at this address "
                        "(check the URL, and that the node is running there)",
                        404,
                    )
                gzipped = await _check_answer(where, response)
                payload = await _read_bounded(where, response, MAX_DISCOVERY_BYTES)
                if gzipped:
                    payload = _gunzip(where, payload, MAX_DISCOVERY_BYTES)
        except (aiohttp.ClientError, TimeoutError, AddressRefused) as exc:
            raise TransportError(f"{where}: {_failure(exc)}") from exc
        try:
            remote = parse_discovery(json.loads(payload), expected_node_id)
        except (ValueError, KeyError) as exc:
            raise TransportError(f"{shown(url, 200)}: {exc}") from exc
        try:
            self.policy.check_url(remote.base_url)
        except AddressRefused as exc:
            raise TransportError(f"{shown(url, 200)} names a base URL this node will not contact: {exc}") from exc
        return remote


async def _check_answer(where: str, response: aiohttp.ClientResponse) -> bool:
    """TransportError for a redirect, an error status or an answer encoded otherwise than gzip (before its body is
    used); whether the answer is gzip-compressed."""
    status = response.status
    if 300 <= status < 400:
        target = response.headers.get("Location", "")
        raise TransportError(
            f"{where} answered {status}, a redirect to '{shown(target, 200)}': federation requests never follow "
            "redirects; if the node moved, add it again at its new address",
            status,
        )
    if status >= 400 or status < 200:
        raise TransportError(f"{where} answered {await _error_reason(response)}", status)
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        raise TransportError(
            f"{where}: the answer is encoded ({shown(encoding, 40)}); this node reads only gzip or no encoding"
        )
    return encoding == "gzip"


def _gunzip(where: str, compressed: bytes, limit: int) -> bytes:
    """A gzip answer's content, refused as soon as it exceeds `limit` bytes (a small answer may inflate a
    thousandfold), or if it is not one whole gzip stream."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        content = inflater.decompress(compressed, limit + 1)
    except zlib.error as exc:
        raise TransportError(f"{where}: the answer is not valid gzip") from exc
    if len(content) > limit:
        raise TransportError(f"{where}: the decompressed answer is larger than the {limit} bytes accepted; not used")
    if not inflater.eof or inflater.unused_data:
        raise TransportError(f"{where}: the answer is not one whole gzip stream")
    return content


async def _error_reason(response: aiohttp.ClientResponse) -> str:
    """'401 Unauthorized (bad-signature: …)': the status and, from a problem answer, the name of its type if it is
    one of this protocol's, with a sentence written here. Never the answer's own text."""
    status = response.status
    try:
        reason = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        reason = str(status)
    if response.content_type != "application/problem+json":
        return reason
    try:
        problem = json.loads(await _read_bounded("", response, MAX_PROBLEM_BYTES))
    except (TransportError, ValueError, aiohttp.ClientError):
        return reason
    kind = problem.get("type") if isinstance(problem, dict) else None
    slug = kind.removeprefix(PROBLEM_TYPE_BASE) if isinstance(kind, str) and kind.startswith(PROBLEM_TYPE_BASE) else ""
    if not _SLUG.fullmatch(slug):
        return reason
    explained = KNOWN_PROBLEMS.get(slug)
    return f"{reason} ({slug}: {explained})" if explained else f"{reason} ({slug})"


async def _read_bounded(where: str, response: aiohttp.ClientResponse, limit: int) -> bytes:
    declared = response.content_length
    if declared is not None:
        if declared > limit:
            raise TransportError(f"{where}: the answer announces {declared} bytes, more than the {limit} accepted")
        return await response.read()
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise TransportError(f"{where}: the answer is larger than the {limit} bytes accepted; it was not used")
        chunks.append(chunk)
    return b"".join(chunks)


def _failure(exc: BaseException) -> str:
    """A failure to reach a node, in words written here: aiohttp's messages may quote what the server sent."""
    if isinstance(exc, AddressRefused):
        return str(exc)
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, AddressRefused):
            return str(exc.os_error)
        code = exc.os_error.errno
        why = os.strerror(code) if isinstance(code, int) and code > 0 else type(exc.os_error).__name__
        return f"cannot connect to {shown(exc.host, 100)}:{exc.port} ({shown(why, 80)})"
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "no answer in time"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without answering"
    if isinstance(exc, aiohttp.InvalidURL):
        return "not a valid URL"
    return f"{type(exc).__name__} (the answer was not valid HTTP, or the connection failed)"
