"""
The newcomer's way in on the demo page, in a real browser: creating an
account (which signs in at once, through the usual second step), and a
forgotten password reset through the emailed link.
"""

import re
import time

import pytest
from django.core import mail

from tests.browser.conftest import ARTIFACTS, TIMEOUT_MS, emailed_code, open_sign_in_form, sign_in, start_sign_in
from tests.conftest import PASSWORD

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEWCOMER = "newcomer@example.com"
NEW_PASSWORD = "a brand new passphrase 7"


def test_sign_up_then_sign_in(new_page, django_user_model):
    """A newcomer creates an account from the sign-in page, is signed in after the emailed code, and can sign in again.

    A password Django's validators refuse is refused on the page with their
    own message, not a bare "Invalid input.".
    """
    page = new_page()
    open_sign_in_form(page)
    page.get_by_role("link", name="Create an account").click()
    expect(page.locator("#signup")).to_be_visible()
    page.locator("#signup-email").fill(NEWCOMER)
    page.locator("#signup-password").fill("password")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#notice")).to_have_class("notice error")
    expect(page.locator("#notice")).to_contain_text("This password is too common.")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "sign-up.png", full_page=True)
    assert not django_user_model.objects.filter(email=NEWCOMER).exists()

    page.locator("#signup-password").fill(PASSWORD)
    sent = len(mail.outbox)
    page.get_by_role("button", name="Create account").click()

    # Signed up, and straight on to the second step of signing in.
    expect(page.locator("#code")).to_be_visible()
    expect(page.locator("#code-email")).to_have_text(NEWCOMER)
    expect(page.locator("#notice")).to_have_text("Your account is ready. One more step to sign in.")
    assert "#/sign-up" not in page.url
    page.get_by_label("Code", exact=True).fill(emailed_code(NEWCOMER, after=sent))
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#user-email")).to_have_text(NEWCOMER)
    expect(page.locator("#totp-status")).to_have_text("Off")

    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.locator("#signin")).to_be_visible()
    sign_in(page, django_user_model.objects.get(email=NEWCOMER))


# Holds back the answer to one of the page's load-time requests until the
# refused refresh has put the form on screen: a slow 401 that lands after.
LATE_DEVICES_ANSWER = """
(() => {
  const fetch = window.fetch;
  const formShown = () => new Promise((resolve) => {
    const check = () => {
      const form = document.querySelector("#signin");
      if (form && !form.hidden) resolve();
      else setTimeout(check, 10);
    };
    check();
  });
  window.fetch = async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    const response = await fetch(input, init);
    if (url.includes("/api/auth/devices/")) await formShown();
    return response;
  };
})();
"""


def test_a_first_visit_asks_for_a_session_once(new_page):
    """
    A visitor with no session: the page's load-time requests share one
    refused refresh — one that comes back after it included — so the form
    is shown once, focused once, and not reset under the visitor's typing.
    """
    page = new_page()
    page.add_init_script(LATE_DEVICES_ANSWER)
    refreshes = []
    page.on("request", lambda request: refreshes.append(request.url) if "/api/auth/refresh/" in request.url else None)
    page.goto("/", wait_until="networkidle")
    # The page module's top-level await is over once importing it again resolves.
    page.evaluate("() => import(document.querySelector('script[type=module]').src)")

    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#notice")).to_be_hidden()
    assert len(refreshes) == 1
    assert page.evaluate("document.activeElement.id") == "email"


def test_an_address_that_has_an_account_cannot_sign_up_again(new_page, user, django_user_model):
    """A taken address (however it is typed) is refused on the page with the API's message; no second account."""
    page = new_page()
    page.goto("/#/sign-up")
    expect(page.locator("#signup")).to_be_visible()
    page.locator("#signup-email").fill(user.email.upper())
    page.locator("#signup-password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    expect(page.locator("#notice")).to_have_text("An account with this email already exists.")
    expect(page.locator("#signup")).to_be_visible()
    assert django_user_model.objects.count() == 1


def reset_link(email: str, *, after: int) -> str:
    """The link of the newest "Reset your password" email to ``email`` among those sent after the first ``after``."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        messages = [m for m in mail.outbox[after:] if email in m.to and m.subject == "Reset your password"]
        if messages:
            match = re.search(r"^(http://\S+)$", messages[-1].body, re.MULTILINE)
            assert match, messages[-1].body
            return match.group(1)
        assert time.monotonic() < deadline, f"no reset link was emailed to {email}"
        time.sleep(0.05)


def test_a_forgotten_password_is_reset_through_the_emailed_link(new_page, user, settings, live_server):
    """Forgot password → the emailed link, in a new tab → a new password; the old one and the link stop working."""
    settings.PASSWORD_RESET_URL = f"{live_server.url}/#/password-reset?uid={{uid}}&token={{token}}"
    page = new_page()
    open_sign_in_form(page)
    page.get_by_label("Email", exact=True).fill(user.email)
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.locator("#forgot")).to_be_visible()
    # What the user had typed is carried over.
    expect(page.locator("#forgot-email")).to_have_value(user.email)
    sent = len(mail.outbox)
    page.get_by_role("button", name="Send the link").click()
    expect(page.locator("#notice")).to_contain_text("a link to reset its password is on its way")
    expect(page.locator("#signin")).to_be_visible()

    link = reset_link(user.email, after=sent)
    assert "#/password-reset?uid=" in link
    tab = new_page(beside=page)
    tab.goto(link)
    expect(tab.locator("#reset")).to_be_visible()
    tab.locator("#reset-password").fill("short")
    tab.get_by_role("button", name="Set the new password").click()
    expect(tab.locator("#notice")).to_contain_text("This password is too short.")
    tab.locator("#reset-password").fill(NEW_PASSWORD)
    tab.get_by_role("button", name="Set the new password").click()
    expect(tab.locator("#signin")).to_be_visible()
    expect(tab.locator("#notice")).to_have_text(
        "Your password is changed and every session has ended. Sign in with the new password."
    )
    # The token leaves the address bar (and the history entry) once used.
    assert "token=" not in tab.url

    # The old password no longer works…
    tab.get_by_label("Email", exact=True).fill(user.email)
    tab.get_by_label("Password", exact=True).fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.locator("#notice")).to_have_text("Email or password is incorrect.")
    # …the new one does.
    sent = start_sign_in(tab, user, password=NEW_PASSWORD)
    tab.get_by_label("Code", exact=True).fill(emailed_code(user.email, after=sent))
    tab.get_by_role("button", name="Verify").click()
    expect(tab.locator("#user-email")).to_have_text(user.email)

    # The link works once: followed again (a same-document navigation this time), it is refused.
    tab.goto(link)
    expect(tab.locator("#reset")).to_be_visible()
    tab.locator("#reset-password").fill("yet another passphrase 9")
    tab.get_by_role("button", name="Set the new password").click()
    expect(tab.locator("#notice")).to_have_text("The password reset link is invalid or has expired.")
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_an_incomplete_reset_link_offers_a_new_one(new_page):
    """A link cut short by a mail client shows the forgot-password form, saying why."""
    page = new_page()
    page.goto("/#/password-reset?uid=MQ")
    expect(page.locator("#forgot")).to_be_visible()
    expect(page.locator("#notice")).to_have_text("This password reset link is incomplete. Ask for a new one.")
