"""
The single exception handler: every error leaves the API as
``{"detail": "...", "code": "..."}``, validation errors add ``"errors"``.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from authsvc.errors import FieldErrors, ServiceError

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


def exception_handler(exc, context):
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
        return _too_large(request, exception)
    return _bad_request(request, exception)


handler403 = json_error_view(status.HTTP_403_FORBIDDEN, "Forbidden.", "permission_denied")
handler404 = json_error_view(status.HTTP_404_NOT_FOUND, "Not found.", "not_found")
handler500 = json_error_view(
    status.HTTP_500_INTERNAL_SERVER_ERROR, "Internal server error.", "server_error"
)
