"""
Silent refresh in authsvc.js, in a real browser: an expired access token is
renewed by one refresh shared by every request that failed with it; two tabs
of one profile refreshing at once both survive (the reuse grace window); a
refresh token replayed by someone else afterwards ends the session in both.

The server's clock is moved with time-machine rather than waited for: the
live server runs in this process, so it sees the moved clock.
"""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.handlers.wsgi import WSGIHandler
from django.utils import timezone
from rest_framework.test import APIClient

from tests.browser.conftest import AUTHSVC_JS, sign_in
from tokens.models import RefreshToken

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ACCESS_TTL = 5
# An access token is refused once its lifetime and the clock-skew leeway (JWT_LEEWAY) are over.
ACCESS_REFUSED_AFTER = ACCESS_TTL + django_settings.SIMPLE_JWT["LEEWAY"] + 1
REFRESH_PATH = "/api/auth/refresh/"

# Start calls through the page's own authsvc.js (the module instance the demo
# imported) without waiting for them; collect them with COLLECT.
START = """(calls) => {
  window.__calls = import("%s").then((auth) => Promise.all(calls.map((call) =>
    call === "api" ? auth.api("/api/auth/me/").then((response) => response.status)
                   : auth[call]().then(() => "ok", (error) => error.code))));
}""" % AUTHSVC_JS
COLLECT = "() => window.__calls"


def run_calls(page, calls):
    page.evaluate(START, calls)
    return page.evaluate(COLLECT)


@pytest.fixture
def short_access(settings):
    settings.ACCESS_TOKEN_TTL = ACCESS_TTL


def past_access_expiry():
    """Move the server's clock past the access token's lifetime (it keeps ticking)."""
    return time_machine.travel(timezone.now() + timedelta(seconds=ACCESS_REFUSED_AFTER))


def test_an_expired_access_token_is_refreshed_once_for_every_call_that_failed(new_page, user, short_access):
    """After expiry a call refreshes silently and succeeds; four calls failing together share one refresh."""
    page = sign_in(new_page(), user)
    responses = []
    page.on("response", lambda response: responses.append((response.request.method, response.url, response.status)))
    refreshes = lambda: [status for method, url, status in responses if url.endswith(REFRESH_PATH)]  # noqa: E731

    with past_access_expiry() as traveller:
        with page.expect_response(lambda response: response.url.endswith("/api/auth/sessions/") and response.ok):
            page.get_by_role("button", name="Reload").click()
        expect(page.locator("#sessions tbody tr")).to_have_count(1)
        expect(page.locator("#signin")).to_be_hidden()
        assert refreshes() == [200]
        assert [status for method, url, status in responses if url.endswith("/api/auth/sessions/")] == [401, 200]

        responses.clear()
        traveller.shift(ACCESS_REFUSED_AFTER)
        assert run_calls(page, ["me", "sessions", "api", "me"]) == ["ok", "ok", 200, "ok"]

    # One refresh request, from the browser's side and the server's: one rotation in the session.
    assert refreshes() == [200]
    auth_calls = [(method, url.split("/api/auth/")[1], status) for method, url, status in responses]
    assert sorted(auth_calls) == sorted(
        [("GET", "me/", 401)] * 3 + [("GET", "sessions/", 401)] + [("POST", "refresh/", 200)]
        + [("GET", "me/", 200)] * 3 + [("GET", "sessions/", 200)]
    )
    assert RefreshToken.objects.filter(session__user=user).count() == 3
    expect(page.locator("#signin")).to_be_hidden()


def test_two_tabs_refreshing_at_once_both_stay_signed_in_until_a_replay(
    new_page, user, short_access, settings, monkeypatch
):
    """Two tabs present the same refresh token at once: both get the same successor and stay signed in.

    Presented again from elsewhere after REFRESH_REUSE_GRACE, the old refresh
    token is taken for a stolen one (OAuth 2.0 Security BCP, RFC 9700 §4.14.2:
    refresh token rotation with reuse detection): the whole session is
    revoked, and both tabs are signed out on their next call.
    """
    settings.REFRESH_REUSE_GRACE = 1
    first = sign_in(new_page(), user)
    second = new_page(beside=first)
    second.goto("/")
    expect(second.locator("#user-email")).to_have_text(user.email)
    stolen = next(c["value"] for c in first.context.cookies() if c["name"] == "refresh_token")

    with past_access_expiry() as traveller, monkeypatch.context() as patch:
        # The server takes neither refresh until both have arrived: by then
        # both requests have left the browser, carrying the same cookie.
        both_arrived = threading.Barrier(2, timeout=10)
        serve = WSGIHandler.__call__

        def serve_together(handler, environ, start_response):
            if environ["PATH_INFO"] == REFRESH_PATH:
                both_arrived.wait()
            return serve(handler, environ, start_response)

        patch.setattr(WSGIHandler, "__call__", serve_together)
        for page in (first, second):
            page.evaluate(START, ["me"])
        assert first.evaluate(COLLECT) == ["ok"]
        assert second.evaluate(COLLECT) == ["ok"]
        patch.undo()
        # One rotation: both presented the first token, and the second
        # exchange, inside the window, got the same successor, not a new branch.
        assert RefreshToken.objects.filter(session__user=user).count() == 2

        # After the window, the first refresh token comes back from outside the browser.
        traveller.shift(settings.REFRESH_REUSE_GRACE + 1)
        replay = APIClient().post(REFRESH_PATH, {"refresh": stolen}, format="json")
        assert replay.status_code == 401
        assert replay.json()["code"] == "token_reused"

        for page in (first, second):
            page.get_by_role("button", name="Reload").click()
            expect(page.locator("#signin")).to_be_visible()
            expect(page.locator("#notice")).to_have_text("Your session has ended. Please sign in again.")
            expect(page.locator("#sessions tbody tr")).to_have_count(0)
