"""
Second factors on the demo page, in a real browser: enrolling an
authenticator app from its QR code, signing in with it or with a recovery
code, new recovery codes, turning the app off, and remembered browsers.
"""

import re
import time
from dataclasses import dataclass

import pyotp
import pytest
from django.core import mail

from accounts.flows import totp
from accounts.models import TotpDevice
from tests.browser.conftest import ARTIFACTS, emailed_code, sign_in, start_sign_in
from tests.conftest import PASSWORD
from tokens.models import TrustedDevice

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECOVERY_CODE = re.compile(r"^[23456789abcdefghjkmnpqrstwxyz]{5}-[23456789abcdefghjkmnpqrstwxyz]{5}$")
CODE_EMAIL = "Your sign-in code"
STEP_SECONDS = 30


def app_code(secret: str, *, user) -> str:
    """
    A code of the user's app that the server will take: codes are single
    use per 30 s step (a step at or before the last one accepted is
    refused), and the server allows one step of drift. The next step's code
    stays good for a minute; past that, wait for a new step.
    """
    app = pyotp.TOTP(secret)
    while True:
        last = TotpDevice.objects.get(user=user).last_step
        now = int(time.time()) // STEP_SECONDS
        step = max(last + 1, now)
        if step <= now + 1:
            return app.generate_otp(step)
        time.sleep(STEP_SECONDS - time.time() % STEP_SECONDS + 0.05)


def wrong_app_code(secret: str) -> str:
    """A 6-digit code that is none of the app's codes within the drift window."""
    app = pyotp.TOTP(secret)
    return next(code for code in ("000000", "111111", "222222") if not app.verify(code, valid_window=2))


@dataclass
class AppUser:
    user: object
    secret: str
    recovery_codes: list[str]


@pytest.fixture
def app_user(user, browser_settings):
    """``user`` with an authenticator app set up and confirmed (through the use cases), and its recovery codes."""
    setup = totp.begin_totp_setup(user=user, password=PASSWORD)
    codes = totp.confirm_totp(user=user, code=pyotp.TOTP(setup.secret).now())
    return AppUser(user=user, secret=setup.secret, recovery_codes=codes)


def code_emails(email: str, *, after: int) -> list:
    return [m for m in mail.outbox[after:] if email in m.to and m.subject == CODE_EMAIL]


def enter_code(page, code: str, *, remember: bool = False) -> None:
    if remember:
        page.get_by_label("Remember this browser").check()
    page.locator("#code-input").fill(code)
    page.get_by_role("button", name="Verify").click()


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.locator("#signin")).to_be_visible()


def test_enrol_an_authenticator_app_then_sign_in_with_it(new_page, user):
    """
    The QR code is shown (as an image: the server's SVG never becomes part
    of the page), a code from the displayed secret turns the app on, the
    recovery codes are shown once, and the next sign-in asks for the app —
    no code is emailed.
    """
    page = sign_in(new_page(), user)
    refreshes = []
    page.on("request", lambda request: refreshes.append(request.url) if "/api/auth/refresh/" in request.url else None)
    expect(page.locator("#totp-status")).to_have_text("Off")
    expect(page.locator("#recovery-status")).to_have_text("None")

    page.get_by_role("button", name="Set up an authenticator app").click()
    page.locator("#totp-setup-password").fill("not the password")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#notice")).to_have_text("The password is incorrect.")
    page.locator("#totp-setup-password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()

    qr = page.locator("#totp-qr img")
    expect(qr).to_be_visible()
    expect(qr).to_have_attribute("alt", "QR code to scan with your authenticator app")
    assert qr.get_attribute("src").startswith("data:image/svg+xml,")
    # Decoded as an image (an SVG without its namespace would not be): it has a size of its own.
    page.wait_for_function("() => document.querySelector('#totp-qr img').naturalWidth > 0")
    expect(page.locator("#totp-qr svg")).to_have_count(0)
    secret = "".join(page.locator("#totp-secret").inner_text().split())
    assert len(secret) == 32
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "totp-setup.png", full_page=True)

    # A wrong code is refused on the page. It is not a sign of a dead session:
    # no refresh, no second try spent behind the user's back, still signed in.
    page.locator("#totp-confirm-code").fill(wrong_app_code(secret))
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("#notice")).to_have_text("The code is incorrect.")
    expect(page.locator("#totp-enrol")).to_be_visible()
    expect(page.locator("#user-email")).to_have_text(user.email)
    assert refreshes == []

    page.locator("#totp-confirm-code").fill(app_code(secret, user=user))
    page.get_by_role("button", name="Turn on").click()
    codes = page.locator("#recovery-list li")
    expect(codes).to_have_count(10)
    shown = codes.all_inner_texts()
    assert all(RECOVERY_CODE.match(code) for code in shown), shown
    assert len(set(shown)) == 10
    expect(page.locator("#recovery-codes")).to_contain_text("they will not be shown again")
    expect(page.locator("#totp-enrol")).to_be_hidden()
    expect(page.locator("#totp-status")).to_have_text("On")
    expect(page.locator("#recovery-status")).to_have_text("10 left")
    page.screenshot(path=ARTIFACTS / "recovery-codes.png", full_page=True)

    # Shown once: a reload does not bring them back.
    page.reload()
    expect(page.locator("#user-email")).to_have_text(user.email)
    expect(page.locator("#totp-status")).to_have_text("On")
    expect(page.locator("#recovery-codes")).to_be_hidden()
    expect(page.locator("#recovery-list li")).to_have_count(0)
    assert all(code not in page.content() for code in shown)

    sign_out(page)
    sent = start_sign_in(page, user)
    expect(page.locator("#code-title")).to_have_text("Enter the code from your app")
    expect(page.get_by_role("button", name="Send a new code")).to_be_hidden()
    enter_code(page, app_code(secret, user=user))
    expect(page.locator("#user-email")).to_have_text(user.email)
    assert code_emails(user.email, after=sent) == []


