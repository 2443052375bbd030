"""
One mailbox, one account (issue 11): every door that takes an email address
(registration, login, password reset, Django's authenticate() and the admin's
model forms, the revoke_all command) reads it through the one
normalisation, so an address and its full-width or IDN spellings are one
account; registration refuses an address that merely looks like an existing
account's.
"""

import importlib
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import authenticate
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command

from accounts.flows import registration
from accounts.addresses import INVALID, MIXED_SCRIPTS
from accounts.models import User
from authsvc.errors import FieldErrors
from tests.conftest import PASSWORD
from tokens.models import Session

pytestmark = pytest.mark.django_db

LOOKALIKE = "This address looks like the address of an existing account."
TAKEN = {"detail": "An account with this email already exists.", "code": "email_taken"}


def register(api, email):
    return api.post("/api/auth/register/", {"email": email, "password": PASSWORD}, format="json")


def log_in(api, email):
    return api.post("/api/auth/login/", {"email": email, "password": PASSWORD, "transport": "body"}, format="json")


def invalid_email(message: str) -> dict:
    return {"detail": "Invalid input.", "code": "invalid", "errors": {"email": [message]}}


# --- one account per mailbox ------------------------------------------------------------------


@pytest.mark.parametrize("first, second", [
    ("user@example.com", "user@ｅxample.com"),
    ("user@ｅxample.com", "user@example.com"),
    ("user@example.com", "user@EXAMPLE.com"),
    ("user@bücher.example", "user@xn--bcher-kva.example"),
    ("user@xn--bcher-kva.example", "user@BÜCHER.example"),
])
def test_a_second_spelling_of_a_registered_address_is_taken(api, first, second):
    assert register(api, first).status_code == 201

    response = register(api, second)

    assert response.status_code == 400
    assert response.json() == TAKEN
    assert User.objects.count() == 1


def test_registration_stores_the_normal_form(api):
    response = register(api, "New.Person@ＥXAMPLE.com")

    assert response.status_code == 201
    assert response.json()["email"] == "new.person@example.com"
    assert User.objects.get().email == "new.person@example.com"


@pytest.mark.parametrize("registered, typed", [
    ("user@ｅxample.com", "user@example.com"),
    ("user@example.com", "user@ｅxample.com"),
    ("user@bücher.example", "user@xn--bcher-kva.example"),
    ("user@xn--bcher-kva.example", "User@Bücher.example"),
])
def test_login_with_any_spelling_of_the_registered_address(api, registered, typed):
    assert register(api, registered).status_code == 201

    response = log_in(api, typed)

    assert response.status_code == 200, response.content


# --- every door agrees ------------------------------------------------------------------------


def by_api_login(api, capture, email):
    response = log_in(api, email)
    return Session.objects.get(pk=response.json()["session_id"]).user if response.status_code == 200 else None


def by_password_reset(api, capture, email):
    mail.outbox.clear()
    capture(api.post, "/api/auth/password/reset/", {"email": email}, format="json")
    return User.objects.filter(email__in=[m.to[0] for m in mail.outbox]).first()


def by_authenticate(api, capture, email):
    """Django's ModelBackend (the admin's login form) goes through the manager's get_by_natural_key."""
    return authenticate(None, username=email, password=PASSWORD)


def by_natural_key(api, capture, email):
    return User.objects.get_by_natural_key(email)


def by_revoke_all(api, capture, email):
    out = StringIO()
    call_command("revoke_all", email, stdout=out)
    return User.objects.get(email=out.getvalue().removeprefix("Revoked 0 session(s) of ").removesuffix(".\n"))


@pytest.mark.parametrize("door", [by_api_login, by_password_reset, by_authenticate, by_natural_key, by_revoke_all])
@pytest.mark.parametrize("registered, typed", [
    ("alice@example.com", "Alice@ｅxample.COM"),
    ("alice@bücher.example", "ALICE@XN--BCHER-KVA.example"),
])
def test_every_door_finds_the_account_whatever_the_spelling(api, capture, make_user, door, registered, typed):
    """One rule, one definition (STYLE.md 14): a door with its own idea of equal addresses finds nobody."""
    user = make_user(email=registered)

    assert door(api, capture, typed) == user


