"""
The admin takes the new second factors (DESIGN.md, "Staff and the admin"
and "Second factors"; issue points 4 and 5): a staff member with an
authenticator app finishes the admin's second step with a code from it or a
recovery code, in the one ``code`` field, and is mailed no code — through
the API's login frame, so the same one-use rule, budget and audit events
apply, marked ``via: admin``. "Remember this browser" skips the step on that
browser for that staff member only. Staff see a user's factors and
remembered devices and take them away with actions that need a recent
sign-in, name them in the audit trail and mail the user.

The clock stands still mid-way through a TOTP step (``clock``); enrolling
spends the step's code, so ``enrol_totp`` moves it on one step.
"""

import re
from datetime import timedelta

import pyotp
import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts import methods
from accounts.admin_factors import DEVICE_COOKIE
from accounts.flows import recovery_codes, totp
from accounts.models import RecoveryCode, TotpDevice, TwoFactorChallenge
from tests.accounts.conftest import code_from_outbox
from tests.conftest import PASSWORD
from tests.staff import ADMIN_CODE, ADMIN_LOGIN, admin_client
from tokens import audit, devices
from tokens.devices import hash_device_token
from tokens.models import AuthEvent, TrustedDevice

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("two_factor", "clock")]

Kind = AuthEvent.Kind
STEP = 30
STAFF_EMAIL = "staff@example.com"
USERS = "/admin/accounts/user/"
ERRORNOTE = re.compile(r'<p class="errornote">\s*(.*?)\s*</p>', re.S)
INCORRECT = "The code is incorrect."
UNAVAILABLE = "This second-factor method is not available for this account."
COOLDOWN = "Too many wrong sign-in codes for this account; sign in again later."
# Well formed, and not one of anyone's recovery codes (49 bits each: never by chance).
NOT_A_RECOVERY_CODE = "22222-22222"


# --- helpers and fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def enrol_totp(clock):
    """Set up and confirm an authenticator app through the flows; returns (secret, recovery codes)."""

    def enrol(user):
        secret = totp.begin_totp_setup(user=user, password=PASSWORD).secret
        codes = totp.confirm_totp(user=user, code=pyotp.TOTP(secret).now())
        # The confirming code spent this step: the next code is the next step's.
        clock.shift(STEP)
        return secret, codes

    return enrol


@pytest.fixture
def password_step(django_capture_on_commit_callbacks):
    """Email + password to the admin's login, with any email it queues actually sent."""

    def post(client, email=STAFF_EMAIL, password=PASSWORD, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(ADMIN_LOGIN, {"username": email, "password": password}, **extra)

    return post


@pytest.fixture
def limits(settings):
    def set_limits(**rates):
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, **rates}

    return set_limits


def post_code(client, code, *, remember=False, **extra):
    data = {"code": code, **({"remember_device": "on"} if remember else {})}
    return client.post(ADMIN_CODE, data, **extra)


def wrong_totp_code(secret: str) -> str:
    """Six digits that no step of the drift window has for this secret."""
    window = {pyotp.TOTP(secret).at(timezone.now() + timedelta(seconds=s * STEP)) for s in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in window)


def code_input(page: str) -> str:
    (tag,) = re.findall(r'<input[^>]*\bname="code"[^>]*>', page)
    return tag


def readonly(page: str, label: str) -> str:
    """What the admin's change page shows for a read-only field."""
    return re.search(rf'<label>{label}:</label>\s*<div class="readonly">(.*?)</div>', page, re.S).group(1)


def refusals(response) -> list[str]:
    return ERRORNOTE.findall(response.content.decode())


def events(kind):
    return list(AuthEvent.objects.filter(kind=kind).order_by("id"))


def signed_in(client) -> bool:
    return client.get("/admin/").status_code == 200


def api_login(api, user, **extra):
    response = api.post("/api/auth/login/", {"email": user.email, "password": PASSWORD, "transport": "body"},
                        format="json", **extra)
    assert response.status_code == 200, response.content
    return response.json()


def api_code(api, challenge, code, method=None):
    body = {"challenge": challenge, "code": code, "transport": "body", **({"method": method} if method else {})}
    return api.post("/api/auth/login/2fa/", body, format="json")


# --- the second step with an authenticator app or a recovery code -------------------------------------------


