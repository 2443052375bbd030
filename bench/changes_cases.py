"""
The cases of ``bench/changes.py``: each change of the second performance
round as (name, what it replaced, what it is, per what), both callables
doing the same work on the same data. Imported once Django is set up.
"""

from __future__ import annotations

import types
from datetime import timedelta
import uuid

import jwt as pyjwt
from django.core.handlers.wsgi import WSGIHandler
from django.db import connections
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path, resolve
from django.urls.conf import include
from django.utils import timezone
from django_prometheus.utils import Time, TimeSince
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework_simplejwt.utils import datetime_to_epoch

from accounts import urls as accounts_urls
from accounts.serializers import UserSerializer
from authsvc.api import represent, validated
from authsvc.negotiation import JSONNegotiation
from authsvc.requestmetrics import RequestMetricsMiddleware
from tokens import jws, services, store
from tokens import urls as tokens_urls
from tokens.jwt import (
    MAX_TOKEN_LENGTH, AccessJWT, RefreshJWT, _epoch, decode, decode_access, decode_refresh, issue_pair,
)
from tokens.keys import keyring
from tokens.serializers import BodyTokensSerializer, RefreshRequestSerializer

# Django's own middleware where authsvc.browser's subclasses now stand.
_DJANGO_MIDDLEWARE = {
    "authsvc.browser.SessionMiddleware": "django.contrib.sessions.middleware.SessionMiddleware",
    "authsvc.browser.AuthenticationMiddleware": "django.contrib.auth.middleware.AuthenticationMiddleware",
    "authsvc.browser.MessageMiddleware": "django.contrib.messages.middleware.MessageMiddleware",
}


