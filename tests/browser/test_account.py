"""
The account's whole life on the demo page, in a real browser (DESIGN.md,
Part 2, "Account lifecycle"): verifying the address from the emailed link,
moving the account to a new address, downloading its data, deleting it.

The emailed links point at VERIFY_EMAIL_URL / EMAIL_CHANGE_URL as shipped
(the demo page on 127.0.0.1:8000); the tests follow them on the live
server's host, as a deployment's own host would serve them.
"""

import json
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core import mail

from tests.browser.conftest import ARTIFACTS, TIMEOUT_MS, emailed_code, open_sign_in_form, sign_in, start_sign_in
# The app-factor user and the codes its app would show: one definition, test_factors.py's.
from tests.browser.test_factors import app_code, app_user, wrong_app_code  # noqa: F401 (app_user is a fixture)
from tests.conftest import PASSWORD

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEWCOMER = "newcomer@example.com"
NEW_ADDRESS = "alice.new@example.com"
VERIFY_SUBJECT = "Confirm your email address"
CHANGE_SUBJECT = "Confirm your new email address"
KEY_INVALID = "This link is invalid, used or expired; ask for a new one."
DELETED = "Your account is deleted: every session has ended and its address is free again."


def emailed_link(email: str, subject: str, *, after: int, live_server) -> str:
    """
    The link of the newest ``subject`` email to ``email`` among those sent
    after the first ``after``, moved to the live server's origin (path and
    #/… route kept).
    """
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        messages = [m for m in mail.outbox[after:] if email in m.to and m.subject == subject]
        if messages:
            match = re.search(r"^(http://\S+)$", messages[-1].body, re.MULTILINE)
            assert match, messages[-1].body
            link = urlsplit(match.group(1))
            return live_server.url + match.group(1).removeprefix(f"{link.scheme}://{link.netloc}")
        assert time.monotonic() < deadline, f"no {subject!r} email was sent to {email}"
        time.sleep(0.05)


def sign_in_without_code(page, email: str) -> None:
    """Sign in where no second factor applies (``AUTH_2FA=off``)."""
    open_sign_in_form(page)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#user-email")).to_have_text(email)


def test_sign_up_then_verify_the_address_from_the_emailed_link(new_page, settings, live_server, django_user_model):
    """
    A newcomer (no second step: ``AUTH_2FA=off``, so nothing else proves the
    address) sees "Not verified" and can ask for a new link; opening one
    verifies the address and the profile says so. The key leaves the address
    bar, and a spent link — the other one included: verifying spends every
    verification link — is refused on the page.
    """
    settings.AUTH_2FA = "off"
    settings.EMAIL_VERIFICATION_COOLDOWN = 0
    page = new_page()
    page.goto("/#/sign-up")
    expect(page.locator("#signup")).to_be_visible()
    page.locator("#signup-email").fill(NEWCOMER)
    page.locator("#signup-password").fill(PASSWORD)
    sent = len(mail.outbox)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#user-email")).to_have_text(NEWCOMER)
    expect(page.locator("#email-status")).to_have_text("Not verified")
    expect(page.locator("#verify-note")).to_be_visible()
    first_link = emailed_link(NEWCOMER, VERIFY_SUBJECT, after=sent, live_server=live_server)
    assert "/#/verify-email?key=" in first_link
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "account-unverified.png", full_page=True)

    sent = len(mail.outbox)
    page.get_by_role("button", name="Send a new link").click()
    expect(page.locator("#notice")).to_have_text(
        f"A verification link is on its way to {NEWCOMER}. Open it to verify your address."
    )
    second_link = emailed_link(NEWCOMER, VERIFY_SUBJECT, after=sent, live_server=live_server)
    assert second_link != first_link

    page.goto(second_link)
    expect(page.locator("#notice")).to_have_text("Your email address is verified.")
    expect(page.locator("#email-status")).to_have_text("Verified")
    expect(page.locator("#verify-note")).to_be_hidden()
    assert "key=" not in page.url
    assert django_user_model.objects.get(email=NEWCOMER).email_verified

    # Still verified after a reload: the profile reads it from the server.
    page.reload()
    expect(page.locator("#email-status")).to_have_text("Verified")

    page.goto(first_link)
    expect(page.locator("#notice")).to_have_text(KEY_INVALID)
    expect(page.locator("#notice")).to_have_class("notice error")
    expect(page.locator("#user-email")).to_have_text(NEWCOMER)


