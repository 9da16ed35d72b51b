"""RFC 9421 request signatures (Ed25519) with RFC 9530 Content-Digest: signing outgoing, checking incoming.

Profile (docs/protocol.md): covered components `@method`, `@target-uri` and, whenever there is a body,
`content-digest`; signature parameters `created`, `keyid` (`<node id>#<key id>`), `nonce` and `alg`
(`ed25519`). Receivers refuse signatures older than the max age (300 s by default) or from the future beyond
a small skew, reused nonces, unknown or expired keys. The RFC mechanics come from http-message-signatures.

Answers of the federation endpoints (feed pages, inbox acknowledgements) are signed too, so records and
delivery receipts cannot be altered on the way even without TLS: `@status`, `content-digest`, and the request's
`@method`, `@target-uri` and `signature-input` (`;req`), which binds the answer to the one request it answers.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

import http_sf
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)
from http_message_signatures.digests import ContentDigest
from http_message_signatures.exceptions import HTTPMessageSignaturesException
from multidict import CIMultiDict

DEFAULT_MAX_AGE = dt.timedelta(seconds=300)
SIGNATURE_LABEL = "regies"
SIGNATURE_TAG = "regies-federation"
REQUIRED_COMPONENTS = ("@method", "@target-uri")
RESPONSE_COMPONENTS = ("@status", '"@method";req', '"@target-uri";req', '"signature-input";req')
NONCE_LENGTHS = range(16, 101)
ED25519_SIGNATURE_BYTES = 64
# Clock difference tolerated on `created` by the form check (the library allows the same on the signature).
FORM_CLOCK_SKEW = dt.timedelta(seconds=5)


class SignatureError(Exception):
    """The request's signature is missing, malformed, stale, replayed or does not verify."""


@dataclass
class HttpMessage:
    """The parts of an HTTP request a signature covers."""

    method: str
    url: str
    headers: Any


@dataclass
class HttpResponse:
    """The parts of an HTTP response a signature covers, with the request it answers."""

    status_code: int
    headers: Any
    request: HttpMessage


def split_keyid(keyid: str) -> tuple[str, str]:
    node_id, _, kid = keyid.partition("#")
    if not node_id or not kid:  # without '#', kid is empty
        raise SignatureError(f"keyid '{keyid}' is not of the form <node id>#<key id>")
    return node_id, kid


def _sign(message: HttpMessage | HttpResponse, private_key: Ed25519PrivateKey, **prepare: Any) -> None:
    """Sign `message` in place: Content-Digest (with a body), Signature-Input and Signature, as the library's
    `sign()` writes them.

    `sign()` is `prepare()`, the signature, then `apply()`, which parses the prepared parameters back and builds the
    signature base a second time to check that the message did not change meanwhile; here nothing runs in between,
    so the headers are written directly (`apply()`'s own serialisation for a message without other signatures):
    half the CPU of signing, which a hub pays on every push it answers (bench/inbox_stages.py).
    """
    # No key resolver: the library needs one only for `sign()`.
    prepared = HTTPMessageSigner(signature_algorithm=algorithms.ED25519).prepare(message, **prepare)
    signature = base64.b64encode(private_key.sign(prepared.signature_base)).decode()
    message.headers["Signature-Input"] = f"{prepared.label}={prepared.signature_params}"
    message.headers["Signature"] = f"{prepared.label}=:{signature}:"


def sign_request(
    method: str,
    url: str,
    body: bytes | None,
    *,
    node_id: str,
    kid: str,
    private_key: Ed25519PrivateKey,
    created: dt.datetime | None = None,
    nonce: str | None = None,
) -> CIMultiDict[str]:
    """The headers to add to a request: Content-Digest (with a body), Signature-Input and Signature."""
    keyid = f"{node_id}#{kid}"
    headers: CIMultiDict[str] = CIMultiDict()
    _sign(
        HttpMessage(method.upper(), url, headers),
        private_key,
        key_id=keyid,
        created=created or dt.datetime.now(dt.UTC),
        nonce=nonce or secrets.token_urlsafe(18),
        label=SIGNATURE_LABEL,
        tag=SIGNATURE_TAG,
        covered_component_ids=REQUIRED_COMPONENTS,
        body=body if body else None,
    )
    return headers


