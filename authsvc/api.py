"""
What every API view of both apps shares: the base view of the endpoints that
read their own credentials, the error body and the answers documented with
it, and the header that keeps an answer out of every cache. Errors are
rendered by the one exception handler (``authsvc.exceptions``).
"""

from datetime import UTC

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


class PublicAPIView(APIView):
    """An endpoint that reads its own credentials, or none: a stale access cookie must not block it."""

    authentication_classes = ()
    permission_classes = (AllowAny,)


class UtcDateTimeField(serializers.DateTimeField):
    """
    A time as DESIGN.md writes every time the API answers with: ISO 8601 in
    UTC, ``2026-12-07T15:04:17.123456Z``. DRF's own field renders in the
    current time zone, looked up for each value (asgiref's ``Local``, on the
    path of every GET /me and refresh); this one's zone is fixed, so no view
    or middleware that activates another can change what a client reads.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(default_timezone=UTC, **kwargs)


class ErrorSerializer(serializers.Serializer):
    """The body of every refusal: a stable code, a detail for people, and for a 400 invalid the errors of each field."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(), required=False)


ERRORS_401 = {401: OpenApiResponse(ErrorSerializer, description="Not authenticated, or the token was refused.")}
# An unsafe request whose credentials came from a cookie needs Django's CSRF header.
ERRORS_403_CSRF = {403: OpenApiResponse(
    ErrorSerializer, description="csrf_failed: credentials from a cookie, without a matching X-CSRFToken header.",
)}
# Any endpoint that reads the database or the cache (authsvc/exceptions.py).
ERRORS_503 = {503: OpenApiResponse(
    ErrorSerializer,
    description="service_unavailable, with Retry-After: the database or the cache cannot be reached right now.",
)}


# A serializer copies and binds its declared fields on every instance
# (``copy.deepcopy``): about a tenth of a GET /me here (bench/RESULTS.md).
# Rendering and validating only read them, so for what runs on every request
# (GET /me, a refresh) one instance per class, made on first use, serves every
# call. Only for serializers whose fields need no context (no request, no URLs).


def represent(serializer_class: type[serializers.Serializer], instance) -> dict:
    """``serializer_class(instance).data``, by the class's one instance."""
    return _bound(serializer_class).to_representation(instance)


def validated(serializer_class: type[serializers.Serializer], data) -> dict:
    """
    ``serializer_class(data=data)``'s ``validated_data`` after
    ``is_valid(raise_exception=True)``: valid data by the class's one
    instance; invalid data by a fresh serializer, so that the refusal is
    DRF's own, error for error (rare, and no faster path is worth a second
    way of shaping errors).
    """
    try:
        return _bound(serializer_class).run_validation(data)
    except serializers.ValidationError:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


def _bound(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    serializer = _instances.get(serializer_class)
    if serializer is None:
        serializer = _instances.setdefault(serializer_class, serializer_class())
    return serializer


_instances: dict[type, serializers.Serializer] = {}


def no_store(response: Response) -> Response:
    """
    Keep ``response`` out of every cache: tokens (RFC 6749 §5.1) and account
    data, which no shared cache or back/forward store may keep (RFC 9111 §5.2.2.5).
    """
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response
