"""Refresh-token rotation, reuse detection and the grace window (DESIGN.md, "Tokens")."""

import uuid
from datetime import timedelta

import jwt
import pytest
import time_machine
from django.utils import timezone

from tests.conftest import bearer
from tokens.models import RefreshToken, Session

pytestmark = pytest.mark.django_db


def refresh(api, token, **extra):
    return api.post("/api/auth/refresh/", {"refresh": token}, format="json", **extra)


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_refresh_returns_a_new_pair_and_retires_the_old_token(api, tokens):
    """Rotation: a refresh gives a new refresh token in the same session and marks the old one used."""
    response = refresh(api, tokens["refresh"])

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "access_expires_at", "refresh_expires_at", "session_id"}
    assert body["session_id"] == tokens["session_id"]
    assert body["refresh"] != tokens["refresh"]
    assert body["access"] != tokens["access"]
    old, new = claims(tokens["refresh"]), claims(body["refresh"])
    assert new["sid"] == old["sid"] and new["jti"] != old["jti"]
    record = RefreshToken.objects.get(jti=old["jti"])
    assert record.used_at is not None
    assert record.replaced_by == uuid.UUID(new["jti"])
    assert RefreshToken.objects.get(jti=new["jti"]).used_at is None
    assert response["Cache-Control"] == "no-store"
    # The new access token works.
    assert api.get("/api/auth/me/", **bearer(body["access"])).status_code == 200


def test_refresh_token_is_accepted_from_the_authorization_header(api, tokens):
    response = api.post("/api/auth/refresh/", **bearer(tokens["refresh"]))
    assert response.status_code == 200
    assert "refresh" in response.json()


def test_no_refresh_token_is_401_not_authenticated(api):
    response = api.post("/api/auth/refresh/", {}, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "No refresh token was provided.", "code": "not_authenticated"}


def test_replay_after_grace_window_revokes_the_whole_session(api, tokens):
    """A used refresh token presented after the grace window means theft: the family dies."""
    successor = refresh(api, tokens["refresh"]).json()

    with time_machine.travel(timezone.now() + timedelta(seconds=11)):
        replay = refresh(api, tokens["refresh"])
        assert replay.status_code == 401
        assert replay.json() == {
            "detail": "Refresh token was already used; the session has been revoked.",
            "code": "token_reused",
        }
        session = Session.objects.get(pk=tokens["session_id"])
        assert session.revoke_reason == Session.RevokeReason.REUSE
        # The successor (held by whoever refreshed first) is dead too...
        after = refresh(api, successor["refresh"])
        assert after.status_code == 401
        assert after.json()["code"] == "token_revoked"
        # ...and so are the session's access tokens, at once.
        for access in (tokens["access"], successor["access"]):
            me = api.get("/api/auth/me/", **bearer(access))
            assert me.status_code == 401
            assert me.json()["code"] == "token_invalid"


def test_replay_inside_grace_window_returns_the_same_successor(api, tokens):
    """Two tabs refreshing at once both get the one successor, not a second branch."""
    first = refresh(api, tokens["refresh"]).json()
    with time_machine.travel(timezone.now() + timedelta(seconds=5)):
        second = refresh(api, tokens["refresh"])
    assert second.status_code == 200
    assert second.json()["refresh"] == first["refresh"]
    assert RefreshToken.objects.filter(session_id=tokens["session_id"]).count() == 2
    assert Session.objects.get(pk=tokens["session_id"]).revoked_at is None
    # And the successor still rotates normally.
    assert refresh(api, first["refresh"]).status_code == 200


def test_grace_window_does_not_cover_a_successor_that_was_already_used(api, tokens):
    """R1→R2→R3 inside the window, then R1 again, is reuse."""
    r2 = refresh(api, tokens["refresh"]).json()
    r3 = refresh(api, r2["refresh"])
    assert r3.status_code == 200

    replay = refresh(api, tokens["refresh"])

    assert replay.status_code == 401
    assert replay.json()["code"] == "token_reused"
    assert refresh(api, r3.json()["refresh"]).json()["code"] == "token_revoked"


