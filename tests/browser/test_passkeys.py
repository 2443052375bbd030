"""
Passkeys on the demo page, in a real browser (DESIGN.md, Part 2, "Second
factors": the ``webauthn`` rows and ``login/passkey``): adding one with the
password, signing in with it as the second step and alone, renaming and
removing it, deleting an account whose factor it is, and ceremonies that do
not finish.

The authenticator is Chromium's virtual one (DevTools protocol, ``WebAuthn``
domain): a platform authenticator holding discoverable credentials, which
verifies its user. WebAuthn runs only in a secure context and binds a passkey
to a domain (WebAuthn §5.1.3, §5.1.4): http://localhost is one, 127.0.0.1
cannot be an RP id, so the page is opened at the live server's localhost
address and the relying party is "localhost".
"""

import re
from dataclasses import dataclass

import pytest
from django.core import mail

from accounts.models import WebAuthnCredential
from tests.browser.conftest import ARTIFACTS, sign_in, start_sign_in
from tests.conftest import PASSWORD
from tokens.models import Session, TrustedDevice

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECOVERY_CODE = re.compile(r"^[23456789abcdefghjkmnpqrstwxyz]{5}-[23456789abcdefghjkmnpqrstwxyz]{5}$")
CODE_EMAIL = "Your sign-in code"
NOT_USED = "The passkey was not used: the request was cancelled or timed out."
NOT_ACCEPTED = "This passkey was not accepted. Try again, or use another way."
# Waiting for a ceremony to time out: the browser may stretch a short timeout (Chromium has clamped it to 10 s).
CEREMONY_TIMEOUT_MS = 30_000
DELETED = "Your account is deleted: every session has ended and its address is free again."

# Takes the browser's WebAuthn JSON helpers away (browsers before 2024 lack them), so that
# authsvc.js decodes the options and encodes the credential itself.
WITHOUT_JSON_HELPERS = """
delete PublicKeyCredential.parseCreationOptionsFromJSON;
delete PublicKeyCredential.parseRequestOptionsFromJSON;
delete PublicKeyCredential.prototype.toJSON;
"""


@pytest.fixture(autouse=True)
def relying_party(settings, live_server):
    """This live server as the relying party: RP id "localhost", its exact origin (scheme, host, port)."""
    assert live_server.url.startswith("http://localhost:"), live_server.url
    settings.WEBAUTHN_RP_ID = "localhost"
    settings.WEBAUTHN_ORIGINS = [live_server.url]
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "passkey_ip": "1000/m"}


@dataclass
class Authenticator:
    """A virtual authenticator attached to one page (its tab)."""

    cdp: object
    id: str

    def credentials(self) -> list[dict]:
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})["credentials"]

    def remove(self) -> None:
        self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.id})


