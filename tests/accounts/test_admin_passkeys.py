"""
The admin takes a passkey as the staff member's second factor (DESIGN.md,
"Staff and the admin": "a passkey button where the staff member has one";
issue 19, point 3): the second step's button fetches the pending login's
request options from ``/admin/login/code/passkey-options/`` and posts the
browser's credential in the step's form, where the API's login frame checks
it — the same tries, budget and audit events, marked ``via: admin``. Staff
see a user's passkeys and take them all away with an action that needs a
recent sign-in, names them in the audit trail and mails the user.

Assertions come from ``SoftAuthenticator``, a second reading of WebAuthn
written for the tests, at the RP id and origin of the test settings.
"""

import html
import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts import methods
from accounts.admin_factors import DEVICE_COOKIE
from accounts.admin_second_step import PASSKEY_REFUSED
from accounts.flows import passkeys, recovery_codes
from accounts.models import TwoFactorChallenge, WebAuthnCredential
from tests.accounts.authenticator import SoftAuthenticator
from tests.conftest import PASSWORD
from tests.staff import ADMIN_CODE, ADMIN_LOGIN, admin_client
from tokens.models import AuthEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("two_factor", "webauthn_settings")]

Kind = AuthEvent.Kind
STAFF_EMAIL = "staff@example.com"
OPTIONS = "/admin/login/code/passkey-options/"
USERS = "/admin/accounts/user/"
ERRORNOTE = re.compile(r'<p class="errornote">\s*(.*?)\s*</p>', re.S)
ORIGIN = "https://admin.example.com"
TOO_MANY = "Too many wrong codes; log in again."


# --- helpers and fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def webauthn_settings(settings):
    settings.WEBAUTHN_RP_ID = "admin.example.com"
    settings.WEBAUTHN_ORIGINS = [ORIGIN]


def register(user, **authenticator) -> SoftAuthenticator:
    """A passkey of ``user``, registered through the flows (as the API does) from a software authenticator."""
    key = SoftAuthenticator(rp_id="admin.example.com", origin=ORIGIN, **authenticator)
    passkeys.finish_registration(user=user, credential=key.create(passkeys.begin_registration(user=user,
                                                                                               password=PASSWORD)))
    return key


@pytest.fixture
def staff_key(staff) -> SoftAuthenticator:
    return register(staff)


