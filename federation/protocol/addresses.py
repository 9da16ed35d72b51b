"""Which addresses this node may contact: https URLs of public hosts, checked again on every connection.

Other nodes' base URLs come from outside (`regies peer add`, discovery documents, join requests, the hub's
directory), so a hostile one could point this node at its own loopback, a private network or a cloud metadata
address (SSRF). Unless the operator sets `[federation] allow_private_addresses = true` (development, or a closed
network), a URL naming such an address is refused, and a host name is resolved by `CheckedResolver`, which drops
every non-public answer at connection time: a DNS record that changes after the URL was checked (rebinding)
cannot reach a refused address either. Plain http is accepted only for loopback hosts, and so only with that
setting: on any other network the signatures would be the only protection of the records against a reader.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ALLOW_SETTING = "[federation] allow_private_addresses"
# NAT64 (RFC 6052) reaches the IPv4 address in its last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
LOOPBACK_NAMES = ("localhost",)


class AddressRefused(OSError):
    """A URL or an address this node will not contact; the message says why and what the operator can do."""


def shown(text: object, limit: int = 120) -> str:
    """A value from outside as it may appear in a message: printable ASCII, control characters escaped, cut."""
    escaped = str(text).encode("ascii", "backslashreplace").decode("ascii")
    printable = "".join(char if char.isprintable() else f"\\x{ord(char):02x}" for char in escaped)
    return printable if len(printable) <= limit else printable[: limit - 1] + "…"


def non_public_kind(address: IPAddress) -> str | None:
    """'loopback', 'link-local', 'private' or 'reserved' for an address that is not on the public internet."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(address.packed[-4:])
        if embedded is not None:
            return non_public_kind(embedded)
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "reserved"
    if address.is_private or not address.is_global:
        return "private"
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_loopback_name(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name in LOOPBACK_NAMES or name.endswith(".localhost")


class OutboundPolicy:
    """The outbound rules of one node: `allow_private` lifts the address rule (and so allows http to loopback)."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def check_url(self, url: str) -> None:
        """AddressRefused unless this node may contact `url` (its host's resolved addresses are checked later)."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
        except ValueError as exc:
            raise AddressRefused(f"'{shown(url)}' is not a valid URL") from exc
        if parts.scheme not in ("http", "https") or not host:
            raise AddressRefused(f"'{shown(url)}' is not a node's address: it starts with https://")
        if parts.username is not None or parts.password is not None:
            raise AddressRefused(f"'{shown(url)}' carries a user name or password: a node's address never does")
        literal = _literal(host)
        loopback = _is_loopback_name(host) or (literal is not None and non_public_kind(literal) == "loopback")
        if literal is not None:
            self.check_address(literal, host)
        elif loopback and not self.allow_private:
            raise AddressRefused(self._refusal(host, "loopback"))
        if parts.scheme == "http" and not loopback:
            raise AddressRefused(
                f"'{shown(url)}' uses plain http: another node is reached over https (http is accepted only for "
                f"127.0.0.1, ::1 and localhost, with {ALLOW_SETTING} = true, for development)"
            )

    def check_address(self, address: IPAddress, host: str) -> None:
        kind = non_public_kind(address)
        if kind is not None and not self.allow_private:
            raise AddressRefused(self._refusal(host, kind, address))

    def _refusal(self, host: str, kind: str, address: IPAddress | None = None) -> str:
        where = f"'{shown(host)}'" + (f" ({address})" if address is not None and str(address) != host else "")
        return (
            f"{where} is a {kind} address: this node contacts only public addresses unless its operator sets "
            f"{ALLOW_SETTING} = true"
        )


class CheckedResolver(AbstractResolver):
    """Resolves host names as aiohttp would, keeping only the addresses the policy allows (checked when the
    connection is made, so a name cannot resolve to a public address when checked and a private one when used)."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self._resolver = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._resolver.resolve(host, port, family)
        allowed = []
        refusal: AddressRefused | None = None
        for answer in answers:
            try:
                self.policy.check_address(ipaddress.ip_address(answer["host"].partition("%")[0]), host)
            except AddressRefused as exc:
                refusal = exc
                continue
            allowed.append(answer)
        if not allowed and refusal is not None:
            raise refusal
        return allowed

    async def close(self) -> None:
        await self._resolver.close()
