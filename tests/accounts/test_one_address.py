"""
One address, one account (DESIGN.md, Part 2, "Account lifecycle"): the
quoted form of a local part (``"alice"@example.com``) is the plain one; a
quoted local part with no plain form and a domain literal are refused; the
look-alike check holds in both directions, at registration and at an email
change, and under concurrency — a stored, uniquely indexed skeleton
(``User.email_skeleton``), which migration 0008 fills for the rows from
before it.
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import update_last_login
from django.core import mail
from django.core.checks import run_checks
from django.db import IntegrityError, connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.addresses import INVALID, LOOKALIKE
from accounts.checks import check_email_skeletons
from accounts.errors import EmailTaken
from accounts.flows import registration
from accounts.models import User
from authsvc.errors import FieldErrors
from tests.concurrency import at_once
from tests.conftest import PASSWORD, bearer
from tokens.models import Session

pytestmark = pytest.mark.django_db

TAKEN = {"detail": "An account with this email already exists.", "code": "email_taken"}
# Every letter Cyrillic (а р р ӏ е): one script, so only the skeleton tells it from apple.com.
APPLE, TWIN = "bob@apple.com", "bob@аррӏе.com"
TWIN_STORED = "bob@xn--80ak6aa92e.com"


def invalid_email(message: str) -> dict:
    return {"detail": "Invalid input.", "code": "invalid", "errors": {"email": [message]}}


@pytest.fixture(autouse=True)
def optional_verification(settings):
    """A taken address answers email_taken only outside ``mandatory`` (which answers alike, without an oracle)."""
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"


def register(api, email):
    return api.post("/api/auth/register/", {"email": email, "password": PASSWORD}, format="json")


def log_in(api, email):
    return api.post("/api/auth/login/", {"email": email, "password": PASSWORD, "transport": "body"}, format="json")


# --- the quoted local part --------------------------------------------------------------------


@pytest.mark.parametrize("typed", ['"alice"@example.com', '"Alice"@EXAMPLE.com', '"al\\ice"@example.com'])
def test_a_quoted_local_part_with_a_plain_form_registers_as_that_form(api, typed):
    """RFC 5321 §4.1.2: ``"alice"@`` and ``alice@`` are one mailbox (a quoted pair ``\\i`` is just ``i``)."""
    response = register(api, typed)

    assert response.status_code == 201, response.content
    assert response.json()["email"] == "alice@example.com"
    assert list(User.objects.values_list("email", "email_skeleton")) == [("alice@example.com", "alice@example.com")]


@pytest.mark.parametrize("first, second", [("alice@example.com", '"alice"@example.com'),
                                           ('"alice"@example.com', "alice@example.com")])
def test_the_quoted_and_the_plain_form_are_one_account(api, first, second):
    assert register(api, first).status_code == 201

    response = register(api, second)

    assert (response.status_code, response.json()) == (400, TAKEN)
    assert User.objects.count() == 1


def test_login_with_the_quoted_form_finds_the_account(api, make_user):
    alice = make_user(email="alice@example.com")

    response = log_in(api, '"alice"@example.com')

    assert response.status_code == 200, response.content
    assert Session.objects.get(pk=response.json()["session_id"]).user == alice


@pytest.mark.parametrize("email", ['"a b"@example.com', '"a..b"@example.com', '"a"b"@example.com',
                                   "alice@[127.0.0.1]", "alice@[IPv6:::1]"])
def test_an_address_with_no_plain_form_or_a_domain_literal_is_refused(api, email):
    """
    Few mail systems deliver to ``"a b"@`` and each spells it its own way; a
    domain literal names a host, which has countless spellings. Neither can
    be one account's identity.
    """
    response = register(api, email)

    assert (response.status_code, response.json()) == (400, invalid_email(INVALID))
    assert not User.objects.exists()


@pytest.mark.parametrize("email", ['"a b"@example.com', '"a..b"@example.com', "alice@[127.0.0.1]",
                                   "alice@[IPv6:::1]", "alice@[::1]"])
def test_the_flow_refuses_them_whatever_the_door_checked_before(email):
    """Not only the API's syntax check: the service itself refuses them (admin, commands, future doors)."""
    with pytest.raises(FieldErrors) as refused:
        registration.register_user(email=email, password=PASSWORD)

    assert refused.value.errors == {"email": [INVALID]}
    assert not User.objects.exists()


