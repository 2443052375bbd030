"""
"Credentials changed" through the admin's doors and the operator's command
(issue 11, point 1): staff setting a password (usable or not) or
deactivating an account ends every session of the user; ``revoke_all`` ends
the user's admin session too. The API, shell and command doors are in
tests/accounts/test_credentials_changed.py.
"""

from html.parser import HTMLParser

import pytest
from django.core.management import call_command

from accounts.models import User
from tests.accounts.test_credentials_changed import accepted, refused
from tests.accounts.test_passwords import credentials_events
from tests.conftest import PASSWORD
from tests.staff import admin_client
from tokens.models import Session

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "an entirely new passphrase 77"


@pytest.fixture
def admin(staff):
    return admin_client(staff)


class _FormValues(HTMLParser):
    """What a browser would submit for the page's change form, as it stands."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            if attrs.get("type") in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.values.setdefault(name, []).append(attrs.get("value", "on"))
        elif tag == "select" and name:
            self._select = name
            self.values.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in attrs:
            self.values[self._select].append(attrs.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = [""]

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea][0] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def change_form_values(admin, url: str) -> dict[str, list[str]]:
    page = admin.get(url)
    assert page.status_code == 200, page.content[:500]
    parser = _FormValues()
    parser.feed(page.content.decode())
    return parser.values


def test_staff_setting_a_new_password_ends_every_session_of_the_user(api, user, login, admin, staff):
    sessions = [login(user).json() for _ in range(2)]

    response = admin.post(f"/admin/accounts/user/{user.pk}/password/",
                          {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    assert response.status_code == 302, response.content.decode()[:2000]
    assert all(refused(api, tokens) for tokens in sessions)
    assert set(Session.objects.filter(user=user).values_list("revoke_reason", "revoked_by")) == {
        ("password_set", staff.email)}
    assert credentials_events(user) == [("password_set", staff.email, "admin")]


def test_staff_making_the_password_unusable_ends_every_session_too(api, user, login, admin):
    tokens = login(user).json()

    response = admin.post(f"/admin/accounts/user/{user.pk}/password/", {"usable_password": "false", "unset-password": "Disable password-based authentication"})

    assert response.status_code == 302, response.content.decode()[:2000]
    assert not User.objects.get(pk=user.pk).has_usable_password()
    assert refused(api, tokens)


def test_staff_deactivating_an_account_ends_its_sessions_for_good(api, user, login, admin, staff):
    tokens = login(user).json()
    url = f"/admin/accounts/user/{user.pk}/change/"
    values = change_form_values(admin, url)
    values.pop("is_active", None)  # the box unticked

    response = admin.post(url, values)

    assert response.status_code == 302, response.content.decode()[:3000]
    assert User.objects.get(pk=user.pk).is_active is False
    assert refused(api, tokens)
    assert Session.objects.get(pk=tokens["session_id"]).revoke_reason == "deactivated"

    values = change_form_values(admin, url)
    values["is_active"] = ["on"]
    assert admin.post(url, values).status_code == 302
    assert User.objects.get(pk=user.pk).is_active is True
    assert refused(api, tokens), "switching the account back on brings no session back"
    assert accepted(api, login(user).json())


def test_editing_an_account_without_deactivating_it_keeps_its_sessions(api, user, login, admin):
    tokens = login(user).json()
    url = f"/admin/accounts/user/{user.pk}/change/"

    response = admin.post(url, change_form_values(admin, url))

    assert response.status_code == 302, response.content.decode()[:3000]
    assert accepted(api, tokens)


def test_revoke_all_ends_the_users_admin_session(staff, admin):
    assert admin.get("/admin/").status_code == 200

    call_command("revoke_all", staff.email, stdout=open("/dev/null", "w"))

    response = admin.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_a_password_set_in_a_shell_ends_the_staff_members_admin_session(staff, admin):
    assert admin.get("/admin/accounts/user/").status_code == 200

    shell_user = User.objects.get(pk=staff.pk)
    shell_user.set_password(NEW_PASSWORD)
    shell_user.save()

    response = admin.get("/admin/accounts/user/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_a_staff_members_own_new_password_keeps_this_admin_session_and_ends_the_others(api, staff, admin, login):
    elsewhere = login(staff).json()

    response = admin.post("/admin/password_change/", {"old_password": PASSWORD, "new_password1": NEW_PASSWORD,
                                                      "new_password2": NEW_PASSWORD})

    assert response.status_code == 302, response.content.decode()[:2000]
    assert admin.get("/admin/").status_code == 200
    assert refused(api, elsewhere)
    assert Session.objects.get(pk=elsewhere["session_id"]).revoke_reason == "password_change"


def test_the_admin_password_page_spends_the_apis_password_check_budget(staff, admin, settings):
    """
    The admin's password-change form checks the old password: without the
    API's budget (password_check_user) a taken-over admin session could
    guess the staff member's password there without limit.
    """
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password_check_user": "3/h"}
    wrong = {"old_password": "not the password", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}

    statuses = [admin.post("/admin/password_change/", wrong).status_code for _ in range(4)]
    right = admin.post("/admin/password_change/", {**wrong, "old_password": PASSWORD})

    assert statuses == [200, 200, 200, 429]
    assert right.status_code == 429 and "Retry-After" in right
    staff.refresh_from_db()
    assert staff.check_password(PASSWORD)
