"""
Rate limits on the shared cache (django-ratelimit's fixed windows; Redis when
``REDIS_URL`` is set), keyed by client IP, email or challenge.

When the cache cannot be reached the limits fail *closed*: the request gets a
503 ``service_unavailable`` with ``Retry-After``, never a 500, and never an
unlimited stream of password or code guesses. With ``REDIS_URL`` set the same
Redis is Celery's broker, so a login needing an emailed code could not proceed
anyway. ``RATELIMIT_FAIL_OPEN=1`` lets requests through instead (logged at
ERROR on every occurrence: the limits are off).
"""

import logging

from django.conf import settings
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

from authsvc.errors import TooManyRequests, Unavailable
from authsvc.metrics import RATE_LIMITED

logger = logging.getLogger(__name__)


class RateLimitUnavailable(Unavailable):
    detail = "Rate limiting is unavailable; try again shortly."


def enforce_rate_limit(request, scope: str, value: str | None) -> None:
    """Count one hit of ``scope`` for ``value``; raise 429 once its rate (``RATE_LIMITS[scope]``) is passed."""
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
    raise TooManyRequests(retry_after=usage["time_left"])


def _cache_unavailable(scope: str, exc: Exception | None) -> None:
    if not settings.RATELIMIT_FAIL_OPEN:
        # Logged once, at WARNING, with its cause, by the exception handler that renders the 503.
        raise RateLimitUnavailable() from exc
    logger.error("rate limit cache unavailable (scope %s), letting the request through: %r", scope, exc)
