"""
The admin's second step with a passkey, in a real browser (issue 19, point
3): Chromium's virtual authenticator (CDP ``WebAuthn``) holds the staff
member's passkey, registered through the API from a page of the service's
origin; the admin's "Use a passkey" button then fetches the login's request
options, asks the authenticator, and posts its answer in the step's form.

WebAuthn needs a secure context and an RP id that is a domain: the live
server is browsed as http://localhost:<port> (localhost is a secure context
over plain HTTP), with the RP id and origin set to match.
"""

import re
from urllib.parse import urlsplit

import pytest
from django.core import mail

from accounts import methods
from accounts.models import WebAuthnCredential
from tests.browser.conftest import emailed_code
from tests.conftest import PASSWORD
from tokens.models import AuthEvent

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AUTHENTICATOR = {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
                 "isUserVerified": True}

# Run in a page of the service: the API's body transport (a bearer token, no cookie, no CSRF token).
API_LOGIN = """async ({email, password}) => {
  const response = await fetch("/api/auth/login/", {method: "POST", headers: {"Content-Type": "application/json"},
                                                     body: JSON.stringify({email, password, transport: "body"})});
  return response.json();
}"""
API_CODE = """async ({challenge, code}) => {
  const response = await fetch("/api/auth/login/2fa/", {method: "POST", headers: {"Content-Type": "application/json"},
                                                        body: JSON.stringify({challenge, code, transport: "body"})});
  return (await response.json()).access;
}"""
REGISTER_PASSKEY = """async ({access, password}) => {
  const post = (path, body) => fetch(path, {
    method: "POST", body: JSON.stringify(body),
    headers: {"Content-Type": "application/json", "Authorization": `Bearer ${access}`},
  });
  const options = await (await post("/api/auth/2fa/webauthn/register/begin/", {password})).json();
  const credential = await navigator.credentials.create(
    {publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey)});
  const finished = await post("/api/auth/2fa/webauthn/register/finish/",
                              {credential: credential.toJSON(), name: "Virtual key"});
  return finished.status;
}"""

WITHOUT_JSON_HELPERS = """
delete PublicKeyCredential.parseRequestOptionsFromJSON;
delete PublicKeyCredential.prototype.toJSON;
"""


@pytest.fixture
def localhost(live_server, settings):
    """The live server's origin as http://localhost:<port>, and WebAuthn's RP id and origin to match."""
    port = urlsplit(live_server.url).port
    origin = f"http://localhost:{port}"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    settings.WEBAUTHN_RP_ID = "localhost"
    settings.WEBAUTHN_ORIGINS = [origin]
    return origin


def virtual_authenticator(page) -> tuple:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    return cdp, added["authenticatorId"]


def register_passkey(page, staff, origin: str) -> None:
    """Through the API from a page of the service: password, emailed code, then the passkey's registration."""
    page.goto(f"{origin}/admin/login/")
    sent = len(mail.outbox)
    pending = page.evaluate(API_LOGIN, {"email": staff.email, "password": PASSWORD})
    access = page.evaluate(API_CODE, {"challenge": pending["challenge"],
                                      "code": emailed_code(staff.email, after=sent)})
    assert page.evaluate(REGISTER_PASSKEY, {"access": access, "password": PASSWORD}) == 201


def admin_password_step(page, staff, origin: str) -> None:
    page.goto(f"{origin}/admin/login/")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(re.escape(f"{origin}/admin/login/code/")))


@pytest.mark.parametrize("json_helpers", [True, False], ids=["webauthn-json", "older-browser"])
def test_staff_sign_in_to_the_admin_with_a_passkey(new_page, make_user, localhost, json_helpers):
    """
    Password, then "Use a passkey": the admin's index, a sign-in audited as
    webauthn via admin — also in a browser without WebAuthn's JSON helpers
    (``parseRequestOptionsFromJSON``, ``toJSON``), where the script encodes
    base64url itself.
    """
    staff = make_user(email="staff@example.com", is_staff=True, is_superuser=True)
    page = new_page()
    cdp, authenticator = virtual_authenticator(page)
    register_passkey(page, staff, localhost)
    (key,) = WebAuthnCredential.objects.filter(user=staff)
    assert cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    if not json_helpers:
        page.add_init_script(WITHOUT_JSON_HELPERS)

    admin_password_step(page, staff, localhost)
    helpers = "[typeof PublicKeyCredential.parseRequestOptionsFromJSON, typeof PublicKeyCredential.prototype.toJSON]"
    assert page.evaluate(helpers) == (["function"] * 2 if json_helpers else ["undefined"] * 2)
    expect(page.get_by_text("Use your passkey")).to_be_visible()
    page.get_by_role("button", name="Use a passkey").click()

    expect(page).to_have_url(f"{localhost}/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    ok = AuthEvent.objects.filter(kind=AuthEvent.Kind.LOGIN_SUCCEEDED, via="admin").get()
    assert (ok.user_id, ok.reason) == (staff.pk, methods.WEBAUTHN)
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_a_refused_passkey_is_shown_on_the_page(new_page, make_user, localhost, settings):
    """
    The authenticator answers for this page's origin, which the service no
    longer accepts (WEBAUTHN_ORIGINS changed): the server refuses the
    assertion as a wrong try, and the page says so and keeps the step.
    """
    staff = make_user(email="staff@example.com", is_staff=True, is_superuser=True)
    page = new_page()
    virtual_authenticator(page)
    register_passkey(page, staff, localhost)
    admin_password_step(page, staff, localhost)
    settings.WEBAUTHN_ORIGINS = ["https://admin.example.com"]

    page.get_by_role("button", name="Use a passkey").click()

    expect(page.locator(".errornote")).to_have_text("Your passkey's answer was not accepted. Try it again, or enter "
                                                    "a code.")
    expect(page.get_by_label("Code")).to_be_visible()
    assert not AuthEvent.objects.filter(kind=AuthEvent.Kind.LOGIN_SUCCEEDED, via="admin").exists()
    failed = AuthEvent.objects.get(kind=AuthEvent.Kind.TWO_FACTOR_FAILED)
    assert (failed.reason, failed.via) == ("webauthn: attempt 1", "admin")
