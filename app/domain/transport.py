"""Which addresses Recondesk may talk to: HTTPS anywhere, plain HTTP only to this computer (loopback).

Checked when a connection is saved (services) and before every request (connectors.http), so a password or a
token never crosses a network unencrypted.
Must not: resolve names or touch the network (only `localhost` and loopback IP literals count as loopback).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from app.domain.errors import ConfigurationError


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and `localhost` (and names under `.localhost`)."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(url: str, what: str = "The address") -> None:
    """Raise `ConfigurationError` when `url` is plain http:// to a host that is not loopback. Anything else passes:
    https://, loopback http://, and text that is no URL at all (refused where addresses are read, with its own
    message)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return
    if parts.scheme.lower() == "http" and not is_loopback_host(host):
        raise ConfigurationError(
            f"{what} http://{parts.netloc} uses plain http://, which would send passwords and data unencrypted.",
            "Use https:// (plain http:// is allowed only for this computer: localhost or 127.0.0.1).",
        )
