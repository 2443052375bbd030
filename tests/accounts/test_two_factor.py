"""Two-step login with an emailed code (DESIGN.md login, login/2fa, login/2fa/resend)."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from accounts import codes
from accounts.models import TwoFactorChallenge
from tests.accounts.conftest import code_from_outbox
from tests.conftest import PASSWORD, bearer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("two_factor")]


def submit(api, code, challenge=None, transport="body", **extra):
    body = {"code": code, "transport": transport}
    if challenge is not None:
        body["challenge"] = challenge
    return api.post("/api/auth/login/2fa/", body, format="json", **extra)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1000000:06d}"


def test_body_transport_two_step_login(api, user, start_login):
    response, code = start_login(user, transport="body")
    body = response.json()
    assert set(body) == {"two_factor_required", "expires_in", "methods", "challenge"}
    assert body["two_factor_required"] is True and body["expires_in"] == 600 and body["methods"] == ["email"]
    assert "two_factor_auth" not in response.cookies
    assert mail.outbox[0].to == ["alice@example.com"]
    assert code not in mail.outbox[0].subject

    done = submit(api, code, body["challenge"])

    assert done.status_code == 200
    tokens = done.json()
    assert set(tokens) == {"access", "refresh", "access_expires_at", "refresh_expires_at", "session_id"}
    assert api.get("/api/auth/me/", **bearer(tokens["access"])).json()["email"] == "alice@example.com"


def test_cookie_transport_two_step_login(api, user, start_login, settings):
    settings.DEBUG = False
    response, code = start_login(user, transport="cookie")
    assert response.json() == {"two_factor_required": True, "expires_in": 600, "methods": ["email"]}
    cookie = response.cookies["two_factor_auth"]
    assert cookie["httponly"] and cookie["secure"] and cookie["path"] == "/api/auth/login/"
    assert int(cookie["max-age"]) == 600

    done = submit(api, code, transport="cookie")

    assert done.status_code == 200
    assert set(done.json()) == {"access", "access_expires_at", "session_id"}
    assert done.cookies["refresh_token"].value
    assert done.cookies["two_factor_auth"].value == ""  # cleared
    assert api.get("/api/auth/me/").status_code == 200


def test_no_tokens_before_the_code(api, user, start_login):
    response, _ = start_login(user, transport="cookie")
    assert "access_token" not in response.cookies
    assert api.get("/api/auth/me/").status_code == 401


def test_email_has_text_and_html_and_the_code_is_not_stored_in_clear(api, user, start_login):
    response, code = start_login(user)
    message = mail.outbox[0]
    assert code in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and code in html
    challenge = TwoFactorChallenge.objects.get()
    secret = response.json()["challenge"]
    stored = " ".join(str(v) for v in challenge.__dict__.values())
    assert code not in stored and secret not in stored


def test_wrong_code_is_401_and_the_sixth_try_is_locked(api, user, start_login):
    response, code = start_login(user)
    challenge = response.json()["challenge"]
    for _ in range(5):
        attempt = submit(api, wrong(code), challenge)
        assert attempt.status_code == 401
        assert attempt.json() == {"detail": "The code is incorrect.", "code": "invalid_code"}

    locked = submit(api, code, challenge)

    assert locked.status_code == 401
    assert locked.json() == {"detail": "Too many wrong codes; log in again.", "code": "challenge_locked"}


def test_fifth_try_may_still_be_the_right_one(api, user, start_login):
    response, code = start_login(user)
    challenge = response.json()["challenge"]
    for _ in range(4):
        submit(api, wrong(code), challenge)
    assert submit(api, code, challenge).status_code == 200


def test_malformed_codes_count_as_tries(api, user, start_login):
    response, code = start_login(user)
    challenge = response.json()["challenge"]
    for bad in ("", "abc", "1234567", " 12345"):
        assert submit(api, bad, challenge).status_code in (400, 401)
    for _ in range(5):
        submit(api, "x", challenge)
    assert submit(api, code, challenge).json()["code"] == "challenge_locked"


def test_expired_challenge(api, user, start_login, settings):
    response, code = start_login(user)
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.TWO_FACTOR_CODE_TTL + 1)):
        expired = submit(api, code, response.json()["challenge"])
    assert expired.status_code == 401
    assert expired.json()["code"] == "challenge_expired"


def test_challenge_is_single_use(api, user, start_login):
    response, code = start_login(user)
    challenge = response.json()["challenge"]
    assert submit(api, code, challenge).status_code == 200
    again = submit(api, code, challenge)
    assert again.status_code == 401
    assert again.json()["code"] == "challenge_used"


def test_code_only_works_for_its_own_challenge(api, user, start_login, make_api, monkeypatch):
    # Two known, different codes, so the cross-check below always runs.
    monkeypatch.setattr(codes, "new_code", iter(["111111", "222222"]).__next__)
    first, first_code = start_login(user)
    second, second_code = start_login(user, client=make_api())
    assert (first_code, second_code) == ("111111", "222222")

    cross = submit(api, second_code, first.json()["challenge"])

    assert (cross.status_code, cross.json()["code"]) == (401, "invalid_code")
    assert submit(api, second_code, second.json()["challenge"]).status_code == 200


def test_unknown_or_missing_challenge(api, user):
    unknown = submit(api, "123456", "not-a-challenge")
    assert (unknown.status_code, unknown.json()["code"]) == (401, "challenge_invalid")
    missing = submit(api, "123456")
    assert (missing.status_code, missing.json()["code"]) == (401, "challenge_missing")


def test_deactivated_user_cannot_finish_the_login(api, user, start_login):
    response, code = start_login(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    refused = submit(api, code, response.json()["challenge"])
    assert (refused.status_code, refused.json()["code"]) == (401, "challenge_invalid")


def test_resend_sends_a_new_code_and_the_old_one_stops_working(api, user, start_login, capture, settings):
    response, old_code = start_login(user)
    challenge = response.json()["challenge"]

    early = capture(api.post, "/api/auth/login/2fa/resend/", {"challenge": challenge}, format="json")
    assert early.status_code == 429
    assert early.json()["code"] == "rate_limited"
    assert 1 <= int(early["Retry-After"]) <= settings.TWO_FACTOR_RESEND_COOLDOWN + 1
    assert len(mail.outbox) == 1

    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        resent = capture(api.post, "/api/auth/login/2fa/resend/", {"challenge": challenge}, format="json")
        assert resent.status_code == 202
        assert len(mail.outbox) == 2
        new_code = code_from_outbox()
        if new_code != old_code:
            assert submit(api, old_code, challenge).json()["code"] == "invalid_code"
        assert submit(api, new_code, challenge).status_code == 200


def test_resend_does_not_reset_the_attempt_count(api, user, start_login, capture):
    response, code = start_login(user)
    challenge = response.json()["challenge"]
    for _ in range(5):
        submit(api, "000000" if code != "000000" else "111111", challenge)
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        resent = capture(api.post, "/api/auth/login/2fa/resend/", {"challenge": challenge}, format="json")
    assert (resent.status_code, resent.json()["code"]) == (401, "challenge_locked")


def test_resend_through_the_cookie(api, user, start_login, capture):
    start_login(user, transport="cookie")
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        resent = capture(api.post, "/api/auth/login/2fa/resend/", {}, format="json")
        assert resent.status_code == 202
        assert submit(api, code_from_outbox(), transport="cookie").status_code == 200


@pytest.mark.parametrize("mode, enabled, two_step", [
    ("required", False, True), ("optional", True, True), ("optional", False, False), ("off", True, False),
])
def test_auth_2fa_modes(api, make_user, settings, capture, mode, enabled, two_step):
    settings.AUTH_2FA = mode
    user = make_user(two_factor_enabled=enabled)
    response = capture(api.post, "/api/auth/login/", {"email": user.email, "password": PASSWORD,
                                                      "transport": "body"}, format="json")
    assert response.status_code == 200
    assert ("two_factor_required" in response.json()) is two_step
    assert len(mail.outbox) == (1 if two_step else 0)


def test_wrong_password_sends_no_code(api, user, capture):
    response = capture(api.post, "/api/auth/login/", {"email": user.email, "password": "nope"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert mail.outbox == []
    assert not TwoFactorChallenge.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_email_queue_down_is_503_not_500(api, user, monkeypatch):
    """Outside a test transaction, as in production, the task is queued as soon as the challenge is saved."""
    from kombu.exceptions import OperationalError

    from accounts import tasks

    def broken(*args, **kwargs):
        raise OperationalError("broker down")

    monkeypatch.setattr(tasks.send_two_factor_code, "delay", broken)
    response = api.post("/api/auth/login/", {"email": user.email, "password": PASSWORD}, format="json")
    assert response.status_code == 503
    assert response.json() == {"detail": "The email could not be queued; try again shortly.",
                               "code": "service_unavailable"}
    assert response["Retry-After"]