def test_a_staff_member_with_an_app_is_mailed_no_code_and_signs_in_with_it(staff, enrol_totp, password_step):
    """No emailed code once a staff member has an app (DESIGN.md); the page asks for the app, offers no resend."""
    secret, _ = enrol_totp(staff)
    browser = Client()

    step_one = password_step(browser)
    page = browser.get(step_one["Location"]).content.decode()

    assert step_one.status_code == 302 and step_one["Location"].startswith(ADMIN_CODE)
    assert not mail.outbox
    assert TwoFactorChallenge.objects.get().code_sent_at is None
    assert "Enter the 6-digit code from your authenticator app, or one of your recovery codes," in page
    assert "emailed" not in page and 'id="resend-form"' not in page
    # A recovery code has letters: no digits-only keyboard.
    assert 'inputmode="text"' in code_input(page)

    done = post_code(browser, pyotp.TOTP(secret).now())

    assert done.status_code == 302 and done["Location"] == "/admin/"
    assert signed_in(browser)
    (ok,) = events(Kind.LOGIN_SUCCEEDED)
    assert (ok.user_id, ok.reason, ok.via) == (staff.pk, methods.TOTP, "admin")


def test_the_emailed_code_page_offers_the_resend_button(staff, password_step):
    """A staff member without an app: the emailed code, and the button that mails a new one."""
    browser = Client()
    password_step(browser)

    page = browser.get(ADMIN_CODE).content.decode()

    assert "We emailed a 6-digit code to this account's address. Enter it to finish signing in." in page
    assert 'id="resend-form"' in page
    assert 'inputmode="numeric"' in code_input(page)
    assert post_code(browser, code_from_outbox()).status_code == 302


@pytest.mark.parametrize("factor", ["totp", "email"])
def test_a_recovery_code_finishes_the_step_once(staff, enrol_totp, password_step, factor):
    """
    A recovery code in the same field, with the app or with the emailed code
    (a staff member who made codes without an app): the method is read from
    the answer; the code is spent, audited via admin, and works once.
    """
    if factor == "totp":
        _, codes = enrol_totp(staff)
    else:
        codes = recovery_codes.regenerate_recovery_codes(user=staff, password=PASSWORD)
    browser = Client()
    password_step(browser)
    assert "or one of your recovery codes," in browser.get(ADMIN_CODE).content.decode()

    done = post_code(browser, codes[0].upper())

    assert done.status_code == 302 and done["Location"] == "/admin/"
    assert signed_in(browser)
    (ok,) = events(Kind.LOGIN_SUCCEEDED)
    (used,) = events(Kind.RECOVERY_CODE_USED)
    assert (ok.reason, ok.via) == (methods.RECOVERY, "admin")
    assert (used.user_id, used.reason, used.via) == (staff.pk, "9 left", "admin")
    again = Client()
    password_step(again)
    refused = post_code(again, codes[0])
    assert refused.status_code == 200
    assert INCORRECT in refused.content.decode()
    assert not signed_in(again)


@pytest.mark.parametrize("first_door", ["admin", "api"])
def test_a_totp_code_is_taken_once_whichever_door(api, staff, enrol_totp, password_step, first_door):
    """RFC 6238 §5.2: a code used at the API or at the admin is refused when replayed at the admin."""
    secret, _ = enrol_totp(staff)
    code = pyotp.TOTP(secret).now()
    if first_door == "admin":
        first = Client()
        password_step(first)
        assert post_code(first, code).status_code == 302
    else:
        pending = api_login(api, staff)
        assert pending["methods"] == [methods.TOTP, methods.RECOVERY]
        assert api_code(api, pending["challenge"], code).status_code == 200
    replay = Client()
    password_step(replay)

    refused = post_code(replay, code)

    assert refused.status_code == 200
    assert INCORRECT in refused.content.decode()
    assert not signed_in(replay)
    (failed,) = events(Kind.TWO_FACTOR_FAILED)
    assert (failed.reason, failed.via) == ("totp: attempt 1", "admin")