def cases(password: str, wsgi_call):
    from django.conf import settings
    from django.contrib.auth import get_user_model

    application = WSGIHandler()
    login = wsgi_call(application, "POST", "/api/auth/login/",
                      {"email": "bench-0@example.com", "password": password, "transport": "body"})
    access, chain = login["access"], [login["refresh"]]
    bearer = {"Authorization": f"Bearer {access}"}
    user = get_user_model().objects.get(email="bench-0@example.com")
    key = keyring.verifying(pyjwt.get_unverified_header(access)["kid"])

    def refresh():
        chain[0] = wsgi_call(application, "POST", "/api/auth/refresh/", {"refresh": chain[0]})["refresh"]

    statements = store._statements("default")

    def exchange_in(one_statement: bool):
        def run():
            statements.one_statement = one_statement
            refresh()
        return run

    yield ("refresh as one statement (PostgreSQL: no BEGIN/COMMIT, no health check)", exchange_in(False),
           exchange_in(True), "refresh")
    statements.one_statement = True

    stock_jws = pyjwt.PyJWS()
    yield ("PyJWT's segment check as one regex (tokens/jws.py)",
           lambda: stock_jws.decode_complete(access, key.verifying_key, algorithms=["ES256"]),
           lambda: jws.jws.decode_complete(access, key.verifying_key, algorithms=["ES256"]), "token verified")
    yield ("verified access token kept (tokens/verified.py): a hit",
           lambda: decode(AccessJWT, access), lambda: decode_access(access), "GET /me")
    yield ("GET /me's serializer bound once (authsvc.api.represent)",
           lambda: UserSerializer(user).data, lambda: represent(UserSerializer, user), "GET /me")

    now = timezone.now()
    issued = issue_pair(user_id=user.pk, session_id=uuid.uuid4(), refresh_jti=uuid.uuid4(), refresh_issued_at=now,
                        refresh_expires_at=now + timedelta(days=7), now=now)
    yield ("the token answer's serializer bound once (represent)",
           lambda: BodyTokensSerializer(issued).data, lambda: represent(BodyTokensSerializer, issued), "refresh")

    body = {"refresh": chain[0]}

    def is_valid():
        serializer = RefreshRequestSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    yield ("the refresh body validated by one bound instance (authsvc.api.validated)", is_valid,
           lambda: validated(RefreshRequestSerializer, body), "refresh")

    request = Request(APIRequestFactory().get("/api/auth/me/", HTTP_ACCEPT="*/*"))
    renderers = [JSONRenderer()]
    yield ("content negotiation answered at once for */* (authsvc.negotiation)",
           lambda: DefaultContentNegotiation().select_renderer(request, renderers),
           lambda: JSONNegotiation().select_renderer(request, renderers), "request")

    active = keyring.active()
    payload = b'{"token_type":"access","user_id":1,"sid":"x","jti":"y","iat":1,"exp":2,"iss":"a","aud":"b"}'
    yield ("the header serialized once per key when signing (tokens/jws.encode)",
           lambda: jws.jws.encode(payload, active.signing_key, algorithm=active.algorithm,
                                  headers={"kid": active.kid}),
           lambda: jws.encode(payload, active.signing_key, algorithm=active.algorithm, kid=active.kid),
           "token signed")

    old_accounts = [p for p in accounts_urls.urlpatterns if p.name != "me"]
    old_accounts.insert(7, next(p for p in accounts_urls.urlpatterns if p.name == "me"))
    old_conf = types.ModuleType("old_urlconf")
    old_conf.urlpatterns = [path("api/auth/", include(old_accounts)),
                            path("api/auth/", include(tokens_urls))]
    for url in ("/api/auth/me/", "/api/auth/refresh/"):
        yield (f"URL order: {url} resolved", lambda url=url: resolve(url, urlconf=old_conf),
               lambda url=url: resolve(url), "request")

    # Round 3 (session 10). Before: the hot statements' results in text, timestamps through Django's loader.
    text_results = _text_results_class()

    def text_results_cursor(connection):
        from django.db.backends.postgresql.base import TIMESTAMPTZ_OID, Format, register_tzloader

        raw = connection.connection
        cursor = text_results(raw)
        if connection.timezone != raw.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT).timezone:
            register_tzloader(connection.timezone, cursor)
        return cursor

    def with_cursor(make_cursor, call):
        def run():
            store._preparing_cursor, saved = make_cursor, store._preparing_cursor
            try:
                call()
            finally:
                store._preparing_cursor = saved
        return run

    me = lambda: wsgi_call(application, "GET", "/api/auth/me/", headers=bearer)  # noqa: E731
    for name, call in (("GET /me", me), ("refresh", refresh)):
        yield (f"the hot statements' results in binary (tokens/store.py): {name}",
               with_cursor(text_results_cursor, call), with_cursor(store._preparing_cursor, call), name)

    class DrfTimes(UserSerializer):
        date_joined = serializers.DateTimeField(read_only=True)

    yield ("times rendered in UTC, no current-zone lookup (authsvc.api.UtcDateTimeField)",
           lambda: represent(DrfTimes, user), lambda: represent(UserSerializer, user), "GET /me")

    # Round 4 (session 11). Before: every presented refresh token's ES256 signature verified.
    yield ("a refresh token proven by its MAC, not its signature (tokens.jwt.decode_refresh)",
           lambda: decode(RefreshJWT, issued.refresh), lambda: decode_refresh(issued.refresh), "token read")

    def signature_verified(call):
        def run():
            services.decode_refresh, saved = (lambda raw: decode(RefreshJWT, raw)), services.decode_refresh
            try:
                call()
            finally:
                services.decode_refresh = saved
        return run

    yield ("a refresh token proven by its MAC: the whole refresh", signature_verified(refresh), refresh, "refresh")

    # Round 5 (session 12). Before: DRF's surrogate check, simplejwt's epoch, a labels() lookup per series.
    class DrfTokenField(serializers.Serializer):
        refresh = serializers.CharField(required=False, max_length=MAX_TOKEN_LENGTH, trim_whitespace=True)

    yield ("the refresh body's token: no per-character surrogate check for ASCII (tokens.serializers)",
           lambda: validated(DrfTokenField, body), lambda: validated(RefreshRequestSerializer, body), "refresh")
    yield ("a claim's time without a time tuple (tokens.jwt._epoch; four a refresh)",
           lambda: datetime_to_epoch(now), lambda: _epoch(now), "claim time")

    metrics_request = APIRequestFactory().get("/api/auth/me/")
    metrics_request.resolver_match = resolve("/api/auth/me/")
    answer = HttpResponse()

    def counted_by(middleware):
        def run():
            middleware.process_request(metrics_request)
            middleware.process_response(metrics_request, answer)
        return run

    yield ("the request metrics' series kept, not looked up by labels (authsvc.requestmetrics)",
           counted_by(_LabelsEachTime(lambda request: None)), counted_by(RequestMetricsMiddleware(lambda request: None)),
           "request")

    connection = connections["default"]
    every_loader = [statements._converters(field) for field in statements.user_fields]
    row = tuple(getattr(user, name) for name in statements.user_attnames)

    def load_every_column():
        return [statements._load(loader, value, connection) for loader, value in zip(every_loader, row)]

    yield ("GET /me's user row: only the columns with converters go through them (tokens/store.py)",
           load_every_column, lambda: statements.user_values(row, connection), "GET /me")

    with override_settings(MIDDLEWARE=[_DJANGO_MIDDLEWARE.get(m, m) for m in settings.MIDDLEWARE]):
        django_stack = WSGIHandler()
    yield ("Django's session, auth and messages middleware skipped under /api/ (authsvc.browser)",
           lambda: wsgi_call(django_stack, "GET", "/api/auth/me/", headers=bearer),
           lambda: wsgi_call(application, "GET", "/api/auth/me/", headers=bearer), "GET /me")


class _LabelsEachTime(RequestMetricsMiddleware):
    """authsvc.requestmetrics as it was: each series looked up by its labels, every request."""

    def process_request(self, request):
        self.metrics.requests_by_method.labels(method=self._method(request)).inc()
        request.prometheus_after_middleware_event = Time()

    def process_response(self, request, response):
        method, view = self._method(request), self._get_view_name(request)
        self.metrics.responses_by_status_view_method.labels(
            status=str(response.status_code), view=view, method=method,
        ).inc()
        started = getattr(request, "prometheus_after_middleware_event", None)
        if started is not None:
            self.metrics.requests_latency_by_view_method.labels(view=view, method=method).observe(TimeSince(started))
        return response


def _text_results_class():
    """tokens/store.py's prepared-statement cursor as it was: results in text."""
    from django.db.backends.postgresql.base import ServerBindingCursor

    class TextResults(ServerBindingCursor):
        def execute(self, query, params=None, **kwargs):
            return super().execute(query, params, prepare=True, **kwargs)

    return TextResults
