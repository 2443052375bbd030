"""
The authenticator app (DESIGN.md, Part 2, "Second factors"): set up with the
password, confirmed with a first code, then what a login asks for instead of
the emailed code; each code taken once, within one 30 s step of drift either
way; removed with the password and a code. And the one login frame every
method plugs into (``accounts.methods``, ``flows.login``): a challenge's five
tries and the account's budget of wrong answers count every method alike.

The clock stands still in these tests (``clock``), 5 s into a TOTP step, so
each code's step is known; ``clock.shift(STEP)`` moves it on by one.
The helpers are in ``tests/accounts/factors.py``, the fixtures in its conftest.
"""

import base64
import re
import shutil
import subprocess
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from authsvc import secretbox
from accounts.models import RecoveryCode, TotpDevice, TwoFactorChallenge, User
from tests.accounts.conftest import code_from_outbox
from tests.accounts.factors import (
    CHALLENGE_LOCKED,
    CONFIRM,
    COOLDOWN,
    DISABLE,
    INVALID_CODE,
    INVALID_PASSWORD,
    METHOD_UNAVAILABLE,
    NOT_A_RECOVERY_CODE,
    RECOVERY_CODE,
    RECOVERY_CODES,
    SETUP,
    STATUS,
    STEP,
    TOKENS,
    answer,
    enrol_totp,
    pending_body,
    signed_in,
    totp_code,
    wrong_totp_code,
)
from tests.conftest import PASSWORD
from tokens.models import AuthEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("two_factor")]

# --- setup and confirmation --------------------------------------------------------------------------------------


def test_setup_needs_the_password(clock, user):
    """A signed-in session alone (a borrowed laptop, a stolen token) cannot enrol an app of the attacker's."""
    refused = signed_in(user).post(SETUP, {"password": "not the password"}, format="json")

    assert (refused.status_code, refused.json()) == (400, INVALID_PASSWORD)
    assert not TotpDevice.objects.exists()


def test_setup_answers_a_160_bit_secret_its_otpauth_uri_and_a_qr_code(clock, user, settings):
    """RFC 4226 §4 asks for a 160-bit shared secret; the URI names TOTP_ISSUER and the account (Key Uri Format)."""
    settings.TOTP_ISSUER = "Example Auth"

    response = signed_in(user).post(SETUP, {"password": PASSWORD}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"secret", "otpauth_uri", "qr_svg"}
    assert response["Cache-Control"] == "no-store"
    secret = body["secret"]
    assert re.fullmatch(r"[A-Z2-7]+", secret)
    assert len(base64.b32decode(secret)) * 8 >= 160
    uri = urlsplit(body["otpauth_uri"])
    assert (uri.scheme, uri.netloc, unquote(uri.path)) == ("otpauth", "totp", "/Example Auth:alice@example.com")
    query = parse_qs(uri.query)
    assert query["secret"] == [secret] and query["issuer"] == ["Example Auth"]
    # Authenticator apps assume SHA1 / 6 / 30 when these are absent: present, they must say the same.
    assert query.get("algorithm", ["SHA1"]) == ["SHA1"]
    assert query.get("digits", ["6"]) == ["6"] and query.get("period", ["30"]) == ["30"]
    svg = body["qr_svg"]
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>") and "<path" in svg
    # Inline, nothing fetched from elsewhere (the secret must not leave in an image URL).
    assert "href" not in svg and "<image" not in svg


def test_every_setup_makes_a_new_secret_and_a_pending_one_is_replaced(clock, user):
    """Setting up again before confirming replaces the pending secret: the first one's codes no longer confirm."""
    client = signed_in(user)
    first = client.post(SETUP, {"password": PASSWORD}, format="json").json()["secret"]
    second = client.post(SETUP, {"password": PASSWORD}, format="json").json()["secret"]
    assert first != second

    stale = client.post(CONFIRM, {"code": totp_code(first)}, format="json")
    assert (stale.status_code, stale.json()) == (401, INVALID_CODE)
    assert client.post(CONFIRM, {"code": totp_code(second)}, format="json").status_code == 200


