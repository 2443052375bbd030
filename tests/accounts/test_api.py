"""Registration, password login and the current user."""

import pytest

from accounts.models import User
from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db


def register(api, email="new@example.com", password=PASSWORD):
    return api.post("/api/auth/register/", {"email": email, "password": password}, format="json")


def test_register_creates_an_account(api):
    response = register(api, email="New.Person@Example.COM")
    assert response.status_code == 201
    user = User.objects.get()
    assert response.json() == {"id": user.pk, "email": "new.person@example.com"}
    assert user.check_password(PASSWORD)
    assert PASSWORD not in user.password


def test_register_applies_djangos_password_validators(api):
    response = register(api, password="password")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["detail"] == "Invalid input."
    assert "This password is too common." in body["errors"]["password"]
    assert not User.objects.exists()


def test_register_refuses_a_password_resembling_the_email(api):
    response = register(api, email="marvellous.penguin@example.com", password="marvellous.penguin")
    assert response.status_code == 400
    assert any("too similar" in m for m in response.json()["errors"]["password"])


@pytest.mark.parametrize("email", ["alice@example.com", "ALICE@example.com", "Alice@Example.Com"])
def test_taken_email_whatever_its_case_is_email_taken(api, user, email):
    response = register(api, email=email)
    assert response.status_code == 400
    assert response.json() == {"detail": "An account with this email already exists.", "code": "email_taken"}
    assert User.objects.count() == 1


def test_login_is_case_insensitive_on_email(api, user):
    response = api.post(
        "/api/auth/login/", {"email": "ALICE@Example.com", "password": PASSWORD, "transport": "body"}, format="json"
    )
    assert response.status_code == 200


def test_unknown_email_wrong_password_and_inactive_user_get_the_same_401(api, user, make_user):
    """Login must not reveal which emails have accounts (OWASP ASVS 5.0 §6.3.8)."""
    make_user(email="gone@example.com", is_active=False)
    attempts = [
        {"email": "nobody@example.com", "password": PASSWORD},
        {"email": "alice@example.com", "password": PASSWORD + "x"},
        {"email": "gone@example.com", "password": PASSWORD},
    ]
    responses = [api.post("/api/auth/login/", body, format="json") for body in attempts]
    assert {r.status_code for r in responses} == {401}
    assert {r.content for r in responses} == {
        b'{"detail":"Email or password is incorrect.","code":"invalid_credentials"}'
    }


def test_unknown_email_still_hashes_a_password(api, monkeypatch):
    """Timing: an unknown email costs one password hash, like a known one."""
    from django.contrib.auth.base_user import AbstractBaseUser

    calls = []
    original = AbstractBaseUser.set_password
    monkeypatch.setattr(AbstractBaseUser, "set_password", lambda self, raw: calls.append(1) or original(self, raw))
    api.post("/api/auth/login/", {"email": "nobody@example.com", "password": PASSWORD}, format="json")
    assert calls == [1]


def test_login_records_ip_and_user_agent_on_the_session(api, user, login):
    body = login(user, HTTP_USER_AGENT="curl/8.0", REMOTE_ADDR="198.51.100.4").json()
    session = user.auth_sessions.get(pk=body["session_id"])
    assert (session.ip, session.user_agent) == ("198.51.100.4", "curl/8.0")


def test_me_returns_the_current_user(api, user, tokens):
    response = api.get("/api/auth/me/", **bearer(tokens["access"]))
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("id", "email", "two_factor_enabled", "is_staff")} == {
        "id": user.pk, "email": "alice@example.com", "two_factor_enabled": False, "is_staff": False,
    }
    assert "password" not in body


def test_me_with_access_cookie(api, user, login):
    login(user, transport="cookie")
    assert api.get("/api/auth/me/").json()["email"] == "alice@example.com"
