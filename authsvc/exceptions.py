"""
The single exception handler: every error leaves the API as
``{"detail": "...", "code": "..."}``, validation errors add ``"errors"``.

A dependency that cannot be reached (PostgreSQL, Redis, the Celery broker)
is not a bug: :func:`unreachable_dependency` says which exceptions mean that,
and both doors turn them into the one 503 ``service_unavailable`` with
``Retry-After`` (DESIGN.md, "Production shape, hosts and faults") — DRF views
through :func:`exception_handler`, everything else (the admin, a middleware)
through :func:`handler500`. Each such 503 is one WARNING line, without a
traceback; anything else unexpected stays a 500 with its traceback.
"""

import logging
import re
import sqlite3
import sys

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404, JsonResponse
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from authsvc.errors import FieldErrors, ServiceError, Unavailable

logger = logging.getLogger(__name__)

# DRF's codes are kept where they are already clear; a few get our names.
_RENAMED_CODES = {
    "throttled": "rate_limited",
    "parse_error": "malformed_request",
    "authentication_failed": "not_authenticated",
}


def error_body(detail: str, code: str, errors: dict | None = None) -> dict:
    body = {"detail": str(detail), "code": code}
    if errors is not None:
        body["errors"] = errors
    return body


# --- unreachable dependencies ------------------------------------------------------------

# SQLSTATEs of a server that cannot serve now, as opposed to a statement that
# is wrong (PostgreSQL, Appendix A): class 08 connection exception, class 53
# insufficient resources (too many connections, out of memory or disk), and
# 57P01-57P03, shut down by an operator or a crash, or still starting up.
_UNREACHABLE_SQLSTATE_CLASSES = ("08", "53")
_UNREACHABLE_SQLSTATES = ("57P01", "57P02", "57P03")
# SQLite's: the file stayed locked by another writer past OPTIONS["timeout"].
_BUSY_SQLITE_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def unreachable_dependency(exc: BaseException | None) -> str | None:
    """
    ``"database"``, ``"redis"`` or ``"broker"`` when ``exc`` says that
    dependency cannot be reached right now; None for anything else.

    Only failures to reach or keep a connection count. A statement the
    database refuses (``IntegrityError``, ``ProgrammingError``, SQLite's "no
    such table"), psycopg's ``InterfaceError`` (misuse of a closed cursor:
    psycopg 3 reports a lost connection as ``OperationalError``), a Redis
    ``ResponseError`` or a message kombu cannot encode is a bug, and stays a
    500 with its traceback.
    """
    if isinstance(exc, DatabaseOperationalError) and _database_unreachable(exc.__cause__):
        return "database"
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        return "redis"
    if isinstance(exc, BrokerOperationalError):
        return "broker"
    return None


def _database_unreachable(error: BaseException | None) -> bool:
    """``error`` is the driver's exception that Django wrapped in its ``OperationalError``."""
    if isinstance(error, sqlite3.Error):
        return getattr(error, "sqlite_errorcode", None) in _BUSY_SQLITE_CODES
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate is None:
        # libpq's own failures carry no SQLSTATE: connection refused, reset,
        # timed out, or closed by the server in the middle of a statement.
        return True
    return sqlstate[:2] in _UNREACHABLE_SQLSTATE_CLASSES or sqlstate in _UNREACHABLE_SQLSTATES


def as_unavailable(exc: BaseException | None) -> Unavailable | None:
    """The 503 to answer for ``exc``, or None when ``exc`` is not an outage."""
    if isinstance(exc, Unavailable):
        return exc
    if unreachable_dependency(exc) is None:
        return None
    unavailable = Unavailable()
    unavailable.__cause__ = exc
    return unavailable


# Credentials in a URL that an error message might quote (redis://user:secret@host).
_URL_CREDENTIALS = re.compile(r"//[^/\s@]+@")


