"""The audit trail: an AuthEvent for each login outcome, 2FA failure and lockout, reuse and revocation."""

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from accounts.models import TwoFactorChallenge
from tests.accounts.conftest import code_from_outbox
from tests.conftest import PASSWORD, bearer
from tests.staff import admin_client
from tokens.audit import purge_events, record_event
from tokens.models import AuthEvent

pytestmark = pytest.mark.django_db

Kind = AuthEvent.Kind


def events(kind):
    return list(AuthEvent.objects.filter(kind=kind).order_by("id"))


def test_login_success_and_failure(api, user, login):
    body = login(user, HTTP_USER_AGENT="Firefox", REMOTE_ADDR="203.0.113.9").json()
    api.post("/api/auth/login/", {"email": user.email, "password": "wrong"}, format="json")
    api.post("/api/auth/login/", {"email": "ghost@example.com", "password": "wrong"}, format="json")

    (ok,) = events(Kind.LOGIN_SUCCEEDED)
    assert (ok.user_id, str(ok.session_id), ok.ip, ok.user_agent, ok.reason) == (
        user.pk, body["session_id"], "203.0.113.9", "Firefox", "password")
    wrong_password, unknown = events(Kind.LOGIN_FAILED)
    assert (wrong_password.user_id, wrong_password.email) == (user.pk, "alice@example.com")
    assert (unknown.user_id, unknown.email) == (None, "ghost@example.com")


def test_two_factor_failures_lockout_and_success(api, user, settings, capture):
    settings.AUTH_2FA = "required"
    challenge = capture(api.post, "/api/auth/login/", {"email": user.email, "password": PASSWORD,
                                                       "transport": "body"}, format="json").json()["challenge"]
    code = code_from_outbox()
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(TwoFactorChallenge.MAX_ATTEMPTS):
        api.post("/api/auth/login/2fa/", {"code": wrong, "challenge": challenge}, format="json")
    api.post("/api/auth/login/2fa/", {"code": code, "challenge": challenge}, format="json")

    assert len(events(Kind.TWO_FACTOR_FAILED)) == TwoFactorChallenge.MAX_ATTEMPTS - 1
    (locked,) = events(Kind.TWO_FACTOR_LOCKED)
    assert (locked.user_id, locked.reason) == (user.pk, f"email: attempt {TwoFactorChallenge.MAX_ATTEMPTS}")
    assert not events(Kind.LOGIN_SUCCEEDED)

    challenge = capture(api.post, "/api/auth/login/", {"email": user.email, "password": PASSWORD,
                                                       "transport": "body"}, format="json").json()["challenge"]
    api.post("/api/auth/login/2fa/", {"code": code_from_outbox(), "challenge": challenge}, format="json")
    (ok,) = events(Kind.LOGIN_SUCCEEDED)
    # A login's reason names how it was finished: here, the emailed code.
    assert ok.reason == "email"


def test_refresh_reuse_is_recorded_with_the_session_revocation(api, user, tokens):
    api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    with time_machine.travel(timezone.now() + timedelta(seconds=11)):
        api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json", REMOTE_ADDR="198.51.100.66")

    (reuse,) = events(Kind.REFRESH_REUSE)
    assert (reuse.user_id, str(reuse.session_id), reuse.ip, reuse.actor) == (
        user.pk, tokens["session_id"], "198.51.100.66", "system")
    (revoked,) = events(Kind.SESSION_REVOKED)
    assert (str(revoked.session_id), revoked.reason, revoked.actor) == (tokens["session_id"], "reuse", "system")


@pytest.mark.parametrize("how, reason", [
    ("logout", "logout"), ("logout_all", "logout_all"), ("delete", "user"), ("password_change", "password_change"),
])
def test_each_revocation_by_the_user_is_recorded(api, user, login, how, reason):
    mine, other = login(user).json(), login(user).json()
    auth = bearer(mine["access"])
    if how == "logout":
        api.post("/api/auth/logout/", **auth)
        expected = {mine["session_id"]}
    elif how == "logout_all":
        api.post("/api/auth/logout/all/", **auth)
        expected = {mine["session_id"], other["session_id"]}
    elif how == "delete":
        api.delete(f"/api/auth/sessions/{other['session_id']}/", **auth)
        expected = {other["session_id"]}
    else:
        api.post("/api/auth/password/change/", {"old_password": PASSWORD, "new_password": "a brand new passphrase 1"},
                 format="json", **auth)
        expected = {other["session_id"]}

    revoked = events(Kind.SESSION_REVOKED)
    assert {str(e.session_id) for e in revoked} == expected
    assert {(e.reason, e.actor, e.user_id) for e in revoked} == {(reason, "user", user.pk)}