# --- look-alikes, both ways, every door ---------------------------------------------------------


def by_registration(api, capture, email):
    return register(api, email)


def by_email_change(api, capture, email):
    User.objects.create_user(email="carol@example.com", password=PASSWORD)
    tokens = log_in(api, "carol@example.com").json()
    return capture(api.post, "/api/auth/email/change/", {"password": PASSWORD, "new_email": email}, format="json",
                   **bearer(tokens["access"]))


@pytest.mark.parametrize("door", [by_registration, by_email_change])
@pytest.mark.parametrize("existing, twin", [(APPLE, TWIN), (TWIN, APPLE)], ids=["cyrillic-after-latin",
                                                                                 "latin-after-cyrillic"])
def test_a_look_alike_is_refused_in_either_order(api, capture, make_user, door, existing, twin):
    """The first comer keeps the look: the Latin address after its Cyrillic twin is refused as well."""
    make_user(email=existing)
    mail.outbox.clear()

    response = door(api, capture, twin)

    assert (response.status_code, response.json()) == (400, invalid_email(LOOKALIKE))
    assert User.objects.filter(email_skeleton=APPLE).count() == 1
    assert not User.objects.filter(email__in=[APPLE, TWIN_STORED]).exclude(email_skeleton=APPLE).exists()
    assert mail.outbox == []


def test_the_skeleton_index_refuses_a_look_alike_written_around_the_flows(make_user):
    """The rule lives in the database: even a row saved in a shell cannot pass for another account."""
    make_user(email=APPLE)

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(email=TWIN, password=PASSWORD)


# --- concurrency (PostgreSQL) --------------------------------------------------------------------


def register_at_once(emails: list[str]) -> list:
    """``register_user`` for each address in its own thread and connection, released together."""

    def attempt(i: int):
        try:
            return registration.register_user(email=emails[i], password=PASSWORD)
        except (FieldErrors, EmailTaken) as refused:
            return refused
        finally:
            connections.close_all()

    return at_once(len(emails), attempt)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs DATABASE_URL=postgres://… (unique index race)")
@pytest.mark.parametrize("emails, refusal", [
    ([APPLE, TWIN], FieldErrors),
    ([TWIN, APPLE], FieldErrors),
    ([APPLE, APPLE], EmailTaken),
    ([APPLE, '"bob"@apple.com'], EmailTaken),
], ids=["latin-and-cyrillic", "cyrillic-and-latin", "same-address", "plain-and-quoted"])
def test_of_two_registrations_at_once_one_account_is_made(emails, refusal):
    """
    Both find nothing before either commits: a look-up then insert would let
    both in. The unique indexes on the address and its skeleton let one in.
    """
    results = register_at_once(emails)

    made = [result for result in results if isinstance(result, User)]
    refused = [result for result in results if not isinstance(result, User)]
    assert len(made) == 1 and len(refused) == 1, results
    assert type(refused[0]) is refusal
    if refusal is FieldErrors:
        assert refused[0].errors == {"email": [LOOKALIKE]}
    assert list(User.objects.values_list("pk", flat=True)) == [made[0].pk]
    assert User.objects.get().email_skeleton == APPLE


# --- migration 0008: the rows from before --------------------------------------------------------


BEFORE = ("accounts", "0007_notice_kinds_sent_once")
AFTER = ("accounts", "0008_account_lifecycle")


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