def test_audit_events_name_the_method_via_admin(staff, enrol_totp, password_step):
    """Each wrong answer is audited under the method it was read as; the success names the method too."""
    secret, _ = enrol_totp(staff)
    browser = Client()
    password_step(browser)

    post_code(browser, NOT_A_RECOVERY_CODE, HTTP_USER_AGENT="Firefox")
    post_code(browser, wrong_totp_code(secret), HTTP_USER_AGENT="Firefox")
    post_code(browser, pyotp.TOTP(secret).now(), HTTP_USER_AGENT="Firefox")

    assert [(e.user_id, e.reason, e.user_agent, e.via) for e in events(Kind.TWO_FACTOR_FAILED)] == [
        (staff.pk, "recovery: attempt 1", "Firefox", "admin"), (staff.pk, "totp: attempt 2", "Firefox", "admin")]
    (ok,) = events(Kind.LOGIN_SUCCEEDED)
    assert (ok.reason, ok.user_agent, ok.via) == (methods.TOTP, "Firefox", "admin")


def test_wrong_answers_at_the_admin_and_the_api_spend_one_budget(api, staff, enrol_totp, password_step, limits):
    """
    The account's budget of wrong answers is one, whichever door and method
    (NIST SP 800-63B §5.2.2): wrong answers at the admin, then one at the
    API, pause the account at both with 429 two_factor_cooldown.
    """
    limits(two_factor_account_failures="3/h")
    secret, _ = enrol_totp(staff)
    browser = Client()
    password_step(browser)
    assert post_code(browser, wrong_totp_code(secret)).status_code == 200
    assert post_code(browser, NOT_A_RECOVERY_CODE).status_code == 200
    pending = api_login(api, staff)

    at_the_api = api_code(api, pending["challenge"], wrong_totp_code(secret))
    at_the_admin = post_code(browser, pyotp.TOTP(secret).now())
    again = password_step(Client())

    assert at_the_api.status_code == 429
    assert at_the_api.json() == {"detail": COOLDOWN, "code": "two_factor_cooldown"}
    for refused in (at_the_admin, again):
        assert refused.status_code == 429
        assert refusals(refused) == [COOLDOWN]
        assert int(refused["Retry-After"]) >= 1
    assert not signed_in(browser)
    assert not events(Kind.LOGIN_SUCCEEDED)


@pytest.mark.parametrize("answer", ["a TOTP code", "resend"])
def test_a_method_the_login_no_longer_has_is_refused_on_the_page(staff, enrol_totp, password_step, answer):
    """
    The app removed between the two steps: its code is method_unavailable,
    shown on the page (400, never a 500), and no try is spent; nor is a code
    mailed to a staff member whose login has no emailed code.
    """
    secret, _ = enrol_totp(staff)
    browser = Client()
    password_step(browser)
    if answer == "resend":
        response = browser.post(ADMIN_CODE, {"resend": "1"})
    else:
        totp.remove_totp(staff, actor="user", ip=None, user_agent="", via=audit.Via.API)
        response = post_code(browser, pyotp.TOTP(secret).now())

    assert response.status_code == 400
    assert refusals(response) == [UNAVAILABLE]
    assert 'name="code"' in response.content.decode()
    assert TwoFactorChallenge.objects.get().attempts == 0
    assert not mail.outbox
    assert not signed_in(browser)


# --- remember this browser ------------------------------------------------------------------------------------


@pytest.mark.parametrize("remember", [True, False])
def test_remember_this_browser_skips_the_step_next_time(settings, staff, enrol_totp, password_step, remember):
    """
    Ticked: the device cookie, HttpOnly, Secure, SameSite=Lax (whatever the
    API's cookies need), under /admin/ only, for TRUSTED_DEVICE_TTL; the same
    staff member's next sign-in on this browser needs the password alone.
    """
    settings.COOKIE_SAMESITE = "None"
    secret, _ = enrol_totp(staff)
    browser = Client()
    password_step(browser)

    done = post_code(browser, pyotp.TOTP(secret).now(), remember=remember)
    browser.post("/admin/logout/")
    next_time = password_step(browser)

    assert done.status_code == 302
    if not remember:
        assert DEVICE_COOKIE not in done.cookies
        assert next_time["Location"].startswith(ADMIN_CODE)
        assert not TrustedDevice.objects.exists()
        return
    cookie = done.cookies[DEVICE_COOKIE]
    assert (cookie["httponly"], cookie["secure"], cookie["samesite"], cookie["path"], cookie["max-age"]) == (
        True, True, "Lax", "/admin/", settings.TRUSTED_DEVICE_TTL)
    (device,) = TrustedDevice.objects.all()
    assert device.token_hash == hash_device_token(cookie.value)
    assert next_time.status_code == 302 and next_time["Location"] == "/admin/"
    assert signed_in(browser)
    assert [(e.reason, e.via) for e in events(Kind.LOGIN_SUCCEEDED)] == [
        (methods.TOTP, "admin"), ("remembered_device", "admin")]
    # The second sign-in opened no challenge.
    assert TwoFactorChallenge.objects.count() == 1