def signature_keyid(headers: Any) -> str:
    """The keyid a request claims, read before verification so the key can be looked up."""
    value = headers.get("Signature-Input")
    if not value:
        raise SignatureError("the request is not signed (no Signature-Input header); see docs/protocol.md")
    try:
        parsed = http_sf.parse(value.encode(), tltype="dictionary")
    except Exception as exc:
        raise SignatureError(f"Signature-Input is not a structured field dictionary: {exc}") from exc
    member = parsed.get(SIGNATURE_LABEL) if isinstance(parsed, dict) else None
    if member is None:
        raise SignatureError(f"Signature-Input has no '{SIGNATURE_LABEL}' signature")
    params = member[1] if isinstance(member, tuple) else getattr(member, "params", {})
    keyid = params.get("keyid")
    if not isinstance(keyid, str):
        raise SignatureError("the signature has no keyid parameter")
    return keyid


def _checked_nonce(nonce: object) -> str:
    if not isinstance(nonce, str) or len(nonce) not in NONCE_LENGTHS:
        raise SignatureError(
            f"the signature needs a nonce of {NONCE_LENGTHS.start} to {NONCE_LENGTHS.stop - 1} characters"
        )
    return nonce


def check_request_form(headers: Any, body: bytes | None, *, max_age: dt.timedelta = DEFAULT_MAX_AGE) -> str:
    """Everything about a signed request that can be checked without its key; returns the keyid it names.

    A receiver fetches a peer's discovery document when a request names a key it has not pinned (a rotation);
    only a request that passes this check may cause that fetch, so a forged one with a garbage signature makes
    this node contact nobody. `body` None: the request has a body not read yet (a receiver reads a body only
    once its sender is known), so `content-digest` must be covered and `check_body_digest` checks it later.
    SignatureError naming the first problem otherwise.
    """
    keyid = signature_keyid(headers)
    split_keyid(keyid)
    try:
        inputs = http_sf.parse(headers["Signature-Input"].encode(), tltype="dictionary")
        signatures = http_sf.parse(headers.get("Signature", "").encode(), tltype="dictionary")
    except Exception as exc:
        raise SignatureError("the signature headers are not structured field dictionaries") from exc
    signature = signatures.get(SIGNATURE_LABEL) if isinstance(signatures, dict) else None
    if not isinstance(signature, tuple) or not isinstance(signature[0], bytes):
        raise SignatureError(f"the Signature header has no '{SIGNATURE_LABEL}' byte sequence")
    if len(signature[0]) != ED25519_SIGNATURE_BYTES:
        raise SignatureError("the signature is not an Ed25519 signature (64 bytes)")
    member = inputs.get(SIGNATURE_LABEL) if isinstance(inputs, dict) else None
    if not isinstance(member, tuple) or not isinstance(member[0], list):
        raise SignatureError(f"Signature-Input's '{SIGNATURE_LABEL}' is not a list of covered components")
    components, params = member
    covered = {item[0] for item in components if isinstance(item, tuple) and not item[1]}
    digest_needed = body is None or bool(body)
    missing = [
        name for name in (*REQUIRED_COMPONENTS, *(("content-digest",) if digest_needed else ())) if name not in covered
    ]
    if missing:
        raise SignatureError(f"the signature does not cover {', '.join(missing)}")
    if params.get("tag") != SIGNATURE_TAG or params.get("alg", "ed25519") != "ed25519":
        raise SignatureError(f"the signature is not a '{SIGNATURE_TAG}' Ed25519 signature")
    created = params.get("created")
    now = dt.datetime.now(dt.UTC).timestamp()
    if not isinstance(created, int) or isinstance(created, bool):
        raise SignatureError("the signature has no creation time")
    if created > now + FORM_CLOCK_SKEW.total_seconds():
        raise SignatureError("the signature was created in the future")
    if created < now - (max_age + FORM_CLOCK_SKEW).total_seconds():
        raise SignatureError(f"the signature is older than {int(max_age.total_seconds())} seconds")
    _checked_nonce(params.get("nonce"))
    if body is not None:
        check_body_digest(headers, body)
    return keyid