def test_a_pending_setup_is_no_factor(clock, user, api, password_step):
    """Until a code confirms it, the app is not asked for: the login still emails a code, and that code works."""
    client = signed_in(user)
    assert client.post(SETUP, {"password": PASSWORD}, format="json").status_code == 200

    pending = password_step(user)

    assert pending == pending_body(["email"])
    assert client.get(STATUS).json() == {"methods": ["email"], "recovery_codes_left": 0, "webauthn": []}
    app = answer(api, pending["challenge"], "123456", "totp")
    assert (app.status_code, app.json()) == (400, METHOD_UNAVAILABLE)
    assert answer(api, pending["challenge"], code_from_outbox()).status_code == 200


def test_confirm_with_a_wrong_code_is_refused_and_confirms_nothing(clock, user, api, password_step):
    client = signed_in(user)
    secret = client.post(SETUP, {"password": PASSWORD}, format="json").json()["secret"]

    refused = client.post(CONFIRM, {"code": wrong_totp_code(secret)}, format="json")

    assert (refused.status_code, refused.json()) == (401, INVALID_CODE)
    assert TotpDevice.objects.get().confirmed_at is None
    assert not RecoveryCode.objects.exists()
    assert password_step(user)["methods"] == ["email"]


def test_confirm_without_a_setup_is_refused(clock, user):
    refused = signed_in(user).post(CONFIRM, {"code": "123456"}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (400, "factor_missing")


def test_confirm_gives_ten_recovery_codes_and_the_app_becomes_a_factor(clock, user, capture):
    """The right code confirms; the ten recovery codes are the fallback, shown this once; a notice is mailed."""
    client = signed_in(user)
    secret = client.post(SETUP, {"password": PASSWORD}, format="json").json()["secret"]

    confirmed = capture(client.post, CONFIRM, {"code": totp_code(secret)}, format="json")

    assert confirmed.status_code == 200
    assert confirmed["Cache-Control"] == "no-store"
    codes = confirmed.json()["recovery_codes"]
    assert set(confirmed.json()) == {"recovery_codes"}
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(RECOVERY_CODE.match(code) for code in codes), codes
    assert client.get(STATUS).json() == {"methods": ["totp", "recovery"], "recovery_codes_left": 10, "webauthn": []}
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.FACTOR_ADDED, user_id=user.pk, reason="totp").count() == 1
    assert [m.subject for m in mail.outbox] == ["A sign-in method of your account changed"]
    assert "An authenticator app was added to your account" in mail.outbox[0].body


def test_setting_up_again_once_confirmed_is_refused(enrolled):
    """A second setup would replace a working app with one whoever holds the session controls: disable first."""
    again = enrolled.client.post(SETUP, {"password": PASSWORD}, format="json")

    assert again.status_code == 400
    assert again.json() == {"detail": "An authenticator app is already set up; disable it first.",
                            "code": "factor_exists"}
    device = TotpDevice.objects.get()
    assert device.confirmed_at is not None and secretbox.decrypt(device.encrypted_secret) == enrolled.secret


