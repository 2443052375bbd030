import functools
import hmac
import logging
import os

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from authsvc.errors import Unavailable
from authsvc.exceptions import describe_error, error_body, handler404, unreachable_dependency

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request):
    """Liveness + readiness: 200 when the database and the cache both answer."""
    checks = {"database": _database_ok(), "cache": _cache_ok()}
    healthy = all(checks.values())
    body = {"status": "ok" if healthy else "unavailable", **{k: "ok" if v else "error" for k, v in checks.items()}}
    if healthy:
        return JsonResponse(body)
    response = JsonResponse(body, status=503, headers=Unavailable().headers)
    # The failed check said why, once; Django's request logging would add an ERROR line per probe.
    response._has_been_logged = True
    return response


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception as exc:
        _check_failed("database", exc)
        return False


def _cache_ok() -> bool:
    try:
        cache.set("healthz", "1", timeout=5)
        return cache.get("healthz") == "1"
    except Exception as exc:
        _check_failed("cache", exc)
        return False


def _check_failed(name: str, exc: Exception) -> None:
    if unreachable_dependency(exc):
        # An outage, not a bug, asked about every few seconds by each load
        # balancer while it lasts: one line, no traceback.
        logger.warning("healthz: %s check failed: %s", name, describe_error(exc))
    else:
        logger.exception("healthz: %s check failed", name)


# Authenticated by a header, never by a cookie, and it changes nothing; a
# CSRF refusal (403) of a POST would also tell a stranger that the URL exists.
@csrf_exempt
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """
    Prometheus metrics, for whoever holds ``METRICS_TOKEN``. To anyone else,
    and to everyone while it is unset, this is the JSON 404 of an unknown
    path, whatever the method: the counters say how many logins fail and
    sessions are revoked, and the URL need not admit that it exists.
    """
    if not _holds_metrics_token(request):
        return handler404(request)
    if request.method not in ("GET", "HEAD"):
        return JsonResponse(error_body(f'Method "{request.method}" not allowed.', "method_not_allowed"),
                            status=405, headers={"Allow": "GET, HEAD"})
    # The format the scraper asks for: OpenMetrics for Prometheus, else the classic text format.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = HttpResponse(encode(_registry()), content_type=content_type)
    add_never_cache_headers(response)
    return response


def _holds_metrics_token(request: HttpRequest) -> bool:
    expected = settings.METRICS_TOKEN
    scheme, _, supplied = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    # Constant time: the comparison must not tell how much of a guess was right.
    return hmac.compare_digest(supplied.strip().encode(), expected.encode())


def _registry() -> CollectorRegistry:
    """
    Under gunicorn (``PROMETHEUS_MULTIPROC_DIR`` set, see gunicorn.conf.py)
    each worker counts in its own files: a fresh registry over all of them
    answers for the whole host, whichever worker serves the scrape.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def api_docs(view):
    """
    ``view`` (the OpenAPI schema or its Swagger UI page) while
    ``API_DOCS_PUBLIC`` is on; the JSON 404 of an unknown path while it is
    off, whatever the request. The setting is read per request.
    """

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not settings.API_DOCS_PUBLIC:
            return handler404(request)
        return view(request, *args, **kwargs)

    return wrapped