def test_sign_in_with_a_recovery_code(new_page, app_user):
    """A recovery code instead of the app signs in once; used, it is refused, and the app still works."""
    user = app_user.user
    page = new_page()
    start_sign_in(page, user)
    page.get_by_role("button", name="Use a recovery code instead").click()
    expect(page.locator("#code-title")).to_have_text("Use a recovery code")
    # Accepted as shown, or in capitals.
    page.get_by_label("Recovery code", exact=True).fill(app_user.recovery_codes[0].upper())
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#user-email")).to_have_text(user.email)
    expect(page.locator("#recovery-status")).to_have_text("9 left")

    sign_out(page)
    start_sign_in(page, user)
    page.get_by_role("button", name="Use a recovery code instead").click()
    page.get_by_label("Recovery code", exact=True).fill(app_user.recovery_codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#notice")).to_have_text("The code is incorrect.")
    expect(page.locator("#code")).to_be_visible()

    page.get_by_role("button", name="Use your authenticator app instead").click()
    expect(page.locator("#code-title")).to_have_text("Enter the code from your app")
    enter_code(page, app_code(app_user.secret, user=user))
    expect(page.locator("#user-email")).to_have_text(user.email)


def test_new_recovery_codes_and_turning_the_app_off(new_page, app_user):
    """New codes replace the old ones (shown once); the app goes off with the password and a code; email returns."""
    user = app_user.user
    page = new_page()
    start_sign_in(page, user)
    enter_code(page, app_code(app_user.secret, user=user))
    expect(page.locator("#totp-status")).to_have_text("On")

    page.get_by_role("button", name="New recovery codes", exact=True).click()
    page.locator("#codes-password").fill(PASSWORD)
    page.get_by_role("button", name="Create new codes", exact=True).click()
    codes = page.locator("#recovery-list li")
    expect(codes).to_have_count(10)
    new_codes = codes.all_inner_texts()
    assert not set(new_codes) & set(app_user.recovery_codes)
    expect(page.locator("#recovery-status")).to_have_text("10 left")
    page.get_by_role("button", name="I have saved them").click()
    expect(page.locator("#recovery-codes")).to_be_hidden()
    expect(codes).to_have_count(0)

    page.get_by_role("button", name="Turn off the authenticator app").click()
    page.locator("#totp-off-password").fill(PASSWORD)
    # The old codes stopped working.
    page.locator("#totp-off-code").fill(app_user.recovery_codes[1])
    page.get_by_role("button", name="Turn off the app", exact=True).click()
    expect(page.locator("#notice")).to_have_text("The code is incorrect.")
    expect(page.locator("#user-email")).to_have_text(user.email)
    page.locator("#totp-off-code").fill(new_codes[0])
    page.get_by_role("button", name="Turn off the app", exact=True).click()
    expect(page.locator("#totp-status")).to_have_text("Off")
    expect(page.locator("#recovery-status")).to_have_text("9 left")
    expect(page.locator("#email-factor-note")).to_be_visible()
    assert not TotpDevice.objects.filter(user=user).exists()

    # Signing in asks for the emailed code again.
    sign_out(page)
    sent = start_sign_in(page, user)
    expect(page.locator("#code-title")).to_have_text("Check your email")
    enter_code(page, emailed_code(user.email, after=sent))
    expect(page.locator("#user-email")).to_have_text(user.email)


def test_a_remembered_browser_skips_the_code_until_it_is_forgotten(new_page, app_user):
    """
    "Remember this browser" on the code step: the next sign-in of this
    browser goes straight in (another browser still asks); the list marks it
    as this browser; "Forget" makes the next sign-in ask again.
    """
    user = app_user.user
    page = new_page()
    start_sign_in(page, user)
    enter_code(page, app_code(app_user.secret, user=user), remember=True)
    expect(page.locator("#user-email")).to_have_text(user.email)

    device = TrustedDevice.objects.get(user=user)
    rows = page.locator("#devices tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_have_attribute("data-device-id", str(device.pk))
    expect(rows.nth(0).locator(".badge")).to_have_text("This browser")
    cookie = next(cookie for cookie in page.context.cookies() if cookie["name"] == "device")
    assert cookie["httpOnly"] and cookie["path"] == "/api/auth/"
    assert "device=" not in page.evaluate("document.cookie")

    sign_out(page)
    page.get_by_label("Email", exact=True).fill(user.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#user-email")).to_have_text(user.email)
    expect(page.locator("#code")).to_be_hidden()

    # The cookie is this browser's: another one still asks for the app.
    start_sign_in(new_page(), user)

    page.get_by_role("button", name="Forget this browser").click()
    expect(page.locator("#notice")).to_have_text(
        "This browser is forgotten: its next sign-in asks for a second factor."
    )
    expect(rows).to_have_count(0)
    expect(page.locator("#devices-empty")).to_be_visible()
    assert not TrustedDevice.objects.filter(user=user).exists()

    sign_out(page)
    start_sign_in(page, user)
    expect(page.locator("#code-title")).to_have_text("Enter the code from your app")