def test_the_secret_is_encrypted_at_rest(enrolled, settings):
    """
    DESIGN.md: Fernet at rest. The column, as the database holds it, is not
    the secret, decrypts to it, and only with the key: a copy of the table
    (a backup, a replica) yields no secret.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT encrypted_secret FROM {TotpDevice._meta.db_table}")
        [(stored,)] = cursor.fetchall()

    raw = base64.b32decode(enrolled.secret)
    for form in (enrolled.secret, enrolled.secret.lower(), raw.hex(), base64.b64encode(raw).decode(),
                 base64.b64encode(enrolled.secret.encode()).decode()):
        assert form not in stored
    assert secretbox.decrypt(stored) == enrolled.secret
    settings.FACTOR_ENCRYPTION_KEY = ["a key that is not the one it was stored with"]
    with pytest.raises(secretbox.UndecryptableSecret):
        secretbox.decrypt(stored)


@pytest.mark.parametrize("path, body", [
    (SETUP, {"password": PASSWORD}),
    (CONFIRM, {"code": "123456"}),
    (RECOVERY_CODES, {"password": PASSWORD}),
])
def test_no_factor_is_set_up_when_two_factor_is_off(clock, user, settings, path, body):
    """With AUTH_2FA=off no login asks for a second factor: setting one up would only mislead."""
    settings.AUTH_2FA = "off"

    refused = signed_in(user).post(path, body, format="json")

    assert refused.status_code == 403
    assert refused.json() == {"detail": "Two-factor authentication is switched off on this service.",
                              "code": "two_factor_unavailable"}
    assert not TotpDevice.objects.exists() and not RecoveryCode.objects.exists()


# --- login with the app ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("enrol_mode, login_mode", [
    ("required", "required"),
    ("optional", "optional"),
    # The operator relaxed the switch after the user chose an app: still asked for.
    ("required", "optional"),
])
def test_an_app_user_is_asked_for_the_app_and_mailed_nothing(clock, user, api, password_step, settings, enrol_mode,
                                                             login_mode):
    """DESIGN.md: once a user has an app factor, no code is mailed at login; recovery codes are the fallback."""
    settings.AUTH_2FA = enrol_mode
    enrol_totp(user)
    settings.AUTH_2FA = login_mode
    User.objects.filter(pk=user.pk).update(two_factor_enabled=enrol_mode == "optional")

    pending = password_step(user)

    assert pending == pending_body(["totp", "recovery"])
    assert mail.outbox == []
    challenge = TwoFactorChallenge.objects.get()
    assert challenge.code_sent_at is None and challenge.pending_send is None and challenge.code_hash == ""


def test_with_two_factor_off_an_app_user_logs_in_with_the_password(enrolled, api, password_step, settings):
    settings.AUTH_2FA = "off"
    assert set(password_step(enrolled.user)) == TOKENS


@pytest.mark.parametrize("method", ["totp", None], ids=["method-totp", "default-method"])
def test_login_with_a_code_from_the_app(enrolled, api, password_step, method):
    """``method`` defaults to the first of the login answer's methods: the app, for this user."""
    pending = password_step(enrolled.user)

    done = answer(api, pending["challenge"], totp_code(enrolled.secret), method)

    assert done.status_code == 200, done.content
    assert set(done.json()) == TOKENS
    assert AuthEvent.objects.get(kind=AuthEvent.Kind.LOGIN_SUCCEEDED).reason == "totp"


def test_a_code_is_taken_once(enrolled, api, make_api, password_step):
    """
    RFC 6238 §5.2: the verifier must not accept the second attempt of the
    same OTP after a successful validation — whoever saw the code (a
    shoulder, a phishing proxy) cannot log in with it again in its window.
    """
    code = totp_code(enrolled.secret)
    assert answer(api, password_step(enrolled.user)["challenge"], code).status_code == 200

    other = make_api()
    replay = answer(other, password_step(enrolled.user, client=other)["challenge"], code)

    assert (replay.status_code, replay.json()) == (401, INVALID_CODE)


def test_the_code_that_confirmed_the_app_does_not_log_in(enrolled, api, password_step):
    """Confirming spends its step too: the ``enrolled`` clock is one step on, so that code is still in the window."""
    confirming = totp_code(enrolled.secret, -1)

    replay = answer(api, password_step(enrolled.user)["challenge"], confirming)

    assert (replay.status_code, replay.json()) == (401, INVALID_CODE)


