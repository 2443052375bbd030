"""
RFC 7662 introspection for named services (DESIGN.md, Part 2, "Keys other
services can verify"; issue 17, point 4): the claims of a token authsvc
would honour right now, ``{"active": false}`` for any other, and the same
session check as ``/me``.
"""

from datetime import timedelta

import jwt as pyjwt
import pytest
import time_machine
from django.utils import timezone

from tests.conftest import bearer
from tests.tokens.services_auth import AS_A, NOT_FOUND, SECRET_A, SECRET_B, basic, introspect, services  # noqa: F401
from tokens.models import Session

pytestmark = pytest.mark.django_db

INACTIVE = {"active": False}


def claims(token: str) -> dict:
    return pyjwt.decode(token, options={"verify_signature": False})


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_an_active_token_is_answered_with_its_claims(api, services, tokens, kind, as_json):
    """Form (RFC 7662 §2.1) or JSON; the whole answer, and never cached (no-store)."""
    response = introspect(api, tokens[kind], as_json=as_json)

    assert response.status_code == 200, response.content
    token = claims(tokens[kind])
    assert response.json() == {
        "active": True, "sub": str(token["user_id"]), "sid": tokens["session_id"], "exp": token["exp"],
        "iat": token["iat"], "iss": "authsvc", "aud": "authsvc", "token_type": kind,
    }
    assert response["Cache-Control"] == "no-store"


def test_every_configured_service_may_introspect(api, services, tokens):
    response = introspect(api, tokens["access"], headers=basic("resource-b", SECRET_B))

    assert response.status_code == 200
    assert response.json()["active"] is True


def end_by_logout(api, user, tokens):
    api.post("/api/auth/logout/", **bearer(tokens["access"]))


def end_by_deactivation(api, user, tokens):
    user.is_active = False
    user.save()


def end_by_password_set_in_a_shell(api, user, tokens):
    user.set_password("a brand new passphrase 77")
    user.save()


def end_by_time(api, user, tokens):
    pass  # the caller moves the clock past the access token's life


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("end", [None, end_by_logout, end_by_deactivation, end_by_password_set_in_a_shell,
                                 end_by_time], ids=lambda end: end.__name__ if end else "live")
def test_an_access_token_is_active_exactly_when_me_takes_it(api, services, user, login, end, settings):
    """The same session check as /me: the answer agrees with /me in every case."""
    tokens = login(user).json()
    if end is not None:
        end(api, user, tokens)
    later = timezone.now() + timedelta(seconds=settings.ACCESS_TOKEN_TTL + 60 if end is end_by_time else 0)

    with time_machine.travel(later, tick=False):
        me = api.get("/api/auth/me/", **bearer(tokens["access"]))
        answer = introspect(api, tokens["access"]).json()

    assert me.status_code == (200 if end is None else 401)
    assert answer["active"] is (me.status_code == 200)
    if end is not None:
        assert answer == INACTIVE


def test_a_refresh_token_is_inactive_once_used_or_its_session_revoked(api, services, tokens):
    rotated = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json").json()

    assert introspect(api, tokens["refresh"]).json() == INACTIVE
    assert introspect(api, rotated["refresh"]).json()["active"] is True
    Session.objects.filter(pk=tokens["session_id"]).update(revoked_at=timezone.now())
    assert introspect(api, rotated["refresh"]).json() == INACTIVE


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 5000])
def test_anything_else_is_inactive_and_says_nothing_more(api, services, token):
    response = introspect(api, token)

    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json() == INACTIVE


def test_a_missing_token_is_a_400(api, services):
    response = api.post("/api/auth/introspect/", {}, format="json", **AS_A)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert set(response.json()["errors"]) == {"token"}


@pytest.mark.parametrize("headers, code", [
    ({}, "not_authenticated"),
    (basic("resource-a", "wrong secret"), "invalid_client"),
    (basic("resource-a", SECRET_B), "invalid_client"),
    (basic("nobody", SECRET_A), "invalid_client"),
    ({"HTTP_AUTHORIZATION": "Basic not-base64!"}, "invalid_client"),
    ({"HTTP_AUTHORIZATION": f"Bearer {SECRET_A}"}, "not_authenticated"),
], ids=["none", "wrong secret", "another's secret", "unknown name", "not base64", "bearer"])
@pytest.mark.parametrize("path, method", [("/api/auth/introspect/", "post"), ("/api/auth/revocations/", "get")])
def test_without_service_credentials_it_is_401_naming_basic(api, services, tokens, headers, code, path, method):
    """RFC 7235 §3.1: a 401 names the scheme that would be accepted (Basic, RFC 7617)."""
    response = getattr(api, method)(path, {"token": tokens["access"]} if method == "post" else {},
                                    format="json" if method == "post" else None, **headers)

    assert response.status_code == 401
    assert response.json()["code"] == code
    assert response["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.parametrize("configured", ["", " , "])
@pytest.mark.parametrize("path, method", [("/api/auth/introspect/", "post"), ("/api/auth/revocations/", "get"),
                                          ("/api/auth/introspect/", "get")])
def test_with_no_service_configured_both_endpoints_are_unknown_paths(api, settings, tokens, configured, path,
                                                                     method):
    settings.INTROSPECTION_CLIENTS = configured

    response = getattr(api, method)(path, **AS_A)
    unknown = getattr(api, method)("/api/auth/no-such-path/", **AS_A)

    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert {**response.headers, "X-Request-ID": ""} == {**unknown.headers, "X-Request-ID": ""}