@pytest.fixture
def password_step(django_capture_on_commit_callbacks):
    def post(client, email=STAFF_EMAIL, password=PASSWORD, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(ADMIN_LOGIN, {"username": email, "password": password}, **extra)
        assert response.status_code == 302 and response["Location"].startswith(ADMIN_CODE)
        return response

    return post


def csrf_client() -> tuple[Client, str]:
    """A client that, as a browser, sends the CSRF token it was given, or is refused."""
    client = Client(enforce_csrf_checks=True)
    client.get(ADMIN_LOGIN)
    return client, client.cookies["csrftoken"].value


def options(client, **extra):
    return client.post(OPTIONS, **extra)


def post_credential(client, credential, **extra):
    return client.post(ADMIN_CODE, {"code": "", "credential": json.dumps(credential)}, **extra)


def refusals(response) -> list[str]:
    return [html.unescape(note) for note in ERRORNOTE.findall(response.content.decode())]


def events(kind):
    return list(AuthEvent.objects.filter(kind=kind).order_by("id"))


def signed_in(client) -> bool:
    return client.get("/admin/").status_code == 200


def readonly(page: str, label: str) -> str:
    return re.search(rf'<label>{label}:</label>\s*<div class="readonly">(.*?)</div>', page, re.S).group(1)


# --- signing in with a passkey --------------------------------------------------------------------------------


def test_staff_sign_in_to_the_admin_with_a_passkey(staff, staff_key, password_step):
    """
    The page offers the button (its script, no inline one); the options are
    the pending login's, allowing the staff member's own passkey; the posted
    assertion signs them in, audited as ``webauthn`` via admin, and the
    passkey's counter moves on. No code is mailed to a staff member with an
    app factor.
    """
    browser, token = csrf_client()
    mail.outbox.clear()
    password_step(browser, HTTP_X_CSRFTOKEN=token)
    page = browser.get(ADMIN_CODE).content.decode()

    answer = options(browser, HTTP_X_CSRFTOKEN=token)
    request_options = answer.json()["publicKey"]
    credential = staff_key.get(answer.json())
    done = post_credential(browser, credential, HTTP_X_CSRFTOKEN=token)

    assert not mail.outbox
    assert 'id="passkey-button"' in page and f'data-options-url="{OPTIONS}"' in page
    assert '<script src="/static/accounts/admin_passkey.js" defer></script>' in page
    assert "Use your passkey, or one of your recovery codes, to finish signing in." in page
    assert answer.status_code == 200
    assert "no-store" in answer["Cache-Control"]
    assert request_options["rpId"] == "admin.example.com"
    assert [key["id"] for key in request_options["allowCredentials"]] == [staff_key.id]
    assert TwoFactorChallenge.objects.get().webauthn_challenge == request_options["challenge"]
    assert done.status_code == 302 and done["Location"] == "/admin/"
    assert signed_in(browser)
    (ok,) = events(Kind.LOGIN_SUCCEEDED)
    assert (ok.user_id, ok.reason, ok.via) == (staff.pk, methods.WEBAUTHN, "admin")
    key = WebAuthnCredential.objects.get(user=staff)
    assert key.sign_count == staff_key.sign_count == 1
    assert key.last_used_at is not None


def test_a_passkey_sign_in_can_remember_the_browser(staff, staff_key, password_step):
    """The box beside the button goes with the passkey's answer: the next password step skips the second."""
    browser = Client()
    password_step(browser)
    credential = staff_key.get(options(browser).json())

    done = browser.post(ADMIN_CODE, {"code": "", "credential": json.dumps(credential), "remember_device": "on"})
    browser.post("/admin/logout/")
    with_password = browser.post(ADMIN_LOGIN, {"username": STAFF_EMAIL, "password": PASSWORD})

    assert DEVICE_COOKIE in done.cookies
    assert with_password.status_code == 302 and with_password["Location"] == "/admin/"
    assert [e.reason for e in events(Kind.LOGIN_SUCCEEDED)] == [methods.WEBAUTHN, "remembered_device"]


def test_typed_codes_keep_working_beside_the_passkey(staff, staff_key, password_step):
    """A staff member with a passkey still finishes with a recovery code, in the one code field."""
    codes = recovery_codes.regenerate_recovery_codes(user=staff, password=PASSWORD)
    browser = Client()
    password_step(browser)

    done = browser.post(ADMIN_CODE, {"code": codes[0]})

    assert done.status_code == 302 and done["Location"] == "/admin/"
    (ok,) = events(Kind.LOGIN_SUCCEEDED)
    assert (ok.reason, ok.via) == (methods.RECOVERY, "admin")


def test_the_page_of_a_staff_member_without_a_passkey_has_no_button(staff, password_step):
    browser = Client()
    password_step(browser)

    page = browser.get(ADMIN_CODE).content.decode()
    refused = options(browser)

    assert "passkey" not in page
    assert refused.status_code == 400
    assert refused.json() == {"detail": "This second-factor method is not available for this account.",
                              "code": "method_unavailable"}


def _wrong_origin(key, request_options, earlier):
    return key.get(request_options, origin="https://evil.example.com")


def _wrong_rp_id(key, request_options, earlier):
    return key.get(request_options, rp_id="example.com")


def _replayed(key, request_options, earlier):
    # The assertion that signed in earlier, sent again: it signed that login's challenge, not this one.
    return earlier


def _counter_went_back(key, request_options, earlier):
    # Signed for this challenge, but with the counter the earlier sign-in already used: a cloned authenticator.
    return key.get(request_options, sign_count=key.sign_count)


def _another_key(key, request_options, earlier):
    return SoftAuthenticator(rp_id="admin.example.com", origin=ORIGIN).get(request_options)


def _older_options(key, request_options, earlier):
    # Only the newest options of a login count: asking again replaced the challenge.
    return key.get(request_options["older"])


@pytest.mark.parametrize("answer", [_wrong_origin, _wrong_rp_id, _replayed, _counter_went_back, _another_key,
                                    _older_options])
def test_a_refused_assertion_is_shown_on_the_page_and_counts_as_a_wrong_try(staff, staff_key, password_step, answer):
    """
    WebAuthn §7.2 (origin, RP id hash, challenge, signature, counter): a
    refused assertion is a wrong answer like a wrong code — the page says so
    (200, the form again), the try is counted and audited via admin, and no
    session starts.
    """
    first = Client()
    password_step(first)
    earlier = staff_key.get(first.post(OPTIONS).json())
    assert post_credential(first, earlier).status_code == 302
    browser = Client()
    password_step(browser)
    older = browser.post(OPTIONS).json()
    request_options = {**browser.post(OPTIONS).json(), "older": older}

    refused = post_credential(browser, answer(staff_key, request_options, earlier))

    assert refused.status_code == 200
    assert refusals(refused) == [PASSKEY_REFUSED]
    assert 'name="code"' in refused.content.decode()
    # The refused credential is not posted again with the next typed code.
    assert 'name="credential" value=""' in refused.content.decode()
    assert not signed_in(browser)
    assert TwoFactorChallenge.objects.filter(consumed_at__isnull=True).get().attempts == 1
    (failed,) = events(Kind.TWO_FACTOR_FAILED)
    assert (failed.user_id, failed.reason, failed.via) == (staff.pk, "webauthn: attempt 1", "admin")
    assert len(events(Kind.LOGIN_SUCCEEDED)) == 1
    assert len(events(Kind.PASSKEY_COUNTER_WENT_BACK)) == (answer is _counter_went_back)


def test_five_refused_assertions_end_the_login(staff, staff_key, password_step):
    """Five wrong answers per challenge across all methods (DESIGN.md): then the password again."""
    browser = Client()
    password_step(browser)
    for _ in range(TwoFactorChallenge.MAX_ATTEMPTS - 1):
        post_credential(browser, staff_key.get(browser.post(OPTIONS).json(), origin="https://evil.example.com"))

    last = post_credential(browser, staff_key.get(browser.post(OPTIONS).json(), origin="https://evil.example.com"))
    after = browser.post(OPTIONS)

    assert last.status_code == 200 and refusals(last) == [PASSKEY_REFUSED]
    assert len(events(Kind.TWO_FACTOR_FAILED)) == TwoFactorChallenge.MAX_ATTEMPTS - 1
    (locked,) = events(Kind.TWO_FACTOR_LOCKED)
    assert locked.via == "admin"
    # The dead login's options: refused, and the page to start again at, which says why.
    assert after.status_code == 401
    assert after.json() == {"detail": TOO_MANY, "code": "challenge_locked", "location": ADMIN_LOGIN}
    assert TOO_MANY in browser.get(after.json()["location"]).content.decode()
    assert browser.get(ADMIN_CODE)["Location"] == ADMIN_LOGIN
    assert not signed_in(browser)


def test_an_unreadable_credential_is_a_broken_page_not_a_try(staff, staff_key, password_step):
    browser = Client()
    password_step(browser)

    refused = browser.post(ADMIN_CODE, {"code": "", "credential": "{not json"})

    assert refused.status_code == 200
    assert refusals(refused) == ["The passkey's answer could not be read; try again."]
    assert TwoFactorChallenge.objects.get().attempts == 0
    assert not events(Kind.TWO_FACTOR_FAILED)


def test_the_answer_is_under_the_challenges_rate_limit(settings, staff, staff_key, password_step):
    """The API's two_factor_challenge limit, on the page with its status and Retry-After."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "two_factor_challenge": "1/m"}
    browser = Client()
    password_step(browser)
    post_credential(browser, staff_key.get(browser.post(OPTIONS).json(), origin="https://evil.example.com"))

    limited = post_credential(browser, staff_key.get(browser.post(OPTIONS).json()))

    assert limited.status_code == 429
    assert refusals(limited) == ["Too many requests. Try again later."]
    assert int(limited["Retry-After"]) >= 1
    assert not signed_in(browser)


# --- the options endpoint -------------------------------------------------------------------------------------


def test_the_options_need_a_pending_login(staff, staff_key):
    """No pending login in this browser's session: no options, and the page to sign in at."""
    response = options(Client())

    assert response.status_code == 401
    assert response.json() == {"detail": "This login challenge is not valid; log in again.",
                               "code": "challenge_invalid", "location": ADMIN_LOGIN}
    assert not TwoFactorChallenge.objects.exists()


def test_the_options_are_csrf_protected_and_post_only(staff, staff_key, password_step):
    """The options change the pending login (a new WebAuthn challenge): a POST from the admin's own page only."""
    browser, token = csrf_client()
    password_step(browser, HTTP_X_CSRFTOKEN=token)

    forged = options(browser)
    fetched = browser.get(OPTIONS)

    assert forged.status_code == 403
    assert fetched.status_code == 405
    assert not TwoFactorChallenge.objects.get().webauthn_challenge


def test_the_options_are_under_the_two_factor_ip_limit(settings, staff, staff_key, password_step):
    browser = Client()
    password_step(browser)
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "two_factor_ip": "1/m"}
    assert options(browser).status_code == 200

    limited = options(browser)

    assert limited.status_code == 429
    assert limited.json() == {"detail": "Too many requests. Try again later.", "code": "rate_limited"}
    assert int(limited["Retry-After"]) >= 1


