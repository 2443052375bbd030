"""
Per-account budgets (issue 11): what one account can be put through, whatever
the challenge, the IP or the access token used.

- wrong second-factor answers add up across challenges; spending the budget
  ends every open challenge, pauses new ones until its window is over, and
  mails the owner once;
- one account holds at most ``TWO_FACTOR_MAX_OPEN_CHALLENGES`` open
  challenges: a new login ends the oldest;
- code emails per account per hour, logins and resends together;
- the password checks behind an access token (password/change, 2fa/enable,
  2fa/disable) share a per-user limit, and password/change judges the new
  password before the old one.
"""

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import codes
from accounts.models import TwoFactorChallenge
from tests.accounts.conftest import code_from_outbox
from tests.concurrency import in_parallel
from tests.conftest import PASSWORD, bearer
from tokens.models import AuthEvent

pytestmark = pytest.mark.django_db

COOLDOWN = {"detail": "Too many wrong sign-in codes for this account; sign in again later.",
            "code": "two_factor_cooldown"}
EMAILS_SPENT = {"detail": "Too many sign-in codes were emailed to this account; try again later.",
                "code": "rate_limited"}
COOLDOWN_SUBJECT = "Too many wrong sign-in codes"


@pytest.fixture(autouse=True)
def two_factor(settings):
    settings.AUTH_2FA = "required"


def submit(api, code, challenge, **extra):
    return api.post("/api/auth/login/2fa/", {"code": code, "challenge": challenge, "transport": "body"},
                    format="json", **extra)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1000000:06d}"


def password_login(api, user, password=PASSWORD, **extra):
    return api.post("/api/auth/login/", {"email": user.email, "password": password, "transport": "body"},
                    format="json", **extra)


def resend(api, challenge):
    return api.post("/api/auth/login/2fa/resend/", {"challenge": challenge}, format="json")


def open_challenges(user) -> int:
    return TwoFactorChallenge.objects.filter(user=user, consumed_at__isnull=True, expires_at__gt=timezone.now(),
                                             attempts__lt=TwoFactorChallenge.MAX_ATTEMPTS).count()


def assert_retry_within(response, seconds: int) -> None:
    assert 1 <= int(response["Retry-After"]) <= seconds


def test_defaults(settings):
    assert settings.RATE_LIMITS["two_factor_account_failures"] == "10/h"
    assert settings.RATE_LIMITS["two_factor_account_emails"] == "10/h"
    assert settings.RATE_LIMITS["password_check_user"] == "10/h"
    assert settings.TWO_FACTOR_MAX_OPEN_CHALLENGES == 3


# --- wrong second-factor answers, per account ----------------------------------------------------


def test_wrong_codes_add_up_across_challenges_and_the_tenth_pauses_the_account(
    api, user, start_login, make_api, capture,
):
    """
    With the password known, each new challenge used to bring five fresh
    guesses: ~50 a minute, ~88 % of 6-digit codes in 30 days. Now ten wrong
    answers an hour per account, whatever the challenge (OWASP
    Authentication Cheat Sheet, "Protect against automated attacks"):
    the tenth ends every open challenge, answers 429 two_factor_cooldown,
    and mails the owner, once.
    """
    logins = [start_login(user, client=make_api()) for _ in range(3)]
    challenges = [(response.json()["challenge"], code) for response, code in logins]
    # 4 + 4 + 1: no challenge uses up its own five tries.
    for (secret, code), tries in zip(challenges, (4, 4, 1)):
        for _ in range(tries):
            assert submit(api, wrong(code), secret).json()["code"] == "invalid_code"

    last_secret, last_code = challenges[2]
    tripped = capture(submit, api, wrong(last_code), last_secret)

    assert (tripped.status_code, tripped.json()) == (429, COOLDOWN)
    assert_retry_within(tripped, 3600)
    assert open_challenges(user) == 0
    # Even the right code of a challenge that had tries left is refused now.
    for secret, code in challenges:
        refused = capture(submit, api, code, secret)
        assert (refused.status_code, refused.json()) == (429, COOLDOWN)
    # The owner is told once; the notice carries no code.
    notices = [m for m in mail.outbox if m.subject == COOLDOWN_SUBJECT]
    assert len(notices) == 1 and notices[0].to == ["alice@example.com"]
    assert all(code not in notices[0].body and code not in notices[0].alternatives[0][0] for _, code in challenges)
    event = AuthEvent.objects.get(kind=AuthEvent.Kind.TWO_FACTOR_LOCKED, reason__startswith="account")
    assert event.user_id == user.pk


def test_a_paused_account_gets_no_challenge_until_the_window_is_over(api, user, start_login, capture):
    response, code = start_login(user)
    secret = response.json()["challenge"]
    for _ in range(5):
        submit(api, wrong(code), secret)
    response, code = start_login(user)
    secret = response.json()["challenge"]
    for _ in range(5):
        submit(api, wrong(code), secret)
    sent = len(mail.outbox)

    paused = capture(password_login, api, user)

    assert (paused.status_code, paused.json()) == (429, COOLDOWN)
    assert_retry_within(paused, 3600)
    assert len(mail.outbox) == sent
    assert open_challenges(user) == 0
    # A wrong password still says only that: the pause tells nothing to who lacks the password.
    assert password_login(api, user, password="wrong").json()["code"] == "invalid_credentials"

    with time_machine.travel(timezone.now() + timedelta(seconds=3601)):
        again, code = start_login(user)
        assert again.json()["two_factor_required"] is True
        assert submit(api, code, again.json()["challenge"]).status_code == 200


