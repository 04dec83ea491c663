"""What a cloud address says about the token's safety, decided once for every surface.

The client refuses an address that would send the token where it must not go (credentials in
the URL, plain http:// off this PC without the operator's opt-in); the status surfaces use the
same rules to say, for as long as it lasts, that an opted-in address sends it unencrypted.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sends_token_in_clear(url: str) -> bool:
    """Plain http:// to another machine: only reachable with allow_insecure_http."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme == "http" and bool(host) and not is_loopback_host(host)


def redact_url(url: str) -> str:
    """The URL without any user name or password, for showing and storing."""
    try:
        parts = urlsplit(url)
        has_credentials = parts.username is not None or parts.password is not None
        port = parts.port
    except ValueError:
        return "(an address that cannot be read)"
    if not has_credentials:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
