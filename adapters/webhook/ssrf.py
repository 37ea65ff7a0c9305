"""The SSRF guard: webhooks reach only public addresses unless the operator allows others.

The check runs on the address actually connected to, not only on the URL: IP literals in
the URL are checked before the request (`SsrfPolicy.check_url`), and host names go through
`GuardedResolver`, which refuses a DNS answer when any of its addresses is not public.
`GuardedConnector` is the aiohttp connector that installs it; the webhook channel refuses a
session built on any other connector.

Not public: private (RFC 1918, unique-local), loopback, link-local, multicast, reserved,
unspecified, shared/CGNAT 100.64.0.0/10, other special-purpose ranges, Teredo, and the
IPv6 forms that embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, NAT64
`64:ff9b::/96`, 6to4 `2002::/16`) when the embedded address is not public.

The allow-list (HDT_WEBHOOK_ALLOW_HOSTS) holds host names (any address they resolve to is
accepted), IP addresses and CIDR networks (those addresses are accepted).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import TCPConnector, ThreadedResolver
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_SETTING = "HDT_WEBHOOK_ALLOW_HOSTS"
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_-]{1,63})*$")

_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")


class BlockedAddressError(OSError):
    """A webhook destination that is not public and not allowed; the message says which."""


def _kind_v4(ip: ipaddress.IPv4Address) -> str | None:
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip in _SHARED:
        return "shared (CGNAT)"
    if ip.is_reserved:
        return "reserved"
    if any(ip in net for net in _RFC1918):
        return "private"
    if not ip.is_global:
        return "special-purpose"
    return None


def _embedded_v4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), with its form."""
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    return None


def _kind_v6(ip: ipaddress.IPv6Address) -> str | None:
    if ip.teredo is not None:
        return "Teredo tunnel"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_site_local:
        return "site-local"
    if ip.is_multicast:
        return "multicast"
    if ip in _UNIQUE_LOCAL:
        return "private (unique-local)"
    if ip in _NAT64_LOCAL:
        return "local-use NAT64"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "special-purpose"
    return None


def _a(word: str) -> str:
    return ("an " if word[0].lower() in "aeiou" else "a ") + word


def blocked_reason(ip: IPAddress) -> str | None:
    """Say why `ip` is not a public address, or return None when it is.

    An IPv6 address embedding an IPv4 one (IPv4-mapped, NAT64, 6to4) is judged by the
    IPv4 address it reaches.

    Args:
        ip: the address to classify.

    Returns:
        A phrase such as "a private address 10.0.0.1" or "an IPv4-mapped address
        ::ffff:127.0.0.1 embedding loopback 127.0.0.1"; None for a public address.
    """
    if isinstance(ip, ipaddress.IPv4Address):
        kind = _kind_v4(ip)
        return None if kind is None else f"{_a(kind)} address {ip}"
    embedded = _embedded_v4(ip)
    if embedded is not None:
        form, inner = embedded
        inner_kind = _kind_v4(inner)
        if inner_kind is None:
            return None  # it reaches a public IPv4 address
        return f"{_a(form)} address {ip} embedding {inner_kind} {inner}"
    kind = _kind_v6(ip)
    return None if kind is None else f"{_a(kind)} address {ip}"


def parse_ip(value: str) -> IPAddress | None:
    """Parse an IP address (IPv6 may carry brackets or a %scope); None when it is a name."""
    try:
        return ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class SsrfPolicy:
    """Which non-public destinations the operator allows (empty: public addresses only)."""

    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> SsrfPolicy:
        """Build a policy from HDT_WEBHOOK_ALLOW_HOSTS entries (names, IPs or CIDRs).

        Raises:
            ValueError: one line naming the entry that is none of these, with an example.
        """
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if not _HOSTNAME.match(entry):
                raise ValueError(
                    f"{ALLOW_SETTING}: {raw!r} is not a host name, IP address or CIDR "
                    "network; e.g. 127.0.0.1,10.0.0.0/8,hooks.internal"
                )
            hosts.add(entry)
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        """True when `host` is an allow-listed name: any address it resolves to is fine."""
        return host.lower().rstrip(".") in self.allow_hosts

    def refusal(self, ip: IPAddress) -> str | None:
        """Return the one-line error for connecting to `ip`, or None when that is allowed."""
        if any(ip in net for net in self.allow_networks):  # exactly as connected
            return None
        reason = blocked_reason(ip)
        if reason is None:
            return None
        return f"webhook URL resolves to {reason}; allow it with {ALLOW_SETTING}"

    def check_url(self, url: URL) -> None:
        """Refuse a URL whose host is a non-public IP literal that is not allowed.

        Raises:
            BlockedAddressError: with the one-line reason.
        """
        host = url.host or ""
        ip = parse_ip(host)
        if ip is None or self.allows_host(host):
            return
        refusal = self.refusal(ip)
        if refusal is not None:
            raise BlockedAddressError(refusal)