def test_signing_in_afresh_asks_for_the_factor_even_on_a_remembered_browser(staff, enrol_totp, password_step):
    """
    Before weakening an account staff sign in afresh (``?reauth``): that
    sign-in proves the second factor again, whatever the browser remembers —
    else a taken-over admin session plus the password would do.
    """
    secret, _ = enrol_totp(staff)
    browser = Client()
    password_step(browser)
    post_code(browser, pyotp.TOTP(secret).now(), remember=True)

    afresh = browser.post(f"{ADMIN_LOGIN}?reauth=1", {"username": STAFF_EMAIL, "password": PASSWORD})

    assert afresh.status_code == 302 and afresh["Location"].startswith(ADMIN_CODE)
    assert [e.reason for e in events(Kind.LOGIN_SUCCEEDED)] == [methods.TOTP]


def test_another_staff_members_device_cookie_skips_nothing(make_user, staff, enrol_totp, password_step):
    """A device is bound to its user: on a shared browser, the next staff member still gives their factor."""
    secret, _ = enrol_totp(staff)
    first = Client()
    password_step(first)
    token = post_code(first, pyotp.TOTP(secret).now(), remember=True).cookies[DEVICE_COOKIE].value
    colleague = make_user(email="carol@example.com", is_staff=True, is_superuser=True)
    shared, own = Client(), Client()
    shared.cookies[DEVICE_COOKIE] = token
    own.cookies[DEVICE_COOKIE] = token

    colleagues_step = password_step(shared, email=colleague.email)
    owners_step = password_step(own)

    assert colleagues_step.status_code == 302 and colleagues_step["Location"].startswith(ADMIN_CODE)
    assert not signed_in(shared)
    assert owners_step.status_code == 302 and owners_step["Location"] == "/admin/"


# --- staff see and take away a user's factors ------------------------------------------------------------------


def test_the_user_page_shows_factors_and_remembered_devices(staff, make_user, enrol_totp):
    """Read-only: methods, recovery codes left, the app's date, remembered devices — never a device's hash."""
    user = make_user(email="dave@example.com")
    enrol_totp(user)
    spent = RecoveryCode.objects.filter(user=user).first()
    RecoveryCode.objects.filter(pk=spent.pk).update(used_at=timezone.now())
    remembered = devices.remember_device(user=user, ip="198.51.100.23", user_agent="DavesBrowser/1.0")
    device = TrustedDevice.objects.get()
    admin = admin_client(staff)

    page = admin.get(f"{USERS}{user.pk}/change/")
    html = page.content.decode()

    assert page.status_code == 200
    assert readonly(html, "Second-factor methods") == "totp, recovery"
    assert readonly(html, "Recovery codes left") == "9"
    assert readonly(html, "Authenticator app").startswith("confirmed ")
    listed = readonly(html, "Remembered devices")
    assert re.search(r"<td>[^<]+</td><td>never</td><td>198\.51\.100\.23</td><td>DavesBrowser/1\.0</td>", listed)
    assert device.token_hash not in html and remembered.token not in html
    assert 'name="second_factors"' not in html


def test_the_remembered_devices_list_is_read_only_and_shows_no_hash(staff, user):
    devices.remember_device(user=user, ip="198.51.100.23", user_agent="AlicesBrowser/1.0")
    device = TrustedDevice.objects.get()
    admin = admin_client(staff)

    listing = admin.get("/admin/tokens/trusteddevice/")
    detail = admin.get(f"/admin/tokens/trusteddevice/{device.pk}/change/")

    assert listing.status_code == detail.status_code == 200
    assert "198.51.100.23" in listing.content.decode()
    assert device.token_hash not in listing.content.decode() + detail.content.decode()
    assert admin.get("/admin/tokens/trusteddevice/add/").status_code == 403
    assert admin.post(f"/admin/tokens/trusteddevice/{device.pk}/delete/", {"post": "yes"}).status_code == 403
    assert TrustedDevice.objects.filter(pk=device.pk).exists()