@pytest.fixture
def before_0008():
    """The schema of migration 0007 (no skeleton column), given back in full after the test."""
    old_apps = migrate(BEFORE)
    try:
        yield old_apps.get_model("accounts", "User")
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.fixture
def legacy(before_0008):
    """Rows stored before 0008, oldest first: a look-alike pair, quoted local parts, bystanders."""
    start = timezone.now() - timedelta(days=30)
    rows = {}
    for age, (name, email) in enumerate([
        ("apple", APPLE),
        ("carol", "carol@example.com"),
        ("twin", TWIN_STORED),  # younger than APPLE: let in before the look-alike check was symmetric
        ("quoted", '"dave"@example.com'),
        ("quoted_taken", '"carol"@example.com'),
        ("erin", "erin@example.com"),
    ]):
        rows[name] = before_0008.objects.create(email=email, password="!", date_joined=start + timedelta(hours=age)).pk
    return rows


@pytest.mark.django_db(transaction=True)
def test_migration_0008_gives_the_rows_from_before_their_skeletons(legacy, caplog, capsys):
    migrate(AFTER)

    stored = dict(User.objects.values_list("pk", "email"))
    skeletons = dict(User.objects.values_list("pk", "email_skeleton"))
    assert stored == {
        legacy["apple"]: APPLE,
        legacy["carol"]: "carol@example.com",
        legacy["twin"]: TWIN_STORED,
        legacy["quoted"]: "dave@example.com",  # brought to its plain form
        legacy["quoted_taken"]: '"carol"@example.com',  # its plain form is carol's: left for an operator
        legacy["erin"]: "erin@example.com",
    }
    assert skeletons == {
        legacy["apple"]: APPLE,
        legacy["carol"]: "carol@example.com",
        legacy["twin"]: None,  # the younger of the pair
        legacy["quoted"]: "dave@example.com",
        legacy["quoted_taken"]: None,
        legacy["erin"]: "erin@example.com",
    }
    # Reported where an operator running migrate sees it, and in the log.
    output = capsys.readouterr().out
    for name in ("twin", "quoted_taken"):
        assert f"user {legacy[name]}:" in output
        assert f"user {legacy[name]}:" in caplog.text
    assert f"looks like the address of user {legacy['apple']}" in output
    for name in ("apple", "carol", "quoted", "erin"):
        assert f"user {legacy[name]}:" not in output


@pytest.mark.django_db(transaction=True)
def test_the_collided_rows_are_listed_by_the_database_check(legacy):
    migrate(AFTER)

    warnings = [message for message in run_checks(tags=["database"], databases=["default"])
                if message.id == "accounts.W001"]

    assert len(warnings) == 1
    assert f"Users {sorted([legacy['twin'], legacy['quoted_taken']])}" in warnings[0].msg
    assert check_email_skeletons(None, databases=["default"])[0].id == "accounts.W001"


def test_the_database_check_is_quiet_without_collisions(make_user):
    make_user(email=APPLE)

    assert check_email_skeletons(None, databases=["default"]) == []


@pytest.mark.django_db(transaction=True)
def test_a_collided_row_still_saves_and_signs_in(legacy, api):
    """Its empty skeleton is not recomputed on an unrelated save, which the unique index would refuse."""
    migrate(AFTER)
    twin = User.objects.get(pk=legacy["twin"])
    twin.set_password(PASSWORD)
    twin.save()

    update_last_login(None, User.objects.get(pk=legacy["twin"]))
    User.objects.get(pk=legacy["twin"]).save()
    response = log_in(api, TWIN)

    assert response.status_code == 200, response.content
    twin.refresh_from_db()
    assert twin.last_login is not None
    assert twin.email_skeleton is None


@pytest.mark.django_db(transaction=True)
def test_a_collided_row_that_changes_address_gets_its_skeleton(legacy):
    migrate(AFTER)
    twin = User.objects.get(pk=legacy["twin"])

    twin.email = "bob@elsewhere.example"
    twin.save(update_fields=["email"])

    assert User.objects.get(pk=legacy["twin"]).email_skeleton == "bob@elsewhere.example"
