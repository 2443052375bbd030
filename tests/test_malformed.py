"""
Malformed requests against every POST endpoint (DESIGN.md, "HTTP API").

Nothing a client can send produces a 500; every error is
``{"detail", "code"}`` with a stable code (a validation 400 adds ``"errors"``);
a body must be JSON, anything else is 415. The client below turns a server
error into a 500 response instead of re-raising it, so a crash fails the
assertion on the status like any other wrong answer.
"""

import json
from dataclasses import dataclass, field

import pytest
from rest_framework.test import APIClient

from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db

JSON = "application/json"
EMAIL = "mallory@example.com"

ENDPOINTS = {
    "register": "/api/auth/register/",
    "login": "/api/auth/login/",
    "refresh": "/api/auth/refresh/",
    "logout": "/api/auth/logout/",
    "logout/all": "/api/auth/logout/all/",
    "login/2fa": "/api/auth/login/2fa/",
    "login/2fa/resend": "/api/auth/login/2fa/resend/",
    "password/change": "/api/auth/password/change/",
    "password/reset": "/api/auth/password/reset/",
    "password/reset/confirm": "/api/auth/password/reset/confirm/",
    "2fa/enable": "/api/auth/2fa/enable/",
    "2fa/disable": "/api/auth/2fa/disable/",
}
# Endpoints that need a valid access token (sent as a Bearer header).
AUTHENTICATED = {"logout/all", "password/change", "2fa/enable", "2fa/disable"}

# (status, code); code None means a success answer, checked by check_response().
MALFORMED = (400, "malformed_request")
UNSUPPORTED = (415, "unsupported_media_type")
# Django refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE (RequestDataTooBig);
# the project's handler400 renders it as 413.
TOO_LARGE = (413, "request_too_large")
INVALID = (400, "invalid")
NOT_AUTHENTICATED = (401, "not_authenticated")
TOKEN_INVALID = (401, "token_invalid")
INVALID_CREDENTIALS = (401, "invalid_credentials")
LOGGED_OUT = (204, None)  # logout is idempotent: nothing to end is still 204
REVOKED = (200, None)  # logout/all takes no fields: an empty body is fine

OVER_UPLOAD_LIMIT = 70_000  # > DATA_UPLOAD_MAX_MEMORY_SIZE (64 KiB)
UNDER_UPLOAD_LIMIT = 50_000  # fits in the body, but over every field's max_length


def as_json(document) -> bytes:
    return json.dumps(document).encode()


@dataclass(frozen=True)
class Body:
    raw: bytes
    expect: tuple
    content_type: str = JSON
    # Endpoints whose correct answer differs because the body is well-formed.
    overrides: dict = field(default_factory=dict)

    def expected(self, endpoint: str) -> tuple:
        return self.overrides.get(endpoint, self.expect)


# What endpoints whose every field is optional answer to a body without fields.
NO_FIELDS = {
    "refresh": NOT_AUTHENTICATED,
    "logout": LOGGED_OUT,
    "logout/all": REVOKED,
    "login/2fa/resend": (401, "challenge_missing"),
}

# Bodies sent unchanged to every POST endpoint.
BODIES = {
    # Not JSON at all, whatever the content type says.
    "truncated JSON": Body(b'{"email": "mallory@example.com", "passw', MALFORMED),
    "trailing garbage": Body(b'{"email": "mallory@example.com"} trailing', MALFORMED),
    "two documents": Body(b"{}{}", MALFORMED),
    "NaN (not JSON)": Body(b'{"email": NaN}', MALFORMED),
    "raw control character in a string": Body(b'{"email": "a\x00b@example.com"}', MALFORMED),
    "non-UTF-8 bytes": Body(b'{"email": "\xff\xfe@example.com", "password": "x"}', MALFORMED),
    # 10,000 levels fit under the upload limit and overflow the decoder's recursion.
    "nested 10,000 deep": Body(b"[" * 10_000 + b"]" * 10_000, MALFORMED),
    # Over the upload limit: refused before parsing.
    "nested 100,000 deep": Body(b"[" * 100_000 + b"]" * 100_000, TOO_LARGE),
    "body over 64 KiB": Body(
        as_json({"email": EMAIL, "password": PASSWORD, "padding": "x" * OVER_UPLOAD_LIMIT}), TOO_LARGE
    ),
    # Not JSON by content type: a cross-site HTML form must not reach a view.
    "form-encoded": Body(
        b"email=mallory%40example.com&password=x", UNSUPPORTED, "application/x-www-form-urlencoded"
    ),
    "text/plain": Body(as_json({"email": EMAIL, "password": PASSWORD}), UNSUPPORTED, "text/plain"),
    "multipart": Body(
        b'--xyz\r\nContent-Disposition: form-data; name="email"\r\n\r\nmallory@example.com\r\n--xyz--\r\n',
        UNSUPPORTED,
        "multipart/form-data; boundary=xyz",
    ),
    # No body is no fields; JSON that is not an object is refused even where no field is read.
    "empty body": Body(b"", INVALID, overrides=NO_FIELDS),
    "empty object": Body(b"{}", INVALID, overrides=NO_FIELDS),
    "JSON list": Body(b'[{"email": "mallory@example.com"}]', INVALID),
    "JSON string": Body(b'"mallory@example.com"', INVALID),
    "JSON number": Body(b"42", INVALID),
    "JSON null": Body(b"null", INVALID),
    "JSON true": Body(b"true", INVALID),
}