def test_a_code_older_than_the_last_one_taken_is_refused(enrolled, api, make_api, password_step):
    """Once the next step's code was taken (drift), the current step's is refused: steps only move forward."""
    assert answer(api, password_step(enrolled.user)["challenge"], totp_code(enrolled.secret, 1)).status_code == 200

    other = make_api()
    older = answer(other, password_step(enrolled.user, client=other)["challenge"], totp_code(enrolled.secret))

    assert (older.status_code, older.json()) == (401, INVALID_CODE)


@pytest.mark.parametrize("steps, accepted", [(-2, False), (-1, True), (0, True), (1, True), (2, False)])
def test_one_step_of_drift_either_way(enrolled, api, password_step, clock, steps, accepted):
    """DESIGN.md (RFC 6238 §5.2 and §6): the previous and the next step's codes pass, two steps away do not."""
    clock.shift(3 * STEP)  # the confirming step well behind, so only the window decides
    pending = password_step(enrolled.user)

    response = answer(api, pending["challenge"], totp_code(enrolled.secret, steps), "totp")

    if accepted:
        assert response.status_code == 200, response.content
    else:
        assert (response.status_code, response.json()) == (401, INVALID_CODE)


OATHTOOL = shutil.which("oathtool")


@pytest.mark.skipif(OATHTOOL is None, reason="Debian's oathtool is not installed (apt-get install oathtool; "
                                             ".ci/run installs it): the interop test needs a TOTP we did not write")
def test_codes_from_oathtool_confirm_and_log_in(clock, user, api, password_step):
    """
    Interop with an implementation no one here wrote (OATH Toolkit, C): its
    codes for the secret we hand out confirm the app and log in. pyotp is
    ours, so agreeing with it would prove nothing about RFC 6238.
    """

    def oathtool() -> str:
        at = timezone.now().strftime("%Y-%m-%d %H:%M:%S UTC")
        run = subprocess.run([OATHTOOL, "--totp", "-b", "--now", at, secret], capture_output=True, text=True,
                             timeout=10, check=True)
        return run.stdout.strip()

    client = signed_in(user)
    secret = client.post(SETUP, {"password": PASSWORD}, format="json").json()["secret"]
    confirmed = client.post(CONFIRM, {"code": oathtool()}, format="json")
    assert confirmed.status_code == 200, confirmed.content

    clock.shift(STEP)
    done = answer(api, password_step(user)["challenge"], oathtool(), "totp")
    assert done.status_code == 200, done.content


# --- disabling -------------------------------------------------------------------------------------------------


def test_disable_needs_the_password(enrolled):
    refused = enrolled.client.post(DISABLE, {"password": "not the password", "code": totp_code(enrolled.secret)},
                                   format="json")

    assert (refused.status_code, refused.json()) == (400, INVALID_PASSWORD)
    assert TotpDevice.objects.filter(confirmed_at__isnull=False).exists()


@pytest.mark.parametrize("code", ["", "wrong", NOT_A_RECOVERY_CODE])
def test_disable_needs_a_right_code(enrolled, code):
    """The password alone must not strip the second factor: a signed-in thief may well know it."""
    if code == "wrong":
        code = wrong_totp_code(enrolled.secret)

    refused = enrolled.client.post(DISABLE, {"password": PASSWORD, "code": code}, format="json")

    assert refused.status_code == (400 if code == "" else 401)
    if code:
        assert refused.json() == INVALID_CODE
        # Audited as a login's wrong answer is, the method and the step named.
        expected = "totp: disable" if code != NOT_A_RECOVERY_CODE else "recovery: disable"
        assert list(AuthEvent.objects.filter(kind=AuthEvent.Kind.TWO_FACTOR_FAILED).values_list("reason", flat=True)) \
            == [expected]
    assert TotpDevice.objects.filter(confirmed_at__isnull=False).exists()


