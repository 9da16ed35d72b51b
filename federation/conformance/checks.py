"""The conformance checks: what docs/protocol.md says a node does, tried one behaviour at a time from the kit's
peer (federation.conformance.peer), each result naming the section it tests."""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from federation.conformance.peer import Answer, KitClient, Signing
from federation.protocol.keys import PublicKeyInfo, verify_rotation
from federation.versions import PROTOCOL_HEADER, parse_version

NODE_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{1,62}[a-z0-9])")
CURSOR = re.compile(r"[\x21-\x7e]{0,1024}")
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# A cursor no feed issued, with the reserved characters of the §5.4 example (no `#`, which would end the URL).
FOREIGN_CURSOR = "p:26@,!*'($"
MAX_PAGES = 200


class CheckFailed(Exception):
    """What the node did instead of what the section says."""


@dataclass(frozen=True)
class Result:
    section: str
    name: str
    status: str  # PASS, FAIL or SKIP (the node's data cannot show the behaviour)
    detail: str = ""

    def line(self) -> str:
        return f"{self.status:<4}  §{self.section:<5} {self.name}" + (f" — {self.detail}" if self.detail else "")


class Skip(Exception):
    """The check cannot be made on this node's data (said why)."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def refused(answer: Answer, status: int, problem: str | None = None) -> None:
    """The answer is the refusal the document says: its status and problem type."""
    detail = f"{answer.status} {answer.problem_type or ''}".strip()
    expect(answer.status == status, f"expected {status}, answered {detail}")
    if problem is not None:
        expect(answer.problem_type == f"urn:regies:problem:{problem}", f"expected the {problem} problem, got {detail}")


def quote_all(text: str) -> str:
    """Every character percent-encoded but letters, digits and `-._~` (what the reference puller sends)."""
    return urllib.parse.quote(text, safe="-._~")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Conformance:
    """Runs every check against one node, in order, collecting one result per check."""

    def __init__(self, client: KitClient, discovery: dict[str, Any]) -> None:
        self.client = client
        self.discovery = discovery
        self.node_id = str(discovery.get("node_id"))
        self.results: list[Result] = []
        self.served: list[dict[str, Any]] = []
        self.first_page: Answer | None = None
        # The kit's activity and the batch that carried it (the inbox checks build on each other).
        self.record_id = ""
        self.batch: dict[str, Any] = {}

    async def check(self, section: str, name: str, run: Callable[[], Awaitable[str | None]]) -> Result:
        try:
            detail = await run() or ""
            result = Result(section, name, "PASS", detail)
        except Skip as exc:
            result = Result(section, name, "SKIP", str(exc))
        except CheckFailed as exc:
            result = Result(section, name, "FAIL", str(exc))
        except Exception as exc:  # the node answered something the check could not even read
            result = Result(section, name, "FAIL", f"{type(exc).__name__}: {exc}")
        self.results.append(result)
        return result

    # --- Discovery (run before pairing: it needs no key) ---------------------------------------------------

    def discovery_checks(self) -> list[tuple[str, str, Callable[[], Awaitable[str | None]]]]:
        return [
            ("3.1", "discovery document: node id, base URL, endpoints", self.discovery_fields),
            ("3.2", "published keys are Ed25519 JWKs; rotation proofs verify", self.discovery_keys),
            ("14.1", "discovery names MAJOR.MINOR versions, record kinds and service types", self.discovery_versions),
            ("3.4", "no NodeInfo document, or one the official schema accepts", self.nodeinfo),
        ]

    async def discovery_fields(self) -> str | None:
        document = self.discovery
        expect(bool(NODE_ID.fullmatch(self.node_id)), f"node_id {self.node_id!r} does not match the node id pattern")
        base = document.get("base_url")
        expect(isinstance(base, str) and base.startswith(("http://", "https://")), "base_url is not an http(s) URL")
        endpoints = document.get("endpoints") or {}
        for name, path in (("changes", "/federation/v1/changes"), ("inbox", "/federation/v1/inbox")):
            expect(endpoints.get(name) == f"{str(base).rstrip('/')}{path}", f"endpoints.{name} is not <base_url>{path}")
        expect(isinstance(document.get("name"), str), "name is missing")
        return None

    async def discovery_keys(self) -> str | None:
        keys = [PublicKeyInfo.from_jwk(jwk) for jwk in self.discovery.get("keys") or []]
        expect(bool(keys), "keys is empty")
        trusted = {keys[0].kid: keys[0]}
        for key in keys[1:]:
            if key.signed_by:
                expect(
                    verify_rotation(self.node_id, key, trusted), f"the rotation proof of key {key.kid} does not verify"
                )
            trusted[key.kid] = key
        return f"{len(keys)} key(s)"

    async def discovery_versions(self) -> str | None:
        document = self.discovery
        protocol = document.get("protocol_version")
        expect(isinstance(protocol, str), "protocol_version is missing")
        expect(parse_version(str(protocol))[0] == 1, f"protocol_version {protocol!r} is not of major version 1")
        schemas = document.get("schema_versions")
        expect(isinstance(schemas, list) and bool(schemas), "schema_versions is not a list")
        for version in schemas or []:
            parse_version(str(version))
        for member in ("record_kinds", "service_types"):
            listed = document.get(member)
            expect(isinstance(listed, list) and all(isinstance(item, str) for item in listed), f"{member} is missing")
            expect(listed == sorted(listed or []), f"{member} is not sorted")
        return f"protocol {protocol}, schema {', '.join(map(str, schemas or []))}"

    async def nodeinfo(self) -> str | None:
        answer = await self.client.get_unsigned("/.well-known/nodeinfo")
        if answer.status == 404:
            return "none"
        expect(answer.status == 200, f"/.well-known/nodeinfo answered {answer.status}")
        links = (answer.json() or {}).get("links") or []
        expect(bool(links), "the NodeInfo discovery document has no links")
        return "served (its document is not checked here)"

    # --- Signed requests and the feed --------------------------------------------------------------------

    def signed_checks(self) -> list[tuple[str, str, Callable[[], Awaitable[str | None]]]]:
        return [
            ("5.3", "a signed feed request from a peer is served", self.feed_served),
            ("5.6", "feed answers are signed by a published key and bound to the request", self.feed_answer_signed),
            ("14.2", "answers carry a Regies-Protocol header of major version 1", self.protocol_header),
            ("7", "a page: origin, envelopes, next_cursor, more, remaining", self.page_shape),
            ("7", "paging follows next_cursor to the end; limit is respected", self.paging),
            ("7", "cursor forms: absent, empty, minimally and fully percent-encoded", self.cursor_forms),
            ("7", "a cursor with reserved characters it did not issue: 400 invalid-cursor", self.foreign_cursor),
            ("5.2", "reserved characters sent unencoded, signed as sent: verified, then 400", self.raw_reserved),
            ("7", "limit outside 1–5000 or not digits: 400 invalid-query", self.bad_limits),
            ("7", "Regies-Next-Cursor / Regies-More, when sent, equal the body", self.paging_headers),
            ("6.1", "every record is a valid envelope of the node's own origin", self.envelopes),
            ("6.3", "tombstones in the feed have payload null", self.tombstones),
            ("5.3", "refused: an unsigned request", self.refuse_unsigned),
            ("5.3", "refused: an expired signature (created an hour ago)", self.refuse_expired),
            ("5.3", "refused: a signature created in the future", self.refuse_future),
            ("5.3", "refused: a replayed request (same nonce)", self.refuse_replay),
            ("5.3", "refused: a signature that does not verify", self.refuse_bad_signature),
            ("5.2", "refused: a signature made for another node's URL", self.refuse_other_target),
            ("5.3", "refused: a key the node has not pinned for the peer", self.refuse_unknown_key),
            ("5.3", "refused: a node that is not a peer", self.refuse_unknown_node),
            ("14.2", "refused: another major protocol version (400 protocol-version)", self.refuse_major),
            ("8", "the inbox applies a batch (202 applied) and signs its receipt", self.inbox_applies),
            ("8", "the same batch again is a duplicate (202 duplicate, nothing applied)", self.inbox_duplicate),
            ("9", "an older version of a record is received but not applied", self.inbox_older_version),
            ("6.1", "tolerant reader: unknown envelope members are ignored", self.tolerant_envelope),
            ("6.3", "tolerant reader: a tombstone's payload is ignored", self.tolerant_tombstone),
            ("8", "refused: a body that is not JSON (400 malformed-json)", self.refuse_malformed),
            ("8", "refused: a batch_id with a space (422 validation)", self.refuse_batch_id),
            ("5.3", "refused: a body altered after signing", self.refuse_tampered),
            ("11", "refused: a batch whose origin is not the signer (403 spoofed-origin)", self.refuse_spoofed_batch),
            ("9", "refused: a record whose origin is not the signer (403 spoofed-origin)", self.refuse_spoofed_record),
            ("9", "refused: a kind the signer may not author, a review from a non-hub (403)", self.refuse_not_author),
        ]

    async def feed(self, query: str = "", signing: Signing | None = None) -> Answer:
        path = "/federation/v1/changes" + (f"?{query}" if query else "")
        return await self.client.send("GET", path, signing=signing or Signing())

    async def feed_served(self) -> str | None:
        answer = await self.feed("limit=2")
        expect(answer.status == 200, f"answered {answer.status} {answer.problem_type or ''}")
        self.first_page = answer
        return None

    def _first(self) -> Answer:
        if self.first_page is None:
            raise CheckFailed("the feed was not served (see the first feed check)")
        return self.first_page

    async def feed_answer_signed(self) -> str | None:
        failure = self.client.answer_signed(self._first())
        expect(failure is None, failure or "")
        return None

    async def protocol_header(self) -> str | None:
        announced = self._first().headers.get(PROTOCOL_HEADER)
        expect(announced is not None, f"no {PROTOCOL_HEADER} header on the answer")
        expect(parse_version(str(announced))[0] == 1, f"{PROTOCOL_HEADER}: {announced!r}")
        return str(announced)

    async def page_shape(self) -> str | None:
        page = self._first().json()
        expect(isinstance(page, dict), "the page is not a JSON object")
        expect(page.get("origin") == self.node_id, f"origin {page.get('origin')!r} is not the node id")
        expect(isinstance(page.get("records"), list) and len(page["records"]) <= 2, "records: not a list within limit")
        cursor = page.get("next_cursor")
        expect(isinstance(cursor, str) and bool(CURSOR.fullmatch(cursor)), f"next_cursor {cursor!r} breaks §7's rule")
        expect(isinstance(page.get("more"), bool), "more is not a boolean")
        remaining = page.get("remaining")
        expect(isinstance(remaining, int) and remaining >= 0, "remaining is not an integer ≥ 0")
        expect(page["more"] or remaining == 0, "remaining is not 0 while more is false")
        return None

    async def paging(self) -> str | None:
        cursor, pages = "", 0
        while True:
            answer = await self.feed(f"since={quote_all(cursor)}&limit=500")
            expect(answer.status == 200, f"page {pages + 1} answered {answer.status}")
            page = answer.json()
            expect(len(page["records"]) <= 500, "more records than the limit")
            self.served.extend(page["records"])
            pages += 1
            if not page["more"]:
                break
            expect(bool(page["records"]), "more is true but the page is empty")
            expect(pages < MAX_PAGES, f"still more after {MAX_PAGES} pages")
            cursor = page["next_cursor"]
        return f"{len(self.served)} record(s) in {pages} page(s)"

    async def cursor_forms(self) -> str | None:
        first = self._first().json()
        absent = (await self.feed("limit=2")).json()
        empty = (await self.feed("since=&limit=2")).json()
        expect(absent["records"] == first["records"] == empty["records"], "no `since` and `since=` differ")
        cursor = first["next_cursor"]
        minimal = await self.feed(f"since={quote_all(cursor)}&limit=2")
        every = await self.feed("since=" + "".join(f"%{byte:02X}" for byte in cursor.encode()) + "&limit=2")
        expect(minimal.status == 200, f"the cursor {cursor!r}, percent-encoded, answered {minimal.status}")
        expect(every.status == 200, f"the cursor with every character percent-encoded answered {every.status}")
        expect(minimal.json()["records"] == every.json()["records"], "two spellings of one cursor gave other pages")
        return None

    async def foreign_cursor(self) -> str | None:
        refused(await self.feed(f"since={quote_all(FOREIGN_CURSOR)}&limit=2"), 400, "invalid-cursor")
        return None

    async def raw_reserved(self) -> str | None:
        refused(await self.feed(f"since={FOREIGN_CURSOR}&limit=2"), 400, "invalid-cursor")
        return None

    async def bad_limits(self) -> str | None:
        for limit in ("0", "5001", "abc", ""):
            refused(await self.feed(f"limit={limit}"), 400, "invalid-query")
        return None

    async def paging_headers(self) -> str | None:
        answer = self._first()
        page = answer.json()
        cursor, more = answer.headers.get("Regies-Next-Cursor"), answer.headers.get("Regies-More")
        if cursor is None and more is None:
            return "not sent (optional)"
        expect(cursor == page["next_cursor"], "Regies-Next-Cursor differs from next_cursor")
        expect(more == ("true" if page["more"] else "false"), "Regies-More differs from more")
        return None

    async def envelopes(self) -> str | None:
        expect(bool(self.served), "the feed is empty: the node serves at least its profile (kind node)")
        for position, record in enumerate(self.served):
            where = f"record {position}"
            expect(record.get("origin") == self.node_id, f"{where}: origin is not the node")
            expect(bool(UUID_TEXT.fullmatch(str(record.get("id")))), f"{where}: id is not a lowercase UUID")
            expect(isinstance(record.get("kind"), str), f"{where}: no kind")
            version = record.get("version")
            expect(isinstance(version, int) and 1 <= version < 2**31, f"{where}: version out of range")
            dt.datetime.fromisoformat(str(record.get("updated_at")).replace("Z", "+00:00"))
            payload = record.get("payload")
            if not record.get("deleted"):
                if not isinstance(payload, dict):
                    raise CheckFailed(f"{where}: a live record without payload")
                for member in ("origin", "id", "version"):
                    expect(payload.get(member) == record.get(member), f"{where}: payload {member} differs")
        return None

    async def tombstones(self) -> str | None:
        deleted = [record for record in self.served if record.get("deleted")]
        if not deleted:
            raise Skip("no tombstone in this node's feed: delete one of its records to check")
        expect(all(record.get("payload") is None for record in deleted), "a tombstone with a payload")
        return f"{len(deleted)} tombstone(s)"

    async def refuse_unsigned(self) -> str | None:
        answer = await self.client.send("GET", "/federation/v1/changes", signing=None)
        refused(answer, 401, "bad-signature")
        expect("Signature" in answer.headers.get("WWW-Authenticate", ""), "no WWW-Authenticate: Signature header")
        return None

    async def refuse_expired(self) -> str | None:
        refused(await self.feed("limit=1", Signing(created=now() - dt.timedelta(hours=1))), 401, "bad-signature")
        return None

    async def refuse_future(self) -> str | None:
        refused(await self.feed("limit=1", Signing(created=now() + dt.timedelta(minutes=2))), 401, "bad-signature")
        return None

    async def refuse_replay(self) -> str | None:
        first = await self.feed("limit=1")
        expect(first.status == 200, f"the first request answered {first.status}")
        again = await self.client.send("GET", "/federation/v1/changes?limit=1", raw_headers=first.request.headers)
        refused(again, 401, "bad-signature")
        return None

    async def refuse_bad_signature(self) -> str | None:
        # Signed by a key the kit never published, under the kit's own key id.
        refused(await self.feed("limit=1", Signing(private_key=Ed25519PrivateKey.generate())), 401, "bad-signature")
        return None

    async def refuse_other_target(self) -> str | None:
        refused(await self.feed("limit=1", Signing(target_base="https://another-node.example")), 401, "bad-signature")
        return None

    async def refuse_unknown_key(self) -> str | None:
        signing = Signing(kid="key-unknown-000000", private_key=Ed25519PrivateKey.generate())
        refused(await self.feed("limit=1", signing), 401, "bad-signature")
        return None

    async def refuse_unknown_node(self) -> str | None:
        signing = Signing(keyid_node="not-a-peer-of-anyone", private_key=Ed25519PrivateKey.generate())
        refused(await self.feed("limit=1", signing), 401, "bad-signature")
        return None

    async def refuse_major(self) -> str | None:
        answer = await self.client.send("GET", "/federation/v1/changes?limit=1", headers={PROTOCOL_HEADER: "2.0"})
        refused(answer, 400, "protocol-version")
        return None

    # --- The inbox -------------------------------------------------------------------------------------------

    def activity(self, record_id: str, version: int) -> dict[str, Any]:
        """An envelope of one of the kit's activities (the §5.5 example, as the kit's own record)."""
        updated = now().isoformat().replace("+00:00", "Z")
        envelope = {"origin": self.client.identity.node_id, "id": record_id, "version": version, "updated_at": updated}
        payload = {
            **envelope,
            "deleted": False,
            "category": "urban_management",
            "service_type": "green_spaces",
            "title": "Contrôle de conformité",
            "description": "",
            "status": "active",
            "start_date": "2025-03-01",
            "end_date": None,
            "place": {
                "commune": "75120",
                "department": "75",
                "region": "11",
                "qpv": [],
                "address": None,
                "point": None,
            },
            "partners": [],
            "inhabitants_involved": 12,
            "details": {"surface_m2": 4200.0, "tasks": None, "zero_pesticide": True},
        }
        return {**envelope, "kind": "activity", "deleted": False, "payload": payload}

    async def push(self, records: list[dict[str, Any]], **batch: Any) -> Answer:
        body = {"origin": self.client.identity.node_id, "batch_id": str(uuid.uuid4()), "records": records, **batch}
        return await self.client.send("POST", "/federation/v1/inbox", json.dumps(body).encode())

    def receipt(self, answer: Answer, status: str, received: int, applied: int) -> None:
        expect(answer.status == 202, f"answered {answer.status} {answer.problem_type or ''}")
        receipt = answer.json() or {}
        seen = (receipt.get("status"), receipt.get("received"), receipt.get("applied"))
        expect(seen == (status, received, applied), f"receipt {seen}, expected {(status, received, applied)}")

    async def inbox_applies(self) -> str | None:
        self.record_id = str(uuid.uuid4())
        self.batch = {"origin": self.client.identity.node_id, "batch_id": str(uuid.uuid4())}
        self.batch["records"] = [self.activity(self.record_id, 2)]
        body = json.dumps(self.batch).encode()
        answer = await self.client.send("POST", "/federation/v1/inbox", body)
        self.receipt(answer, "applied", 1, 1)
        failure = self.client.answer_signed(answer)
        expect(failure is None, f"the receipt's signature: {failure}")
        return None

    async def inbox_duplicate(self) -> str | None:
        answer = await self.client.send("POST", "/federation/v1/inbox", json.dumps(self.batch).encode())
        self.receipt(answer, "duplicate", 1, 0)
        return None

    async def inbox_older_version(self) -> str | None:
        self.receipt(await self.push([self.activity(self.record_id, 1)]), "applied", 1, 0)
        return None

    async def tolerant_envelope(self) -> str | None:
        record = {**self.activity(str(uuid.uuid4()), 1), "added_by_a_later_minor_version": {"any": "value"}}
        self.receipt(await self.push([record]), "applied", 1, 1)
        return None

    async def tolerant_tombstone(self) -> str | None:
        tombstone = {**self.activity(self.record_id, 3), "deleted": True, "payload": {"not": "a valid activity"}}
        self.receipt(await self.push([tombstone]), "applied", 1, 1)
        return None

    async def refuse_malformed(self) -> str | None:
        refused(await self.client.send("POST", "/federation/v1/inbox", b'{"origin": "trunc'), 400, "malformed-json")
        return None

    async def refuse_batch_id(self) -> str | None:
        refused(await self.push([], batch_id="with a space"), 422, "validation")
        return None

    async def refuse_tampered(self) -> str | None:
        body = json.dumps({"origin": self.client.identity.node_id, "batch_id": str(uuid.uuid4()), "records": []})
        sent = body.replace('"records": []', '"records":  []').encode()  # one byte more: the digest no longer matches
        answer = await self.client.send("POST", "/federation/v1/inbox", body.encode(), sent_body=sent)
        refused(answer, 401, "bad-signature")
        return None

    async def refuse_spoofed_batch(self) -> str | None:
        refused(await self.push([], origin=self.node_id), 403, "spoofed-origin")
        return None

    async def refuse_spoofed_record(self) -> str | None:
        record = self.activity(str(uuid.uuid4()), 1)
        for part in (record, record["payload"]):
            part["origin"] = "another-node"
        refused(await self.push([record]), 403, "spoofed-origin")
        return None

    async def refuse_not_author(self) -> str | None:
        record_id = str(uuid.uuid4())
        updated = now().isoformat().replace("+00:00", "Z")
        envelope = {"origin": self.client.identity.node_id, "id": record_id, "version": 1, "updated_at": updated}
        review = {
            **envelope,
            "deleted": False,
            "report_origin": self.node_id,
            "report_id": str(uuid.uuid4()),
            "report_version": 1,
            "decision": "validated",
            "comment": "",
            "reviewer": "Conformance kit",
        }
        refused(
            await self.push([{**envelope, "kind": "review", "deleted": False, "payload": review}]), 403, "not-author"
        )
        return None
