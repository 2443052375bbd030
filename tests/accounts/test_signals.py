"""
The API login keeps Django's contract for logins (issue 10, point 6): it
updates ``last_login`` (the admin's column; Django's password-reset tokens
depend on it too) and sends ``user_logged_in`` / ``user_login_failed``, the
signals other apps hook, as ``django.contrib.auth`` does for its own logins.
"""

import pytest
from django.contrib.auth.signals import user_logged_in, user_login_failed

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def received():
    """What each of the two signals delivered during the test."""
    caught: dict[str, list[dict]] = {"logged_in": [], "login_failed": []}

    def on_logged_in(sender, **kwargs):
        caught["logged_in"].append({"sender": sender, **kwargs})

    def on_login_failed(sender, **kwargs):
        caught["login_failed"].append({"sender": sender, **kwargs})

    user_logged_in.connect(on_logged_in)
    user_login_failed.connect(on_login_failed)
    yield caught
    user_logged_in.disconnect(on_logged_in)
    user_login_failed.disconnect(on_login_failed)


@pytest.mark.parametrize("transport", ["body", "cookie"])
def test_a_password_login_sets_last_login_and_sends_user_logged_in(api, user, received, transport):
    assert user.last_login is None

    response = api.post("/api/auth/login/", {"email": user.email, "password": PASSWORD, "transport": transport},
                        format="json")

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.last_login is not None
    (signal,) = received["logged_in"]
    assert signal["user"] == user and signal["sender"] is type(user)
    assert received["login_failed"] == []


def test_a_wrong_password_sends_user_login_failed_without_the_password(api, user, received):
    response = api.post("/api/auth/login/", {"email": "ALICE@example.com", "password": "wrong password 1"},
                        format="json")

    assert response.status_code == 401
    (signal,) = received["login_failed"]
    assert signal["credentials"] == {"email": "alice@example.com"}
    assert "wrong password 1" not in repr(signal)
    assert received["logged_in"] == []
    user.refresh_from_db()
    assert user.last_login is None


def test_an_unknown_email_sends_user_login_failed_too(api, db, received):
    response = api.post("/api/auth/login/", {"email": "nobody@example.com", "password": "whatever 12345"},
                        format="json")

    assert response.status_code == 401
    assert [s["credentials"] for s in received["login_failed"]] == [{"email": "nobody@example.com"}]


def test_a_two_step_login_is_logged_in_at_the_second_step_only(api, user, received, two_factor, start_login):
    pending, code = start_login(user)
    assert received["logged_in"] == []
    user.refresh_from_db()
    assert user.last_login is None

    done = api.post("/api/auth/login/2fa/", {"code": code, "challenge": pending.json()["challenge"],
                                             "transport": "body"}, format="json")

    assert done.status_code == 200
    assert [s["user"] for s in received["logged_in"]] == [user]
    user.refresh_from_db()
    assert user.last_login is not None


def test_an_admin_sign_in_sends_user_logged_in_once(make_user, received, settings):
    """The admin's door ends in ``django.contrib.auth.login()``, which sends the signal itself."""
    from tests.staff import admin_client

    settings.AUTH_2FA = "required"
    staff = make_user(email="staff@example.com", is_staff=True)

    admin_client(staff)

    assert [s["user"] for s in received["logged_in"]] == [staff]
