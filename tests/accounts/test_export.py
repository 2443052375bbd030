"""
The user's export (DESIGN.md, Part 2, "Account lifecycle", "Export";
``accounts.flows.export``; GDPR art. 15 and 20): GET ``account/export`` →
everything authsvc holds about the user — the account, sessions, remembered
devices, factors by name and date, their own events with IPs and user
agents, notices and email links — never a secret, hash, code or token;
``Cache-Control: no-store``; ten an hour per user; audited.
"""

import pytest

from accounts import links
from accounts.models import EmailLink, RecoveryCode, TotpDevice
from tests.conftest import bearer
from tokens import devices
from tokens.models import AuthEvent, RefreshToken, TrustedDevice
from tokens.services import issue_session

pytestmark = pytest.mark.django_db

EXPORT = "/api/auth/account/export/"
PARTS = {"exported_at", "user", "sessions", "devices", "factors", "events", "notices", "email_links"}
ALICES_IP, ALICES_BROWSER = "198.51.100.7", "AlicesBrowser/2.0"
RATE_LIMITED = {"detail": "Too many requests. Try again later.", "code": "rate_limited"}


def strings(value) -> list[str]:
    """Every key and value anywhere in a JSON document, as text."""
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in (str(key), *strings(item))]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return [str(value)]


def export(access: str, client):
    response = client.get(EXPORT, **bearer(access))
    assert response.status_code == 200, response.content
    return response


def test_the_export_holds_what_authsvc_holds_about_the_user(api, user, make_user, login):
    tokens = login(user, REMOTE_ADDR=ALICES_IP, HTTP_USER_AGENT=ALICES_BROWSER).json()
    devices.remember_device(user=user, ip=ALICES_IP, user_agent=ALICES_BROWSER)
    links.new_link(user, EmailLink.Purpose.VERIFY, email=user.email)
    bob = make_user(email="bob@example.com")
    login(bob, REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="BobsBrowser/1.0")

    response = export(tokens["access"], api)

    assert response["Cache-Control"] == "no-store"
    assert response["Content-Disposition"] == 'attachment; filename="authsvc-export.json"'
    data = response.json()
    assert set(data) == PARTS
    assert {key: value for key, value in data["user"].items() if key not in ("date_joined", "last_login")} == {
        "id": user.pk, "email": "alice@example.com", "email_verified": False, "is_active": True, "is_staff": False,
        "two_factor_enabled": False}
    (session,) = data["sessions"]
    assert (session["id"], session["ip"], session["user_agent"], session["revoked_at"]) == (
        tokens["session_id"], ALICES_IP, ALICES_BROWSER, None)
    (device,) = data["devices"]
    assert (device["ip"], device["user_agent"]) == (ALICES_IP, ALICES_BROWSER)
    assert data["factors"] == [{"method": "email", "enabled": False}]
    (link,) = data["email_links"]
    assert (link["purpose"], link["email"], link["used_at"]) == ("verify", "alice@example.com", None)
    # The user's own events, with where they came from; nobody else's.
    assert {(e["kind"], e["ip"], e["user_agent"]) for e in data["events"]} >= {
        ("login_succeeded", ALICES_IP, ALICES_BROWSER)}
    assert {e["session_id"] for e in data["events"] if e["kind"] == "login_succeeded"} == {tokens["session_id"]}
    assert "bob@example.com" not in response.content.decode() and "203.0.113.9" not in response.content.decode()


def test_the_owner_is_mailed_each_export_once(api, user, login, capture):
    """Whoever holds a session can read all of it: the owner hears of it, with where it came from."""
    from django.core import mail

    from accounts.notifications import send_notice
    from accounts.models import Notice

    tokens = login(user).json()
    mail.outbox.clear()

    capture(api.get, EXPORT, HTTP_USER_AGENT="Thief/1.0", **bearer(tokens["access"]))

    (notice,) = mail.outbox
    assert (notice.subject, notice.to) == ("Your account's data was downloaded", [user.email])
    assert "Thief/1.0" in notice.body and "127.0.0.1" in notice.body
    (owed,) = Notice.objects.filter(kind=Notice.Kind.ACCOUNT_EXPORTED)
    assert send_notice(notice_id=owed.pk) is False
    assert len(mail.outbox) == 1


