"""What this node serves and pushes to a peer of an older minor version: only the record kinds it reads, and
payloads without the members its schema version does not know (strict writer, docs/protocol.md §14.4)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from federation.versions import parse_version

# The record kinds of protocol 1.0 (software 0.1.0), whose discovery document did not list them.
PROTOCOL_1_0_KINDS = frozenset({"node", "activity", "resource", "report", "review"})

# The payload members each schema minor version added, by record kind, as paths ("*": every item of a list).
# A receiver of an older schema version refuses a payload with a member it does not know (0.1.0 validates payloads
# strictly): a record is served to it without them. Add here every optional member a minor version adds.
ADDED_MEMBERS: dict[tuple[int, int], dict[str, tuple[tuple[str, ...], ...]]] = {
    (1, 1): {
        "review": (("level",), ("reviewer_role",)),
        "report": (("audit", "*", "level"),),
    },
}

_KIND_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
# An envelope as this node writes it: `{"origin":"…","id":"…","kind":"…",…` (federation.protocol.persistence).
_ENVELOPE_KIND = re.compile(rb'\{"origin":"[a-z0-9-]+","id":"[0-9a-f-]+","kind":"([a-z0-9_]+)"')


@dataclass(frozen=True)
class PeerReading:
    """What one peer reads, from what its discovery document says it speaks."""

    # The record kinds it reads; None: every kind (a peer whose versions are not known yet, or as new as this node).
    kinds: frozenset[str] | None = None
    # Payload members to leave out for it, by record kind.
    unknown_members: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = ()

    def hidden_kinds(self, ours: Iterable[str]) -> tuple[str, ...]:
        """The record kinds of this node that the peer does not read: never served or pushed to it."""
        if self.kinds is None:
            return ()
        return tuple(sorted(kind for kind in ours if kind not in self.kinds and _KIND_NAME.fullmatch(kind)))

    @property
    def adapts_payloads(self) -> bool:
        return bool(self.unknown_members)

    def adapt(self, envelope: bytes) -> bytes:
        """The envelope (as this node's feed writes it) without the payload members the peer does not know."""
        if not self.unknown_members:
            return envelope
        match = _ENVELOPE_KIND.match(envelope)
        paths = dict(self.unknown_members).get(match[1].decode()) if match else None
        if not paths:
            return envelope
        document = json.loads(envelope)
        if document.get("payload") is None:
            return envelope
        for path in paths:
            _drop(document["payload"], path)
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _drop(node: Any, path: tuple[str, ...]) -> None:
    head, rest = path[0], path[1:]
    if head == "*":
        for item in node if isinstance(node, list) and rest else ():
            _drop(item, rest)
        return
    if not isinstance(node, dict) or head not in node:
        return
    if rest:
        _drop(node[head], rest)
    else:
        del node[head]


def reading_of(speaks: dict[str, Any] | None, schema_version: str) -> PeerReading:
    """What a peer reads, from what it speaks (federation.versions.spoken, as stored with the peer); this node's
    `schema_version`. A peer whose versions are unknown (pinned before nodes recorded them, until its document is
    read again) is served as one of this node's own version."""
    if speaks is None:
        return PeerReading()
    kinds_listed = [kind for kind in speaks.get("record_kinds") or [] if isinstance(kind, str)]
    protocol = str(speaks.get("protocol_version") or "")
    if kinds_listed:
        kinds: frozenset[str] | None = frozenset(kinds_listed)
    elif _older_than(protocol, (1, 1)):
        kinds = PROTOCOL_1_0_KINDS  # a 1.0 document did not list its kinds
    else:
        kinds = None
    theirs = _newest(speaks.get("schema_versions") or [])
    ours = parse_version(schema_version)
    unknown: dict[str, list[tuple[str, ...]]] = {}
    if theirs is not None and theirs[0] == ours[0]:
        for version, additions in sorted(ADDED_MEMBERS.items()):
            if theirs < version <= ours:
                for kind, paths in additions.items():
                    unknown.setdefault(kind, []).extend(paths)
    return PeerReading(kinds, tuple((kind, tuple(paths)) for kind, paths in sorted(unknown.items())))


def _older_than(version: str, reference: tuple[int, int]) -> bool:
    try:
        return parse_version(version) < reference
    except ValueError:
        return False


def _newest(versions: Iterable[Any]) -> tuple[int, int] | None:
    parsed = []
    for version in versions:
        try:
            parsed.append(parse_version(str(version)))
        except ValueError:
            continue
    return max(parsed) if parsed else None
