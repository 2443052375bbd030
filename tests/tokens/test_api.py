"""Transports, cookies, CSRF, CORS, logout and sessions through the HTTP API."""

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from tests.conftest import bearer
from tokens.models import Session
from tokens.services import revoke_all_sessions

pytestmark = pytest.mark.django_db


def csrf_token(client) -> str:
    return client.get("/api/auth/csrf/").json()["csrf_token"]


def cookie_login(client, user, login):
    response = login(user, transport="cookie", client=client)
    return response, {"HTTP_X_CSRFTOKEN": csrf_token(client)}


# --- transports and cookie attributes ---------------------------------------------


def test_body_transport_returns_both_tokens_and_sets_no_cookie(api, user, login):
    response = login(user, transport="body")
    body = response.json()
    assert set(body) == {"access", "refresh", "access_expires_at", "refresh_expires_at", "session_id"}
    assert body["access_expires_at"].endswith("Z")
    assert "access_token" not in response.cookies and "refresh_token" not in response.cookies
    assert response["Cache-Control"] == "no-store"


def test_times_are_utc_whatever_time_zone_is_active(api, user, login):
    """
    DESIGN.md: every time the API answers with is ISO 8601 in UTC. DRF's own
    field renders in the current time zone, so a view or middleware that
    activated another would have changed what clients parse.
    """
    with timezone.override("Europe/Paris"):
        tokens = login(user, transport="body").json()
        refreshed = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json").json()
        me = api.get("/api/auth/me/", **bearer(refreshed["access"])).json()
        sessions = api.get("/api/auth/sessions/", **bearer(refreshed["access"])).json()

    session = Session.objects.get()
    assert me["date_joined"] == user.date_joined.isoformat().replace("+00:00", "Z")
    for body in (tokens, refreshed):
        assert body["access_expires_at"].endswith("Z") and body["refresh_expires_at"].endswith("Z")
    assert sessions[0]["created_at"] == session.created_at.isoformat().replace("+00:00", "Z")
    assert sessions[0]["expires_at"] == session.expires_at.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("debug, secure", [(False, True), (True, False)])
def test_cookie_transport_sets_hardened_cookies_and_keeps_refresh_out_of_the_body(
    api, user, login, settings, debug, secure
):
    settings.DEBUG = debug
    # The clock stands still, so Max-Age is exactly the lifetime: a second
    # boundary between issuing and setting the cookie would round it down.
    with time_machine.travel(timezone.now(), tick=False):
        response = login(user, transport="cookie")

    body = response.json()
    assert set(body) == {"access", "access_expires_at", "session_id"}
    assert response["Cache-Control"] == "no-store"
    access, refresh = response.cookies["access_token"], response.cookies["refresh_token"]
    assert access.value == body["access"]
    assert refresh.value not in response.content.decode()
    for cookie in (access, refresh):
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"
        assert bool(cookie["secure"]) is secure
    assert access["path"] == "/"
    assert refresh["path"] == "/api/auth/"
    assert int(access["max-age"]) == settings.ACCESS_TOKEN_TTL
    assert int(refresh["max-age"]) == settings.REFRESH_TOKEN_TTL


def test_cookie_attributes_follow_settings(api, user, login, settings):
    settings.COOKIE_SAMESITE = "Strict"
    settings.COOKIE_DOMAIN = "example.com"
    settings.COOKIE_SECURE = True
    settings.DEBUG = True
    cookie = login(user, transport="cookie").cookies["refresh_token"]
    assert (cookie["samesite"], cookie["domain"], bool(cookie["secure"])) == ("Strict", "example.com", True)


def test_refresh_answers_in_the_transport_it_came_in(api, user, login):
    _, csrf = cookie_login(api, user, login)
    response = api.post("/api/auth/refresh/", **csrf)
    assert response.status_code == 200
    assert set(response.json()) == {"access", "access_expires_at", "session_id"}
    assert response.cookies["refresh_token"].value
    assert response.cookies["refresh_token"].value not in response.content.decode()