def test_grace_zero_disables_the_window(api, tokens, settings):
    settings.REFRESH_REUSE_GRACE = 0
    assert refresh(api, tokens["refresh"]).status_code == 200
    replay = refresh(api, tokens["refresh"])
    assert replay.status_code == 401
    assert replay.json()["code"] == "token_reused"


def test_refresh_lifetime_never_passes_the_session_absolute_expiry(api, tokens, settings):
    settings.SESSION_MAX_AGE = 3600
    settings.REFRESH_TOKEN_TTL = 7 * 24 * 3600
    session = Session.objects.get(pk=tokens["session_id"])
    Session.objects.filter(pk=session.pk).update(expires_at=timezone.now() + timedelta(minutes=30))

    body = refresh(api, tokens["refresh"]).json()

    session.refresh_from_db()
    assert claims(body["refresh"])["exp"] <= int(session.expires_at.timestamp())
    assert claims(body["access"])["exp"] <= int(session.expires_at.timestamp())
    record = RefreshToken.objects.get(jti=claims(body["refresh"])["jti"])
    assert record.expires_at == session.expires_at


def test_new_session_refresh_capped_by_session_max_age(api, user, login, settings):
    settings.SESSION_MAX_AGE = 600
    body = login(user).json()
    refresh_claims = claims(body["refresh"])
    assert refresh_claims["exp"] - refresh_claims["iat"] == 600


def test_session_past_its_absolute_lifetime_cannot_refresh(api, tokens):
    Session.objects.filter(pk=tokens["session_id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = refresh(api, tokens["refresh"])
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"
    assert api.get("/api/auth/me/", **bearer(tokens["access"])).status_code == 401


def test_expired_refresh_token_is_token_expired(api, tokens, settings):
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.REFRESH_TOKEN_TTL + 1)):
        response = refresh(api, tokens["refresh"])
    assert response.status_code == 401
    assert response.json() == {"detail": "Token has expired.", "code": "token_expired"}


def test_refused_refresh_changes_nothing(api, tokens):
    """A refresh refused because the session is revoked must not consume the token or write a successor."""
    Session.objects.filter(pk=tokens["session_id"]).update(revoked_at=timezone.now())
    response = refresh(api, tokens["refresh"])
    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"
    assert RefreshToken.objects.get(jti=claims(tokens["refresh"])["jti"]).used_at is None
    assert RefreshToken.objects.count() == 1


@pytest.mark.parametrize("change", ["deactivate", "delete"])
def test_deactivated_or_deleted_user_tokens_stop_working(api, user, tokens, change):
    if change == "deactivate":
        user.is_active = False
        user.save(update_fields=["is_active"])
    else:
        user.delete()

    me = api.get("/api/auth/me/", **bearer(tokens["access"]))
    assert me.status_code == 401
    assert me.json()["code"] == "token_invalid"
    response = refresh(api, tokens["refresh"])
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_idle_session_is_over_when_its_newest_refresh_token_expires(api, user, login, tokens, settings):
    """A session nobody refreshed within REFRESH_TOKEN_TTL is over: no refresh, not listed."""
    settings.REFRESH_TOKEN_TTL = 60
    idle = refresh(api, tokens["refresh"]).json()
    assert claims(idle["access"])["exp"] <= claims(idle["refresh"])["exp"]

    # Past the idle timeout and the clock-skew leeway the access token's exp is allowed.
    with time_machine.travel(timezone.now() + timedelta(seconds=61 + settings.SIMPLE_JWT["LEEWAY"])):
        other = login(user).json()
        assert refresh(api, idle["refresh"]).json()["code"] == "token_expired"
        assert api.get("/api/auth/me/", **bearer(idle["access"])).status_code == 401
        listed = api.get("/api/auth/sessions/", **bearer(other["access"])).json()
    assert [s["id"] for s in listed] == [other["session_id"]]
