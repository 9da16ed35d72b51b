"""The plugin API for talking to other nodes: keys, signed requests, discovery, the hub's directory and peers.

For plugins that extend the federation itself (the hub and the hub client); docs/protocol.md says what each
signature and document holds.
"""

from __future__ import annotations

from federation.protocol.addresses import AddressRefused, OutboundPolicy, shown
from federation.protocol.context import FEDERATION
from federation.protocol.directory import directory_statement, verify_directory
from federation.protocol.discovery import (
    RemoteNode,
    build_discovery,
    keep_revocations,
    parse_discovery,
    signed_target_uri,
)
from federation.protocol.keys import KeyStore, PublicKeyInfo, b64url, fingerprint
from federation.protocol.peerkeys import PeerKeys
from federation.protocol.persistence import Peer, get_peer, list_peers, remember_nonce, save_peer
from federation.protocol.receiver import authenticate, signed_response
from federation.protocol.signing import SignatureError, signature_keyid, split_keyid, verify_request
from federation.protocol.transport import TransportError
from federation.versions import spoken

# This node: its keys and federation context.
__all__ = [
    "FEDERATION",  # the app key of the node's federation context: engine, identity, signed client, store
    "KeyStore",  # the node's signing keys: `signing` (current kid and private key), `published`
]
# Keys, signatures and documents of other nodes.
__all__ += [
    "PublicKeyInfo",  # a node's public key: kid, `x`, validity; `from_jwk`, `jwk()`, `public_key()`
    "RemoteNode",  # another node's discovery document, parsed: node id, base URL, keys, versions
    "SignatureError",  # a request signature missing, malformed, expired or not verified
    "authenticate",  # the known peer that signed a request, and its body; a 401 problem otherwise
    "b64url",  # unpadded base64url, as signatures and JWKs carry bytes
    "build_discovery",  # this node's discovery document, as served at /.well-known/regies-node
    "directory_statement",  # the bytes a hub signs for its directory of members
    "fingerprint",  # a public key's fingerprint, as operators compare them aloud
    "keep_revocations",  # the keys to pin when a peer offers new ones: revoked keys stay revoked
    "parse_discovery",  # a discovery document checked and parsed into a RemoteNode; ValueError if malformed
    "signature_keyid",  # the keyid a signed request names (`node-id#kid`), before any verification
    "signed_response",  # a response signed by this node to a signed request (the peer verifies it)
    "signed_target_uri",  # the URI a request was signed for, as the node sees it behind its proxies
    "split_keyid",  # a keyid split into node id and kid
    "spoken",  # what a discovery document says its node speaks: versions, record kinds, service types
    "verify_directory",  # a hub's directory verified against the hub's keys: its members
    "verify_request",  # a signed request verified with a public key: created time and nonce
]
# Peers and the outbound client.
__all__ += [
    "AddressRefused",  # an address the node will not contact (private, loopback, ... unless allowed)
    "OutboundPolicy",  # which addresses the node contacts; `check_url(url)` raises AddressRefused
    "Peer",  # a node this one federates with: id, address, pinned keys, role, pull and push
    "PeerKeys",  # what the signed client checks a peer's answers with (`client.request(signed_by=...)`)
    "TransportError",  # a request to another node failed: unreachable, refused, bad answer
    "get_peer",  # one peer by node id, or None
    "list_peers",  # every peer of the node
    "remember_nonce",  # records a signature's nonce until it expires; False if it was already used
    "save_peer",  # adds or updates a peer: address, keys, role, pull and push
    "shown",  # a value from outside as it may appear in a message: printable ASCII, cut
]