def test_a_right_code_does_not_spend_the_budget(api, user, start_login, settings):
    """Only wrong answers count: a user who signs in often is never paused."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "two_factor_account_failures": "2/h"}
    for _ in range(3):
        response, code = start_login(user)
        assert submit(api, code, response.json()["challenge"]).status_code == 200
    response, code = start_login(user)
    assert submit(api, wrong(code), response.json()["challenge"]).json()["code"] == "invalid_code"
    assert submit(api, code, response.json()["challenge"]).status_code == 200


def test_another_account_is_not_paused(api, user, make_user, start_login, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "two_factor_account_failures": "1/h"}
    response, code = start_login(user)
    assert submit(api, wrong(code), response.json()["challenge"]).json()["code"] == "two_factor_cooldown"

    bob = make_user(email="bob@example.com")
    response, code = start_login(bob)
    assert submit(api, code, response.json()["challenge"]).status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs DATABASE_URL=postgres://… (parallel requests)")
def test_wrong_codes_sent_together_compare_no_more_than_the_budget(user, settings):
    """
    Fifteen wrong answers at once over three challenges (five tries each):
    each takes its unit from the shared counter before its code is compared,
    so exactly nine are answered invalid_code, one spends the last unit and
    pauses the account — one notice, one audit event — and the rest are
    refused without a comparison.
    """
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "two_factor_challenge": "1000/m"}
    secrets = []
    for _ in range(3):
        response = APIClient().post("/api/auth/login/", {"email": user.email, "password": PASSWORD,
                                                         "transport": "body"}, format="json")
        secrets.append((response.json()["challenge"], code_from_outbox()))

    def answer(client, i):
        secret, code = secrets[i % 3]
        response = client.post("/api/auth/login/2fa/", {"code": wrong(code), "challenge": secret}, format="json",
                               REMOTE_ADDR=f"10.0.0.{i}")
        return response.status_code, response.json()["code"]

    results = Counter(in_parallel(15, answer))

    assert results[(401, "invalid_code")] == 9, results
    assert results[(429, "two_factor_cooldown")] >= 1, results
    assert set(results) <= {(401, "invalid_code"), (429, "two_factor_cooldown"), (401, "challenge_expired")}
    assert [m.subject for m in mail.outbox].count(COOLDOWN_SUBJECT) == 1
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.TWO_FACTOR_LOCKED, reason__startswith="account").count() == 1
    assert open_challenges(user) == 0


# --- open challenges per account ------------------------------------------------------------------


def test_a_fourth_login_ends_the_first_challenge(api, user, start_login, make_api, monkeypatch):
    """At most three codes of one account are valid at once: the newest three."""
    monkeypatch.setattr(codes, "new_code", iter(["111111", "222222", "333333", "444444"]).__next__)
    secrets = [start_login(user, client=make_api())[0].json()["challenge"] for _ in range(4)]

    assert open_challenges(user) == 3
    ended = submit(api, "111111", secrets[0])
    assert (ended.status_code, ended.json()["code"]) == (401, "challenge_expired")
    assert submit(api, "222222", secrets[1]).status_code == 200


def test_a_challenge_ended_before_its_email_went_out_sends_none(api, user, make_api,
                                                                django_capture_on_commit_callbacks):
    """Four logins queued before any worker ran: three emails, the ended challenge's never sent."""
    with django_capture_on_commit_callbacks(execute=False) as queued:
        for _ in range(4):
            assert password_login(make_api(), user).status_code == 200
    for callback in queued:
        callback()

    assert len(mail.outbox) == 3
    assert open_challenges(user) == 3


def test_open_challenges_setting(api, user, start_login, make_api, settings):
    settings.TWO_FACTOR_MAX_OPEN_CHALLENGES = 1
    first, first_code = start_login(user, client=make_api())
    second, second_code = start_login(user, client=make_api())
    assert open_challenges(user) == 1
    assert submit(api, first_code, first.json()["challenge"]).json()["code"] == "challenge_expired"
    assert submit(api, second_code, second.json()["challenge"]).status_code == 200


# --- code emails per account ------------------------------------------------------------------------


