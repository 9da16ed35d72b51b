"""RFC 9421 / RFC 9530 conformance and the signature profile's checks.

The vectors in rfc9421-b26-ed25519.json and rfc9530-content-digest.json are copied from the workspace's shared
conformance set; their "source" fields cite the RFC sections (RFC 9421 Appendix B.1.4, B.2, B.2.6; RFC 9530
Appendix B) they come from.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import ContentDigest, HTTPMessageVerifier, InvalidSignature, MappingKeyResolver, algorithms
from multidict import CIMultiDict

from federation.protocol.signing import (
    HttpMessage,
    SignatureError,
    check_body_digest,
    check_request_form,
    sign_request,
    signature_keyid,
    verify_request,
)

HERE = Path(__file__).parent
B26 = json.loads((HERE / "rfc9421-b26-ed25519.json").read_text())
DIGESTS = json.loads((HERE / "rfc9530-content-digest.json").read_text())


def _vector_key() -> tuple[Ed25519PrivateKey, Ed25519PublicKey]:
    private = serialization.load_pem_private_key(B26["key"]["private_pem"].encode(), password=None)
    public = serialization.load_pem_public_key(B26["key"]["public_pem"].encode())
    assert isinstance(private, Ed25519PrivateKey) and isinstance(public, Ed25519PublicKey)
    return private, public


def _vector_message(signature: str) -> HttpMessage:
    headers = CIMultiDict(B26["request"]["headers"])
    headers["Signature-Input"] = B26["signature_input"]
    headers["Signature"] = signature
    return HttpMessage(B26["request"]["method"], B26["request"]["url"], headers)


def test_rfc9421_b26_signature_base_signs_to_the_published_signature() -> None:
    private, _ = _vector_key()
    expected = B26["signature"].split("=", 1)[1].strip(":")
    assert base64.b64encode(private.sign(B26["signature_base"].encode())).decode() == expected


def test_rfc9421_b26_vector_verifies_with_the_library() -> None:
    _, public = _vector_key()
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={B26["key"]["keyid"]: public}, private_keys={}),
    )
    results = verifier.verify(_vector_message(B26["signature"]), max_age=None)
    assert results[0].parameters["keyid"] == "test-key-ed25519"
    assert results[0].covered_components['"@signature-params"'] in B26["signature_base"]


def test_rfc9421_b26_negative_vector_fails() -> None:
    _, public = _vector_key()
    negative = B26["notes"][2].split(": ", 1)[1].removesuffix(" must fail verification.")
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={"test-key-ed25519": public}, private_keys={}),
    )
    with pytest.raises(InvalidSignature):
        verifier.verify(_vector_message(negative), max_age=None)


@pytest.mark.parametrize("vector", DIGESTS["vectors"], ids=lambda v: f"{v['algorithm']}-{len(v['content'])}")
def test_rfc9530_content_digest(vector: dict[str, str]) -> None:
    body = vector["content"].encode()

    class Digest(ContentDigest):
        algorithm = vector["algorithm"]

    assert Digest.create(body) == vector["content_digest"]
    ContentDigest.verify(vector["content_digest"], body)


URL = "http://127.0.0.1:8080/federation/v1/inbox"


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_profile_covers_method_target_digest_created_keyid_nonce(key: Ed25519PrivateKey) -> None:
    headers = sign_request("POST", URL, b'{"a":1}', node_id="rq-a", kid="k1", private_key=key)
    signature_input = headers["Signature-Input"]
    for part in (
        '"@method"',
        '"@target-uri"',
        '"content-digest"',
        "created=",
        'keyid="rq-a#k1"',
        "nonce=",
        'alg="ed25519"',
    ):
        assert part in signature_input
    assert headers["Content-Digest"].startswith("sha-256=:")
    assert signature_keyid(headers) == "rq-a#k1"
    verified = verify_request("POST", URL, headers, b'{"a":1}', key.public_key())
    assert (verified.node_id, verified.kid) == ("rq-a", "k1")


def test_a_body_not_read_yet_must_be_covered_by_the_signature_and_is_checked_once_read(key: Ed25519PrivateKey) -> None:
    """A receiver verifies the headers before it reads a body (`None`): the signature must cover `content-digest`,
    whatever the body turns out to be, and `check_body_digest` then compares the body with the signed digest."""
    body = b'{"a":1}'
    headers = sign_request("POST", URL, body, node_id="rq-a", kid="k1", private_key=key)
    assert verify_request("POST", URL, headers, None, key.public_key()).kid == "k1"
    assert check_request_form(headers, None) == "rq-a#k1"
    check_body_digest(headers, body)
    with pytest.raises(SignatureError, match="Content-Digest does not match the body"):
        check_body_digest(headers, b'{"a":2}')
    bodiless = sign_request("POST", URL, None, node_id="rq-a", kid="k1", private_key=key)
    with pytest.raises(SignatureError, match="content-digest"):
        verify_request("POST", URL, bodiless, None, key.public_key())
    with pytest.raises(SignatureError, match="does not cover content-digest"):
        check_request_form(bodiless, None)
    assert check_request_form(bodiless, b"") == "rq-a#k1"  # a request that has no body needs no digest


def test_each_request_carries_a_fresh_nonce_of_18_random_bytes(key: Ed25519PrivateKey) -> None:
    """What a receiver sees of the reference signer's nonces: 18 random bytes in base64url, 24 characters, never the
    same twice (docs/protocol.md §5.1)."""
    nonces = [
        verify_request(
            "GET", URL, sign_request("GET", URL, None, node_id="rq-a", kid="k1", private_key=key), b"", key.public_key()
        ).nonce
        for _ in range(3)
    ]
    assert len(set(nonces)) == 3
    for nonce in nonces:
        assert re.fullmatch(r"[A-Za-z0-9_-]{24}", nonce), nonce
        assert len(base64.urlsafe_b64decode(nonce)) == 18


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [("GET", URL, b'{"a":1}'), ("POST", URL + "?x=1", b'{"a":1}'), ("POST", URL, b'{"a":2}'), ("POST", URL, b"")],
    ids=["method", "target", "body", "body-removed"],
)
def test_tampering_is_detected(key: Ed25519PrivateKey, method: str, url: str, body: bytes) -> None:
    headers = sign_request("POST", URL, b'{"a":1}', node_id="rq-a", kid="k1", private_key=key)
    with pytest.raises(SignatureError):
        verify_request(method, url, headers, body, key.public_key())


def test_wrong_key_and_stale_signature_are_refused(key: Ed25519PrivateKey) -> None:
    headers = sign_request("POST", URL, b"{}", node_id="rq-a", kid="k1", private_key=key)
    with pytest.raises(SignatureError):
        verify_request("POST", URL, headers, b"{}", Ed25519PrivateKey.generate().public_key())
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=310)  # max age 300 s + the 5 s clock-skew allowance
    stale = sign_request("POST", URL, b"{}", node_id="rq-a", kid="k1", private_key=key, created=old)
    with pytest.raises(SignatureError, match="signature check failed"):
        verify_request("POST", URL, stale, b"{}", key.public_key())
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    early = sign_request("POST", URL, b"{}", node_id="rq-a", kid="k1", private_key=key, created=future)
    with pytest.raises(SignatureError):
        verify_request("POST", URL, early, b"{}", key.public_key())


def test_unsigned_or_malformed_requests_are_refused() -> None:
    with pytest.raises(SignatureError, match="not signed"):
        signature_keyid(CIMultiDict())
    with pytest.raises(SignatureError):
        signature_keyid(CIMultiDict({"Signature-Input": "((("}))
    with pytest.raises(SignatureError, match="keyid"):
        signature_keyid(CIMultiDict({"Signature-Input": 'regies=("@method");created=1'}))


# --- The form check: what a receiver checks before it has the key (a request naming a key it has not pinned) ---


def _signed(key: Ed25519PrivateKey, body: bytes = b'{"a":1}', **changes: str) -> CIMultiDict[str]:
    """A signed request's headers with parts of Signature-Input replaced (`created`, `tag`…: the text after `=`);
    the form check never needs the signature itself to verify."""
    headers = sign_request("POST", URL, body, node_id="rq-a", kid="k1", private_key=key)
    signature_input = headers["Signature-Input"]
    for name, value in changes.items():
        signature_input = re.sub(rf";{name}=[^;]*", f";{name}={value}" if value else "", signature_input)
    headers["Signature-Input"] = signature_input
    return headers


def _created(seconds_from_now: float) -> str:
    return str(int(dt.datetime.now(dt.UTC).timestamp() + seconds_from_now))


def test_a_well_formed_request_passes_the_form_check_with_or_without_a_body(key: Ed25519PrivateKey) -> None:
    assert check_request_form(_signed(key), b'{"a":1}') == "rq-a#k1"
    headers = sign_request("GET", URL, None, node_id="rq-a", kid="k1", private_key=key)
    assert "content-digest" not in headers["Signature-Input"]
    assert check_request_form(headers, b"") == "rq-a#k1"
    assert check_request_form(_signed(key, alg=""), b'{"a":1}') == "rq-a#k1"  # `alg` may be left out


@pytest.mark.parametrize(
    ("created", "refusal"),
    [(-290, None), (-320, "older than 300 seconds"), (2, None), (60, "created in the future")],
    ids=["recent", "stale", "a-clock-a-little-ahead", "future"],
)
def test_the_form_check_bounds_the_signatures_age(key: Ed25519PrivateKey, created: int, refusal: str | None) -> None:
    headers = _signed(key, created=_created(created))
    if refusal is None:
        assert check_request_form(headers, b'{"a":1}') == "rq-a#k1"
    else:
        with pytest.raises(SignatureError, match=refusal):
            check_request_form(headers, b'{"a":1}')
    if created == -320:  # a node configured with a longer maximum age accepts it
        assert check_request_form(headers, b'{"a":1}', max_age=dt.timedelta(seconds=600)) == "rq-a#k1"


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"created": ""}, "no creation time"),
        ({"created": "?1"}, "no creation time"),  # a boolean is no time
        ({"created": '"1796650949"'}, "no creation time"),
        ({"tag": '"another-protocol"'}, "not a 'regies-federation' Ed25519 signature"),
        ({"alg": '"rsa-pss-sha512"'}, "not a 'regies-federation' Ed25519 signature"),
        ({"nonce": '"' + "n" * 15 + '"'}, "nonce of 16 to 100 characters"),
        ({"nonce": '"' + "n" * 101 + '"'}, "nonce of 16 to 100 characters"),
        ({"nonce": ""}, "nonce of 16 to 100 characters"),
    ],
    ids=["no-created", "boolean-created", "text-created", "tag", "alg", "nonce-15", "nonce-101", "no-nonce"],
)
def test_the_form_check_refuses_each_malformed_parameter(
    key: Ed25519PrivateKey, change: dict[str, str], refusal: str
) -> None:
    with pytest.raises(SignatureError, match=refusal):
        check_request_form(_signed(key, **change), b'{"a":1}')


def test_the_form_check_accepts_nonces_of_16_and_100_characters(key: Ed25519PrivateKey) -> None:
    for length in (16, 100):
        assert check_request_form(_signed(key, nonce='"' + "n" * length + '"'), b'{"a":1}') == "rq-a#k1"


def test_the_form_check_refuses_what_a_forger_would_send(key: Ed25519PrivateKey) -> None:
    body = b'{"a":1}'
    headers = _signed(key)
    headers["Signature-Input"] = headers["Signature-Input"].replace(' "content-digest"', "")
    with pytest.raises(SignatureError, match="does not cover content-digest"):
        check_request_form(headers, body)
    with pytest.raises(SignatureError, match="Content-Digest does not match the body"):
        check_request_form(_signed(key), b'{"a":2}')
    for signature, refusal in (
        ("", "no 'regies' byte sequence"),
        ('regies="text"', "no 'regies' byte sequence"),
        ("other=:" + base64.b64encode(bytes(64)).decode() + ":", "no 'regies' byte sequence"),
        ("regies=:" + base64.b64encode(bytes(63)).decode() + ":", "not an Ed25519 signature"),
        ("regies=(((", "not structured field dictionaries"),
    ):
        forged = _signed(key)
        forged["Signature"] = signature
        with pytest.raises(SignatureError, match=re.escape(refusal)):
            check_request_form(forged, body)
    # `;req` names the request an answer answers: on a request it covers nothing of it.
    answer_components = _signed(key)
    answer_components["Signature-Input"] = answer_components["Signature-Input"].replace(
        '"@method" "@target-uri"', '"@method";req "@target-uri";req'
    )
    with pytest.raises(SignatureError, match="does not cover @method, @target-uri"):
        check_request_form(answer_components, body)
    inner = _signed(key)
    inner["Signature-Input"] = 'regies="@method";created=1;keyid="rq-a#k1"'
    with pytest.raises(SignatureError, match="not a list of covered components"):
        check_request_form(inner, body)
    no_hash = _signed(key)
    no_hash["Signature-Input"] = no_hash["Signature-Input"].replace('keyid="rq-a#k1"', 'keyid="rq-a"')
    with pytest.raises(SignatureError, match="not of the form"):
        check_request_form(no_hash, body)


def test_the_form_checks_clock_allowance_is_five_seconds(key: Ed25519PrivateKey) -> None:
    # `created` is in whole seconds: start early in a second, so that the check runs within the same one.
    if (fraction := time.time() % 1) > 0.5:
        time.sleep(1 - fraction)
    second = int(time.time())
    assert check_request_form(_signed(key, created=str(second + 5)), b'{"a":1}') == "rq-a#k1"
    with pytest.raises(SignatureError, match="in the future"):
        check_request_form(_signed(key, created=str(second + 6)), b'{"a":1}')
    with pytest.raises(SignatureError, match="older than 300 seconds"):  # 300 s, and the same 5 s allowance
        check_request_form(_signed(key, created=str(second - 305)), b'{"a":1}')
    assert check_request_form(_signed(key, created=str(second - 304)), b'{"a":1}') == "rq-a#k1"