def test_a_link_opened_in_another_browser_verifies_without_a_session(new_page, live_server, django_user_model):
    """
    The link needs no session: opened in another browser (the phone that
    reads the mail) while the sign-up waits for its code, it verifies the
    address and offers to sign in. Garbage and cut-short links are refused,
    saying why.
    """
    page = new_page()
    page.goto("/#/sign-up")
    page.locator("#signup-email").fill(NEWCOMER)
    page.locator("#signup-password").fill(PASSWORD)
    sent = len(mail.outbox)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#code")).to_be_visible()
    link = emailed_link(NEWCOMER, VERIFY_SUBJECT, after=sent, live_server=live_server)

    phone = new_page()
    phone.goto(link)
    expect(phone.locator("#notice")).to_have_text("Your email address is verified. Sign in to continue.")
    expect(phone.locator("#signin")).to_be_visible()
    assert "key=" not in phone.url
    # Proved by the link, before any code was entered.
    assert django_user_model.objects.get(email=NEWCOMER).email_verified

    page.get_by_label("Code", exact=True).fill(emailed_code(NEWCOMER, after=sent))
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#user-email")).to_have_text(NEWCOMER)
    expect(page.locator("#email-status")).to_have_text("Verified")

    phone.goto("/#/verify-email?key=not-a-key")
    expect(phone.locator("#notice")).to_have_text(KEY_INVALID)
    expect(phone.locator("#signin")).to_be_visible()
    phone.goto("/#/verify-email")
    expect(phone.locator("#notice")).to_have_text(
        "This verification link is incomplete. Sign in and ask for a new one."
    )


def test_change_the_email_address(new_page, user, make_user, live_server, django_user_model):
    """
    The form asks for the password and the new address (a wrong password
    and a taken address are refused on the page); the link mailed to the
    new address moves the account there, verified. The browser that asked
    stays signed in and shows the new address; another session ends.
    """
    make_user(email="bob@example.com")
    other = sign_in(new_page(), user)
    page = sign_in(new_page(), user)

    page.get_by_role("button", name="Change email address").click()
    expect(page.locator("#email-change-form")).to_be_visible()
    page.get_by_label("New email address").fill(NEW_ADDRESS)
    page.locator("#email-change-password").fill("not the password")
    page.get_by_role("button", name="Send the confirmation link").click()
    expect(page.locator("#notice")).to_have_text("The password is incorrect.")

    page.get_by_label("New email address").fill("bob@example.com")
    page.locator("#email-change-password").fill(PASSWORD)
    page.get_by_role("button", name="Send the confirmation link").click()
    expect(page.locator("#notice")).to_have_text("An account with this email already exists.")

    page.get_by_label("New email address").fill(NEW_ADDRESS)
    sent = len(mail.outbox)
    page.get_by_role("button", name="Send the confirmation link").click()
    expect(page.locator("#notice")).to_have_text(
        f"A confirmation link is on its way to {NEW_ADDRESS}. Your address changes when you open it."
    )
    expect(page.locator("#email-change-form")).to_be_hidden()
    # Nothing changes until the new mailbox answers.
    expect(page.locator("#user-email")).to_have_text(user.email)
    link = emailed_link(NEW_ADDRESS, CHANGE_SUBJECT, after=sent, live_server=live_server)
    assert "/#/confirm-email-change?key=" in link

    page.goto(link)
    expect(page.locator("#notice")).to_have_text("Your new email address is confirmed: your other sessions have ended.")
    expect(page.locator("#user-email")).to_have_text(NEW_ADDRESS)
    expect(page.locator("#email-status")).to_have_text("Verified")
    assert "key=" not in page.url
    user.refresh_from_db()
    assert (user.email, user.email_verified) == (NEW_ADDRESS, True)
    page.screenshot(path=ARTIFACTS / "email-changed.png", full_page=True)

    other.reload()
    expect(other.locator("#signin")).to_be_visible()

    # The link works once.
    page.goto(link)
    expect(page.locator("#notice")).to_have_text(KEY_INVALID)
    expect(page.locator("#user-email")).to_have_text(NEW_ADDRESS)
    assert django_user_model.objects.filter(email=NEW_ADDRESS).count() == 1


