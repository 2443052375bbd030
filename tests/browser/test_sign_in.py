"""
Signing in on the demo page, in a real browser: the two steps, and where the
tokens end up — in HttpOnly cookies only, out of reach of the page's script.
"""

import json

import pytest

from tests.browser.conftest import ARTIFACTS, emailed_code, open_sign_in_form, sign_in, start_sign_in
from tokens.models import Session
from tokens.services import issue_session

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def test_sign_in_with_the_emailed_code(new_page, user, settings):
    """Email and password, then the emailed code: a resent code replaces the first, and the page shows the account."""
    settings.TWO_FACTOR_RESEND_COOLDOWN = 0
    # An older session on a phone, so the list shows which one is this browser.
    issue_session(user=user, ip="203.0.113.7", user_agent=PHONE)
    page = new_page()

    sent = start_sign_in(page, user)
    expect(page.locator("#code-email")).to_have_text(user.email)
    first_code = emailed_code(user.email, after=sent)
    page.get_by_role("button", name="Send a new code").click()
    expect(page.locator("#notice")).to_contain_text("A new code is on its way")
    second_code = emailed_code(user.email, after=sent + 1)

    if first_code != second_code:
        # The first code died with the resend.
        page.get_by_label("Code", exact=True).fill(first_code)
        page.get_by_role("button", name="Verify").click()
        expect(page.locator("#notice")).to_have_class("notice error")
        expect(page.locator("#notice")).to_have_text("The code is incorrect.")
        expect(page.locator("#code")).to_be_visible()
    page.get_by_label("Code", exact=True).fill(second_code)
    page.get_by_role("button", name="Verify").click()

    expect(page.locator("#user-email")).to_have_text(user.email)
    rows = page.locator("#sessions tbody tr")
    expect(rows).to_have_count(2)
    browser_session = Session.objects.exclude(user_agent=PHONE).get(user=user)
    # Newest first, and only this browser's session is marked as such.
    expect(rows.nth(0)).to_have_attribute("data-session-id", str(browser_session.id))
    expect(rows.nth(0).locator(".badge")).to_have_text("This browser")
    expect(rows.nth(1)).to_contain_text("Safari 17 on iOS")
    expect(rows.nth(1)).to_contain_text("203.0.113.7")
    expect(page.locator("#sessions .badge")).to_have_count(1)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "signed-in.png", full_page=True)


def test_a_wrong_password_is_refused_on_the_page(new_page, user):
    """A refused login shows the API's message and stays on the form; no code is sent."""
    page = new_page()
    open_sign_in_form(page)
    page.get_by_label("Email", exact=True).fill(user.email)
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in").click()

    expect(page.locator("#notice")).to_have_class("notice error")
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#code")).to_be_hidden()


def test_the_page_script_never_sees_a_token(new_page, user):
    """Both tokens live in HttpOnly cookies: not in document.cookie, localStorage or sessionStorage.

    A token that script can read is a token an XSS can steal (OWASP HTML5
    Security Cheat Sheet, "Local Storage"; RFC 6265 §4.1.2.6, HttpOnly).
    """
    page = sign_in(new_page(), user)
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}

    # They exist, with the attributes DESIGN.md gives them…
    assert cookies["access_token"]["httpOnly"] and cookies["access_token"]["path"] == "/"
    assert cookies["refresh_token"]["httpOnly"] and cookies["refresh_token"]["path"] == "/api/auth/"
    assert {cookies[name]["sameSite"] for name in ("access_token", "refresh_token")} == {"Lax"}
    # …and the page cannot see them. It sees the CSRF cookie: that one it must send back as a header.
    document_cookie = page.evaluate("document.cookie")
    assert "access_token" not in document_cookie
    assert "refresh_token" not in document_cookie
    assert "csrftoken=" in document_cookie
    storage = page.evaluate(
        "() => JSON.stringify({local: {...localStorage}, session: {...sessionStorage}})"
    )
    for name in ("access_token", "refresh_token"):
        assert name not in storage
        assert cookies[name]["value"] not in storage
    assert json.loads(storage) == {"local": {}, "session": {}}

    # The page keeps working through the cookies alone, after a reload too.
    page.reload()
    expect(page.locator("#user-email")).to_have_text(user.email)
