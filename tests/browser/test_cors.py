"""
CORS in a real browser: a page of another origin that fetches the API with
the user's cookies gets nothing to read, unless CORS_ALLOWED_ORIGINS names
that origin.

The other origin is localhost on another port: the same site, so the
SameSite=Lax cookies do go along (as they would from a sibling subdomain)
and the server does answer; it is the browser, told by the CORS headers,
that keeps the answer from the page (Fetch Standard, "CORS check").
"""

import pytest
from django.core import mail
from django.core.signals import request_started

from tests.browser.conftest import emailed_code, sign_in
from tests.conftest import PASSWORD
from tokens.models import Session

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FETCH_WITH_COOKIES = """async (url) => {
  try {
    const response = await fetch(url, {credentials: "include"});
    return {status: response.status, body: await response.json()};
  } catch (error) {
    return {error: String(error)};
  }
}"""


def test_another_origin_reads_the_api_only_when_allowed(new_page, user, live_server, other_origin, settings):
    """Not in CORS_ALLOWED_ORIGINS: the fetch rejects. Added to it: the same fetch reads the user."""
    page = sign_in(new_page(), user)
    other = new_page(beside=page)
    other.goto(other_origin)
    me_url = f"{live_server.url}/api/auth/me/"
    arrived = []

    def record(sender, environ, **kwargs):
        if environ["PATH_INFO"] == "/api/auth/me/":
            arrived.append((environ.get("HTTP_ORIGIN"), "access_token=" in environ.get("HTTP_COOKIE", "")))

    request_started.connect(record)
    try:
        assert other.evaluate(FETCH_WITH_COOKIES, me_url) == {"error": "TypeError: Failed to fetch"}
    finally:
        request_started.disconnect(record)
    # The request did reach the server with the access cookie: the browser withheld the answer.
    assert arrived == [(other_origin, True)]

    settings.CORS_ALLOWED_ORIGINS = [other_origin]
    read = other.evaluate(FETCH_WITH_COOKIES, me_url)

    assert read["status"] == 200
    assert read["body"]["email"] == user.email
    # Other origins stay shut out.
    settings.CORS_ALLOWED_ORIGINS = ["http://localhost:1"]
    assert "error" in other.evaluate(FETCH_WITH_COOKIES, me_url)


def test_an_allowed_origin_signs_in_and_out_with_the_client_module(new_page, user, live_server, other_origin, settings):
    """authsvc.js on another (allowed) origin, configured with authsvc's base URL, does the whole round.

    The cookies are set by authsvc's answers and stay authsvc's; the CSRF
    token for the unsafe requests comes from GET csrf/, since the page may
    not read authsvc's cookie (and on a real other host could not).
    """
    settings.CORS_ALLOWED_ORIGINS = [other_origin]
    settings.CSRF_TRUSTED_ORIGINS = [other_origin]
    page = new_page()
    page.goto(other_origin)
    sent = len(mail.outbox)

    step = page.evaluate(
        """async ([baseUrl, email, password]) => {
          window.auth = await import("/authsvc.js");
          auth.configure({baseUrl});
          return auth.login(email, password);
        }""",
        [live_server.url, user.email, PASSWORD],
    )
    assert step == {"status": "code_required", "methods": ["email"], "expiresIn": settings.TWO_FACTOR_CODE_TTL}
    signed_in = page.evaluate("(code) => auth.submitCode(code)", emailed_code(user.email, after=sent))
    session = Session.objects.get(user=user)
    assert signed_in == {"status": "signed_in", "sessionId": str(session.id)}
    assert page.evaluate("() => auth.me().then((me) => me.email)") == user.email

    assert page.evaluate(
        "() => new Promise((resolve) => { auth.on('signedout', (e) => resolve(e.detail.reason)); auth.logout(); })"
    ) == "logout"
    session.refresh_from_db()
    assert session.revoked_at is not None
    assert page.evaluate("() => auth.me().then(() => 'signed in', (error) => error.code)") == "not_authenticated"