def test_download_my_data(new_page, user):
    """The button saves authsvc-export.json: the account's own data, and none of its secrets."""
    page = sign_in(new_page(), user)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download my data").click()
    download = download_info.value
    assert download.suggested_filename == "authsvc-export.json"
    text = Path(download.path()).read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["user"]["email"] == user.email
    assert {"user", "sessions", "devices", "factors", "events"} <= set(data)
    assert data["sessions"]
    assert PASSWORD not in text
    expect(page.locator("#notice")).to_have_text("Your data is saved as authsvc-export.json.")


def test_delete_an_account_without_an_app(new_page, user, django_user_model):
    """
    No app factor: the password alone (a wrong one is refused, still signed
    in). Then the page is signed out, the row is gone, and the address no
    longer signs in.
    """
    page = sign_in(new_page(), user)
    page.get_by_role("button", name="Delete my account", exact=True).click()
    expect(page.locator("#delete-form")).to_be_visible()
    expect(page.locator("#delete-code")).to_be_hidden()
    page.locator("#delete-password").fill("not the password")
    page.get_by_role("button", name="Delete my account for good").click()
    expect(page.locator("#notice")).to_have_text("The password is incorrect.")
    expect(page.locator("#user-email")).to_have_text(user.email)
    assert django_user_model.objects.filter(pk=user.pk).exists()

    page.locator("#delete-password").fill(PASSWORD)
    page.get_by_role("button", name="Delete my account for good").click()
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#notice")).to_have_text(DELETED)
    expect(page.locator("#user-email")).to_have_text("")
    assert not django_user_model.objects.filter(pk=user.pk).exists()
    assert not {"access_token", "refresh_token"} & {cookie["name"] for cookie in page.context.cookies()}

    page.reload()
    expect(page.locator("#signin")).to_be_visible()
    page.get_by_label("Email", exact=True).fill(user.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#notice")).to_have_text("Email or password is incorrect.")


@pytest.mark.parametrize("answer", ["totp", "recovery"])
def test_delete_an_account_with_an_app(new_page, app_user, answer, django_user_model):
    """
    With an authenticator app, the form also asks for its code or a
    recovery code: a session and the password alone cannot delete the
    account. A wrong code is refused and the session is untouched.
    """
    user = app_user.user
    page = new_page()
    start_sign_in(page, user)
    page.locator("#code-input").fill(app_code(app_user.secret, user=user))
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#user-email")).to_have_text(user.email)

    page.get_by_role("button", name="Delete my account", exact=True).click()
    expect(page.locator("#delete-panel").get_by_label("Code from the app, or a recovery code")).to_be_visible()
    page.locator("#delete-password").fill(PASSWORD)
    page.locator("#delete-code").fill(wrong_app_code(app_user.secret))
    page.get_by_role("button", name="Delete my account for good").click()
    expect(page.locator("#notice")).to_have_text("The code is incorrect.")
    expect(page.locator("#user-email")).to_have_text(user.email)
    expect(page.locator("#delete-code")).to_have_value("")
    assert django_user_model.objects.filter(pk=user.pk).exists()

    code = app_code(app_user.secret, user=user) if answer == "totp" else app_user.recovery_codes[0]
    page.locator("#delete-code").fill(code)
    page.get_by_role("button", name="Delete my account for good").click()
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#notice")).to_have_text(DELETED)
    assert not django_user_model.objects.filter(pk=user.pk).exists()
