"""The client address as a keyed hash: enough to count one address once, never the address itself.

HMAC-SHA256 with the app's secret key, over a purpose, the address (the real client's, after ProxyFix)
and, for ``address_key``, the day, so the value cannot be reversed by trying every address and differs
between purposes. An IPv6 address counts as its /64 network: one home or phone is given a whole /64,
so counting full addresses would give one person 2^64 of them.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from datetime import date

from flask import current_app, request

from kb.models import utcnow

IPV6_NETWORK_BITS = 64


def client_network(address: str) -> str:
    """The address one person is counted by: itself for IPv4, its /64 for IPv6 (IPv4-mapped read as IPv4);
    a port some proxies append (``203.0.113.9:51234``, ``[2001:db8::1]:443``) is not part of it."""
    try:
        parsed = ipaddress.ip_address(_without_port(address.strip()))
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{parsed}/{IPV6_NETWORK_BITS}", strict=False))
    return str(parsed)


def _without_port(address: str) -> str:
    if address.startswith("["):  # [IPv6]:port
        return address[1 : address.find("]")] if "]" in address else address
    host, colon, port = address.rpartition(":")
    return host if colon and address.count(":") == 1 and port.isdigit() else address


def address_key(purpose: str, day: date | None = None) -> str:
    """A 64-hex-digit keyed hash of this request's client address, ``purpose`` and ``day`` (today by default):
    links one address's actions within a day only."""
    day = day or utcnow().date()
    return _keyed(f"{purpose}|{client_network(request.remote_addr or '')}|{day.isoformat()}")


def network_key(purpose: str) -> str:
    """A keyed hash of this request's client address and ``purpose`` alone, the same on every day: for a
    cap that must hold however long someone keeps trying (learned evidence, purged with the rest)."""
    return _keyed(f"{purpose}|{client_network(request.remote_addr or '')}")


def _keyed(message: str) -> str:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()