def add_authenticator(page) -> Authenticator:
    """A passkey provider for ``page``: resident keys, user verification, the user always verified."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    options = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
    }
    answer = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return Authenticator(cdp=cdp, id=answer["authenticatorId"])


def code_emails(email: str, *, after: int) -> list:
    return [m for m in mail.outbox[after:] if email in m.to and m.subject == CODE_EMAIL]


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.locator("#signin")).to_be_visible()


def add_passkey(page, name: str) -> list[str]:
    """Add a passkey named ``name`` on the signed-in page; returns the recovery codes it shows (then hidden)."""
    page.get_by_role("button", name="Add a passkey").click()
    page.locator("#passkey-add-password").fill(PASSWORD)
    page.get_by_label("Name it (optional)").fill(name)
    page.get_by_role("button", name="Create the passkey").click()
    expect(page.locator("#passkeys tbody tr")).to_have_count(1)
    codes = page.locator("#recovery-list li")
    expect(codes).to_have_count(10)
    shown = codes.all_inner_texts()
    page.get_by_role("button", name="I have saved them").click()
    return shown


@pytest.fixture
def passkey_page(new_page, user):
    """A page signed in as ``user`` (emailed code), its authenticator, and the passkey added on it."""
    page = sign_in(new_page(), user)
    authenticator = add_authenticator(page)
    codes = add_passkey(page, "Laptop")
    return page, authenticator, codes


@pytest.mark.parametrize("json_helpers", ["browser", "authsvc.js"])
def test_add_a_passkey_then_sign_in_with_it_as_the_second_step(new_page, user, json_helpers):
    """
    The password first (a wrong one is refused on the page), then the
    browser creates the passkey: it is listed by name, recovery codes are
    shown once, and the next sign-in asks for the passkey — no code is
    mailed; "Remember this browser" holds for it. Both with the browser's
    WebAuthn JSON helpers and without them (authsvc.js's own decoding).
    """
    page = new_page()
    if json_helpers == "authsvc.js":
        page.add_init_script(WITHOUT_JSON_HELPERS)
    sign_in(page, user)
    if json_helpers == "authsvc.js":
        assert page.evaluate("typeof PublicKeyCredential.parseCreationOptionsFromJSON") == "undefined"
    authenticator = add_authenticator(page)
    expect(page.locator("#passkey-status")).to_have_text("None")
    expect(page.locator("#passkeys")).to_be_hidden()

    page.get_by_role("button", name="Add a passkey").click()
    page.locator("#passkey-add-password").fill("not the password")
    page.get_by_label("Name it (optional)").fill("Laptop")
    page.get_by_role("button", name="Create the passkey").click()
    expect(page.locator("#notice")).to_have_text("The password is incorrect.")
    assert authenticator.credentials() == []

    page.locator("#passkey-add-password").fill(PASSWORD)
    page.get_by_role("button", name="Create the passkey").click()
    codes = page.locator("#recovery-list li")
    expect(codes).to_have_count(10)
    assert all(RECOVERY_CODE.match(code) for code in codes.all_inner_texts())
    expect(page.locator("#notice")).to_contain_text("Your passkey “Laptop” is added")
    expect(page.locator("#passkey-add-form")).to_be_hidden()
    expect(page.locator("#passkey-status")).to_have_text("1 passkey")
    expect(page.locator("#recovery-status")).to_have_text("10 left")
    expect(page.locator("#email-factor-note")).to_be_hidden()
    row = page.locator("#passkeys tbody tr")
    expect(row).to_have_count(1)
    key = WebAuthnCredential.objects.get(user=user)
    expect(row).to_have_attribute("data-passkey-id", str(key.pk))
    expect(row.locator("td").nth(0)).to_have_text("Laptop")
    expect(row.locator("td").nth(2)).to_have_text("Never")
    # The browser made one discoverable credential, for this RP and this user's handle.
    [made] = authenticator.credentials()
    assert made["isResidentCredential"] and made["rpId"] == "localhost"
    assert key.name == "Laptop" and key.user_handle
    if json_helpers == "browser":
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.get_by_role("button", name="I have saved them").click()
        page.screenshot(path=ARTIFACTS / "passkeys.png", full_page=True)

    sign_out(page)
    sent = start_sign_in(page, user)
    expect(page.locator("#code-title")).to_have_text("Use your passkey")
    expect(page.locator("#code-input")).to_be_hidden()
    expect(page.get_by_role("button", name="Verify")).to_be_hidden()
    expect(page.get_by_role("button", name="Send a new code")).to_be_hidden()
    expect(page.get_by_role("button", name="Use a recovery code instead")).to_be_visible()
    use_passkey = page.get_by_role("button", name="Use a passkey", exact=True)
    expect(use_passkey).to_be_focused()
    if json_helpers == "browser":
        page.screenshot(path=ARTIFACTS / "passkey-step.png", full_page=True)
    page.get_by_label("Remember this browser").check()
    use_passkey.click()
    expect(page.locator("#user-email")).to_have_text(user.email)
    # "Remember this browser" holds for a passkey as for a code.
    expect(page.locator("#devices tbody tr")).to_have_count(1)
    assert TrustedDevice.objects.filter(user=user).count() == 1
    expect(page.locator("#passkeys tbody tr td").nth(2)).not_to_have_text("Never")
    assert code_emails(user.email, after=sent) == []
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_sign_in_with_a_passkey_alone(new_page, passkey_page, user):
    """
    "Continue with a passkey" on the sign-in form: no email, no password, the
    passkey both factors; the session is a cookie session like any other
    (no token is readable by the page).
    """
    page, _, _ = passkey_page
    sign_out(page)
    sent = len(mail.outbox)
    sessions = Session.objects.filter(user=user).count()
    page.get_by_role("button", name="Continue with a passkey").click()
    expect(page.locator("#user-email")).to_have_text(user.email)
    expect(page.locator("#sessions tbody tr.current")).to_have_count(1)
    assert Session.objects.filter(user=user).count() == sessions + 1
    assert code_emails(user.email, after=sent) == []
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert cookies["access_token"]["httpOnly"] and cookies["refresh_token"]["httpOnly"]
    assert "access_token" not in page.evaluate("document.cookie")

    # It holds across a reload, as a password sign-in does.
    page.reload()
    expect(page.locator("#user-email")).to_have_text(user.email)


def test_rename_and_remove_a_passkey(passkey_page, user):
    """Renamed in place; removed with the password (a wrong one refused), the emailed code comes back."""
    page, _, _ = passkey_page
    key = WebAuthnCredential.objects.get(user=user)

    page.get_by_role("button", name="Rename Laptop").click()
    expect(page.locator("#passkey-rename-name")).to_have_value("Laptop")
    page.locator("#passkey-rename-name").fill("Work laptop")
    page.get_by_role("button", name="Save the name").click()
    expect(page.locator("#notice")).to_have_text("Passkey renamed to “Work laptop”.")
    expect(page.locator("#passkeys tbody tr td").nth(0)).to_have_text("Work laptop")
    key.refresh_from_db()
    assert key.name == "Work laptop"

    page.get_by_role("button", name="Remove Work laptop").click()
    expect(page.locator("#passkey-remove-form")).to_contain_text("Remove Work laptop?")
    page.locator("#passkey-remove-password").fill("not the password")
    page.get_by_role("button", name="Remove the passkey").click()
    expect(page.locator("#notice")).to_have_text("The password is incorrect.")
    assert WebAuthnCredential.objects.filter(user=user).exists()

    page.locator("#passkey-remove-password").fill(PASSWORD)
    page.get_by_role("button", name="Remove the passkey").click()
    expect(page.locator("#notice")).to_have_text(
        "Your passkey “Work laptop” is removed: sign-ins ask for a code sent to your email again."
    )
    expect(page.locator("#passkeys")).to_be_hidden()
    expect(page.locator("#passkey-status")).to_have_text("None")
    expect(page.locator("#email-factor-note")).to_be_visible()
    assert not WebAuthnCredential.objects.filter(user=user).exists()

    sign_out(page)
    sent = start_sign_in(page, user)
    expect(page.locator("#code-title")).to_have_text("Check your email")
    expect(page.get_by_role("button", name="Use a passkey instead")).to_be_hidden()
    assert len(code_emails(user.email, after=sent)) == 1


def test_delete_an_account_whose_factor_is_a_passkey(passkey_page, user, django_user_model):
    """The delete form asks for the password and then the passkey (no code box); the account is gone."""
    page, _, _ = passkey_page
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#delete-form")).to_be_visible()
    expect(page.locator("#delete-code")).to_be_hidden()
    expect(page.locator("#delete-passkey-note")).to_be_visible()
    # A recovery code is the way when the passkey is not at hand.
    expect(page.get_by_role("button", name="Use a code instead")).to_be_visible()

    page.locator("#delete-password").fill(PASSWORD)
    page.get_by_role("button", name="Delete my account for good").click()
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#notice")).to_have_text(DELETED)
    assert not django_user_model.objects.filter(pk=user.pk).exists()
    assert not WebAuthnCredential.objects.exists()


def test_ceremonies_that_do_not_finish_are_told_not_crashed(passkey_page, user, settings):
    """
    The authenticator gone (the key was unplugged, the user walked away from
    the prompt): the ceremony times out, the page says so and stays where it
    was, and the sign-in can go on another way. A passkey the server no
    longer knows is refused, and the page says that too.
    """
    page, authenticator, codes = passkey_page
    # Removed behind the page's back (staff, another tab): the authenticator still holds it.
    WebAuthnCredential.objects.filter(user=user).delete()
    sign_out(page)
    page.get_by_role("button", name="Continue with a passkey").click()
    expect(page.locator("#notice")).to_have_text(NOT_ACCEPTED)
    expect(page.locator("#signin")).to_be_visible()

    # Back on the account: a passkey again, then the authenticator goes away.
    sign_in(page, user)
    page.get_by_role("button", name="Add a passkey").click()
    page.locator("#passkey-add-password").fill(PASSWORD)
    page.get_by_role("button", name="Create the passkey").click()
    # The user kept the recovery codes: none new.
    expect(page.locator("#notice")).to_contain_text("Your recovery codes still work.")
    sign_out(page)
    start_sign_in(page, user)
    expect(page.locator("#code-title")).to_have_text("Use your passkey")
    # With no authenticator the browser waits for one until the options' timeout (5 minutes by
    # default): the ceremonies from here on ask for one second.
    settings.WEBAUTHN_TIMEOUT = 1
    authenticator.remove()
    page.get_by_role("button", name="Use a passkey", exact=True).click()
    expect(page.locator("#notice")).to_have_text(NOT_USED, timeout=CEREMONY_TIMEOUT_MS)
    expect(page.locator("#code")).to_be_visible()
    expect(page.get_by_role("button", name="Use a passkey", exact=True)).to_be_enabled()

    # The sign-in goes on with a recovery code; the step can come back to the passkey.
    page.get_by_role("button", name="Use a recovery code instead").click()
    expect(page.get_by_role("button", name="Use a passkey instead")).to_be_visible()
    page.get_by_label("Recovery code", exact=True).fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#user-email")).to_have_text(user.email)

    # Nothing to answer with on the sign-in form either.
    sign_out(page)
    page.get_by_role("button", name="Continue with a passkey").click()
    expect(page.locator("#notice")).to_have_text(NOT_USED, timeout=CEREMONY_TIMEOUT_MS)
    expect(page.locator("#signin")).to_be_visible()
    expect(page.get_by_role("button", name="Continue with a passkey")).to_be_enabled()
