"""What a request says about its client: IP address and user agent."""

import ipaddress

from django.conf import settings

USER_AGENT_MAX_LENGTH = 512


def client_ip(request) -> str | None:
    """
    The client's address: ``REMOTE_ADDR``, unless ``TRUSTED_PROXY_COUNT``
    proxies of ours sit in front, in which case it is the address the
    outermost of them saw, read from the right of ``X-Forwarded-For``.

    Only the entries our own proxies appended are believed: anything further
    left was written by the client and could be rotated to dodge per-IP limits.
    """
    ip = request.META.get("REMOTE_ADDR")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            ip = forwarded[-proxies]
    return _valid_ip(ip)


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def user_agent(request) -> str:
    value = request.META.get("HTTP_USER_AGENT", "")
    # Strip control characters (NUL cannot be stored in PostgreSQL text).
    value = "".join(ch for ch in value if ch.isprintable())
    return value[:USER_AGENT_MAX_LENGTH]