def check_body_digest(headers: Any, body: bytes) -> None:
    """The body against the Content-Digest header, which a verified signature covers whenever a body was expected;
    SignatureError if they differ."""
    if body:
        try:
            ContentDigest.verify(headers.get("Content-Digest", ""), body)
        except (InvalidSignature, HTTPMessageSignaturesException) as exc:
            raise SignatureError(f"Content-Digest does not match the body: {exc}") from exc


@dataclass(frozen=True)
class VerifiedSignature:
    keyid: str
    node_id: str
    kid: str
    nonce: str
    created: int


def verify_request(
    method: str,
    url: str,
    headers: Any,
    body: bytes | None,
    public_key: Ed25519PublicKey,
    *,
    max_age: dt.timedelta = DEFAULT_MAX_AGE,
) -> VerifiedSignature:
    """Check the signature against `public_key`, its age and the body's digest; SignatureError if not.

    `body` None: a body follows, not read yet; the signature must cover `content-digest`, and the body is checked
    against it by `check_body_digest` once read (a receiver reads nothing for a sender it cannot verify).
    """
    keyid = signature_keyid(headers)
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={keyid: public_key}, private_keys={}),
    )
    required = (*REQUIRED_COMPONENTS, "content-digest") if body is None or body else REQUIRED_COMPONENTS
    try:
        # One result: `expect_label` keeps the one signature labelled `regies` (a dictionary has no duplicate keys).
        (result,) = verifier.verify(
            HttpMessage(method.upper(), url, headers),
            max_age=max_age,
            expect_tag=SIGNATURE_TAG,
            expect_label=SIGNATURE_LABEL,
            require_components=required,
            body=body,
        )
    except (InvalidSignature, HTTPMessageSignaturesException) as exc:
        raise SignatureError(f"signature check failed: {exc}") from exc
    params = result.parameters
    nonce = _checked_nonce(params.get("nonce"))
    node_id, kid = split_keyid(keyid)
    return VerifiedSignature(keyid, node_id, kid, nonce, int(params["created"]))


def sign_response(
    status: int,
    body: bytes,
    request: HttpMessage,
    *,
    node_id: str,
    kid: str,
    private_key: Ed25519PrivateKey,
    created: dt.datetime | None = None,
) -> CIMultiDict[str]:
    """The headers to add to an answer to `request`: Content-Digest, Signature-Input and Signature."""
    keyid = f"{node_id}#{kid}"
    headers: CIMultiDict[str] = CIMultiDict()
    _sign(
        HttpResponse(status, headers, request),
        private_key,
        key_id=keyid,
        created=created or dt.datetime.now(dt.UTC),
        label=SIGNATURE_LABEL,
        tag=SIGNATURE_TAG,
        covered_component_ids=RESPONSE_COMPONENTS,
        body=body,
    )
    return headers


def verify_response(
    status: int,
    headers: Any,
    body: bytes,
    request: HttpMessage,
    public_keys: dict[str, Ed25519PublicKey],
    *,
    max_age: dt.timedelta = DEFAULT_MAX_AGE,
) -> str:
    """Check an answer's signature with one of `public_keys` (by keyid) and its body's digest; returns the keyid.

    SignatureError if the answer is unsigned, signed by another key, stale, not bound to `request`, or altered.
    """
    if not headers.get("Signature-Input"):
        raise SignatureError(
            "the answer is not signed: the peer must run a version that signs its answers (docs/protocol.md §5.6), "
            "or something between the two nodes changed the answer"
        )
    keyid = signature_keyid(headers)
    key = public_keys.get(keyid)
    if key is None:
        raise SignatureError(
            f"the answer is signed with key '{keyid}', not one pinned for this peer; if the peer replaced its keys "
            "without `regies keys rotate`, check its new fingerprint and add it again with `regies peer add`"
        )
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={keyid: key}, private_keys={}),
    )
    try:
        verifier.verify(
            HttpResponse(status, headers, request),
            max_age=max_age,
            expect_tag=SIGNATURE_TAG,
            expect_label=SIGNATURE_LABEL,
            require_components=(*RESPONSE_COMPONENTS, "content-digest"),
            body=body,
        )
    except (InvalidSignature, HTTPMessageSignaturesException) as exc:
        raise SignatureError(f"the answer's signature check failed: {exc}") from exc
    return keyid