# --- staff see and take away a user's passkeys ----------------------------------------------------------------


def test_the_user_page_lists_passkeys(staff, make_user, password_step):
    """Read-only, by name, with when each was made and last used — never a key, an id or a counter."""
    user = make_user(email="dave@example.com")
    register(user)
    register(user)
    WebAuthnCredential.objects.filter(name="Passkey 1").update(last_used_at=timezone.now())
    admin = admin_client(staff)

    html = admin.get(f"{USERS}{user.pk}/change/").content.decode()

    listed = readonly(html, "Passkeys")
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", listed)
    assert [(name, last_used == "never") for name, _, last_used in rows] == [("Passkey 1", False),
                                                                               ("Passkey 2", True)]
    assert readonly(html, "Second-factor methods") == "webauthn, recovery"
    for key in WebAuthnCredential.objects.filter(user=user):
        assert key.credential_id not in html


def test_staff_remove_a_users_passkeys(staff, make_user, django_capture_on_commit_callbacks):
    """
    All of them, through ``factors.remove_factor``: audited naming the staff
    member via admin, the user mailed "by staff", and the user's logins go
    back to the emailed code.
    """
    user = make_user(email="dave@example.com")
    register(user)
    register(user)
    admin = admin_client(staff)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(USERS, {"action": "remove_passkeys", "_selected_action": [user.pk]}, follow=True)

    assert "Passkeys removed for 1 of 1 user(s)." in response.content.decode()
    assert not WebAuthnCredential.objects.filter(user=user).exists()
    (event,) = events(Kind.FACTOR_REMOVED)
    assert (event.user_id, event.reason, event.actor, event.via) == (user.pk, methods.WEBAUTHN, STAFF_EMAIL, "admin")
    (sent,) = mail.outbox
    assert sent.to == [user.email]
    assert "A passkey was removed from your account by staff" in sent.body
    assert methods.methods_for(user) == [methods.EMAIL, methods.RECOVERY]


def test_removing_passkeys_needs_a_recent_sign_in(settings, staff, make_user, django_capture_on_commit_callbacks):
    """OWASP ASVS 4.0 V3.7.1: a staff sign-in older than ADMIN_REAUTH_MAX_AGE changes nothing and says why."""
    user = make_user(email="dave@example.com")
    register(user)
    admin = admin_client(staff)
    mail.outbox.clear()

    with time_machine.travel(timezone.now() + timedelta(seconds=settings.ADMIN_REAUTH_MAX_AGE + 1)):
        with django_capture_on_commit_callbacks(execute=True):
            refused = admin.post(USERS, {"action": "remove_passkeys", "_selected_action": [user.pk]}, follow=True)

    page = refused.content.decode()
    assert "This action needs a recent sign-in" in page
    assert "/admin/login/?reauth=1" in page
    assert WebAuthnCredential.objects.filter(user=user).exists()
    assert not events(Kind.FACTOR_REMOVED)
    assert not mail.outbox
