"""The signature headers this node writes are, byte for byte, those the RFC 9421 library's own `sign()` writes."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
from multidict import CIMultiDict

from federation.protocol import signing
from federation.protocol.signing import HttpMessage, HttpResponse, sign_request, sign_response

URL = "https://hub.example/federation/v1/changes?since=Yzox&limit=1000"
CREATED = dt.datetime(2026, 12, 7, 19, 0, tzinfo=dt.UTC)
NONCE = "n0nce-of-twenty-four-ch"


def _library_sign(message: HttpMessage | HttpResponse, keyid: str, key: Ed25519PrivateKey, **options: object) -> None:
    resolver = MappingKeyResolver(public_keys={}, private_keys={keyid: key})
    signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=resolver)
    signer.sign(
        message, key_id=keyid, created=CREATED, label=signing.SIGNATURE_LABEL, tag=signing.SIGNATURE_TAG, **options
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("body", [b'{"origin":"rq-a","records":[]}', None], ids=["with a body", "without"])
def test_requests_and_answers_carry_the_librarys_own_headers(body: bytes | None) -> None:
    key = Ed25519PrivateKey.generate()
    ours = sign_request("POST", URL, body, node_id="rq-a", kid="k1", private_key=key, created=CREATED, nonce=NONCE)
    theirs: CIMultiDict[str] = CIMultiDict()
    options = {"nonce": NONCE, "covered_component_ids": signing.REQUIRED_COMPONENTS, "body": body}
    _library_sign(HttpMessage("POST", URL, theirs), "rq-a#k1", key, **options)
    assert list(ours.items()) == list(theirs.items())

    request = HttpMessage("POST", URL, ours)
    answer = b'{"status":"applied"}'
    ours_answer = sign_response(202, answer, request, node_id="hub", kid="h1", private_key=key, created=CREATED)
    theirs_answer: CIMultiDict[str] = CIMultiDict()
    options = {"covered_component_ids": signing.RESPONSE_COMPONENTS, "body": answer}
    _library_sign(HttpResponse(202, theirs_answer, request), "hub#h1", key, **options)
    assert list(ours_answer.items()) == list(theirs_answer.items())
    assert [name for name, _ in ours_answer.items()] == ["Content-Digest", "Signature-Input", "Signature"]