def test_a_wrong_code_at_confirm_is_audited(clock, user):
    client = signed_in(user)
    secret = client.post(SETUP, {"password": PASSWORD}, format="json").json()["secret"]

    assert client.post(CONFIRM, {"code": wrong_totp_code(secret)}, format="json").status_code == 401

    (failed,) = AuthEvent.objects.filter(kind=AuthEvent.Kind.TWO_FACTOR_FAILED)
    assert (failed.user_id, failed.reason, failed.via) == (user.pk, "totp: confirm", "api")


def test_disable_without_an_app_is_refused(clock, user):
    refused = signed_in(user).post(DISABLE, {"password": PASSWORD, "code": "123456"}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (400, "factor_missing")


@pytest.mark.parametrize("mode", ["required", "optional"])
@pytest.mark.parametrize("proof", ["totp", "recovery"])
def test_disable_with_a_code_brings_the_emailed_code_back(clock, user, api, password_step, settings, capture, mode,
                                                          proof):
    """DESIGN.md: removing the last app factor brings the emailed code back — in optional mode too."""
    settings.AUTH_2FA = mode
    enrolled = enrol_totp(user)
    clock.shift(STEP)
    code = totp_code(enrolled.secret) if proof == "totp" else enrolled.recovery_codes[0]

    disabled = capture(enrolled.client.post, DISABLE, {"password": PASSWORD, "code": code}, format="json")

    assert disabled.status_code == 204, disabled.content
    assert not TotpDevice.objects.exists()
    left = 10 if proof == "totp" else 9
    assert enrolled.client.get(STATUS).json() == {"methods": ["email", "recovery"], "recovery_codes_left": left,
                                                  "webauthn": []}
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.FACTOR_REMOVED, user_id=user.pk, reason="totp").exists()
    assert "An authenticator app was removed from your account" in mail.outbox[-1].body
    mail.outbox.clear()

    pending = password_step(user)

    assert pending == pending_body(["email", "recovery"])
    assert answer(api, pending["challenge"], code_from_outbox()).status_code == 200


# --- the one frame: tries and budgets count every method ----------------------------------------------------------


def test_five_wrong_answers_across_methods_lock_the_challenge(enrolled, api, make_api, password_step):
    """DESIGN.md: five wrong answers per challenge across all methods; switching method buys no tries."""
    challenge = password_step(enrolled.user)["challenge"]
    wrong = wrong_totp_code(enrolled.secret)
    for code, method in [(wrong, "totp"), (NOT_A_RECOVERY_CODE, "recovery"), (wrong, None), ("garbage", "recovery"),
                         (wrong, "totp")]:
        refused = answer(api, challenge, code, method)
        assert (refused.status_code, refused.json()) == (401, INVALID_CODE)

    for code, method in [(totp_code(enrolled.secret), "totp"), (enrolled.recovery_codes[0], "recovery")]:
        locked = answer(api, challenge, code, method)
        assert (locked.status_code, locked.json()) == (401, CHALLENGE_LOCKED)

    # A locked challenge checks nothing: the right code sent to it was not spent.
    other = make_api()
    assert answer(other, password_step(enrolled.user, client=other)["challenge"],
                  totp_code(enrolled.secret)).status_code == 200


def test_wrong_answers_of_every_method_spend_one_account_budget(enrolled, api, password_step, settings, capture):
    """
    The account's budget of wrong answers (``accounts.budgets``; NIST SP
    800-63B §5.2.2) counts app codes and recovery codes together, across
    challenges: a new login or another method buys no more guesses. The
    answer that spends the last unit pauses the account.
    """
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "two_factor_account_failures": "4/h"}
    wrong = wrong_totp_code(enrolled.secret)
    first = password_step(enrolled.user)["challenge"]
    assert answer(api, first, wrong, "totp").status_code == 401
    assert answer(api, first, NOT_A_RECOVERY_CODE, "recovery").status_code == 401
    second = password_step(enrolled.user)["challenge"]
    assert answer(api, second, wrong, "totp").status_code == 401

    paused = capture(answer, api, second, NOT_A_RECOVERY_CODE, "recovery")

    assert (paused.status_code, paused.json()) == (429, COOLDOWN)
    assert int(paused["Retry-After"]) >= 1
    # Paused: not even a right answer is checked, and no login gets a challenge.
    for refused in (answer(api, second, totp_code(enrolled.secret), "totp"),
                    answer(api, first, enrolled.recovery_codes[0], "recovery"),
                    api.post("/api/auth/login/", {"email": enrolled.user.email, "password": PASSWORD,
                                                  "transport": "body"}, format="json")):
        assert (refused.status_code, refused.json()) == (429, COOLDOWN)
    assert RecoveryCode.objects.filter(used_at__isnull=True).count() == 10