def credentials(**fields) -> bytes:
    return as_json({"email": EMAIL, "password": PASSWORD, **fields})


def on_both(name, body, expect, field_name, *, login=None):
    """The same case for register and login (login may answer differently)."""
    return [
        pytest.param("register", body, expect, field_name, id=f"register-{name}"),
        pytest.param("login", body, login or expect, field_name, id=f"login-{name}"),
    ]


def on_token_endpoints(name, body, expect, field_name, *, logout=None):
    """The same case for refresh and logout (logout may answer differently)."""
    return [
        pytest.param("refresh", body, expect, field_name, id=f"refresh-{name}"),
        pytest.param("logout", body, logout or expect, field_name, id=f"logout-{name}"),
    ]


LONG = "a" * UNDER_UPLOAD_LIMIT
HUGE = "a" * 100_000

# (endpoint, body, expected, field that must carry the error for an "invalid" 400)
FIELD_CASES = [
    *on_both("email number", credentials(email=42), INVALID, "email"),
    *on_both("email list", credentials(email=[EMAIL]), INVALID, "email"),
    *on_both("email object", credentials(email={"address": EMAIL}), INVALID, "email"),
    *on_both("email null", credentials(email=None), INVALID, "email"),
    *on_both("email NUL", credentials(email="mal\u0000lory@example.com"), INVALID, "email"),
    *on_both(
        "email lone surrogate",
        b'{"email": "\\ud800@example.com", "password": "correct horse battery staple 42"}',
        INVALID,
        "email",
    ),
    *on_both("email 50k chars", credentials(email=LONG + "@example.com"), INVALID, "email"),
    # 100k characters never reach a field: the body is over the upload limit.
    *on_both("email 100k chars", credentials(email=HUGE + "@example.com"), TOO_LARGE, None),
    # DRF's CharField reads a number as its digits: register's validators refuse
    # an all-numeric password, login simply finds no such account.
    *on_both("password number", credentials(password=12345678901234), INVALID, "password",
             login=INVALID_CREDENTIALS),
    *on_both("password null", credentials(password=None), INVALID, "password"),
    *on_both("password object", credentials(password={"value": PASSWORD}), INVALID, "password"),
    *on_both("password list", credentials(password=[PASSWORD]), INVALID, "password"),
    *on_both("password NUL", credentials(password=PASSWORD + "\u0000"), INVALID, "password"),
    *on_both(
        "password lone surrogate",
        b'{"email": "mallory@example.com", "password": "correct horse \\ud800 battery"}',
        INVALID,
        "password",
    ),
    # Over PASSWORD_MAX_LENGTH: refused before anything hashes it.
    *on_both("password 50k chars", credentials(password=LONG), INVALID, "password"),
    *on_both("password 100k chars", credentials(password=HUGE), TOO_LARGE, None),
    pytest.param("login", credentials(transport=1), INVALID, "transport", id="login-transport number"),
    pytest.param("login", credentials(transport="pigeon"), INVALID, "transport", id="login-transport unknown"),
    pytest.param("login", credentials(transport=None), INVALID, "transport", id="login-transport null"),
    pytest.param("login", credentials(transport=["body"]), INVALID, "transport", id="login-transport list"),
    # A number is read as the string "42": not a token (logout ends nothing, still 204).
    *on_token_endpoints("refresh number", as_json({"refresh": 42}), TOKEN_INVALID, None, logout=LOGGED_OUT),
    *on_token_endpoints("refresh list", as_json({"refresh": ["a.b.c"]}), INVALID, "refresh"),
    *on_token_endpoints("refresh object", as_json({"refresh": {"token": "a.b.c"}}), INVALID, "refresh"),
    *on_token_endpoints("refresh null", as_json({"refresh": None}), INVALID, "refresh"),
    *on_token_endpoints("refresh empty", as_json({"refresh": ""}), INVALID, "refresh"),
    *on_token_endpoints("refresh NUL", as_json({"refresh": "a.b\u0000.c"}), INVALID, "refresh"),
    *on_token_endpoints("refresh lone surrogate", b'{"refresh": "a.\\ud800.c"}', INVALID, "refresh"),
    # Over MAX_TOKEN_LENGTH: refused before any signature check.
    *on_token_endpoints("refresh 50k chars", as_json({"refresh": LONG}), INVALID, "refresh"),
    *on_token_endpoints("refresh 100k chars", as_json({"refresh": HUGE}), TOO_LARGE, None),
]