def _with_app(user, enrol_totp):
    enrol_totp(user)


def _with_device(user, enrol_totp):
    devices.remember_device(user=user, ip="198.51.100.23", user_agent="Phone")


ACTIONS = [
    pytest.param("remove_authenticator_app", _with_app, lambda u: TotpDevice.objects.filter(user=u).exists(),
                 Kind.FACTOR_REMOVED, "totp", "An authenticator app was removed from your account by staff",
                 "Authenticator app removed for 1 of 1 user(s).", id="remove app"),
    pytest.param("remove_recovery_codes", _with_app, lambda u: RecoveryCode.objects.filter(user=u).exists(),
                 Kind.FACTOR_REMOVED, "recovery", "The recovery codes of your account were removed by staff",
                 "Recovery codes removed for 1 of 1 user(s).", id="remove recovery codes"),
    pytest.param("forget_remembered_devices", _with_device, lambda u: TrustedDevice.objects.filter(user=u).exists(),
                 Kind.DEVICE_FORGOTTEN, "staff: 1", "A remembered device was removed from your account by staff",
                 "Forgot 1 remembered device(s) of 1 user(s).", id="forget devices"),
]


@pytest.mark.parametrize("action, give, held, kind, reason, notice, message", ACTIONS)
def test_staff_take_a_factor_away(staff, make_user, enrol_totp, django_capture_on_commit_callbacks, action, give,
                                  held, kind, reason, notice, message):
    """The action takes it away, the audit event names the staff member via admin, and the user is mailed."""
    user = make_user(email="dave@example.com")
    give(user, enrol_totp)
    admin = admin_client(staff)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(USERS, {"action": action, "_selected_action": [user.pk]}, follow=True)

    assert message in response.content.decode()
    assert not held(user)
    (event,) = events(kind)
    assert (event.user_id, event.reason, event.actor, event.via) == (user.pk, reason, STAFF_EMAIL, "admin")
    (sent,) = mail.outbox
    assert sent.to == [user.email]
    assert notice in sent.body


@pytest.mark.parametrize("action, give, held, kind, reason, notice, message", ACTIONS)
def test_taking_a_factor_away_needs_a_recent_sign_in(settings, staff, make_user, enrol_totp,
                                                     django_capture_on_commit_callbacks, action, give, held, kind,
                                                     reason, notice, message):
    """OWASP ASVS 4.0 V3.7.1: a staff sign-in older than ADMIN_REAUTH_MAX_AGE changes nothing and says why."""
    user = make_user(email="dave@example.com")
    give(user, enrol_totp)
    admin = admin_client(staff)
    mail.outbox.clear()

    with time_machine.travel(timezone.now() + timedelta(seconds=settings.ADMIN_REAUTH_MAX_AGE + 1)):
        with django_capture_on_commit_callbacks(execute=True):
            refused = admin.post(USERS, {"action": action, "_selected_action": [user.pk]}, follow=True)

    page = refused.content.decode()
    assert "This action needs a recent sign-in" in page
    assert "/admin/login/?reauth=1" in page
    assert message not in page
    assert held(user)
    assert not events(kind)
    assert not mail.outbox


def test_a_forgotten_device_no_longer_skips_the_step(staff, make_user, enrol_totp, password_step):
    """After "Forget remembered devices", the staff member's remembered browser asks for the factor again."""
    secret, _ = enrol_totp(staff)
    browser = Client()
    password_step(browser)
    post_code(browser, pyotp.TOTP(secret).now(), remember=True)
    colleague = admin_client(make_user(email="carol@example.com", is_staff=True, is_superuser=True))

    colleague.post(USERS, {"action": "forget_remembered_devices", "_selected_action": [staff.pk]})
    browser.post("/admin/logout/")
    next_time = password_step(browser)

    assert next_time.status_code == 302 and next_time["Location"].startswith(ADMIN_CODE)
