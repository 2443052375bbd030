"""
Recovery codes (DESIGN.md, Part 2, "Second factors"): ten single-use codes,
the fallback of an app user, shown once and stored hashed, accepted without
the dash and in any case, replaced with the password; each use is an audit
event and mails the user a notice. ``GET 2fa`` tells how many are left.
"""

import pytest
from django.core import mail

from accounts.models import RecoveryCode
from tests.accounts.factors import (
    DISABLE,
    INVALID_CODE,
    INVALID_PASSWORD,
    RECOVERY_CODE,
    RECOVERY_CODES,
    STATUS,
    TOKENS,
    answer,
    enrol_totp,
    signed_in,
    totp_code,
)
from tests.conftest import PASSWORD
from tests.test_no_secrets import database_text
from tokens.models import AuthEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("two_factor")]


def log_in_with(api, password_step, user, code: str):
    """A whole login finished with a recovery code; the login/2fa response."""
    return answer(api, password_step(user)["challenge"], code, "recovery")


def test_ten_unique_codes_shown_once(enrolled):
    """GET 2fa tells how many are left, never the codes: the confirm answer was their only showing."""
    codes = enrolled.recovery_codes
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(RECOVERY_CODE.match(code) for code in codes), codes

    status = enrolled.client.get(STATUS)

    assert status.status_code == 200
    assert status.json() == {"methods": ["totp", "recovery"], "recovery_codes_left": 10, "webauthn": []}
    assert status["Cache-Control"] == "no-store"
    for code in codes:
        assert code not in status.content.decode() and code.replace("-", "") not in status.content.decode()


def test_status_of_a_user_with_no_factor_but_the_email(clock, user):
    assert signed_in(user).get(STATUS).json() == {"methods": ["email"], "recovery_codes_left": 0, "webauthn": []}


def test_codes_are_stored_hashed(enrolled):
    """Only keyed hashes are kept (OWASP MFA Cheat Sheet, "Recovery codes"): a copy of the table yields no code."""
    assert RecoveryCode.objects.filter(user=enrolled.user).count() == 10
    stored = database_text()
    for code in enrolled.recovery_codes:
        for form in (code, code.replace("-", ""), code.upper(), code.replace("-", "").upper()):
            assert form not in stored


@pytest.mark.parametrize("spell", [
    lambda code: code,
    lambda code: code.replace("-", ""),
    lambda code: code.upper(),
    lambda code: code.replace("-", "").upper(),
    lambda code: f"  {code[:3]} {code[3:].upper()} ",
], ids=["as-shown", "no-dash", "upper-case", "upper-no-dash", "spaced-mixed"])
def test_a_code_is_accepted_without_the_dash_and_in_any_case(enrolled, api, password_step, spell):
    """Typed from paper: the dash and the case are presentation (DESIGN.md)."""
    done = log_in_with(api, password_step, enrolled.user, spell(enrolled.recovery_codes[3]))

    assert done.status_code == 200, done.content
    assert set(done.json()) == TOKENS
    assert AuthEvent.objects.get(kind=AuthEvent.Kind.LOGIN_SUCCEEDED).reason == "recovery"


def test_a_code_is_single_use(enrolled, api, make_api, password_step):
    code = enrolled.recovery_codes[0]
    assert log_in_with(api, password_step, enrolled.user, code).status_code == 200

    other = make_api()
    again = log_in_with(other, password_step, enrolled.user, code.replace("-", "").upper())

    assert (again.status_code, again.json()) == (401, INVALID_CODE)
    assert enrolled.client.get(STATUS).json()["recovery_codes_left"] == 9


def test_a_code_of_another_user_is_refused(enrolled, api, make_user, password_step, clock):
    """Codes are bound to their user (the hash covers the user id)."""
    bob = make_user(email="bob@example.com")
    bobs = enrol_totp(bob)
    clock.shift(30)

    refused = log_in_with(api, password_step, enrolled.user, bobs.recovery_codes[0])

    assert (refused.status_code, refused.json()) == (401, INVALID_CODE)