@pytest.mark.parametrize("typed", ["alice@ｅxample.com", "ALICE@example.com"])
def test_the_admins_model_forms_refuse_a_second_spelling(user, typed):
    """ModelForm validation runs the model's clean() (which normalises) before the uniqueness checks."""
    twin = User(email=typed, password="!")

    with pytest.raises(ValidationError) as refused:
        twin.full_clean()

    assert twin.email == "alice@example.com"
    assert "email" in refused.value.message_dict


def test_the_manager_normalises_like_everyone_else():
    """Django's own BaseUserManager.normalize_email lower-cases the domain only; ours is the one rule."""
    assert User.objects.normalize_email("Alice@ＥXAMPLE.com") == "alice@example.com"
    assert User.objects.create_user("Bob@Bücher.example", PASSWORD).email == "bob@xn--bcher-kva.example"


# --- look-alikes --------------------------------------------------------------------------------


@pytest.mark.parametrize("existing, twin", [
    # Every letter Cyrillic (а р р ӏ е), so no label mixes scripts.
    ("alice@apple.com", "alice@аррӏе.com"),
    ("alice@apple.com", "alice@xn--80ak6aa92e.com"),
    ("alice@coco.example", "alice@СОСО.example"),
    # Greek omicron and kappa.
    ("alice@ok.example", "alice@οκ.example"),
])
def test_an_address_that_looks_like_an_existing_account_is_refused(api, make_user, existing, twin):
    make_user(email=existing)

    response = register(api, twin)

    assert response.status_code == 400
    assert response.json() == invalid_email(LOOKALIKE)
    assert list(User.objects.values_list("email", flat=True)) == [existing]


def test_a_partial_look_alike_is_refused_as_mixed_scripts(api, user):
    """Cyrillic е, х, а among Latin m, p, l: refused before any lookup."""
    response = register(api, "alice@ехаmple.com")

    assert response.status_code == 400
    assert response.json() == invalid_email(MIXED_SCRIPTS)


def test_a_look_alike_of_nobody_registers(api, user):
    """Only an existing account makes a whole-script domain a disguise."""
    response = register(api, "bob@аррӏе.com")

    assert response.status_code == 201
    assert response.json()["email"] == "bob@xn--80ak6aa92e.com"


@pytest.mark.parametrize("first, second", [("alice@apple.com", "alice@аррӏе.com"),
                                           ("alice@аррӏе.com", "alice@apple.com")])
def test_a_look_alike_is_refused_in_either_order(make_user, first, second):
    """The stored skeleton decides: the Latin address after its whole-script twin is refused too."""
    make_user(email=first)

    with pytest.raises(FieldErrors) as refused:
        registration.register_user(email=second, password=PASSWORD)
    assert refused.value.errors == {"email": [LOOKALIKE]}
    assert User.objects.count() == 1


@pytest.mark.parametrize("email, message", [
    ("bob@pаypal.com", MIXED_SCRIPTS),
    ("bob@☃.net", INVALID),
])
def test_an_address_no_account_may_have_is_refused(api, email, message):
    response = register(api, email)

    assert response.status_code == 400
    assert response.json() == invalid_email(message)
    assert not User.objects.exists()


# --- rows stored before the normal form -----------------------------------------------------------


def test_the_migration_brings_older_rows_to_the_normal_form(make_user, caplog):
    """Rows stored lower-cased only (before issue 11) are found again; a duplicate is left for an operator."""
    migration = importlib.import_module("accounts.migrations.0005_normalize_email_domains")
    legacy = make_user(email="carol@example.com")
    idn = make_user(email="dave@example.org")
    alice = make_user(email="alice@example.com")
    twin = make_user(email="twin@example.net")
    User.objects.filter(pk=legacy.pk).update(email="carol@ｅxample.com")
    User.objects.filter(pk=idn.pk).update(email="dave@bücher.example")
    User.objects.filter(pk=twin.pk).update(email="alice@ｅxample.com")

    migration.normalize_stored_emails(apps, None)

    emails = dict(User.objects.values_list("pk", "email"))
    assert emails == {
        legacy.pk: "carol@example.com",
        idn.pk: "dave@xn--bcher-kva.example",
        alice.pk: "alice@example.com",
        twin.pk: "alice@ｅxample.com",
    }
    assert f"user {twin.pk}" in caplog.text
