"""
Rate limits on the shared cache (django-ratelimit's fixed windows; Redis when
``REDIS_URL`` is set), keyed by client network (``ip_key``), email, user or
challenge; and per-account budgets (``take``, ``peek``, ``give_back``) that a
service spends on what it does rather than on requests.

When the cache cannot be reached the limits fail *closed*: the request gets a
503 ``service_unavailable`` with ``Retry-After``, never a 500, and never an
unlimited stream of password or code guesses. With ``REDIS_URL`` set the same
Redis is Celery's broker, so a login needing an emailed code could not proceed
anyway. ``RATELIMIT_FAIL_OPEN=1`` lets requests through instead (logged at
ERROR on every occurrence: the limits are off).
"""

import hashlib
import ipaddress
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

from authsvc.errors import TooManyRequests, Unavailable
from authsvc.metrics import RATE_LIMITED
from authsvc.net import client_ip

logger = logging.getLogger(__name__)


class RateLimitUnavailable(Unavailable):
    detail = "Rate limiting is unavailable; try again shortly."


def enforce_rate_limit(request, scope: str, value: str | None, *,
                       on_first_refusal: Callable[[], None] | None = None) -> None:
    """
    Count one hit of ``scope`` for ``value``; raise 429 once its rate (``RATE_LIMITS[scope]``) is passed.

    ``on_first_refusal`` runs for the one request that first passes the rate
    in its window (the cache's atomic increment hands each count to one
    request), before it is refused: to tell someone once, not per refusal.
    """
    if not value:
        value = "unknown"
    try:
        usage = get_usage(
            request, group=f"authsvc.{scope}", key=lambda group, req: value,
            rate=settings.RATE_LIMITS[scope], increment=True,
        )
    except (RedisError, OSError) as exc:
        _cache_unavailable(scope, exc)
        return
    if usage is None or not usage["should_limit"]:
        return
    if usage["time_left"] < 0:
        # django-ratelimit's way of saying the cache did not answer.
        _cache_unavailable(scope, None)
        return
    RATE_LIMITED.labels(scope=scope).inc()
    if on_first_refusal is not None and usage["count"] == usage["limit"] + 1:
        on_first_refusal()
    raise TooManyRequests(retry_after=usage["time_left"])


def enforce_ip_rate_limit(request, scope: str) -> None:
    """Count one hit of a per-IP ``scope`` for the client's network (``ip_key``): every per-IP limit goes here."""
    enforce_rate_limit(request, scope, ip_key(client_ip(request)))


def ip_key(ip: str | None) -> str | None:
    """
    What a per-IP limit counts: the client's network, ``RATELIMIT_IPV4_PREFIX``
    (32) or ``RATELIMIT_IPV6_PREFIX`` (64) bits long, as django-ratelimit's
    own ``ip`` key does. An IPv6 host is handed a whole /64 (RFC 4291
    §2.5.4: interface identifiers are 64 bits; RFC 6177), so counting single
    addresses would give one client 2**64 fresh counters. An IPv4-mapped
    address (``::ffff:a.b.c.d``, what a dual-stack socket reports for an IPv4
    client) counts as the IPv4 address it carries: as IPv6 every IPv4 client
    would share ``::/64``.
    """
    if not ip:
        return None
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = settings.RATELIMIT_IPV4_PREFIX if address.version == 4 else settings.RATELIMIT_IPV6_PREFIX
    return str(ipaddress.ip_network((address, prefix), strict=False))


# --- budgets ------------------------------------------------------------------------------------

_RATE = re.compile(r"^(\d+)/(\d*)([smhd])$")
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Keys outlive their window by a little, so a late give_back finds them.
_EXPIRY_FUDGE = 5


def parse_rate(rate: str) -> tuple[int, int]:
    """django-ratelimit's rate syntax, ``count/[multiplier]period``: ``"10/h"`` → (10, 3600), ``"5/15m"`` → (5, 900)."""
    match = _RATE.match(rate)
    if match is None:
        raise ValueError(f"not a rate: {rate!r} (count/period, period one of s, m, h, d, e.g. 10/h or 5/15m)")
    count, multiplier, unit = match.groups()
    return int(count), int(multiplier or 1) * _PERIODS[unit]


@dataclass(frozen=True)
class Usage:
    """One budget's count in its current fixed window, after a ``take`` or at a ``peek``."""

    scope: str
    key: str
    count: int
    limit: int
    retry_after: int

    @property
    def spent(self) -> bool:
        """Nothing is left: the next ``take`` would be over."""
        return self.count >= self.limit

    @property
    def over(self) -> bool:
        """This ``take`` went past the budget: refuse it, and ``give_back``."""
        return self.count > self.limit


def take(scope: str, value: str) -> Usage | None:
    """
    Spend one unit of the budget ``RATE_LIMITS[scope]`` for ``value`` in the
    current fixed window, atomically: ``cache.add`` starts the window's
    counter, ``cache.incr`` (Redis ``INCR``; a lock in the local-memory
    cache) counts every other use, so of N concurrent takes each sees its
    own count and exactly one sees the last unit. Unlike a request limit, a
    budget is spent by a service on what actually happened, and given back
    (``give_back``) for what did not.

    None when limits are off (``RATELIMIT_ENABLE``), or when the cache is
    down and ``RATELIMIT_FAIL_OPEN`` lets requests through; down and closed,
    503 ``service_unavailable``.
    """
    return _count(scope, value, increment=True)


def peek(scope: str, value: str) -> Usage | None:
    """The budget's count now, spending nothing (same None and 503 as ``take``)."""
    return _count(scope, value, increment=False)


def give_back(usage: Usage | None) -> None:
    """Return the unit a ``take`` spent, to the window it was taken from (gone with its window: nothing to do)."""
    if usage is None:
        return
    try:
        _cache().decr(usage.key)
    except ValueError:
        # The window ended and its key expired: the unit went with it.
        return
    except (RedisError, OSError) as exc:
        _cache_unavailable(usage.scope, exc)


def _cache():
    return caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]


def _count(scope: str, value: str, *, increment: bool) -> Usage | None:
    if not settings.RATELIMIT_ENABLE:
        return None
    limit, period = parse_rate(settings.RATE_LIMITS[scope])
    now = int(time.time())
    window = now // period
    digest = hashlib.sha256(f"{scope}:{value}".encode()).hexdigest()
    key = f"{getattr(settings, 'RATELIMIT_CACHE_PREFIX', 'rl:')}budget:{digest}:{period}:{window}"
    cache = _cache()
    try:
        if not increment:
            count = cache.get(key, 0)
        elif cache.add(key, 1, period + _EXPIRY_FUDGE):
            count = 1
        else:
            count = cache.incr(key)
    except ValueError:
        # Between add and incr the key expired: a window only just ended
        # (keys outlive theirs). Start the count again.
        cache.set(key, 1, period + _EXPIRY_FUDGE)
        count = 1
    except (RedisError, OSError) as exc:
        _cache_unavailable(scope, exc)
        return None
    return Usage(scope=scope, key=key, count=count, limit=limit, retry_after=(window + 1) * period - now)


def _cache_unavailable(scope: str, exc: Exception | None) -> None:
    if not settings.RATELIMIT_FAIL_OPEN:
        # Logged once, at WARNING, with its cause, by the exception handler that renders the 503.
        raise RateLimitUnavailable() from exc
    logger.error("rate limit cache unavailable (scope %s), letting the request through: %r", scope, exc)
