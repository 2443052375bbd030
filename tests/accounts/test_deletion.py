"""
Deleting an account (DESIGN.md, Part 2, "Account lifecycle", "Deletion";
``accounts.flows.deletion``): POST ``account/delete`` with the password and,
where the user has an app factor, its answer. Every session ends and shows in
the revocation feed, remembered devices are forgotten, the row goes and the
address is free again, a notice goes to the address (and is not kept once
sent), and the audit trail keeps the user's events by id until
``AUTH_EVENT_RETENTION``. The admin's delete and ``manage.py delete_user``
go through the same rule; a shell's ``user.delete()`` still revokes by name.
"""

import io
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone

from accounts import notifications
from accounts.management.commands.delete_user import Command as DeleteUser
from accounts.models import Notice, RecoveryCode, TotpDevice, User
from tests.accounts.factors import INVALID_CODE, INVALID_PASSWORD, NOT_A_RECOVERY_CODE, signed_in, totp_code, \
    wrong_totp_code
from tests.conftest import PASSWORD, bearer
from tests.staff import admin_client
from tokens import audit, devices, feed
from tokens.models import AuthEvent, Session, TrustedDevice

pytestmark = pytest.mark.django_db

Kind = AuthEvent.Kind
DELETE = "/api/auth/account/delete/"
DELETED = "Your account was deleted"
COOLDOWN = {"detail": "Too many wrong sign-in codes for this account; sign in again later.",
            "code": "two_factor_cooldown"}
RATE_LIMITED = {"detail": "Too many requests. Try again later.", "code": "rate_limited"}
STAFF_EMAIL = "staff@example.com"


def in_feed() -> set[str]:
    """The session ids the revocation feed serves from its start (what a resource server polls)."""
    return {str(sid) for sid, _ in feed.read(since=None).ends}


def csrf_token(client) -> str:
    return client.get("/api/auth/csrf/").json()["csrf_token"]


def sessions_of(user, login, count: int = 2) -> list[dict]:
    return [login(user).json() for _ in range(count)]


# --- the API door --------------------------------------------------------------------------------------------


def test_deleting_ones_account_ends_everything_and_frees_the_address(api, make_api, user, login, capture):
    """
    The whole rule, through the API: 204, auth cookies cleared, the row gone,
    every session revoked by name (the feed serves each), the old access
    token refused, remembered devices forgotten, the address free, one
    farewell mailed to it and not kept once sent.
    """
    other = login(user).json()
    cookie = login(user, transport="cookie")
    devices.remember_device(user=user, ip="198.51.100.7", user_agent="AlicesPhone/1.0")
    user_id, sessions = user.pk, {other["session_id"], cookie.json()["session_id"]}

    response = capture(api.post, DELETE, {"password": PASSWORD}, format="json", HTTP_X_CSRFTOKEN=csrf_token(api))

    assert response.status_code == 204, response.content
    for name in ("access_token", "refresh_token"):
        assert response.cookies[name].value == "" and int(response.cookies[name]["max-age"]) == 0
    assert not User.objects.filter(pk=user_id).exists()
    assert sessions <= in_feed()
    revoked = AuthEvent.objects.filter(kind=Kind.SESSION_REVOKED, user_id=user_id)
    assert sorted((str(e.session_id), e.reason) for e in revoked) == sorted((s, "account_deleted") for s in sessions)
    assert make_api().get("/api/auth/me/", **bearer(other["access"])).status_code == 401
    assert not TrustedDevice.objects.filter(user_id=user_id).exists()
    (forgotten,) = AuthEvent.objects.filter(kind=Kind.DEVICE_FORGOTTEN, user_id=user_id)
    assert forgotten.reason == "account_deleted: 1"
    (farewell,) = mail.outbox
    assert (farewell.subject, farewell.to) == (DELETED, ["alice@example.com"])
    assert "was deleted." in farewell.body and "by staff" not in farewell.body
    assert not Notice.objects.exists()
    again = make_api().post("/api/auth/register/", {"email": "alice@example.com", "password": PASSWORD},
                            format="json")
    assert again.status_code == 201, again.content


def test_the_farewell_is_sent_once_however_often_its_task_is_delivered(user, django_capture_on_commit_callbacks):
    """A redelivered task message finds the notice sent and gone: no second email."""
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert signed_in(user).post(DELETE, {"password": PASSWORD}, format="json").status_code == 204
    (notice,) = Notice.objects.all()
    assert (notice.user_id, notice.to, notice.kind) == (None, "alice@example.com", Notice.Kind.ACCOUNT_DELETED)

    for callback in queued:
        callback()
    redelivered = notifications.send_notice(notice_id=notice.pk)

    assert redelivered is False
    assert [message.subject for message in mail.outbox] == [DELETED]


def test_a_wrong_password_deletes_nothing(user, login):
    tokens = login(user).json()

    refused = signed_in(user).post(DELETE, {"password": "not the password"}, format="json")

    assert (refused.status_code, refused.json()) == (400, INVALID_PASSWORD)
    assert User.objects.filter(pk=user.pk).exists()
    assert Session.objects.get(pk=tokens["session_id"]).revoked_at is None
    assert not AuthEvent.objects.filter(kind=Kind.ACCOUNT_DELETED).exists()
    assert not mail.outbox