def test_the_export_is_audited(api, user, login):
    tokens = login(user).json()

    export(tokens["access"], api)

    (event,) = AuthEvent.objects.filter(kind=AuthEvent.Kind.ACCOUNT_EXPORTED)
    assert (event.user_id, event.actor, event.via, event.ip) == (user.pk, "user", "api", "127.0.0.1")
    # The next export holds the one before it.
    assert "account_exported" in [e["kind"] for e in export(tokens["access"], api).json()["events"]]


@pytest.mark.usefixtures("two_factor")
def test_the_export_holds_no_secret(enrolled, api):
    """
    Factors by name and date only; no password hash, app secret (plain or
    sealed), recovery code or its hash, refresh jti, device or link key or
    their hashes, nor the tokens themselves — wherever in the document.
    """
    user = enrolled.user
    device = devices.remember_device(user=user, ip=ALICES_IP, user_agent=ALICES_BROWSER)
    link, key = links.claim(links.new_link(user, EmailLink.Purpose.VERIFY, email=user.email).pk)
    issued = issue_session(user=user, ip=ALICES_IP, user_agent=ALICES_BROWSER)
    user.refresh_from_db()
    secrets = {
        "password hash": user.password,
        "app secret": enrolled.secret,
        "sealed app secret": TotpDevice.objects.get(user=user).encrypted_secret,
        "device token": device.token,
        "device hash": TrustedDevice.objects.get(user=user).token_hash,
        "link key": key,
        "link hash": EmailLink.objects.get(pk=link.pk).key_hash,
        "access token": issued.access,
        "refresh token": issued.refresh,
    }
    secrets |= {f"recovery code {i}": code for i, code in enumerate(enrolled.recovery_codes)}
    secrets |= {f"recovery hash {i}": h for i, h in enumerate(RecoveryCode.objects.values_list("code_hash", flat=True))}
    secrets |= {f"jti {i}": str(jti) for i, jti in
                enumerate(RefreshToken.objects.filter(session__user=user).values_list("jti", flat=True))}
    assert all(secrets.values()) and len(secrets) > 20

    response = export(issued.access, api)

    texts, raw = strings(response.json()), response.content.decode()
    leaked = [name for name, secret in secrets.items() if secret in raw or any(secret in text for text in texts)]
    assert leaked == []
    factors = response.json()["factors"]
    assert [factor["method"] for factor in factors] == ["email", "totp", "recovery"]
    assert set(factors[1]) == {"method", "created_at", "confirmed_at", "last_used_at"}
    assert [set(code) for code in factors[2]["codes"]] == [{"created_at", "used_at"}] * 10


def test_the_export_needs_authentication(api):
    refused = api.get(EXPORT)

    assert (refused.status_code, refused.json()["code"]) == (401, "not_authenticated")
    assert not AuthEvent.objects.filter(kind=AuthEvent.Kind.ACCOUNT_EXPORTED).exists()


@pytest.mark.usefixtures("one_window")
def test_exports_are_rate_limited_per_user(api, user, make_user, login, settings):
    """Ten an hour by default (``export_user``); another user's budget is their own."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "export_user": "2/h"}
    access = login(user).json()["access"]
    for _ in range(2):
        export(access, api)

    limited = api.get(EXPORT, **bearer(access))

    assert (limited.status_code, limited.json()) == (429, RATE_LIMITED)
    assert "Retry-After" in limited
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.ACCOUNT_EXPORTED).count() == 2
    export(login(make_user()).json()["access"], api)


def test_the_default_budget_is_ten_an_hour(settings):
    assert settings.RATE_LIMITS["export_user"] == "10/h"
