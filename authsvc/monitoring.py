"""
``/metrics`` for Prometheus. Above both apps in the import layers
(``.importlinter``), unlike the rest of ``authsvc``'s views: its bearer
token is a service credential, guarded like the others by ``tokens.clients``
(rate limited per network, audited, compared in constant time).
"""

import os

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from authsvc.errors import ServiceError
from authsvc.exceptions import error_body, handler404
from tokens.clients import holds_metrics_token


# Authenticated by a header, never by a cookie, and it changes nothing; a
# CSRF refusal (403) of a POST would also tell a stranger that the URL exists.
@csrf_exempt
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """
    Prometheus metrics, for whoever holds ``METRICS_TOKEN``. To anyone else,
    and to everyone while it is unset, this is the JSON 404 of an unknown
    path, whatever the method: the counters say how many logins fail and
    sessions are revoked, and the URL need not admit that it exists. Past
    ten wrong tokens a minute from one network, 429 with ``Retry-After``
    for every request from there, the right token too, until the window passes.
    """
    try:
        holder = holds_metrics_token(request)
    except ServiceError as refused:  # rate limited, or the cache is down (503)
        return JsonResponse(error_body(refused.detail, refused.code), status=refused.status, headers=refused.headers)
    if not holder:
        return handler404(request)
    if request.method not in ("GET", "HEAD"):
        return JsonResponse(error_body(f'Method "{request.method}" not allowed.', "method_not_allowed"),
                            status=405, headers={"Allow": "GET, HEAD"})
    # The format the scraper asks for: OpenMetrics for Prometheus, else the classic text format.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = HttpResponse(encode(_registry()), content_type=content_type)
    add_never_cache_headers(response)
    return response


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
