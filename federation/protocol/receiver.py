"""Incoming server-to-server requests: authenticate the signing peer, serve the change feed, accept inbox batches."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from dataclasses import dataclass

from aiohttp import web

from federation import appkeys
from federation.problems import Problem
from federation.protocol import persistence
from federation.protocol.apply import (
    BatchRejected,
    apply_rows,
    check_authors,
)
from federation.protocol.batchparser import BATCH_PARSER
from federation.protocol.context import FEDERATION
from federation.protocol.discovery import IDENTITY, signed_target_uri
from federation.protocol.older_peers import reading_of
from federation.protocol.peerkeys import refresh_pinned_keys
from federation.protocol.persistence import Peer
from federation.protocol.signing import (
    HttpMessage,
    SignatureError,
    check_body_digest,
    check_request_form,
    sign_response,
    signature_keyid,
    split_keyid,
    verify_request,
)
from federation.protocol.transport import FederationClient
from federation.schema.records import utcnow
from federation.storage.mapping import to_micros
from federation.versions import PROTOCOL_HEADER, PROTOCOL_VERSION, SCHEMA_VERSION, protocol_mismatch

log = logging.getLogger(__name__)
CLIENT = web.AppKey("federation_client", FederationClient)
INBOX_TURNS = web.AppKey("inbox_turns", asyncio.Semaphore)  # pushed batches received at once (inbox_concurrency)
CLOCK_SKEW = dt.timedelta(seconds=30)


def _unauthorized(message: str) -> Problem:
    return Problem(401, message, slug="bad-signature", headers={"WWW-Authenticate": 'Signature realm="regies"'})


@dataclass(frozen=True)
class SignedRequest:
    peer: Peer
    body: bytes
    message: HttpMessage  # what the signature covered, for the signed answer


def signed_response(
    request: web.Request,
    signed: SignedRequest,
    body: bytes,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A JSON answer signed by this node and bound to the request it answers (docs/protocol.md)."""
    identity = request.config_dict[IDENTITY]
    kid, private_key = identity.keys.signing
    signature = sign_response(status, body, signed.message, node_id=identity.node_id, kid=kid, private_key=private_key)
    response = web.Response(body=body, status=status, content_type="application/json", headers=headers)
    response.headers.extend(signature)
    response.headers[PROTOCOL_HEADER] = PROTOCOL_VERSION
    return response


async def authenticate(request: web.Request) -> SignedRequest:
    """The known peer that signed this request, and its body; 401 problem otherwise (400 for a peer of another
    major protocol version).

    The signature is checked before the body is read: a client that cannot sign as a peer gets its 401 without
    making this node read (and hold) up to the request size limit. The body is then checked against the signed
    Content-Digest, and only then is the nonce spent, so that a copy of a peer's headers with another body cannot
    use up the nonce of the genuine request.
    """
    mismatch = protocol_mismatch(request.headers)
    if mismatch is not None:
        raise Problem(400, mismatch, slug="protocol-version", headers={PROTOCOL_HEADER: PROTOCOL_VERSION})
    app = request.config_dict
    engine = app[appkeys.ENGINE]
    max_age = dt.timedelta(seconds=app[appkeys.SETTINGS].federation.max_signature_age_s)
    try:
        keyid = signature_keyid(request.headers)
        node_id, kid = split_keyid(keyid)
    except SignatureError as exc:
        raise _unauthorized(str(exc)) from exc
    peer = await persistence.read_peer(app[appkeys.READER], node_id)
    if peer is None or peer.status != "active":
        raise _unauthorized(
            f"node '{node_id}' is not a peer of this node: this node's operator must add it first "
            f"(`regies peer add <address of {node_id}>`)"
        )
    unread_body = None if request.body_exists else b""  # None: a body follows, read once the signature verifies
    key = peer.key(kid)
    if key is None:
        # A key not pinned yet may come from a rotation; the peer's discovery document is fetched only for a
        # request that is well formed in every way the key is not needed for (and at most every so often).
        try:
            check_request_form(request.headers, unread_body, max_age=max_age)
        except SignatureError as exc:
            raise _unauthorized(str(exc)) from exc
        peer = await refresh_pinned_keys(engine, app[CLIENT], peer)
        key = peer.key(kid)
        if key is None:
            raise _unauthorized(
                f"key '{kid}' of node '{node_id}' is unknown, even after fetching its discovery document"
            )
    if not key.valid_at(int(utcnow().timestamp())):
        raise _unauthorized(f"key '{kid}' of node '{node_id}' has expired")
    # The URL the signer meant is checked against this node's own (server.base_url), never the Host header.
    target_uri = signed_target_uri(request)
    try:
        verified = verify_request(
            request.method, target_uri, request.headers, unread_body, key.public_key(), max_age=max_age
        )
        body = await request.read()
        check_body_digest(request.headers, body)
    except SignatureError as exc:
        raise _unauthorized(str(exc)) from exc
    expires = to_micros(dt.datetime.fromtimestamp(verified.created, dt.UTC) + max_age + CLOCK_SKEW)
    if not await persistence.remember_nonce(engine, keyid, verified.nonce, expires):
        raise _unauthorized("this signature's nonce was already used: the request is a replay")
    return SignedRequest(peer, body, HttpMessage(request.method, target_uri, request.headers))


