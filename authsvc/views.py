import functools
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from authsvc.errors import Unavailable
from authsvc.exceptions import describe_error, handler404, unreachable_dependency

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