def test_a_recovery_code_login_is_audited_and_the_user_is_mailed(enrolled, api, password_step, capture):
    """DESIGN.md: each recovery-code use is an audit event and mails a notice (with how many are left)."""
    code = enrolled.recovery_codes[0]

    done = capture(log_in_with, api, password_step, enrolled.user, code)

    assert done.status_code == 200
    used = AuthEvent.objects.get(kind=AuthEvent.Kind.RECOVERY_CODE_USED)
    assert (used.user_id, used.reason, used.actor) == (enrolled.user.pk, "9 left", "user")
    [notice] = mail.outbox
    assert notice.to == ["alice@example.com"]
    assert notice.subject == "A sign-in method of your account changed"
    assert "A recovery code was used to sign in to your account" in notice.body and "9 left" in notice.body
    assert code not in notice.body and code.replace("-", "") not in notice.body


def test_a_wrong_recovery_code_records_no_use_and_mails_nothing(enrolled, api, password_step, capture):
    refused = capture(log_in_with, api, password_step, enrolled.user, "22222-22222")

    assert (refused.status_code, refused.json()) == (401, INVALID_CODE)
    assert not AuthEvent.objects.filter(kind=AuthEvent.Kind.RECOVERY_CODE_USED).exists()
    assert mail.outbox == []


def test_regenerating_needs_the_password(enrolled, api, password_step):
    refused = enrolled.client.post(RECOVERY_CODES, {"password": "not the password"}, format="json")

    assert (refused.status_code, refused.json()) == (400, INVALID_PASSWORD)
    assert log_in_with(api, password_step, enrolled.user, enrolled.recovery_codes[0]).status_code == 200


def test_regenerated_codes_replace_the_old_ones(enrolled, api, make_api, password_step, capture):
    """DESIGN.md: the old ones stop working, all of them, the used and the unused."""
    assert log_in_with(api, password_step, enrolled.user, enrolled.recovery_codes[0]).status_code == 200

    renewed = capture(enrolled.client.post, RECOVERY_CODES, {"password": PASSWORD}, format="json")

    assert renewed.status_code == 200
    assert renewed["Cache-Control"] == "no-store"
    new = renewed.json()["recovery_codes"]
    assert set(renewed.json()) == {"recovery_codes"}
    assert len(new) == 10 and len(set(new)) == 10 and not set(new) & set(enrolled.recovery_codes)
    assert all(RECOVERY_CODE.match(code) for code in new)
    assert enrolled.client.get(STATUS).json()["recovery_codes_left"] == 10
    assert "New recovery codes were made for your account" in mail.outbox[-1].body
    for old in enrolled.recovery_codes[1:3]:
        client = make_api()
        refused = log_in_with(client, password_step, enrolled.user, old)
        assert (refused.status_code, refused.json()) == (401, INVALID_CODE)
    assert log_in_with(make_api(), password_step, enrolled.user, new[0]).status_code == 200


def test_when_the_codes_are_used_up_recovery_is_no_longer_offered(enrolled, api, make_api, password_step, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login_email_ip": "100/m", "two_factor_ip": "100/m"}
    for code in enrolled.recovery_codes:
        assert log_in_with(make_api(), password_step, enrolled.user, code).status_code == 200

    assert enrolled.client.get(STATUS).json() == {"methods": ["totp"], "recovery_codes_left": 0, "webauthn": []}
    assert password_step(enrolled.user)["methods"] == ["totp"]


def test_confirming_a_new_app_keeps_the_codes_a_user_still_has(enrolled, api, password_step, clock):
    """DESIGN.md: new codes only if the user had none — the paper copy in a drawer stays good."""
    assert enrolled.client.post(DISABLE, {"password": PASSWORD, "code": totp_code(enrolled.secret)},
                                format="json").status_code == 204

    again = enrol_totp(enrolled.user, enrolled.client)

    assert again.recovery_codes == []
    clock.shift(30)
    assert log_in_with(api, password_step, enrolled.user, enrolled.recovery_codes[5]).status_code == 200
