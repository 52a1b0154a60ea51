"""The SSRF guard: a webhook URL may only reach public addresses, checked when the endpoint is created
and again at every delivery, which then connects to the address it vetted (no DNS rebinding).

LENME_WEBHOOK_ALLOW_PRIVATE (development and tests) allows plain http and non-public addresses.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_URL_LENGTH = 2000


class UnsafeURL(Exception):
    """The URL is malformed, or its host is (or resolves to) an address we must not call."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written, for the Host header and TLS server name
    port: int
    path: str  # path and query, what the request line carries


def parse(url: str) -> Target:
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(c.isspace() or ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise UnsafeURL("The URL may not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL("The URL is malformed.") from exc
    allowed = {"https", "http"} if settings.LENME_WEBHOOK_ALLOW_PRIVATE else {"https"}
    if parts.scheme not in allowed:
        raise UnsafeURL("The URL must use https." if "http" not in allowed else "The URL must use http or https.")
    if not parts.hostname:
        raise UnsafeURL("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("The URL may not carry credentials.")
    if parts.fragment:
        raise UnsafeURL("The URL may not have a fragment.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path)


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or getattr(ip, "is_site_local", False)
    )


def resolve(target: Target) -> str:
    """The address to connect to: every address the host resolves to must be public (one bad
    address refuses the host, so a round-robin name cannot sneak one in)."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeURL(f"The host {target.host!r} does not resolve.") from exc
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise UnsafeURL(f"The host {target.host!r} does not resolve.")
    if not settings.LENME_WEBHOOK_ALLOW_PRIVATE:
        bad = [a for a in addresses if not is_public(a)]
        if bad:
            raise UnsafeURL(f"The host {target.host!r} is or resolves to a non-public address ({bad[0]}).")
    return addresses[0]


def vet(url: str) -> Target:
    """Parse and check a URL as endpoint creation does (resolving its host)."""
    target = parse(url)
    resolve(target)
    return target