@pytest.mark.usefixtures("one_window")
def test_password_checks_spend_the_password_check_budget(user, settings):
    """A stolen access token buys no password guessing: once the budget is spent, even the right one is 429."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password_check_user": "2/h"}
    client = signed_in(user)
    for _ in range(2):
        assert client.post(DELETE, {"password": "not the password"}, format="json").status_code == 400

    limited = client.post(DELETE, {"password": PASSWORD}, format="json")

    assert (limited.status_code, limited.json()) == (429, RATE_LIMITED)
    assert User.objects.filter(pk=user.pk).exists()


def test_deletion_needs_authentication(api):
    refused = api.post(DELETE, {"password": PASSWORD}, format="json")

    assert (refused.status_code, refused.json()["code"]) == (401, "not_authenticated")


# --- with an app factor: the password is not enough --------------------------------------------------------------

# Second factors on: with ``AUTH_2FA=off`` no app can be enrolled.
app_factor = pytest.mark.usefixtures("two_factor")


@app_factor
@pytest.mark.parametrize("body", [{}, {"code": ""}, {"method": "email", "code": "123456"}],
                         ids=["no code", "blank code", "the emailed code"])
def test_an_app_user_must_answer_the_factor(enrolled, body):
    """Someone holding a session and the password alone cannot delete the account."""
    refused = enrolled.client.post(DELETE, {"password": PASSWORD, **body}, format="json")

    assert (refused.status_code, refused.json()) == (401, INVALID_CODE)
    assert User.objects.filter(pk=enrolled.user.pk).exists()


@app_factor
@pytest.mark.parametrize("method", ["totp", "recovery"])
def test_a_wrong_answer_is_audited_and_deletes_nothing(enrolled, method):
    code = wrong_totp_code(enrolled.secret) if method == "totp" else NOT_A_RECOVERY_CODE

    refused = enrolled.client.post(DELETE, {"password": PASSWORD, "method": method, "code": code}, format="json")

    assert (refused.status_code, refused.json()) == (401, INVALID_CODE)
    (failed,) = AuthEvent.objects.filter(kind=Kind.TWO_FACTOR_FAILED)
    assert (failed.user_id, failed.reason, failed.via) == (enrolled.user.pk, f"{method}: delete", "api")
    assert User.objects.filter(pk=enrolled.user.pk).exists()
    assert RecoveryCode.objects.filter(user=enrolled.user, used_at__isnull=True).count() == 10


@app_factor
def test_wrong_answers_spend_the_accounts_budget(enrolled, settings):
    """Deletion is no side door for guessing codes: the login's budget of wrong answers pays for it."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "two_factor_account_failures": "1/h"}
    wrong = {"password": PASSWORD, "code": wrong_totp_code(enrolled.secret)}
    assert enrolled.client.post(DELETE, wrong, format="json").status_code == 401

    paused = enrolled.client.post(DELETE, {"password": PASSWORD, "code": totp_code(enrolled.secret)}, format="json")

    assert (paused.status_code, paused.json()) == (429, COOLDOWN)
    assert User.objects.filter(pk=enrolled.user.pk).exists()


@app_factor
def test_the_apps_code_deletes_the_account(enrolled, capture):
    user_id = enrolled.user.pk

    deleted = capture(enrolled.client.post, DELETE, {"password": PASSWORD, "code": totp_code(enrolled.secret)},
                      format="json")

    assert deleted.status_code == 204, deleted.content
    assert not User.objects.filter(pk=user_id).exists()
    assert not TotpDevice.objects.exists() and not RecoveryCode.objects.exists()
    assert [message.subject for message in mail.outbox][-1:] == [DELETED]


@app_factor
def test_a_recovery_code_deletes_the_account_and_is_spent(enrolled, capture):
    user_id = enrolled.user.pk
    mail.outbox.clear()

    deleted = capture(enrolled.client.post, DELETE,
                      {"password": PASSWORD, "method": "recovery", "code": enrolled.recovery_codes[0]}, format="json")

    assert deleted.status_code == 204, deleted.content
    assert not User.objects.filter(pk=user_id).exists()
    (used,) = AuthEvent.objects.filter(kind=Kind.RECOVERY_CODE_USED, user_id=user_id)
    assert used.reason == "9 left"
    # The "recovery code used" notice went with the account: the farewell is what the address gets.
    assert [message.subject for message in mail.outbox] == [DELETED]


# --- every door, one rule --------------------------------------------------------------------------------------


def by_the_user(user, make_user, capture):
    response = capture(signed_in(user).post, DELETE, {"password": PASSWORD}, format="json")
    assert response.status_code == 204, response.content
    return "user", "api", False