def test_refused_cookie_refresh_clears_the_dead_cookies(api, user, login):
    _, csrf = cookie_login(api, user, login)
    revoke_all_sessions(user_id=user.pk, reason=Session.RevokeReason.ADMIN, revoked_by="staff@example.com")

    refused = api.post("/api/auth/refresh/", **csrf)

    assert refused.status_code == 401
    assert refused.json()["code"] == "token_revoked"
    for name in ("access_token", "refresh_token"):
        assert refused.cookies[name].value == ""
        assert int(refused.cookies[name]["max-age"]) == 0


# --- CSRF -------------------------------------------------------------------------------


def test_cookie_authenticated_unsafe_request_needs_the_csrf_header(api, user, login):
    """A cross-site page can make the browser send our cookies, but cannot read csrftoken to send the header."""
    _, csrf = cookie_login(api, user, login)

    refused = api.post("/api/auth/refresh/")
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    assert api.post("/api/auth/logout/all/").json()["code"] == "csrf_failed"
    assert api.post("/api/auth/logout/").json()["code"] == "csrf_failed"
    wrong = api.post("/api/auth/refresh/", HTTP_X_CSRFTOKEN="x" * 32)
    assert wrong.status_code == 403

    assert api.post("/api/auth/refresh/", **csrf).status_code == 200
    assert api.post("/api/auth/logout/all/", **csrf).status_code == 200


def test_cookie_authenticated_safe_request_needs_no_csrf_header(api, user, login):
    cookie_login(api, user, login)
    assert api.get("/api/auth/me/").status_code == 200


def test_header_tokens_need_no_csrf(api, tokens):
    # APIClient enforces CSRF checks, and no csrftoken cookie exists at all here.
    refreshed = api.post("/api/auth/refresh/", **bearer(tokens["refresh"]))
    assert refreshed.status_code == 200
    assert api.post("/api/auth/logout/all/", **bearer(refreshed.json()["access"])).status_code == 200


# --- CORS -------------------------------------------------------------------------------


