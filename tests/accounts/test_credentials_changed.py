"""
One rule for "credentials changed" (issue 11, point 1): a password set by
anyone, or the account deactivated, ends every session of the user — and
reactivating the account brings none of them back — whatever the door:
the API, a reset link, Django's ``changepassword`` command, or a shell
(``user.set_password(); user.save()``). The admin's doors are tested with
the admin login in tests/accounts/test_admin_credentials.py.
"""

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from tests.conftest import PASSWORD, bearer
from tokens.models import Session

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "an entirely new passphrase 77"


def refused(api, tokens: dict) -> bool:
    """Both of a session's tokens are refused: the access token at once, the refresh token as revoked."""
    me = api.get("/api/auth/me/", **bearer(tokens["access"]))
    refresh = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    return (me.status_code, refresh.status_code, refresh.json()["code"]) == (401, 401, "token_revoked")


def accepted(api, tokens: dict) -> bool:
    return api.get("/api/auth/me/", **bearer(tokens["access"])).status_code == 200


def set_password_in_a_shell(user: User) -> None:
    user = User.objects.get(pk=user.pk)
    user.set_password(NEW_PASSWORD)
    user.save()


def set_unusable_password_in_a_shell(user: User) -> None:
    user = User.objects.get(pk=user.pk)
    user.set_unusable_password()
    user.save()


def save_only_the_password_field(user: User) -> None:
    user = User.objects.get(pk=user.pk)
    user.set_password(NEW_PASSWORD)
    user.save(update_fields=["password"])


def changepassword_command(user: User, monkeypatch) -> None:
    monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)
    call_command("changepassword", user.email, stdout=open("/dev/null", "w"))


@pytest.mark.parametrize("door", [set_password_in_a_shell, set_unusable_password_in_a_shell,
                                  save_only_the_password_field, changepassword_command])
def test_a_password_set_through_any_door_ends_every_session(api, user, login, door, monkeypatch):
    sessions = [login(user).json() for _ in range(2)]
    assert all(accepted(api, tokens) for tokens in sessions)

    if door is changepassword_command:
        door(user, monkeypatch)
    else:
        door(user)

    assert all(refused(api, tokens) for tokens in sessions)
    # The sessions list and the admin use the same rule as the token checks.
    assert not Session.objects.filter(user=user).active(timezone.now()).exists()


def test_a_deactivated_account_stays_signed_out_when_it_is_switched_back_on(api, user, login):
    """Deactivation used to hide the sessions; reactivation brought the very same tokens back to life."""
    tokens = login(user).json()
    shell_user = User.objects.get(pk=user.pk)

    shell_user.is_active = False
    shell_user.save()
    shell_user.is_active = True
    shell_user.save()

    assert refused(api, tokens)
    assert accepted(api, login(user).json()), "a new login after reactivation works"


def test_saving_a_user_without_touching_credentials_keeps_the_sessions(api, user, login):
    """The rule must not fire on any save: a profile change signs nobody out."""
    tokens = login(user).json()
    shell_user = User.objects.get(pk=user.pk)

    shell_user.two_factor_enabled = True
    shell_user.save()
    shell_user.save(update_fields=["two_factor_enabled"])

    assert accepted(api, tokens)


def test_the_api_password_change_keeps_only_the_session_it_came_from(api, user, login):
    current, other = login(user).json(), login(user).json()

    response = api.post("/api/auth/password/change/", {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
                        format="json", **bearer(current["access"]))

    assert response.status_code == 204
    assert accepted(api, current)
    refreshed = api.post("/api/auth/refresh/", {"refresh": current["refresh"]}, format="json")
    assert refreshed.status_code == 200, "the kept session still refreshes on the new epoch"
    assert refused(api, other)
