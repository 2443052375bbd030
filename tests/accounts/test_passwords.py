"""Password change and reset, and the sessions they end (DESIGN.md password/*)."""

import re

import pytest
from django.core import mail

from accounts.models import User
from tests.conftest import PASSWORD, bearer
from tokens.models import AuthEvent, Session

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "an entirely new passphrase 77"


def credentials_events(user) -> list[tuple[str, str, str]]:
    """The user's ``credentials_changed`` audit events: (reason, actor, via)."""
    return list(AuthEvent.objects.filter(kind=AuthEvent.Kind.CREDENTIALS_CHANGED, user_id=user.pk)
                .values_list("reason", "actor", "via"))


def assert_dead(api, access):
    response = api.get("/api/auth/me/", **bearer(access))
    assert (response.status_code, response.json()["code"]) == (401, "token_invalid")


def test_password_change_keeps_this_session_and_kills_the_others(api, user, login, capture):
    current, other, third = (login(user).json() for _ in range(3))

    response = capture(
        api.post, "/api/auth/password/change/", {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json", **bearer(current["access"]),
    )

    assert response.status_code == 204
    assert api.get("/api/auth/me/", **bearer(current["access"])).status_code == 200
    for gone in (other, third):
        assert_dead(api, gone["access"])
    assert Session.objects.get(pk=other["session_id"]).revoke_reason == "password_change"
    assert credentials_events(user) == [("password_change", "user", "api")]
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    # The user is told, and the email carries no secret.
    assert [m.subject for m in mail.outbox] == ["Your password was changed"]
    assert NEW_PASSWORD not in mail.outbox[0].body


def test_password_change_needs_the_old_password(api, user, tokens):
    response = api.post("/api/auth/password/change/", {"old_password": "wrong", "new_password": NEW_PASSWORD},
                        format="json", **bearer(tokens["access"]))
    assert response.status_code == 400
    assert response.json() == {"detail": "The password is incorrect.", "code": "invalid_password"}
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_password_change_applies_validators(api, user, tokens):
    response = api.post("/api/auth/password/change/", {"old_password": PASSWORD, "new_password": "123"},
                        format="json", **bearer(tokens["access"]))
    assert response.status_code == 400
    assert "new_password" in response.json()["errors"]


def request_reset(api, capture, email):
    return capture(api.post, "/api/auth/password/reset/", {"email": email}, format="json")


def reset_link_params() -> tuple[str, str]:
    match = re.search(r"uid=([\w-]+)&token=([\w-]+)", mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return match.group(1), match.group(2)


def test_password_reset_always_202_and_mails_only_real_accounts(api, user, capture):
    unknown = request_reset(api, capture, "nobody@example.com")
    assert (unknown.status_code, unknown.content) == (202, b"")
    assert mail.outbox == []

    known = request_reset(api, capture, "ALICE@example.com")

    assert (known.status_code, known.content) == (202, b"")
    assert mail.outbox[0].to == ["alice@example.com"]
    assert mail.outbox[0].alternatives[0][1] == "text/html"


def test_password_reset_confirm_sets_the_password_and_kills_every_session(api, user, login, capture):
    sessions = [login(user).json() for _ in range(2)]
    request_reset(api, capture, user.email)
    uid, token = reset_link_params()

    response = capture(api.post, "/api/auth/password/reset/confirm/",
                       {"uid": uid, "token": token, "new_password": NEW_PASSWORD}, format="json")

    assert response.status_code == 204
    for s in sessions:
        assert_dead(api, s["access"])
    assert User.objects.get(pk=user.pk).check_password(NEW_PASSWORD)
    assert credentials_events(user) == [("password_reset", "user", "api")]
    assert mail.outbox[-1].subject == "Your password was reset"
    # Single use: the token dies with the password it was made for.
    again = api.post("/api/auth/password/reset/confirm/",
                     {"uid": uid, "token": token, "new_password": NEW_PASSWORD + "!"}, format="json")
    assert again.status_code == 400
    assert again.json()["code"] == "reset_token_invalid"


@pytest.mark.parametrize("uid, token", [("bm9wZQ", "abc-def"), ("!!", "x"), ("MTIzNDU2Nzg5", "abc-def")])
def test_password_reset_confirm_refuses_bad_links(api, user, uid, token):
    response = api.post("/api/auth/password/reset/confirm/",
                        {"uid": uid, "token": token, "new_password": NEW_PASSWORD}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "The password reset link is invalid or has expired.",
                               "code": "reset_token_invalid"}


def test_two_factor_enable_disable_in_optional_mode(api, user, tokens, settings):
    settings.AUTH_2FA = "optional"
    enable = api.post("/api/auth/2fa/enable/", {"password": PASSWORD}, format="json", **bearer(tokens["access"]))
    assert enable.status_code == 204
    user.refresh_from_db()
    assert user.two_factor_enabled
    wrong = api.post("/api/auth/2fa/disable/", {"password": "nope"}, format="json", **bearer(tokens["access"]))
    assert (wrong.status_code, wrong.json()["code"]) == (400, "invalid_password")
    assert api.post("/api/auth/2fa/disable/", {"password": PASSWORD}, format="json",
                    **bearer(tokens["access"])).status_code == 204
    user.refresh_from_db()
    assert not user.two_factor_enabled


@pytest.mark.parametrize("mode, code", [("required", "two_factor_enforced"), ("off", "two_factor_unavailable")])
def test_two_factor_switch_refused_outside_optional_mode(api, user, tokens, settings, mode, code):
    settings.AUTH_2FA = mode
    for path in ("/api/auth/2fa/enable/", "/api/auth/2fa/disable/"):
        response = api.post(path, {"password": PASSWORD}, format="json", **bearer(tokens["access"]))
        assert (response.status_code, response.json()["code"]) == (403, code)


@pytest.mark.django_db(transaction=True)
def test_password_reset_answers_alike_for_known_and_unknown_emails_while_the_broker_is_down(api, user, monkeypatch):
    """
    The account is looked up in the worker, so both emails take the same
    path through the broker: a 503 for one and a 202 for the other would say
    which has an account (OWASP Forgot Password Cheat Sheet).
    """
    from kombu.exceptions import OperationalError

    from accounts import tasks

    def broker_down(*args, **kwargs):
        raise OperationalError("broker down")

    monkeypatch.setattr(tasks.send_password_reset, "delay", broker_down)

    answers = [api.post("/api/auth/password/reset/", {"email": email}, format="json")
               for email in (user.email, "nobody@example.com")]

    assert [(r.status_code, r.json()["code"]) for r in answers] == [(503, "service_unavailable")] * 2
    assert answers[0].json() == answers[1].json()
