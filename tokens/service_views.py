"""
The endpoints other services call, authenticated as a named service
(``INTROSPECTION_CLIENTS``, HTTP Basic, ``tokens.clients``): token
introspection (RFC 7662) and the revocation feed. While no service is
configured both are the JSON 404 of an unknown path (:func:`for_services`).
"""

import functools

from django.http import HttpRequest, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.parsers import FormParser
from rest_framework.response import Response

from authsvc.api import ERRORS_503, ErrorSerializer, PublicAPIView, no_store
from authsvc.exceptions import handler404
from authsvc.parsers import JSONParser
from authsvc.schema import RETRY_AFTER
from tokens import clients, introspection
from tokens.serializers import (
    IntrospectionRequestSerializer,
    IntrospectionSerializer,
    RevocationFeedQuerySerializer,
    RevocationFeedSerializer,
)

SERVICE_AUTH = [{"serviceBasicAuth": []}]
ERRORS_SERVICE = {
    401: OpenApiResponse(ErrorSerializer, description=(
        "not_authenticated: no HTTP Basic credentials; invalid_client: wrong ones. With WWW-Authenticate: Basic.")),
    404: OpenApiResponse(ErrorSerializer, description="not_found: no service is configured (INTROSPECTION_CLIENTS)."),
    429: OpenApiResponse(ErrorSerializer, description=(
        "rate_limited, with Retry-After: too many wrong service credentials from this network; "
        "the right ones too until the window passes.")),
    **ERRORS_503,
}
WWW_AUTHENTICATE = OpenApiParameter(
    "WWW-Authenticate", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[401], required=True,
    description="Basic: the scheme service credentials use.",
)


def for_services(view):
    """``view`` while a service is configured; the JSON 404 of an unknown path otherwise, whatever the request."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not clients.clients_configured():
            return handler404(request)
        return view(request, *args, **kwargs)

    return wrapped


class IntrospectView(PublicAPIView):
    # RFC 7662 §2.1 sends a form; JSON is taken too, like every other endpoint here.
    parser_classes = (FormParser, JSONParser)

    @extend_schema(
        summary="Token introspection for services (RFC 7662)",
        description=(
            "For a service in INTROSPECTION_CLIENTS (HTTP Basic). `token` as a form field "
            "(application/x-www-form-urlencoded, as RFC 7662 says) or in a JSON body. Active: the claims; "
            "an access token is active when /me would take it, a refresh token when its session is live and "
            "it is unused. Anything else, a garbled token included, is `{\"active\": false}`."
        ),
        request={"application/x-www-form-urlencoded": IntrospectionRequestSerializer,
                 "application/json": IntrospectionRequestSerializer},
        responses={200: IntrospectionSerializer, 400: ErrorSerializer, **ERRORS_SERVICE},
        parameters=[RETRY_AFTER, WWW_AUTHENTICATE],
        auth=SERVICE_AUTH,
    )
    def post(self, request):
        clients.authenticate_client(request, door=clients.INTROSPECTION)
        serializer = IntrospectionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answer = introspection.introspect(raw=serializer.validated_data["token"])
        return no_store(Response(IntrospectionSerializer(answer).data))


class RevocationFeedView(PublicAPIView):
    @extend_schema(
        summary="Sessions ended early, for services that verify tokens locally",
        description=(
            "For a service in INTROSPECTION_CLIENTS (HTTP Basic). Every session ended before its time "
            "(revoked, signed out, refresh token reused, password set, account deactivated) after `since`, "
            "while its access tokens may still be unexpired, oldest first; send `cursor` back as `since`. "
            "Without `since`: one access-token lifetime back. At most 1000 a page: a full page means ask "
            "again at once. The cursor never skips a revocation committed late. 400 invalid_cursor: a cursor "
            "this feed did not hand out."
        ),
        parameters=[RevocationFeedQuerySerializer, RETRY_AFTER, WWW_AUTHENTICATE],
        responses={200: RevocationFeedSerializer, 400: ErrorSerializer, **ERRORS_SERVICE},
        auth=SERVICE_AUTH,
    )
    def get(self, request):
        clients.authenticate_client(request, door=clients.REVOCATIONS)
        query = RevocationFeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = introspection.revocations_since(since=query.validated_data.get("since") or None)
        return no_store(Response(RevocationFeedSerializer(page).data))
