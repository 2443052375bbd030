"""
End-to-end fixtures: Debian's headless Chromium, driven by Playwright's sync
API, against pytest-django's live server.

The live server runs in a thread of this process, so the ``settings``
fixture reaches it, and so does the locmem outbox the emailed codes land in.
Playwright's own browser download does not work on our machines: the tests
drive ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run``
installs it) and are skipped, saying so, where it is missing.
"""

import os
import re
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.core import mail
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections

from tests.conftest import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# Root in a container: no sandbox. Nothing but the pages under test on the network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
# Playwright waits 5 s by default; a busy two-core CI machine can take longer for a sign-in.
TIMEOUT_MS = 15_000
AUTHSVC_JS = "/static/authsvc/authsvc.js"


@pytest.fixture(autouse=True)
def browser_settings(settings):
    """As deployed (two-step login), but over the live server's plain HTTP and with room for many logins."""
    settings.AUTH_2FA = "required"
    # Secure cookies are not sent back over http:// to most hosts.
    settings.COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.RATE_LIMITS = {
        **settings.RATE_LIMITS,
        "login_ip": "1000/m",
        "login_email": "1000/m",
        "login_email_ip": "1000/m",
        "two_factor_account_emails": "1000/h",
        "two_factor_ip": "1000/m",
        "resend_ip": "1000/m",
    }


@pytest.fixture(autouse=True)
def one_request_at_a_time_on_in_memory_sqlite(monkeypatch):
    """On the in-memory SQLite test database, the live server answers one request at a time.

    Its threads all use the test's one connection (the only way to see an
    in-memory database), and a connection cannot hold two transactions at
    once: two refreshes in parallel would fail with "database table is
    locked". The browser still sends requests in parallel; on PostgreSQL
    the server also runs them in parallel.
    """
    if not (connection.vendor == "sqlite" and connection.is_in_memory_db()):
        return
    lock = threading.RLock()  # re-entrant: the static-files handler wraps another WSGIHandler
    serve = WSGIHandler.__call__

    def serve_alone(self, environ, start_response):
        with lock:
            return serve(self, environ, start_response)

    monkeypatch.setattr(WSGIHandler, "__call__", serve_alone)


@pytest.fixture
def browser(monkeypatch):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
    # Playwright's sync API keeps an asyncio loop marked as running on this
    # thread, so Django would refuse the test's own ORM calls as calls from
    # async code. They are plain synchronous calls; the live server's thread
    # has no loop and is not affected.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    sync_api.expect.set_options(timeout=TIMEOUT_MS)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
        # While that loop runs, asgiref keeps this thread's database
        # connections apart from its usual ones: close them now, or they
        # outlive the test and keep the test database from being dropped.
        connections.close_all()


@pytest.fixture
def new_page(browser, live_server):
    """Open a page of the live server in a new browser profile, or in the given page's profile (another tab).

    Uncaught script errors and Content-Security-Policy violations on any page fail the test.
    """
    problems = []

    def open_page(beside=None):
        context = beside.context if beside else browser.new_context(base_url=live_server.url)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
        page.on(
            "console",
            lambda message: problems.append(message.text) if "Content Security Policy" in message.text else None,
        )
        return page

    yield open_page
    assert problems == []


def emailed_code(email: str, *, after: int) -> str:
    """The 6-digit code of the newest email to ``email`` among those sent after the first ``after`` ones."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        messages = [message for message in mail.outbox[after:] if email in message.to]
        if messages:
            match = re.search(r"\b(\d{6})\b", messages[-1].body)
            assert match, messages[-1].body
            return match.group(1)
        assert time.monotonic() < deadline, f"no code was emailed to {email}"
        time.sleep(0.05)


def open_sign_in_form(page) -> None:
    """Open the demo page, signed out, and wait until it has finished looking for a session.

    On load the page asks for the account, is refused a refresh, and shows the
    form with the Email box focused: from its "signedout" listener, then again
    when the check gives up, and a third time (clearing the Password box too)
    when one of its two 401s came back after the refused refresh and started
    another. The form is visible after the first, and fill() focuses a box and
    then inserts the text into whatever has focus: a focus() landing in between
    once put the password into the Email box.
    """
    from playwright.sync_api import expect

    # A second refresh is one more load-time request: wait until they are all over...
    page.goto("/", wait_until="networkidle")
    # ...and for the check itself, the page module's top-level await: importing
    # the module again resolves once its evaluation has finished.
    page.evaluate("() => import(document.querySelector('script[type=module]').src)")
    expect(page.locator("#signin")).to_be_visible()


def start_sign_in(page, user, password: str = PASSWORD) -> int:
    """Fill in and send the sign-in form; returns how many emails had been sent before."""
    from playwright.sync_api import expect

    open_sign_in_form(page)
    page.get_by_label("Email", exact=True).fill(user.email)
    page.get_by_label("Password", exact=True).fill(password)
    sent = len(mail.outbox)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#code")).to_be_visible()
    return sent


def sign_in(page, user):
    """The whole two-step sign-in through the demo page; returns the page, showing the account."""
    from playwright.sync_api import expect

    sent = start_sign_in(page, user)
    page.get_by_label("Code", exact=True).fill(emailed_code(user.email, after=sent))
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#user-email")).to_have_text(user.email)
    return page


@pytest.fixture
def other_origin():
    """A second web server, on another port of localhost: another origin (of the same site).

    It serves a page, and at /authsvc.js its own copy of the client module, as an app that bundles it would.
    """

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/authsvc.js":
                body = Path(finders.find("authsvc/authsvc.js")).read_bytes()
                content_type = "text/javascript; charset=utf-8"
            else:
                body = b"<!doctype html><title>another app</title><p>Another app, on another origin.</p>"
                content_type = "text/html; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()