def test_code_emails_per_account_add_up_across_logins_and_resends(api, user, start_login, make_api, capture,
                                                                  settings):
    """
    Resends used to mail 40 codes in 98 s to one mailbox. Ten code emails an
    hour per account, logins and resends together; past it both answer 429
    with Retry-After and queue nothing.
    """
    settings.TWO_FACTOR_RESEND_COOLDOWN = 0
    secrets = [start_login(user, client=make_api())[0].json()["challenge"] for _ in range(2)]
    for i in range(8):
        assert capture(resend, api, secrets[i % 2]).status_code == 202
    assert len(mail.outbox) == 10

    refused = capture(resend, api, secrets[0])
    assert (refused.status_code, refused.json()) == (429, EMAILS_SPENT)
    assert_retry_within(refused, 3600)
    login_refused = capture(password_login, make_api(), user)
    assert (login_refused.status_code, login_refused.json()) == (429, EMAILS_SPENT)
    assert len(mail.outbox) == 10
    assert TwoFactorChallenge.objects.filter(user=user).count() == 2
    # The codes already sent still work.
    assert submit(api, code_from_outbox(), secrets[1]).status_code == 200

    with time_machine.travel(timezone.now() + timedelta(seconds=3601)):
        assert start_login(user)[0].status_code == 200


def test_a_resend_refused_as_too_soon_spends_no_email(api, user, start_login, capture, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "two_factor_account_emails": "2/h"}
    secret = start_login(user)[0].json()["challenge"]
    for _ in range(3):
        assert capture(resend, api, secret).status_code == 429  # the 30 s cooldown of the challenge
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert capture(resend, api, secret).status_code == 202
    assert len(mail.outbox) == 2


# --- password checks behind an access token -------------------------------------------------------


def change_password(api, access, old, new="an entirely new passphrase 77", **extra):
    return api.post("/api/auth/password/change/", {"old_password": old, "new_password": new}, format="json",
                    **bearer(access), **extra)


def switch_two_factor(api, access, on: bool, password, **extra):
    path = "/api/auth/2fa/enable/" if on else "/api/auth/2fa/disable/"
    return api.post(path, {"password": password}, format="json", **bearer(access), **extra)


def test_password_checks_behind_a_token_share_one_per_user_limit(api, user, make_user, login, settings):
    """
    A stolen access token used to buy unlimited old-password guesses. Ten
    password checks an hour per user, password/change and the 2FA switches
    together, whatever the IP (OWASP ASVS 2.2.1).
    """
    settings.AUTH_2FA = "optional"
    access = login(user).json()["access"]
    guesses = [
        lambda ip: change_password(api, access, "wrong", REMOTE_ADDR=ip),
        lambda ip: switch_two_factor(api, access, True, "wrong", REMOTE_ADDR=ip),
        lambda ip: switch_two_factor(api, access, False, "wrong", REMOTE_ADDR=ip),
    ]
    for i in range(10):
        answer = guesses[i % 3](f"198.51.100.{i}")
        assert (answer.status_code, answer.json()["code"]) == (400, "invalid_password")

    limited = change_password(api, access, PASSWORD, REMOTE_ADDR="203.0.113.1")
    assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")
    assert_retry_within(limited, 3600)
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert switch_two_factor(api, access, True, PASSWORD).status_code == 429

    bob = make_user()
    assert switch_two_factor(api, login(bob).json()["access"], True, PASSWORD).status_code == 204


def test_a_weak_new_password_gets_the_same_answer_whatever_the_old_one(api, user, login, settings):
    """
    The new password is judged first: answering "too weak" only after a
    right old password would confirm the guess to whoever holds the token.
    """
    settings.AUTH_2FA = "off"
    access = login(user).json()["access"]
    with_wrong_old = change_password(api, access, "wrong", new="123")
    with_right_old = change_password(api, access, PASSWORD, new="123")

    assert with_wrong_old.status_code == with_right_old.status_code == 400
    assert with_wrong_old.json() == with_right_old.json()
    assert "new_password" in with_wrong_old.json()["errors"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize("change, error_id", [
    ({"RATE_LIMITS": {"login_email": "often"}}, "accounts.E003"),
    ({"RATE_LIMITS": {"two_factor_account_failures": "0/h"}}, "accounts.E003"),
    ({"RATELIMIT_IPV6_PREFIX": 129}, "accounts.E004"),
    ({"RATELIMIT_IPV4_PREFIX": 0}, "accounts.E004"),
    ({"TWO_FACTOR_MAX_OPEN_CHALLENGES": 0}, "accounts.E005"),
])
def test_misconfigured_limits_are_caught_by_the_system_checks(settings, change, error_id):
    from accounts.checks import check_rate_limits

    assert check_rate_limits(None) == []
    for name, value in change.items():
        setattr(settings, name, {**settings.RATE_LIMITS, **value} if name == "RATE_LIMITS" else value)
    assert [error.id for error in check_rate_limits(None)] == [error_id]


def test_budgets_fail_closed_like_every_limit(settings):
    """No cache, no budget: spending one is a 503, unless the operator chose to fail open (then no budget)."""
    from authsvc import ratelimits
    from tests.accounts.test_ratelimits import CLOSED_PORT_CACHE

    settings.CACHES = CLOSED_PORT_CACHE
    with pytest.raises(ratelimits.RateLimitUnavailable):
        ratelimits.take("two_factor_account_failures", "1")
    with pytest.raises(ratelimits.RateLimitUnavailable):
        ratelimits.peek("two_factor_account_failures", "1")

    settings.RATELIMIT_FAIL_OPEN = True
    assert ratelimits.take("two_factor_account_failures", "1") is None
    assert ratelimits.peek("two_factor_account_failures", "1") is None
