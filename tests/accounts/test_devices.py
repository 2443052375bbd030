"""
Remembered devices (DESIGN.md, "Second factors", "Remembered devices"):
``login/2fa`` with ``remember_device`` hands back a device token (the
``device`` cookie, or ``device_token`` in the body); a later password login of
the same user presenting it gets tokens without a second factor. A token that
does not count — another user's, forgotten, expired, garbage — is ignored and
the login goes on to the second factor, never an error. The user lists and
forgets devices; a password change, a reset and logout-all forget them all.
"""

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from tests.conftest import PASSWORD, bearer
from tokens.devices import hash_device_token
from tokens.models import AuthEvent, TrustedDevice

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("two_factor")]

NEW_PASSWORD = "an entirely new passphrase 77"
BODY_TOKENS = {"access", "refresh", "access_expires_at", "refresh_expires_at", "session_id"}
COOKIE_TOKENS = {"access", "access_expires_at", "session_id"}


ABSENT = object()


def password_login(api, user, *, transport="body", device_token=ABSENT, password=PASSWORD, **headers):
    """Login step one, presenting ``device_token`` in the body when given (cookies go as the client holds them)."""
    body = {"email": user.email, "password": password, "transport": transport}
    if device_token is not ABSENT:
        body["device_token"] = device_token
    return api.post("/api/auth/login/", body, format="json", **headers)


def remember_device(api, user, start_login, *, transport="body", **headers):
    """A full two-step login asking to be remembered: the ``login/2fa`` answer."""
    pending, code = start_login(user, transport=transport, client=api, **headers)
    body = {"code": code, "transport": transport, "remember_device": True}
    if transport == "body":
        body["challenge"] = pending.json()["challenge"]
    done = api.post("/api/auth/login/2fa/", body, format="json", **headers)
    assert done.status_code == 200, done.content
    return done


def skipped(response) -> bool:
    """The login got tokens at once: no second factor was asked for."""
    return response.status_code == 200 and "access" in response.json() and "two_factor_required" not in response.json()


def asked_for_second_factor(response) -> bool:
    """The login went on to the second factor: a 200 challenge, never an error."""
    body = response.json()
    return (response.status_code, body.get("two_factor_required"), body.get("methods")) == (200, True, ["email"])


def last_login_reason(user) -> str:
    event = AuthEvent.objects.filter(kind=AuthEvent.Kind.LOGIN_SUCCEEDED, user_id=user.pk).order_by("pk").last()
    return event.reason


def device_events(user) -> list[tuple[str, str]]:
    return list(AuthEvent.objects.filter(user_id=user.pk, kind__in=[AuthEvent.Kind.DEVICE_REMEMBERED,
                                                                     AuthEvent.Kind.DEVICE_FORGOTTEN])
                .order_by("pk").values_list("kind", "reason"))


@pytest.fixture
def remembered(api, user, start_login):
    """``user`` with a device remembered in the body transport: the login/2fa answer's JSON."""
    return remember_device(api, user, start_login).json()


# --- remembering, and skipping the second factor ------------------------------------


def test_remember_device_in_the_body_returns_a_token_that_skips_the_second_factor(api, user, start_login,
                                                                                  make_api, settings):
    """
    The body transport gets ``device_token`` and its expiry beside the tokens;
    the next password login sending it gets tokens without a challenge, and
    the audit trail says how the login was finished.
    """
    done = remember_device(api, user, start_login)

    body = done.json()
    assert set(body) == BODY_TOKENS | {"device_token", "device_expires_at"}
    assert "device" not in done.cookies
    device = TrustedDevice.objects.get(user=user)
    assert device.token_hash == hash_device_token(body["device_token"])
    assert body["device_token"] not in device.token_hash, "stored hashed, never the token itself"
    expires_at = datetime.fromisoformat(body["device_expires_at"])
    assert expires_at == device.expires_at
    assert abs(expires_at - timezone.now() - timedelta(seconds=settings.TRUSTED_DEVICE_TTL)) < timedelta(seconds=30)

    again = password_login(make_api(), user, device_token=body["device_token"])

    assert skipped(again), again.content
    assert set(again.json()) == BODY_TOKENS, "the device token is handed out once, not with every login"
    assert last_login_reason(user) == "remembered_device"
    device.refresh_from_db()
    assert device.last_used_at is not None