def test_revocation_by_command_is_recorded(user, login):
    session_id = login(user).json()["session_id"]
    call_command("revoke_all", user.email, "--reason", "laptop stolen")
    (event,) = events(Kind.SESSION_REVOKED)
    assert (str(event.session_id), event.reason) == (session_id, "command")
    assert "laptop stolen" in event.actor


def test_no_token_code_or_password_in_any_event(api, user, settings, capture):
    settings.AUTH_2FA = "required"
    challenge = capture(api.post, "/api/auth/login/", {"email": user.email, "password": PASSWORD,
                                                       "transport": "body"}, format="json").json()["challenge"]
    code = code_from_outbox()
    api.post("/api/auth/login/2fa/", {"code": "999999" if code != "999999" else "000000", "challenge": challenge},
             format="json")
    tokens = api.post("/api/auth/login/2fa/", {"code": code, "challenge": challenge, "transport": "body"},
                      format="json").json()
    api.post("/api/auth/logout/", **bearer(tokens["access"]))

    stored = " ".join(str(v) for row in AuthEvent.objects.values() for v in row.values())
    assert AuthEvent.objects.count() >= 3
    for secret in (PASSWORD, code, challenge, tokens["access"], tokens["refresh"]):
        assert secret not in stored


def test_events_older_than_the_retention_are_purged(user, settings):
    settings.AUTH_EVENT_RETENTION = 3600
    old = record_event(Kind.LOGIN_FAILED, email="a@example.com")
    AuthEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    recent = record_event(Kind.LOGIN_FAILED, email="b@example.com")

    assert purge_events(batch_size=10, dry_run=True) == {"auth_events": 1}
    assert purge_events(batch_size=10) == {"auth_events": 1}
    assert list(AuthEvent.objects.values_list("pk", flat=True)) == [recent.pk]


def test_dead_two_factor_challenges_are_purged(api, user, settings, capture):
    from accounts.purge import purge_challenges

    settings.AUTH_2FA = "required"
    for _ in range(3):
        capture(api.post, "/api/auth/login/", {"email": user.email, "password": PASSWORD}, format="json")
    expired, consumed, pending = TwoFactorChallenge.objects.order_by("created_at")
    TwoFactorChallenge.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    TwoFactorChallenge.objects.filter(pk=consumed.pk).update(consumed_at=timezone.now())

    assert purge_challenges(batch_size=1) == {"two_factor_challenges": 2}
    assert list(TwoFactorChallenge.objects.values_list("pk", flat=True)) == [pending.pk]


def test_audit_admin_is_read_only_and_filterable(client, django_user_model, user, login):
    login(user)
    admin = django_user_model.objects.create_superuser(email="root@example.com", password=PASSWORD)
    client = admin_client(admin, client=client)
    page = client.get("/admin/tokens/authevent/?kind=login_succeeded&q=alice")
    assert page.status_code == 200
    assert b"alice@example.com" in page.content
    assert client.get("/admin/tokens/authevent/add/").status_code == 403


def test_a_user_switching_their_own_second_factor_is_recorded(api, user, tokens, settings):
    """Each factor change is an audit event (DESIGN.md, "Second factors"), the user's own as well as staff's."""
    settings.AUTH_2FA = "optional"
    for path in ("/api/auth/2fa/enable/", "/api/auth/2fa/disable/"):
        response = api.post(path, {"password": PASSWORD}, format="json", HTTP_USER_AGENT="Firefox",
                            **bearer(tokens["access"]))
        assert response.status_code == 204, response.content

    recorded = AuthEvent.objects.filter(kind__in=[Kind.TWO_FACTOR_ENABLED, Kind.TWO_FACTOR_DISABLED]).order_by("id")
    assert [(e.kind, e.user_id, e.actor, e.via, e.user_agent) for e in recorded] == [
        (Kind.TWO_FACTOR_ENABLED, user.pk, "user", "api", "Firefox"),
        (Kind.TWO_FACTOR_DISABLED, user.pk, "user", "api", "Firefox"),
    ]