async def changes(request: web.Request) -> web.StreamResponse:
    """GET /federation/v1/changes?since=CURSOR&limit=N — this node's records in commit order."""
    signed = await authenticate(request)
    settings = request.config_dict[appkeys.SETTINGS]
    try:
        since = persistence.decode_feed_cursor(request.query.get("since", ""))
    except ValueError as exc:
        raise Problem(400, f"query parameter 'since' {exc}", slug="invalid-cursor") from exc
    raw_limit = request.query.get("limit", str(settings.federation.batch_size))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 5000:
        raise Problem(400, "query parameter 'limit' must be an integer from 1 to 5000", slug="invalid-query")
    identity = request.config_dict[IDENTITY]
    kinds = request.config_dict[appkeys.PLUGINS].registry.kinds
    # A peer of an older minor version is served only the kinds and payload members it reads.
    reading = reading_of(signed.peer.speaks, SCHEMA_VERSION)
    page = await persistence.read_feed(
        request.config_dict[appkeys.READER],
        identity.node_id,
        since,
        int(raw_limit),
        visibility=persistence.feed_visibility(kinds, signed.peer.is_hub)
        + persistence.hidden_kinds_condition(reading.hidden_kinds(kinds)),
        reader=signed.peer.node_id,
    )
    items = [reading.adapt(item) for item in page.items] if reading.adapts_payloads else page.items
    next_cursor = persistence.encode_feed_cursor(page.last_seq)
    more = "true" if page.last_seq < page.head_seq else "false"
    remaining = max(page.head_seq - page.last_seq, 0)
    # The envelopes arrive as UTF-8 bytes from the database: the page is joined, never decoded and re-encoded.
    body = b"".join(
        (
            b'{"origin":' + json.dumps(identity.node_id).encode() + b',"records":[',
            b",".join(items),
            f'],"next_cursor":"{next_cursor}","more":{more},"remaining":{remaining}}}'.encode(),
        )
    )
    # The same cursor in headers lets a puller request the next page before it has parsed this one.
    headers = {"Regies-Next-Cursor": next_cursor, "Regies-More": more}
    return signed_response(request, signed, body, headers=headers)


async def inbox(request: web.Request) -> web.StreamResponse:
    """POST /federation/v1/inbox — a signed batch of the sender's records, applied once.

    At most `federation.inbox_concurrency` batches are received at once. A batch costs the event loop several
    milliseconds (its signature, its validation, the signed answer) and a database connection: a hub that let every
    régie's push in at once would queue each read behind all of them, and lend them the connections reads need.
    Batches waiting their turn cost nothing but their socket; senders retry what times out (docs/hub.md).
    """
    # Authenticated (and so the body read) before the turn: the body has its own deadline
    # (deadlines.body_deadline), which waiting for a turn must not spend.
    signed = await authenticate(request)
    async with request.config_dict[INBOX_TURNS]:
        return await _receive_batch(request, signed)


async def _receive_batch(request: web.Request, signed: SignedRequest) -> web.StreamResponse:
    sender = signed.peer.node_id
    try:
        kinds = request.config_dict[appkeys.PLUGINS].registry.kinds
        parsed = await request.config_dict[BATCH_PARSER].parse(signed.body, sender, kinds)
        check_authors(parsed.rows, signed.peer.is_hub, kinds)
        rows, batch_id = parsed.rows, parsed.batch_id
        context = request.config_dict[FEDERATION]
        engine = context.engine
        async with engine.begin() as connection:
            fresh = await persistence.claim_inbox_batch(connection, sender, batch_id, len(rows))
            applied = await apply_rows(context.store, connection, rows) if fresh else 0
    except BatchRejected as exc:
        raise Problem(exc.status, str(exc), slug=exc.slug) from exc
    if fresh:
        await context.store.replicated(sender, rows, context.node)
    status = "applied" if fresh else "duplicate"
    answer = {"batch_id": batch_id, "status": status, "received": len(rows), "applied": applied}
    return signed_response(request, signed, json.dumps(answer).encode(), status=202)


def add_routes(app: web.Application) -> None:
    app[INBOX_TURNS] = asyncio.Semaphore(app[appkeys.SETTINGS].federation.inbox_concurrency)
    app.router.add_get("/federation/v1/changes", changes, allow_head=False)
    app.router.add_post("/federation/v1/inbox", inbox)