def test_without_remember_device_no_device_is_kept(api, user, start_login):
    pending, code = start_login(user)

    done = api.post("/api/auth/login/2fa/", {"code": code, "challenge": pending.json()["challenge"],
                                             "transport": "body"}, format="json")

    assert done.status_code == 200
    assert set(done.json()) == BODY_TOKENS
    assert not TrustedDevice.objects.exists()
    assert device_events(user) == []


def test_remember_device_in_the_cookie_transport_sets_the_device_cookie(api, user, start_login, settings):
    """
    A browser gets the ``device`` cookie: HttpOnly (script cannot read it),
    Secure unless DEBUG, SameSite=Lax, only sent to the auth endpoints, and
    living as long as the device (``TRUSTED_DEVICE_TTL``). Its next password
    login from the same browser skips the second factor.
    """
    settings.DEBUG = False

    done = remember_device(api, user, start_login, transport="cookie")

    # OWASP Session Management Cheat Sheet, "Cookies": HttpOnly, Secure, SameSite and a narrow Path.

    assert set(done.json()) == COOKIE_TOKENS
    cookie = done.cookies["device"]
    assert cookie["httponly"] is True and cookie["secure"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/api/auth/"
    assert int(cookie["max-age"]) == settings.TRUSTED_DEVICE_TTL
    assert TrustedDevice.objects.get(user=user).token_hash == hash_device_token(cookie.value)

    # The same browser: the client sends the cookies it holds.
    again = password_login(api, user, transport="cookie")

    assert skipped(again), again.content
    assert set(again.json()) == COOKIE_TOKENS
    assert again.cookies["access_token"].value and again.cookies["refresh_token"].value
    assert last_login_reason(user) == "remembered_device"


def test_a_device_is_remembered_and_forgotten_in_the_audit_trail(api, user, remembered):
    device = TrustedDevice.objects.get(user=user)
    assert device_events(user) == [("device_remembered", str(device.pk))]

    response = api.delete(f"/api/auth/devices/{device.pk}/", **bearer(remembered["access"]))

    assert response.status_code == 204
    assert device_events(user) == [("device_remembered", str(device.pk)), ("device_forgotten", str(device.pk))]


# --- tokens that do not count are ignored -----------------------------------------


def test_another_users_device_token_is_ignored(make_api, user, make_user, start_login):
    """A token is bound to its user: presented with another account's password it is no device at all."""
    bob = make_user(email="bob@example.com")
    bobs = remember_device(make_api(), bob, start_login).json()["device_token"]

    response = password_login(make_api(), user, device_token=bobs)

    assert asked_for_second_factor(response), response.content
    assert set(response.json()) == {"two_factor_required", "expires_in", "methods", "challenge"}
    assert TrustedDevice.objects.get(user=bob).last_used_at is None


@pytest.mark.parametrize("token", ["garbage", "x" * 43, "x" * 128, "x" * 129, "x" * 5000, " ", None],
                         ids=["garbage", "token-sized", "longest", "over-long", "far-too-long", "blank", "null"])
def test_a_garbage_device_token_in_the_body_is_ignored(api, user, remembered, token):
    """Whatever the client sends as ``device_token``, the login goes on to the second factor: never a 400."""
    response = password_login(api, user, device_token=token)

    assert asked_for_second_factor(response), response.content


@pytest.mark.parametrize("token", ["garbage", "x" * 5000])
def test_a_garbage_device_cookie_is_ignored(api, user, remembered, token):
    api.cookies["device"] = token

    response = password_login(api, user, transport="cookie")

    assert asked_for_second_factor(response), response.content


def test_an_expired_device_is_ignored(make_api, user, remembered, settings):
    """A device skips the second factor for ``TRUSTED_DEVICE_TTL``, not a second longer."""
    ttl = timedelta(seconds=settings.TRUSTED_DEVICE_TTL)
    token = remembered["device_token"]

    with time_machine.travel(timezone.now() + ttl - timedelta(minutes=1)):
        assert skipped(password_login(make_api(), user, device_token=token))
    with time_machine.travel(timezone.now() + ttl + timedelta(seconds=1)):
        response = password_login(make_api(), user, device_token=token)

    assert asked_for_second_factor(response), response.content


@pytest.mark.parametrize("mode", ["off", "optional"])
def test_a_device_only_matters_when_a_second_factor_applies(make_api, user, remembered, settings, mode):
    """
    Without a second factor to skip (AUTH_2FA off, or optional for a user who
    chose none), a password login is just that: the device is not used and the
    audit trail does not say it was.
    """
    settings.AUTH_2FA = mode

    response = password_login(make_api(), user, device_token=remembered["device_token"])

    assert skipped(response)
    assert last_login_reason(user) == "password"
    assert TrustedDevice.objects.get(user=user).last_used_at is None


# --- listing and forgetting --------------------------------------------------------


def test_the_devices_list_marks_the_device_of_this_browser_current(api, make_api, user, start_login):
    """``GET devices``: the user's live devices, newest first; ``current`` is the one whose cookie came along."""
    app = make_api()
    remember_device(app, user, start_login, HTTP_USER_AGENT="AppClient/1.0", REMOTE_ADDR="198.51.100.7")
    remember_device(api, user, start_login, transport="cookie", HTTP_USER_AGENT="Firefox/128.0",
                    REMOTE_ADDR="203.0.113.9")
    browser = TrustedDevice.objects.get(user_agent="Firefox/128.0")
    other = TrustedDevice.objects.get(user_agent="AppClient/1.0")

    response = api.get("/api/auth/devices/")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response.json() == [
        {"id": str(browser.pk), "created_at": browser.created_at.isoformat().replace("+00:00", "Z"),
         "last_used_at": None, "expires_at": browser.expires_at.isoformat().replace("+00:00", "Z"),
         "user_agent": "Firefox/128.0", "ip": "203.0.113.9", "current": True},
        {"id": str(other.pk), "created_at": other.created_at.isoformat().replace("+00:00", "Z"),
         "last_used_at": None, "expires_at": other.expires_at.isoformat().replace("+00:00", "Z"),
         "user_agent": "AppClient/1.0", "ip": "198.51.100.7", "current": False},
    ]


def test_the_devices_list_shows_when_a_device_was_last_used(api, make_api, user, remembered):
    assert skipped(password_login(make_api(), user, device_token=remembered["device_token"]))
    device = TrustedDevice.objects.get(user=user)

    (listed,) = api.get("/api/auth/devices/", **bearer(remembered["access"])).json()

    assert listed["last_used_at"] == device.last_used_at.isoformat().replace("+00:00", "Z")
    assert listed["current"] is False, "no device cookie came with this request"


def test_the_devices_list_shows_only_the_users_own_live_devices(api, make_api, user, make_user, start_login,
                                                                 remembered):
    bob = make_user(email="bob@example.com")
    remember_device(make_api(), bob, start_login)

    assert [d["id"] for d in api.get("/api/auth/devices/", **bearer(remembered["access"])).json()] == [
        str(TrustedDevice.objects.get(user=user).pk)]

    # An expired device no longer skips anything: it is not listed either.
    TrustedDevice.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api.get("/api/auth/devices/", **bearer(remembered["access"])).json() == []


def test_forgetting_a_device_makes_its_token_ask_for_the_second_factor_again(api, make_api, user, remembered):
    device = TrustedDevice.objects.get(user=user)

    response = api.delete(f"/api/auth/devices/{device.pk}/", **bearer(remembered["access"]))

    assert (response.status_code, response.content) == (204, b"")
    assert not TrustedDevice.objects.filter(pk=device.pk).exists()
    assert asked_for_second_factor(password_login(make_api(), user, device_token=remembered["device_token"]))


def test_forgetting_another_users_device_is_404_and_keeps_it(api, make_api, user, make_user, start_login,
                                                              remembered):
    bob = make_user(email="bob@example.com")
    bobs_token = remember_device(make_api(), bob, start_login).json()["device_token"]
    bobs = TrustedDevice.objects.get(user=bob)

    response = api.delete(f"/api/auth/devices/{bobs.pk}/", **bearer(remembered["access"]))

    assert response.status_code == 404
    assert response.json() == {"detail": "No such device.", "code": "not_found"}
    assert skipped(password_login(make_api(), bob, device_token=bobs_token))
    unknown = api.delete("/api/auth/devices/00000000-0000-4000-8000-000000000000/", **bearer(remembered["access"]))
    assert unknown.status_code == 404


def change_password(api, user, remembered, capture):
    response = capture(api.post, "/api/auth/password/change/",
                       {"old_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json",
                       **bearer(remembered["access"]))
    assert response.status_code == 204, response.content


def reset_password(api, user, remembered, capture):
    capture(api.post, "/api/auth/password/reset/", {"email": user.email}, format="json")
    uid, token = re.search(r"uid=([\w-]+)&token=([\w-]+)", mail.outbox[-1].body).groups()
    response = capture(api.post, "/api/auth/password/reset/confirm/",
                       {"uid": uid, "token": token, "new_password": NEW_PASSWORD}, format="json")
    assert response.status_code == 204, response.content


def logout_everywhere(api, user, remembered, capture):
    response = api.post("/api/auth/logout/all/", **bearer(remembered["access"]))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("door, password, reason", [
    (change_password, NEW_PASSWORD, "password_change"),
    (reset_password, NEW_PASSWORD, "password_reset"),
    (logout_everywhere, PASSWORD, "logout_all"),
])
def test_credentials_changes_and_logout_all_forget_every_device(api, make_api, user, start_login, remembered,
                                                                 capture, door, password, reason):
    """
    Whoever took the password or a session may hold a device token too: a
    password change, a reset and logout-all forget every remembered device,
    so the next login asks for the second factor again (DESIGN.md).
    """
    second = remember_device(make_api(), user, start_login).json()["device_token"]

    door(api, user, remembered, capture)

    assert not TrustedDevice.objects.filter(user=user).exists()
    for token in (remembered["device_token"], second):
        response = password_login(make_api(), user, device_token=token, password=password)
        assert asked_for_second_factor(response), response.content
    assert device_events(user)[-1] == ("device_forgotten", f"{reason}: 2")


def test_logout_all_clears_the_device_cookie(api, user, start_login):
    remember_device(api, user, start_login, transport="cookie")
    api.get("/api/auth/csrf/")

    response = api.post("/api/auth/logout/all/", HTTP_X_CSRFTOKEN=api.cookies["csrftoken"].value)

    assert response.status_code == 200, response.content
    assert response.cookies["device"].value == ""
    assert response.cookies["device"]["path"] == "/api/auth/"


@pytest.mark.parametrize("change", ["password", "deactivation"])
def test_credentials_changed_where_no_flow_sees_it_ends_every_device(make_api, user, remembered, change):
    """
    A password set in a shell (or ``manage.py changepassword``), or the
    account deactivated and switched back on there, forgets nobody's device by
    name — yet the devices remembered on the old credentials skip nothing,
    as that user's sessions end: the epoch they were remembered on moved on.
    """
    user.refresh_from_db()
    if change == "password":
        user.set_password(PASSWORD)
        user.save()
    else:
        user.is_active = False
        user.save()
        user.is_active = True
        user.save()

    assert asked_for_second_factor(password_login(make_api(), user, device_token=remembered["device_token"]))