def test_cors_allows_configured_origin_with_credentials_and_refuses_others(api, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    preflight = {"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST", "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "content-type,x-csrftoken"}

    allowed = api.options("/api/auth/refresh/", HTTP_ORIGIN="https://app.example.com", **preflight)
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert allowed["Access-Control-Allow-Credentials"] == "true"
    assert "x-csrftoken" in allowed["Access-Control-Allow-Headers"]

    for origin in ("https://evil.example.net", "https://app.example.com.evil.net", "null"):
        refused = api.options("/api/auth/refresh/", HTTP_ORIGIN=origin, **preflight)
        assert "Access-Control-Allow-Origin" not in refused
        get = api.get("/api/auth/csrf/", HTTP_ORIGIN=origin)
        assert "Access-Control-Allow-Origin" not in get


# --- logout, logout/all, sessions ------------------------------------------------------


def assert_access_dead(api, access):
    response = api.get("/api/auth/me/", **bearer(access))
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_logout_revokes_the_session_and_is_idempotent(api, tokens, make_api):
    response = api.post("/api/auth/logout/", **bearer(tokens["access"]))
    assert response.status_code == 204
    assert_access_dead(api, tokens["access"])
    assert api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json").json()["code"] == "token_revoked"
    assert Session.objects.get(pk=tokens["session_id"]).revoke_reason == Session.RevokeReason.LOGOUT
    assert api.post("/api/auth/logout/", **bearer(tokens["access"])).status_code == 204
    assert make_api().post("/api/auth/logout/").status_code == 204


def test_logout_with_refresh_token_in_body(api, tokens):
    assert api.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json").status_code == 204
    assert_access_dead(api, tokens["access"])


def test_cookie_logout_clears_cookies_and_kills_the_session(api, user, login):
    response, csrf = cookie_login(api, user, login)
    access = response.json()["access"]

    logout = api.post("/api/auth/logout/", **csrf)

    assert logout.status_code == 204
    for name, path in (("access_token", "/"), ("refresh_token", "/api/auth/")):
        assert logout.cookies[name].value == ""
        assert int(logout.cookies[name]["max-age"]) == 0
        assert logout.cookies[name]["path"] == path
    assert_access_dead(api, access)


def test_logout_all_revokes_every_session_of_the_user_only(api, user, login, make_user):
    sessions = [login(user).json() for _ in range(3)]
    bystander = login(make_user()).json()

    response = api.post("/api/auth/logout/all/", **bearer(sessions[0]["access"]))

    assert response.status_code == 200
    assert response.json() == {"revoked": 3}
    for s in sessions:
        assert_access_dead(api, s["access"])
    assert api.get("/api/auth/me/", **bearer(bystander["access"])).status_code == 200


def test_sessions_lists_active_sessions_newest_first_with_current_marked(api, user, login, make_user):
    first = login(user, HTTP_USER_AGENT="Firefox", REMOTE_ADDR="203.0.113.7").json()
    second = login(user, HTTP_USER_AGENT="Safari").json()
    revoked = login(user).json()
    api.post("/api/auth/logout/", **bearer(revoked["access"]))
    login(make_user())

    response = api.get("/api/auth/sessions/", **bearer(first["access"]))

    assert response.status_code == 200
    listed = response.json()
    assert [s["id"] for s in listed] == [second["session_id"], first["session_id"]]
    assert [s["current"] for s in listed] == [False, True]
    assert listed[1]["user_agent"] == "Firefox"
    assert listed[1]["ip"] == "203.0.113.7"
    assert set(listed[0]) == {"id", "created_at", "last_used_at", "expires_at", "user_agent", "ip", "current"}


def test_delete_session_revokes_it_and_its_access_tokens(api, user, login):
    mine, other_device = login(user).json(), login(user).json()

    response = api.delete(f"/api/auth/sessions/{other_device['session_id']}/", **bearer(mine["access"]))

    assert response.status_code == 204
    assert_access_dead(api, other_device["access"])
    assert api.get("/api/auth/me/", **bearer(mine["access"])).status_code == 200
    again = api.delete(f"/api/auth/sessions/{other_device['session_id']}/", **bearer(mine["access"]))
    assert again.status_code == 404


def test_another_users_session_is_404_and_untouched(api, tokens, make_user, login):
    victim = login(make_user()).json()
    response = api.delete(f"/api/auth/sessions/{victim['session_id']}/", **bearer(tokens["access"]))
    assert response.status_code == 404
    assert response.json() == {"detail": "No such session.", "code": "not_found"}
    assert api.get("/api/auth/me/", **bearer(victim["access"])).status_code == 200


def test_unknown_or_malformed_session_id_is_404(api, tokens):
    for session_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        response = api.delete(f"/api/auth/sessions/{session_id}/", **bearer(tokens["access"]))
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("path, method", [
    ("/api/auth/me/", "get"), ("/api/auth/sessions/", "get"), ("/api/auth/logout/all/", "post"),
])
def test_protected_endpoints_need_authentication(api, path, method):
    response = getattr(api, method)(path)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"}
    assert response["WWW-Authenticate"].startswith("Bearer")


# --- queries per request -----------------------------------------------------------------


def test_me_costs_one_query(api, tokens, django_assert_num_queries):
    """The session check rides on the user lookup simplejwt does anyway: one query."""
    with django_assert_num_queries(1):
        response = api.get("/api/auth/me/", **bearer(tokens["access"]))
    assert response.status_code == 200


def test_refresh_query_count(api, tokens, django_assert_num_queries):
    # The conditional UPDATE of the old record (which checks the session and
    # its user too), the session's last_used_at, the INSERT of the successor.
    # No read on the winning path. PostgreSQL runs the three as one statement
    # (a transaction of its own); SQLite in atomic(), here a savepoint pair.
    one_statement = connection.vendor == "postgresql"
    with django_assert_num_queries(1 if one_statement else 5):
        response = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 200