def test_wrong_codes_at_confirm_and_disable_spend_the_login_budget(clock, user, api, password_step, settings):
    """Confirming and disabling compare codes too: they must not be a side door for guessing without limit."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "two_factor_account_failures": "3/h"}
    client = signed_in(user)
    secret = client.post(SETUP, {"password": PASSWORD}, format="json").json()["secret"]
    assert client.post(CONFIRM, {"code": wrong_totp_code(secret)}, format="json").status_code == 401
    assert client.post(CONFIRM, {"code": totp_code(secret)}, format="json").status_code == 200  # given back
    clock.shift(STEP)
    assert client.post(DISABLE, {"password": PASSWORD, "code": wrong_totp_code(secret)},
                       format="json").status_code == 401

    paused = answer(api, password_step(user)["challenge"], wrong_totp_code(secret), "totp")

    assert (paused.status_code, paused.json()) == (429, COOLDOWN)
    refused = client.post(DISABLE, {"password": PASSWORD, "code": totp_code(secret)}, format="json")
    assert (refused.status_code, refused.json()) == (429, COOLDOWN)
    assert TotpDevice.objects.filter(confirmed_at__isnull=False).exists()


@pytest.mark.parametrize("method", ["email", "webauthn"])
def test_a_method_an_app_user_cannot_use_is_refused_and_costs_nothing(enrolled, api, password_step, settings,
                                                                      method):
    """
    No emailed code for an app user (none was sent: an answer to it would
    be a guess at nothing). A refused method is no try: neither the
    challenge's five nor the account's budget (here one) are spent.
    """
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "two_factor_account_failures": "1/h"}
    challenge = password_step(enrolled.user)["challenge"]
    for _ in range(6):
        refused = answer(api, challenge, "123456", method)
        assert (refused.status_code, refused.json()) == (400, METHOD_UNAVAILABLE)

    assert TwoFactorChallenge.objects.get().attempts == 0
    assert answer(api, challenge, totp_code(enrolled.secret), "totp").status_code == 200


@pytest.mark.parametrize("method", ["totp", "recovery", "webauthn"])
def test_a_method_the_user_has_not_set_up_is_refused_and_costs_nothing(user, api, start_login, settings, method):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "two_factor_account_failures": "1/h"}
    response, code = start_login(user)
    assert response.json() == pending_body(["email"])
    challenge = response.json()["challenge"]
    for _ in range(6):
        refused = answer(api, challenge, "123456", method)
        assert (refused.status_code, refused.json()) == (400, METHOD_UNAVAILABLE)

    assert TwoFactorChallenge.objects.get().attempts == 0
    assert answer(api, challenge, code, "email").status_code == 200


def test_no_code_is_mailed_to_an_app_user_on_request_either(enrolled, api, password_step, capture, clock):
    challenge = password_step(enrolled.user)["challenge"]
    clock.shift(STEP + 1)  # past the resend cooldown, which would otherwise answer first

    refused = capture(api.post, "/api/auth/login/2fa/resend/", {"challenge": challenge}, format="json")

    assert (refused.status_code, refused.json()) == (400, METHOD_UNAVAILABLE)
    assert mail.outbox == []
