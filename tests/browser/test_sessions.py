"""
Ending sessions from the demo page, in real browsers: revoking one from
another browser, signing out, signing out everywhere.
"""

import pytest

from tests.browser.conftest import sign_in
from tokens.models import Session

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ENDED = "Your session has ended. Please sign in again."


def auth_cookies(page) -> set[str]:
    return {cookie["name"] for cookie in page.context.cookies()} & {"access_token", "refresh_token"}


def test_a_session_revoked_from_another_browser_is_signed_out_on_its_next_call(new_page, user):
    """Revoking a session from a second browser signs the first one out the next time it calls the API."""
    laptop = sign_in(new_page(), user)
    laptop_session = laptop.locator("#sessions tr.current").get_attribute("data-session-id")
    phone = sign_in(new_page(), user)
    rows = phone.locator("#sessions tbody tr")
    expect(rows).to_have_count(2)
    expect(phone.locator("#sessions tr.current")).not_to_have_attribute("data-session-id", laptop_session)

    phone.locator(f'#sessions tr[data-session-id="{laptop_session}"]').get_by_role("button").click()
    expect(phone.locator("#notice")).to_have_text("Session revoked.")
    expect(rows).to_have_count(1)
    assert Session.objects.get(pk=laptop_session).revoked_at is not None

    laptop.get_by_role("button", name="Reload").click()
    expect(laptop.locator("#signin")).to_be_visible()
    expect(laptop.locator("#notice")).to_have_text(ENDED)
    # The phone is untouched.
    phone.get_by_role("button", name="Reload").click()
    expect(phone.locator("#sessions tr.current")).to_have_count(1)


def test_revoking_this_browsers_own_session_signs_it_out(new_page, user):
    """The "revoke" button of the current session is a sign-out."""
    page = sign_in(new_page(), user)
    page.locator("#sessions tr.current").get_by_role("button").click()

    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#notice")).to_have_text("This session was revoked. Please sign in again.")
    assert Session.objects.get(user=user).revoked_at is not None
    assert auth_cookies(page) == set()


def test_sign_out_ends_the_session_and_clears_the_cookies(new_page, user):
    """"Sign out" revokes the session on the server and removes both auth cookies from the browser."""
    page = sign_in(new_page(), user)
    assert auth_cookies(page) == {"access_token", "refresh_token"}

    page.get_by_role("button", name="Sign out", exact=True).click()

    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#notice")).to_have_text("You are signed out.")
    assert auth_cookies(page) == set()
    assert Session.objects.get(user=user).revoked_at is not None
    page.reload()
    expect(page.locator("#signin")).to_be_visible()
    # A first visit or a signed-out one: no "session has ended" alarm.
    expect(page.locator("#notice")).to_be_hidden()


def test_sign_out_everywhere_ends_the_sessions_of_every_browser(new_page, user):
    """"Sign out everywhere" revokes every session of the user; the other browser is signed out on its next call."""
    laptop = sign_in(new_page(), user)
    phone = sign_in(new_page(), user)

    phone.get_by_role("button", name="Sign out everywhere").click()

    expect(phone.locator("#signin")).to_be_visible()
    expect(phone.locator("#notice")).to_have_text("You are signed out everywhere (2 sessions ended).")
    assert auth_cookies(phone) == set()
    assert not Session.objects.filter(user=user, revoked_at__isnull=True).exists()
    laptop.get_by_role("button", name="Reload").click()
    expect(laptop.locator("#signin")).to_be_visible()
    expect(laptop.locator("#notice")).to_have_text(ENDED)