@pytest.fixture
def client():
    # CSRF checks on, as in a browser; a server error comes back as a 500
    # response (rendered by handler500) instead of being raised into the test.
    return APIClient(enforce_csrf_checks=True, raise_request_exception=False)


@pytest.fixture
def post(client, request):
    """POST raw bytes to an endpoint; authenticated ones with a valid Bearer access token of a body login."""

    def do_post(endpoint: str, raw: bytes, content_type: str = JSON):
        headers = bearer(request.getfixturevalue("tokens")["access"]) if endpoint in AUTHENTICATED else {}
        return client.generic("POST", ENDPOINTS[endpoint], data=raw, content_type=content_type, **headers)

    return do_post


def check_error(response, status: int, code: str) -> dict:
    """An error answer: the status, JSON, and exactly the stable keys."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    if code == "invalid":
        assert set(body) == {"detail", "code", "errors"}
        assert body["errors"] and isinstance(body["errors"], dict)
        for messages in body["errors"].values():
            assert messages and all(isinstance(message, str) for message in messages)
    else:
        assert set(body) == {"detail", "code"}
    return body


def check_response(response, expected: tuple) -> None:
    status, code = expected
    if code is not None:
        check_error(response, status, code)
    elif status == 204:
        assert response.status_code == 204, response.content[:500]
        assert response.content == b""
    else:
        assert response.status_code == status, response.content[:500]
        assert response.json() == {"revoked": 1}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_malformed_body_gets_a_stable_error(post, endpoint, body):
    """Every POST endpoint refuses a malformed, non-JSON, oversized or non-object body with a stable 4xx, never a 500."""
    response = post(endpoint, body.raw, body.content_type)

    check_response(response, body.expected(endpoint))


@pytest.mark.parametrize("endpoint, raw, expected, field_name", FIELD_CASES)
def test_wrong_field_type_or_content_is_refused(post, django_user_model, endpoint, raw, expected, field_name):
    """A field of the wrong type, with NUL or lone-surrogate characters, or too long is refused with a 4xx naming it."""
    response = post(endpoint, raw)

    check_response(response, expected)
    if expected == INVALID:
        assert field_name in response.json()["errors"]
    # A refused registration leaves no half-made account behind.
    if endpoint == "register":
        assert not django_user_model.objects.filter(email__iexact=EMAIL).exists()


# Authorization headers that are not "Bearer <one ASCII token>".
MALFORMED_BEARER = [
    pytest.param("Bearer", id="scheme only"),
    pytest.param("Bearer a b", id="two tokens"),
    # WSGI hands header bytes over as latin-1: this is the raw bytes b"\xff\xff".
    pytest.param("Bearer \xff\xff", id="non-ASCII bytes"),
]


@pytest.mark.parametrize(
    "authorization, code",
    [
        *[pytest.param(*case.values, "token_invalid", id=case.id) for case in MALFORMED_BEARER],
        pytest.param("Bearer " + "a" * 10_000, "token_invalid", id="10k-char token"),
        pytest.param("Bearer a.b.c", "token_invalid", id="not a JWT"),
        pytest.param("Basic xxx", "not_authenticated", id="another scheme"),
    ],
)
def test_bad_authorization_header_is_401(client, authorization, code):
    """A malformed or foreign Authorization header on an authenticated endpoint is a 401 with a code, never a 500."""
    response = client.get("/api/auth/me/", HTTP_AUTHORIZATION=authorization)

    check_error(response, 401, code)
    # RFC 9110 §11.6.1: a 401 names the scheme the client should use.
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("authorization", MALFORMED_BEARER)
@pytest.mark.parametrize("endpoint", ["refresh", "logout", "logout/all"])
def test_malformed_bearer_header_on_post_is_401(client, endpoint, authorization):
    """A POST endpoint that reads a Bearer token answers a malformed header with 401 token_invalid, not 403."""
    response = client.post(ENDPOINTS[endpoint], {}, format="json", HTTP_AUTHORIZATION=authorization)

    check_error(response, 401, "token_invalid")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_refresh_token_is_not_an_access_token(client, tokens):
    """A refresh token in the Authorization header of an authenticated endpoint is refused like any bad token."""
    response = client.get("/api/auth/me/", **bearer(tokens["refresh"]))

    check_error(response, 401, "token_invalid")
