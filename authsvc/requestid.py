"""
The request id (DESIGN.md, "Observability"): one id per request, echoed in
the ``X-Request-ID`` response header and added to every log line written
while the request is handled, so an operator can go from a client's report
("request 4f1c… failed") to the service's log lines, and a proxy or a calling
service can thread its own id through.

A client's id is kept only when it is sane — 1 to 128 letters, digits, ``-``,
``_``, ``.`` or ``:`` — because it is written verbatim into logs and headers:
anything else (a newline, a quote, a megabyte) could forge log lines or bloat
them, so it is replaced by a fresh one.
"""

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponseBase
from django.utils.log import log_response

HEADER = "X-Request-ID"

_SANE = re.compile(r"[A-Za-z0-9_.:-]{1,128}")

# A context variable, not a thread-local: it also holds across the
# sync/async hops Django makes under ASGI.
_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id_for(client_value: str | None) -> str:
    """The client's id if it is sane, else a new one."""
    if client_value is not None and _SANE.fullmatch(client_value):
        return client_value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """
    Sets the request id for the whole request and puts it on the response.

    It sits near the top of ``MIDDLEWARE``, so it wraps every response Django
    makes below it: views, the JSON error handlers (404, 413, 500…), 429s,
    and the redirects of ``SecurityMiddleware`` and ``CommonMiddleware``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = request_id_for(request.headers.get(HEADER))
        token = _current.set(request_id)
        try:
            response = self.get_response(request)
            if response.status_code >= 400:
                # Django logs an error answer (``django.request``) once the
                # whole middleware chain has returned, out of this id's reach.
                # Logged here the same way, its line has the id, and Django's
                # own call skips the response as already logged.
                log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        finally:
            _current.reset(token)
        response[HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to log records written while a request is handled (attached to the handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = _current.get()
        if request_id is not None:
            record.request_id = request_id
        return True
