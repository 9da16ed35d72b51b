"""The keys this node trusts for each peer: the pinned ones, refreshed from the peer's discovery document when
it signs with a key not pinned yet (a rotation)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.protocol import persistence
from federation.protocol.discovery import accept_rotated_keys
from federation.protocol.persistence import Peer
from federation.protocol.signing import SignatureError, signature_keyid, split_keyid
from federation.protocol.transport import FederationClient, TransportError
from federation.schema.records import utcnow
from federation.storage.mapping import to_micros
from federation.versions import spoken

log = logging.getLogger(__name__)
# A peer's discovery document is fetched again for an unknown key at most this often.
DISCOVERY_REFRESH_INTERVAL = dt.timedelta(seconds=30)


async def refresh_pinned_keys(engine: AsyncEngine, client: FederationClient, peer: Peer, *, due: bool = False) -> Peer:
    """Fetch the peer's discovery document and pin keys that its pinned keys vouch for: how a key rotation reaches
    this node (federation.protocol.discovery.accept_rotated_keys: revocations stay final). At most every
    DISCOVERY_REFRESH_INTERVAL per peer, unless `due` (the worker's periodic refresh)."""
    now = to_micros(utcnow())
    interval = int(DISCOVERY_REFRESH_INTERVAL.total_seconds() * 1_000_000)
    if not due and peer.discovery_fetched_at_us is not None and now - peer.discovery_fetched_at_us < interval:
        return peer
    await persistence.mark_discovery_fetch(engine, peer.node_id)
    try:
        remote = await client.fetch_discovery(peer.base_url, expected_node_id=peer.node_id)
    except TransportError as exc:
        log.warning("could not refresh keys of peer %s: %s", peer.node_id, exc)
        return peer
    speaks = spoken(remote.document)
    if speaks != peer.speaks:  # the peer upgraded (or was added before nodes recorded this)
        await persistence.update_peer_speaks(engine, peer.node_id, speaks)
    keys = accept_rotated_keys(peer.node_id, list(peer.keys), remote.keys)
    if {key.kid for key in keys} != {key.kid for key in peer.keys} or keys != list(peer.keys):
        await persistence.update_peer_keys(engine, peer.node_id, keys)
        log.info("peer %s: pinned keys now %s", peer.node_id, ", ".join(key.kid for key in keys))
    return await persistence.get_peer(engine, peer.node_id) or peer


class PeerKeys:
    """What `FederationClient.request(signed_by=...)` checks a peer's answers with."""

    def __init__(self, engine: AsyncEngine, client: FederationClient, peer: Peer) -> None:
        self.engine = engine
        self.client = client
        self.peer = peer

    async def keys(self, answer_headers: Mapping[str, str]) -> dict[str, Ed25519PublicKey]:
        try:
            node_id, kid = split_keyid(signature_keyid(answer_headers))
        except SignatureError:
            node_id, kid = self.peer.node_id, None  # unsigned: verification will say so
        if node_id == self.peer.node_id and kid is not None and self.peer.key(kid) is None:
            self.peer = await refresh_pinned_keys(self.engine, self.client, self.peer)
        now = int(utcnow().timestamp())
        named = self.peer.key(kid) if node_id == self.peer.node_id and kid is not None else None
        if named is not None and not named.valid_at(now):
            raise SignatureError(
                f"the answer is signed with key '{kid}' of peer '{node_id}', which is pinned here but no longer "
                "valid (expired or revoked): that node must sign with its current key (`regies keys rotate` "
                "publishes one)"
            )
        return {f"{self.peer.node_id}#{key.kid}": key.public_key() for key in self.peer.keys if key.valid_at(now)}