class GuardedResolver(AbstractResolver):
    """A resolver that refuses DNS answers holding any non-public, non-allowed address.

    Wraps another resolver (aiohttp's ThreadedResolver unless one is given, e.g. a fake
    in tests). Build it inside a running event loop.
    """

    def __init__(self, policy: SsrfPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner if inner is not None else ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self.policy.allows_host(host):
            return results
        for result in results:
            ip = parse_ip(result["host"])
            refusal = (
                f"webhook URL host {host} resolves to an unreadable address"
                if ip is None
                else self.policy.refusal(ip)
            )
            if refusal is not None:
                logger.warning("webhook destination refused host=%s: %s", host, refusal)
                raise BlockedAddressError(refusal)
        return results

    async def close(self) -> None:
        await self._inner.close()


# Connections open at once, in all and to one host (the webhook channel waits for a free
# one before a request's timeout starts: adapters.webhook.pool).
CONNECTIONS = 100
CONNECTIONS_PER_HOST = 10


class GuardedConnector(TCPConnector):
    """The aiohttp connector for webhooks: every host name goes through GuardedResolver."""

    def __init__(
        self,
        policy: SsrfPolicy,
        *,
        inner_resolver: AbstractResolver | None = None,
        limit: int = CONNECTIONS,
        limit_per_host: int = CONNECTIONS_PER_HOST,
    ) -> None:
        self.policy = policy
        self._guarded = GuardedResolver(policy, inner_resolver)
        super().__init__(resolver=self._guarded, limit=limit, limit_per_host=limit_per_host)

    async def close(self, *, abort_ssl: bool = False) -> None:
        await super().close(abort_ssl=abort_ssl)
        await self._guarded.close()


_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+))*\.?$")
_URL_EXAMPLE = "e.g. https://hooks.example.com/hdtickets"
MAX_URL_CHARS = 500  # as stored, percent-encoded: notifications.address holds 512


# Letters, digits, hyphens and dots (IDNA names arrive here already punycode-encoded).
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")


def _canonical(url: URL) -> URL:
    """`url` as one receiver is always written: no fragment (never sent), no trailing dot
    on the host name, and (yarl's doing) a lower-case host, punycode, percent-encoding,
    no default port."""
    url = url.with_fragment(None)
    raw_host = url.raw_host or ""
    if raw_host.endswith(".") and parse_ip(raw_host) is None:
        url = url.with_host(raw_host[:-1])
    return url


def canonical_url(text: str) -> str:
    """The form `validate_url` stores `text` in, to compare two endpoints' URLs (one stored
    before URLs were normalized too); `text` itself when it is no URL."""
    try:
        url = URL(text.strip())
        return str(_canonical(url)) if url.absolute else text.strip()
    except (TypeError, ValueError):
        return text.strip()


def _stray_character(text: str) -> tuple[int, str] | None:
    """The first control character or whitespace in `text` (1-based position), if any."""
    for position, char in enumerate(text, start=1):
        if char.isspace() or unicodedata.category(char) == "Cc":
            return position, char
    return None


def validate_url(text: str, policy: SsrfPolicy) -> str:
    """Check a webhook URL a person gave; return it as it will be stored (`canonical_url`).

    Host names are not resolved here (DNS answers change); the connector checks them on
    every connection.

    Raises:
        ValueError: one line with the reason and an example.
    """
    if len(text.strip()) > MAX_URL_CHARS:
        raise ValueError(f"webhook URL is longer than {MAX_URL_CHARS} characters; {_URL_EXAMPLE}")
    # yarl silently drops tabs and newlines: the URL stored would not be the one given.
    stray = _stray_character(text.strip())
    if stray is not None and stray[1] != " ":
        position, char = stray
        raise ValueError(
            f"webhook URL holds a control character or whitespace ({char!r}) at character"
            f" {position}; send it without, {_URL_EXAMPLE}"
        )
    try:
        url = URL(text.strip())
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a URL; {_URL_EXAMPLE}") from None
    try:
        url.host  # noqa: B018 (decoding a punycode name "xn--…" may fail)
    except UnicodeError:
        raise ValueError(
            f"webhook URL host {url.raw_host!r} is not a valid host name; {_URL_EXAMPLE}"
        ) from None
    if url.scheme not in ("http", "https"):
        raise ValueError(f"webhook URL must start with https:// or http://; {_URL_EXAMPLE}")
    if not url.host:
        raise ValueError(f"webhook URL has no host; {_URL_EXAMPLE}")
    if url.user is not None or url.password is not None:
        raise ValueError(
            "webhook URL must not hold a user name or password (it would be shown and logged);"
            f" authenticate with the signature instead; {_URL_EXAMPLE}"
        )
    if url.explicit_port == 0:
        raise ValueError(f"webhook URL port 0 cannot be connected to; {_URL_EXAMPLE}")
    if not _HOST_NAME.match((url.raw_host or "").lower()) and parse_ip(url.host) is None:
        raise ValueError(f"webhook URL host {url.host!r} is not a valid host name; {_URL_EXAMPLE}")
    if stray is not None:  # a space outside the host (a space in the host is said above)
        raise ValueError(
            f"webhook URL holds a space at character {stray[0]}; write it as %20, {_URL_EXAMPLE}"
        )
    try:
        url = _canonical(url)
    except ValueError:
        raise ValueError(f"{text!r} is not a URL; {_URL_EXAMPLE}") from None
    host = (url.host or "").lower()
    if parse_ip(host) is None and _NUMERIC_HOST.match(host):
        raise ValueError(f"webhook URL host {host} is not a canonical IP address; {_URL_EXAMPLE}")
    try:
        policy.check_url(url)
    except BlockedAddressError as exc:
        raise ValueError(str(exc)) from None
    stored = str(url)
    if len(stored) > MAX_URL_CHARS:
        raise ValueError(
            f"webhook URL is {len(stored)} characters once percent-encoded (é becomes %C3%A9),"
            f" longer than {MAX_URL_CHARS}; use a shorter path, {_URL_EXAMPLE}"
        )
    return stored