def by_staff(user, make_user, capture):
    admin = admin_client(make_user(email=STAFF_EMAIL, is_staff=True, is_superuser=True))
    mail.outbox.clear()  # the staff member's own sign-in is not what this is about
    response = capture(admin.post, f"/admin/accounts/user/{user.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content.decode()[:2000]
    return STAFF_EMAIL, "admin", True


def by_the_command(user, make_user, capture):
    capture(call_command, "delete_user", user.email, stdout=io.StringIO())
    return "command: delete_user", "command", True


@pytest.mark.parametrize("door", [by_the_user, by_staff, by_the_command], ids=lambda door: door.__name__)
def test_every_door_deletes_by_the_one_rule(user, make_user, login, capture, door):
    """STYLE 14: whichever door, the same ends — feed, audit trail naming who and how, the notice, a free address."""
    sessions = {s["session_id"] for s in sessions_of(user, login)}
    user_id = user.pk

    actor, via, by_staff_ = door(user, make_user, capture)

    assert not User.objects.filter(pk=user_id).exists()
    assert sessions <= in_feed()
    assert {str(e.session_id) for e in AuthEvent.objects.filter(kind=Kind.SESSION_REVOKED, user_id=user_id,
                                                                  reason="account_deleted", via=via)} >= sessions
    (deleted,) = AuthEvent.objects.filter(kind=Kind.ACCOUNT_DELETED)
    assert (deleted.user_id, deleted.email, deleted.actor, deleted.via) == (user_id, "alice@example.com", actor, via)
    (farewell,) = mail.outbox
    assert farewell.to == ["alice@example.com"]
    assert ("by staff" in farewell.body) is by_staff_
    assert not Notice.objects.exists()
    assert User.objects.create_user(email="alice@example.com", password=PASSWORD).pk != user_id


def test_the_audit_trail_keeps_the_users_events_until_retention_purges_them(user, login, settings):
    """By user id after the row has gone (for investigations), and no email or IP past AUTH_EVENT_RETENTION."""
    login(user, REMOTE_ADDR="198.51.100.7")
    user_id = user.pk
    assert signed_in(user).post(DELETE, {"password": PASSWORD}, format="json").status_code == 204

    kept = set(AuthEvent.objects.filter(user_id=user_id).values_list("kind", flat=True))
    assert {Kind.LOGIN_SUCCEEDED, Kind.SESSION_REVOKED, Kind.ACCOUNT_DELETED} <= kept
    assert AuthEvent.objects.filter(user_id=user_id, ip="198.51.100.7", email="alice@example.com").exists()

    with time_machine.travel(timezone.now() + timedelta(seconds=settings.AUTH_EVENT_RETENTION + 1)):
        audit.purge_events(batch_size=100)

    assert not AuthEvent.objects.filter(user_id=user_id).exists()
    assert not AuthEvent.objects.filter(email="alice@example.com").exists()


# --- the command -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["alice@example.com", "  ALICE@Example.COM ", "id"])
def test_delete_user_finds_the_user_by_email_or_id(user, login, spelling):
    session = login(user).json()["session_id"]
    out = io.StringIO()

    call_command("delete_user", str(user.pk) if spelling == "id" else spelling, stdout=out)

    assert not User.objects.filter(email="alice@example.com").exists()
    assert out.getvalue() == "Deleted the account of alice@example.com; ended 1 session(s).\n"
    assert session in in_feed()


@pytest.mark.parametrize("unknown", ["nobody@example.com", "999999", "²"])
def test_delete_user_of_an_unknown_user_fails_and_deletes_nothing(user, unknown):
    with pytest.raises(CommandError, match="No user with the id or email"):
        call_command("delete_user", unknown, stdout=io.StringIO())

    assert User.objects.filter(pk=user.pk).exists()


def test_delete_user_exits_1_for_an_unknown_user(db, capsys, monkeypatch):
    """As run from a shell: the message on stderr, exit status 1 (``CommandError`` outside ``call_command``)."""
    # run_from_argv closes the connections when done: not the test's, still in its transaction.
    monkeypatch.setattr(connections, "close_all", lambda: None)

    with pytest.raises(SystemExit) as exited:
        DeleteUser().run_from_argv(["manage.py", "delete_user", "nobody@example.com"])

    assert exited.value.code == 1
    assert "No user with the id or email 'nobody@example.com'." in capsys.readouterr().err


# --- a delete that skips the flow ------------------------------------------------------------------------------


def test_a_shell_delete_still_revokes_the_sessions_by_name(user, login):
    """The pre_delete receiver: sessions would otherwise vanish by cascade, unseen by resource servers."""
    sessions = {s["session_id"] for s in sessions_of(user, login)}
    user_id = user.pk

    User.objects.get(pk=user_id).delete()

    assert sessions <= in_feed()
    revoked = AuthEvent.objects.filter(kind=Kind.SESSION_REVOKED, user_id=user_id)
    assert sorted((str(e.session_id), e.reason, e.actor, e.via) for e in revoked) == sorted(
        (sid, "account_deleted", "system", "command") for sid in sessions)
    assert not Session.objects.filter(pk__in=[uuid.UUID(s) for s in sessions]).exists()
