"""
Service credentials, guarded like a user's password (issue 17, point 6):
the Basic credentials of the services in ``INTROSPECTION_CLIENTS``
(introspection and the revocation feed) and the ``/metrics`` bearer token.

One frame for every door (:func:`_guarded`):

- **rate limited per client network**, every door together
  (``RATE_LIMITS["service_credentials_ip"]``, 10/min): each attempt spends
  one unit *before* it is compared — so N guesses sent at once are N units,
  never more comparisons than the budget — and a right one gives its unit
  back. Past the budget every attempt is 429 with ``Retry-After``, the right
  credentials too, until the window passes: the answer tells a guesser nothing;
- **audited**: each refused credential is a ``service_credentials_refused``
  event naming the door (``reason``), the client network and, only when it is
  a configured name, the service it claimed to be (an unknown name may be a
  secret typed in the wrong field: it is recorded nowhere);
- **compared in constant time**: SHA-256 digests of both sides (so not even
  the length leaks), ``hmac.compare_digest``, over every configured client,
  with no early exit on a name;
- **never logged**: nothing here writes a credential anywhere.
"""

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable

from authsvc import ratelimits
from authsvc.errors import TooManyRequests, Unauthorized
from authsvc.metrics import RATE_LIMITED
from authsvc.net import client_ip, user_agent
from tokens import audit
from tokens.conf import conf

SCOPE = "service_credentials_ip"
INTROSPECTION = "introspection"
REVOCATIONS = "revocations"
METRICS = "metrics"


class ServiceUnauthorized(Unauthorized):
    """No service credentials (``not_authenticated``), or wrong ones (``invalid_client``, RFC 6749 §5.2)."""

    @property
    def headers(self) -> dict[str, str]:
        # RFC 7617 §2: the scheme and realm that would be accepted.
        return {"WWW-Authenticate": 'Basic realm="authsvc services", charset="UTF-8"'}


def clients_configured() -> bool:
    """Whether any service may introspect and read the feed; with none, both endpoints are unknown paths."""
    return bool(conf.introspection_clients)


def authenticate_client(request, *, door: str) -> str:
    """
    The name of the configured service whose HTTP Basic credentials came
    with ``request``; ``ServiceUnauthorized`` if none came or they are
    wrong; ``TooManyRequests`` past the per-network budget.
    """
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise ServiceUnauthorized("Service credentials (HTTP Basic) are required.")
    name = _guarded(request, door=door, check=lambda: _basic_client(encoded.strip()))
    if name is None:
        raise ServiceUnauthorized("The service credentials are not valid.", code="invalid_client")
    return name


def holds_metrics_token(request) -> bool:
    """
    Whether ``request`` carries ``Authorization: Bearer $METRICS_TOKEN``.
    Any other Authorization header is a wrong credential (counted, audited);
    none at all, or no token configured, is simply not the holder.
    """
    expected = conf.metrics_token
    header = request.headers.get("Authorization")
    if not expected or header is None:
        return False
    scheme, _, supplied = header.partition(" ")

    def check() -> tuple[str | None, str]:
        right = _same(supplied.strip(), expected) & (scheme.lower() == "bearer")
        return ("metrics" if right else None), ""

    return _guarded(request, door=METRICS, check=check) is not None


def _guarded(request, *, door: str, check: Callable[[], tuple[str | None, str]]) -> str | None:
    """
    Spend a unit of the network's budget, then ``check()``: ``(who, claimed)``,
    ``who`` None when refused, ``claimed`` the configured name it claimed, if
    any. A right credential gives its unit back; a wrong one is audited.
    """
    ip = client_ip(request)
    usage = ratelimits.take(SCOPE, ratelimits.ip_key(ip) or "unknown")
    if usage is not None and usage.over:
        RATE_LIMITED.labels(scope=SCOPE).inc()
        raise TooManyRequests(retry_after=usage.retry_after)
    who, claimed = check()
    if who is not None:
        ratelimits.give_back(usage)
        return who
    audit.record_event(audit.Kind.SERVICE_CREDENTIALS_REFUSED, ip=ip, user_agent=user_agent(request),
                       reason=door, actor=claimed)
    return None


def _basic_client(encoded: str) -> tuple[str | None, str]:
    """``(name, name)`` of the client these Basic credentials are, else ``(None, claimed configured name or "")``."""
    try:
        name, colon, secret = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, ValueError):
        name, colon, secret = "", "", ""
    found, claimed = None, ""
    # Every client is compared, whatever matched before: the time taken says nothing about which names exist.
    for client_name, client_secret in conf.introspection_clients:
        name_right = _same(name, client_name)
        secret_right = _same(secret, client_secret)
        if name_right:
            claimed = client_name
        if name_right & secret_right & bool(colon):
            found = client_name
    return found, claimed


def _same(supplied: str, expected: str) -> bool:
    """Constant time, length included: digests of both sides, compared with ``hmac.compare_digest``."""
    return hmac.compare_digest(_digest(supplied), _digest(expected))


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()