def describe_error(error: BaseException | None) -> str:
    """The class and first line of an error, capped, without credentials: enough for the operator."""
    if error is None:
        return "no cause"
    message = (str(error).strip().splitlines() or [""])[0][:200]
    return f"{type(error).__module__}.{type(error).__qualname__}: {_URL_CREDENTIALS.sub('//***@', message)}"


def _log_unavailable(request, unavailable: Unavailable, response) -> None:
    """
    One WARNING line per 503 (an outage is not a bug, and repeats for every
    request while it lasts), and none from Django: its request logging would
    add an ERROR line, with a traceback for an exception that reached it.
    ``log_response`` skips a response that says it has been logged.
    """
    logger.warning("%s %s: 503 %s, %s", request.method, request.path, unavailable.code,
                   describe_error(unavailable.__cause__), extra={"status_code": 503})
    response._has_been_logged = True


# --- DRF views ----------------------------------------------------------------------------


def exception_handler(exc, context):
    unavailable = as_unavailable(exc)
    if unavailable is not None:
        response = Response(error_body(unavailable.detail, unavailable.code), status=unavailable.status,
                            headers=unavailable.headers)
        _log_unavailable(context["request"], unavailable, response)
        return response

    if isinstance(exc, ServiceError):
        errors = exc.errors if isinstance(exc, FieldErrors) else None
        return Response(error_body(exc.detail, exc.code, errors), status=exc.status, headers=exc.headers)

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None

    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("Invalid input.", "invalid", _as_field_errors(exc.detail))
        return response

    code = exc.get_codes()
    code = code if isinstance(code, str) else "error"
    response.data = error_body(exc.detail, _RENAMED_CODES.get(code, code))
    return response


def _as_field_errors(detail) -> dict:
    """Validation details as ``{field: [messages]}``, whatever shape DRF produced."""
    if isinstance(detail, dict):
        return {key: _messages(value) for key, value in detail.items()}
    return {"non_field_errors": _messages(detail)}


def _messages(value) -> list:
    if isinstance(value, list):
        return [item if isinstance(item, dict) else str(item) for item in value]
    if isinstance(value, dict):
        return [_as_field_errors(value)]
    return [str(value)]


def json_error_view(status_code: int, detail: str, code: str):
    def view(request, exception=None):
        return JsonResponse(error_body(detail, code), status=status_code)

    return view


_bad_request = json_error_view(status.HTTP_400_BAD_REQUEST, "Bad request.", "bad_request")
_too_large = json_error_view(
    status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "The request body is too large.", "request_too_large"
)


def handler400(request, exception=None):
    if isinstance(exception, RequestDataTooBig):
        # The client's mistake, and anyone can repeat it in a loop: one
        # WARNING line, and none from Django, whose django.security logger
        # would add an ERROR with a full traceback per request
        # (``log_response`` skips a response that says it has been logged).
        response = _too_large(request, exception)
        # The path escaped as Django's own request logging does: no forged lines.
        path = request.path.encode("unicode_escape").decode("ascii")
        logger.warning("%s %s: 413 request_too_large", request.method, path, extra={"status_code": 413})
        response._has_been_logged = True
        return response
    return _bad_request(request, exception)


handler403 = json_error_view(status.HTTP_403_FORBIDDEN, "Forbidden.", "permission_denied")
handler404 = json_error_view(status.HTTP_404_NOT_FOUND, "Not found.", "not_found")
_server_error = json_error_view(status.HTTP_500_INTERNAL_SERVER_ERROR, "Internal server error.", "server_error")


def handler500(request):
    """
    An exception escaped a view outside DRF (the admin) or a middleware.
    Under WSGI (gunicorn, what the image runs) Django calls this inside its
    ``except`` block, so ``sys.exc_info()`` names the exception: an outage is
    the 503, anything else a 500.
    """
    unavailable = as_unavailable(sys.exc_info()[1])
    if unavailable is None:
        return _server_error(request)
    response = JsonResponse(error_body(unavailable.detail, unavailable.code), status=unavailable.status,
                            headers=unavailable.headers)
    _log_unavailable(request, unavailable, response)
    return response
