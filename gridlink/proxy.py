"""The client's address and scheme behind reverse proxies listed in TRUSTED_PROXIES.

Forwarding headers are believed only when the TCP peer is a trusted proxy; then the chain is
read from the right (the hop nearest us) and the first address that is not itself a trusted
proxy is the client. From any other peer the headers are ignored: a client cannot choose its
own rate-limit bucket or make an http request look like https.
"""

from __future__ import annotations

import ipaddress
import re

from aiohttp import web

from gridlink.settings import Network, Settings

_FOR = re.compile(r'for\s*=\s*"?\[?([^\]";,]+)', re.IGNORECASE)
_PROTO = re.compile(r'proto\s*=\s*"?([A-Za-z]+)', re.IGNORECASE)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> Address | None:
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(addr: Address | None, networks: tuple[Network, ...]) -> bool:
    return addr is not None and any(addr in net for net in networks)


def _forwarded_chain(request: web.Request) -> list[str]:
    """The forwarded client addresses, leftmost first (Forwarded wins over X-Forwarded-For)."""
    forwarded = request.headers.getall("Forwarded", [])
    if forwarded:
        return [m.group(1) for value in forwarded for m in _FOR.finditer(value)]
    return [part for value in request.headers.getall("X-Forwarded-For", [])
            for part in value.split(",") if part.strip()]


def client_ip(request: web.Request, settings: Settings) -> str:
    """The client's address: the peer's, or the forwarded one when the peer is a trusted proxy."""
    peer = request.remote or "?"
    networks = settings.trusted_networks
    if not networks or not _trusted(_address(peer), networks):
        return peer
    hops = _forwarded_chain(request)
    client = peer
    for hop in reversed(hops):
        addr = _address(hop)
        if addr is None:  # garbage from beyond our proxies: stop at the last hop we trust
            break
        client = str(addr)
        if not _trusted(addr, networks):
            break
    return client


def is_https(request: web.Request, settings: Settings) -> bool:
    """Whether the client reached us over https: TLS on this socket, or a trusted proxy says so
    (the nearest hop's X-Forwarded-Proto or Forwarded proto)."""
    if request.transport is not None and request.transport.get_extra_info("sslcontext") is not None:
        return True
    networks = settings.trusted_networks
    if not networks or not _trusted(_address(request.remote or ""), networks):
        return False
    protos = [m.group(1) for value in request.headers.getall("Forwarded", [])
              for m in _PROTO.finditer(value)]
    if not protos:
        protos = [p.strip() for value in request.headers.getall("X-Forwarded-Proto", [])
                  for p in value.split(",") if p.strip()]
    return bool(protos) and protos[-1].lower() == "https"


def secure_cookies(request: web.Request, settings: Settings) -> bool:
    """Cookies get `Secure` when the site is public over https or this request came over https."""
    return settings.public_base_url.startswith("https://") or is_https(request, settings)
