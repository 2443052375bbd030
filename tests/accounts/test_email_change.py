"""
Email change (DESIGN.md, Part 2, "Account lifecycle", "Email change";
``accounts.flows.email_change``): asked for with the password, confirmed
from the new mailbox by a single-use link that needs no session, checked
again at confirmation, and then a credentials change like a new password —
every session ends but the one that asked, remembered devices are
forgotten, the change is audited and both addresses are told.
"""

import re
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import links, notifications
from accounts.addresses import INVALID, LOOKALIKE, MIXED_SCRIPTS
from accounts.flows.email_change import SAME_ADDRESS
from accounts.models import EmailLink, Notice, User
from tests.accounts.mailbox import key_in
from tests.concurrency import in_parallel
from tests.conftest import PASSWORD, bearer
from tests.tokens.services_auth import feed, services  # noqa: F401  (the feed's service credentials)
from tests.tokens.test_revocation_feed import poll
from tokens.devices import remember_device, use_remembered_device
from tokens.models import AuthEvent, Session, TrustedDevice

pytestmark = pytest.mark.django_db

NEW = "alice.new@example.org"
CHANGE_URL = "https://app.example/#/confirm-email-change?key={key}"
TAKEN = {"detail": "An account with this email already exists.", "code": "email_taken"}
INVALID_PASSWORD = {"detail": "The password is incorrect.", "code": "invalid_password"}
KEY_INVALID = {"detail": "This link is invalid, used or expired; ask for a new one.",
               "code": "verification_key_invalid"}
RATE_LIMITED = {"detail": "Too many requests. Try again later.", "code": "rate_limited"}


def invalid_email(message: str) -> dict:
    return {"detail": "Invalid input.", "code": "invalid", "errors": {"email": [message]}}


@pytest.fixture(autouse=True)
def lifecycle_settings(settings):
    """
    A link template of our own: the key is parsed out of the link it builds.
    ``optional`` verification: registration answers email_taken for a taken address.
    """
    settings.EMAIL_CHANGE_URL = CHANGE_URL
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"


def key_from(message) -> str:
    return key_in(message, CHANGE_URL)


def sent_to(address: str) -> list:
    return [message for message in mail.outbox if message.to == [address]]


def request_change(api, capture, tokens: dict, new_email: str = NEW, password: str = PASSWORD, **headers):
    headers = {**bearer(tokens["access"]), **headers} if tokens else headers
    return capture(api.post, "/api/auth/email/change/", {"password": password, "new_email": new_email},
                   format="json", **headers)


def confirm(capture, key: str):
    """From the mailbox: a client with no session at all."""
    return capture(APIClient(enforce_csrf_checks=True).post, "/api/auth/email/change/confirm/", {"key": key}, format="json")


def log_in(email: str):
    return APIClient().post("/api/auth/login/", {"email": email, "password": PASSWORD, "transport": "body"},
                            format="json")


def accepted(api, tokens: dict) -> bool:
    return api.get("/api/auth/me/", **bearer(tokens["access"])).status_code == 200


def refused(api, tokens: dict) -> bool:
    """Both of a session's tokens are refused: the access token at once, the refresh token as revoked."""
    me = api.get("/api/auth/me/", **bearer(tokens["access"]))
    refresh = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    return (me.status_code, refresh.status_code, refresh.json()["code"]) == (401, 401, "token_revoked")


def unchanged(user: User) -> bool:
    before = (user.email, user.email_verified, user.auth_epoch, user.email_skeleton)
    user.refresh_from_db()
    return (user.email, user.email_verified, user.auth_epoch, user.email_skeleton) == before


@pytest.fixture
def requested(api, capture, user, tokens):
    """alice asked (from ``tokens``' session) to move to NEW: the key mailed to NEW."""
    mail.outbox.clear()
    response = request_change(api, capture, tokens)
    assert response.status_code == 202, response.content
    (link_mail,) = sent_to(NEW)
    return key_from(link_mail)


# --- asking -------------------------------------------------------------------------------------


def test_a_request_mails_a_link_to_the_new_address_and_a_notice_to_the_old(api, capture, user, tokens):
    """Nothing changes until the new mailbox answers; the old one hears of the request at once."""
    mail.outbox.clear()

    response = request_change(api, capture, tokens)

    assert response.status_code == 202
    assert response.content == b""
    assert len(mail.outbox) == 2
    (link_mail,) = sent_to(NEW)
    assert link_mail.subject == "Confirm your new email address"
    assert key_from(link_mail)
    (notice,) = sent_to("alice@example.com")
    assert notice.subject == "A change of your account's address was requested"
    assert NEW in notice.body
    assert CHANGE_URL.split("{key}")[0] not in notice.body, "the old mailbox gets no link"
    # Nothing moved yet: the old address still signs in, this session still works.
    assert unchanged(user)
    assert user.email == "alice@example.com" and not user.email_verified
    assert log_in("alice@example.com").status_code == 200
    assert log_in(NEW).status_code == 401
    assert accepted(api, tokens)
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.EMAIL_CHANGE_REQUESTED, user_id=user.pk).count() == 1


def test_a_wrong_password_is_400_and_mails_nothing(api, capture, user, tokens):
    mail.outbox.clear()

    response = request_change(api, capture, tokens, password="not the password at all")

    assert (response.status_code, response.json()) == (400, INVALID_PASSWORD)
    assert mail.outbox == []
    assert not EmailLink.objects.exists()
    assert unchanged(user)


def test_the_password_is_judged_before_whether_the_address_is_free(api, capture, user, tokens, make_user):
    """Only someone who knows the password learns that an address has an account."""
    make_user(email="bob@example.com")

    response = request_change(api, capture, tokens, "bob@example.com", password="not the password at all")

    assert (response.status_code, response.json()) == (400, INVALID_PASSWORD)


@pytest.mark.parametrize("typed", ["bob@example.com", "BOB@ｅxample.com", '"bob"@example.com'])
def test_another_accounts_address_is_taken_whatever_its_spelling(api, capture, user, tokens, make_user, typed):
    make_user(email="bob@example.com")
    mail.outbox.clear()

    response = request_change(api, capture, tokens, typed)

    assert (response.status_code, response.json()) == (400, TAKEN)
    assert mail.outbox == []
    assert not EmailLink.objects.exists()


def test_a_look_alike_of_another_account_is_refused(api, capture, user, tokens, make_user):
    """``аррӏе.com`` is all Cyrillic: one script, yet it passes for bob's ``apple.com``."""
    make_user(email="bob@apple.com")
    mail.outbox.clear()

    response = request_change(api, capture, tokens, "bob@аррӏе.com")

    assert (response.status_code, response.json()) == (400, invalid_email(LOOKALIKE))
    assert mail.outbox == []


@pytest.mark.parametrize("typed, message", [
    ("alice@[127.0.0.1]", INVALID),
    ('"a..b"@example.com', INVALID),
    ("alice@pаypal.com", MIXED_SCRIPTS),
])
def test_an_address_no_account_may_have_is_refused(api, capture, user, tokens, typed, message):
    """A domain literal, a quoted local part with no plain form, mixed scripts (``addresses.refusal``)."""
    mail.outbox.clear()

    response = request_change(api, capture, tokens, typed)

    assert (response.status_code, response.json()) == (400, invalid_email(message))
    assert mail.outbox == []
    assert unchanged(user)


@pytest.mark.parametrize("typed", ["alice@[IPv6:::1]", '"a b"@example.com', "not an address"])
def test_an_address_the_syntax_check_refuses_is_under_errors_email_too(api, capture, user, tokens, typed):
    """
    DESIGN.md and the client (``changeEmail`` in authsvc.js) promise a
    refused address as ``invalid`` with ``errors.email``, whichever check
    refuses it: these three are refused by the serializer's syntax check
    before the flow's address rules see them.
    """
    mail.outbox.clear()

    response = request_change(api, capture, tokens, typed)

    assert (response.status_code, response.json()) == (400, invalid_email(INVALID))
    assert mail.outbox == []
    assert unchanged(user)


@pytest.mark.parametrize("typed", ["alice@example.com", "ALICE@ｅxample.com", '"alice"@example.com'])
def test_the_current_address_is_no_change(api, capture, user, tokens, typed):
    mail.outbox.clear()

    response = request_change(api, capture, tokens, typed)

    assert (response.status_code, response.json()) == (400, invalid_email(SAME_ADDRESS))
    assert mail.outbox == []


def test_the_password_checks_spend_the_password_check_budget(api, capture, user, tokens, settings, one_window):
    """
    The old-password check behind a token is the one budget a stolen access
    token could guess passwords with (OWASP ASVS 4.0 V2.2.1): the right
    password is refused too once it is spent.
    """
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password_check_user": "3/h"}
    for _ in range(3):
        assert request_change(api, capture, tokens, password="a wrong guess").json() == INVALID_PASSWORD
    mail.outbox.clear()

    response = request_change(api, capture, tokens)

    assert (response.status_code, response.json()) == (429, RATE_LIMITED)
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert mail.outbox == []
    assert not EmailLink.objects.exists()


def test_asking_needs_a_session(api, capture, user):
    response = request_change(api, capture, None)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert not EmailLink.objects.exists()


def test_a_cookie_session_needs_the_csrf_header(api, capture, user, login):
    """A cross-site page can make the browser send our cookies, but not read csrftoken for the header."""
    login(user, transport="cookie")
    csrf = api.get("/api/auth/csrf/").json()["csrf_token"]

    forged = request_change(api, capture, {})

    assert (forged.status_code, forged.json()["code"]) == (403, "csrf_failed")
    assert not EmailLink.objects.exists()
    assert request_change(api, capture, {}, HTTP_X_CSRFTOKEN=csrf).status_code == 202


# --- confirming ----------------------------------------------------------------------------------


@pytest.fixture
def changed(api, capture, user, tokens, login, requested):
    """
    alice, with a second session and a remembered device, asked from
    ``tokens``' session to move to NEW; the link was then opened with no
    session. Returns the other session, the device's token and the
    confirmation's response.
    """
    other = login(user).json()
    device = remember_device(user=user, ip=None, user_agent="a laptop").token
    mail.outbox.clear()

    response = confirm(capture, requested)

    return other, device, response


def test_confirming_moves_the_account_to_the_new_address_verified(api, user, tokens, changed):
    *_, response = changed

    assert response.status_code == 204
    assert response.content == b""
    me = api.get("/api/auth/me/", **bearer(tokens["access"]))
    assert me.status_code == 200
    assert (me.json()["email"], me.json()["email_verified"]) == (NEW, True)
    user.refresh_from_db()
    assert (user.email, user.email_verified, user.email_skeleton) == (NEW, True, NEW)


def test_confirming_ends_every_other_session_and_keeps_the_one_that_asked(api, user, tokens, changed):
    other, _, _ = changed

    assert refused(api, other)
    assert Session.objects.get(pk=other["session_id"]).revoke_reason == Session.RevokeReason.EMAIL_CHANGE
    assert Session.objects.get(pk=tokens["session_id"]).revoked_at is None
    assert accepted(api, tokens)
    refreshed = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200, "the kept session goes on refreshing on the new epoch"


def test_confirming_forgets_every_remembered_device(user, changed):
    """Whoever moved the account away may hold a device token too: the next login asks for a second factor."""
    _, device, _ = changed

    assert not use_remembered_device(user_id=user.pk, raw=device)
    assert not TrustedDevice.objects.filter(user=user).exists()
    forgotten = AuthEvent.objects.filter(kind=AuthEvent.Kind.DEVICE_FORGOTTEN, user_id=user.pk)
    assert list(forgotten.values_list("reason", flat=True)) == ["email_change: 1"]


def test_confirming_is_audited(user, changed):
    kinds = list(AuthEvent.objects.filter(user_id=user.pk).order_by("pk").values_list("kind", flat=True))

    assert kinds.count(AuthEvent.Kind.EMAIL_CHANGE_REQUESTED) == 1
    assert kinds.count(AuthEvent.Kind.EMAIL_CHANGED) == 1
    assert kinds.count(AuthEvent.Kind.CREDENTIALS_CHANGED) == 1
    assert kinds.index(AuthEvent.Kind.EMAIL_CHANGE_REQUESTED) < kinds.index(AuthEvent.Kind.EMAIL_CHANGED)
    changed_event = AuthEvent.objects.get(kind=AuthEvent.Kind.EMAIL_CHANGED)
    assert changed_event.email == NEW
    assert AuthEvent.objects.get(kind=AuthEvent.Kind.CREDENTIALS_CHANGED).reason == "email_change"
    revoked = AuthEvent.objects.filter(kind=AuthEvent.Kind.SESSION_REVOKED, user_id=user.pk)
    assert list(revoked.values_list("reason", flat=True)) == ["email_change"]


def test_both_addresses_are_told_once(user, changed):
    """
    The new address gets the credentials notice, the old one hears where the
    account went — each once, however often their tasks are delivered.
    """
    def mailed() -> Counter:
        return Counter((message.to[0], message.subject) for message in mail.outbox)

    expected = Counter({
        (NEW, "Your email address was changed"): 1,
        ("alice@example.com", "Your account's address was changed"): 1,
    })
    assert mailed() == expected
    (farewell,) = sent_to("alice@example.com")
    assert NEW in farewell.body

    # Every task delivered again: the notices and the link are claimed once.
    for notice in Notice.objects.all():
        assert notifications.send_notice(notice_id=notice.pk) is False
    for link in EmailLink.objects.all():
        assert notifications.send_email_link(link_id=link.pk) is False
    assert mailed() == expected


def test_after_the_change_the_new_address_signs_in_and_the_old_one_is_free(api, changed):
    assert log_in(NEW).status_code == 200
    old = log_in("alice@example.com")
    assert (old.status_code, old.json()["code"]) == (401, "invalid_credentials")

    registered = api.post("/api/auth/register/", {"email": "alice@example.com", "password": PASSWORD},
                          format="json")

    assert registered.status_code == 201, registered.content
    assert User.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_ended_sessions_are_in_the_revocation_feed(api, capture, services, user, login):  # noqa: F811
    """Resource servers learn of the other sessions' end; the session that asked is not in the feed."""
    asking, other = login(user).json(), login(user).json()
    mail.outbox.clear()
    assert request_change(api, capture, asking).status_code == 202
    key = key_from(sent_to(NEW)[0])

    assert confirm(capture, key).status_code == 204

    served, cursor = poll(api, other["session_id"])
    assert [entry["sid"] for entry in served] == [other["session_id"]]
    assert Session.objects.get(pk=other["session_id"]).revoke_reason == "email_change"
    assert feed(api, since=cursor).json()["revoked"] == []


# --- the link ---------------------------------------------------------------------------------------


def test_the_link_works_once(capture, user, requested):
    assert confirm(capture, requested).status_code == 204

    again = confirm(capture, requested)

    assert (again.status_code, again.json()) == (400, KEY_INVALID)


def test_a_key_opens_its_link_once(user, requested):
    """The conditional UPDATE itself (STYLE 7), apart from the flow that also ends the user's other links."""
    first = links.use(requested, links.Purpose.CHANGE)

    assert first is not None and first.email == NEW
    assert links.use(requested, links.Purpose.CHANGE) is None
    assert links.use(requested, links.Purpose.VERIFY) is None


@pytest.mark.parametrize("after, works", [(timedelta(seconds=-60), True), (timedelta(seconds=1), False)])
def test_the_link_lives_email_verification_ttl(api, capture, user, tokens, settings, after, works):
    settings.EMAIL_VERIFICATION_TTL = 3600
    mail.outbox.clear()
    assert request_change(api, capture, tokens).status_code == 202
    key = key_from(sent_to(NEW)[0])

    with time_machine.travel(timezone.now() + timedelta(seconds=3600) + after, tick=False):
        response = confirm(capture, key)

    if works:
        assert response.status_code == 204
    else:
        assert (response.status_code, response.json()) == (400, KEY_INVALID)
        assert unchanged(user)


@pytest.mark.parametrize("key", ["garbage", "A" * 43, "A" * 128, "A" * 129, "' OR 1=1 --", "%00", "ключ"])
def test_a_garbage_key_is_400(capture, user, requested, key):
    response = confirm(capture, key)

    assert (response.status_code, response.json()) == (400, KEY_INVALID)
    assert unchanged(user)


@pytest.mark.parametrize("body", [{}, {"key": ""}, {"key": None}, {"key": ["a"]}, {"key": {"a": 1}}])
def test_a_malformed_body_is_400_invalid(body):
    response = APIClient().post("/api/auth/email/change/confirm/", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert set(response.json()["errors"]) == {"key"}


def test_a_verification_links_key_does_not_change_the_address(capture, settings):
    """The two kinds of link are apart: proving an address is not moving an account."""
    settings.VERIFY_EMAIL_URL = "https://app.example/#/verify-email?key={key}"
    mail.outbox.clear()
    capture(APIClient().post, "/api/auth/register/", {"email": "carol@example.com", "password": PASSWORD},
            format="json")
    key = re.search(r"verify-email\?key=([A-Za-z0-9_-]+)", mail.outbox[-1].body).group(1)

    response = confirm(capture, key)

    assert (response.status_code, response.json()) == (400, KEY_INVALID)


def test_the_key_is_not_stored(user, requested):
    """A leaked table opens no link: only a keyed hash is kept (as for reset tokens and device tokens)."""
    link = EmailLink.objects.get()
    assert link.key_hash and link.key_hash != requested
    assert all(requested not in str(value) for value in EmailLink.objects.values().get().values())


def test_confirming_one_link_ends_the_other_pending_ones(api, capture, user, tokens):
    mail.outbox.clear()
    assert request_change(api, capture, tokens, "first@example.org").status_code == 202
    assert request_change(api, capture, tokens, "second@example.org").status_code == 202
    first, second = key_from(sent_to("first@example.org")[0]), key_from(sent_to("second@example.org")[0])

    assert confirm(capture, second).status_code == 204
    late = confirm(capture, first)

    assert (late.status_code, late.json()) == (400, KEY_INVALID)
    user.refresh_from_db()
    assert user.email == "second@example.org"


# --- checked again when confirmed --------------------------------------------------------------


def test_an_address_taken_meanwhile_is_refused_and_the_link_kept(capture, user, requested, make_user):
    """The link is not spent by a refusal: once the address is free again it still works."""
    squatter = make_user(email=NEW)

    for _ in range(2):
        response = confirm(capture, requested)
        assert (response.status_code, response.json()) == (400, TAKEN)
    assert unchanged(user)
    assert EmailLink.objects.get().used_at is None

    squatter.delete()
    assert confirm(capture, requested).status_code == 204
    user.refresh_from_db()
    assert user.email == NEW


def test_a_look_alike_registered_meanwhile_is_refused(api, capture, make_user):
    """alice asks for bob@apple.com; before she confirms, bob@аррӏе.com (all Cyrillic) signs up."""
    alice = make_user(email="alice@example.com")
    tokens = log_in(alice.email).json()
    mail.outbox.clear()
    assert request_change(api, capture, tokens, "bob@apple.com").status_code == 202
    key = key_from(sent_to("bob@apple.com")[0])
    assert api.post("/api/auth/register/", {"email": "bob@аррӏе.com", "password": PASSWORD},
                    format="json").status_code == 201

    response = confirm(capture, key)

    assert (response.status_code, response.json()) == (400, invalid_email(LOOKALIKE))
    assert unchanged(alice)
    assert EmailLink.objects.get(user=alice).used_at is None


# --- two confirmations racing to one address (PostgreSQL) ------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs DATABASE_URL=postgres://… (unique index race)")
def test_of_two_confirmations_racing_to_one_address_one_wins(make_user):
    """
    Both checks pass before either commits; the unique index on the address
    lets one in and the other is 400 email_taken, its account untouched.
    """
    users = [make_user(email=f"racer{i}@example.com") for i in range(2)]
    keys = []
    for racer in users:
        mail.outbox.clear()
        tokens = log_in(racer.email).json()
        response = APIClient().post("/api/auth/email/change/", {"password": PASSWORD, "new_email": NEW},
                                    format="json", **bearer(tokens["access"]))
        assert response.status_code == 202, response.content
        keys.append(key_from(sent_to(NEW)[0]))

    def confirm_at_once(client, i):
        response = client.post("/api/auth/email/change/confirm/", {"key": keys[i]}, format="json",
                               REMOTE_ADDR=f"10.0.0.{i + 1}")
        return response.status_code, response.json() if response.content else None

    results = in_parallel(2, confirm_at_once)

    assert sorted(results, key=lambda result: result[0]) == [(204, None), (400, TAKEN)]
    winner = users[[status for status, _ in results].index(204)]
    loser = users[[status for status, _ in results].index(400)]
    assert User.objects.get(email=NEW) == winner
    assert unchanged(loser)
    assert loser.email.startswith("racer")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs DATABASE_URL=postgres://… (row locks)")
def test_one_key_opened_ten_times_at_once_changes_the_address_once(make_user):
    """A check-then-write would let several in; the conditional UPDATE on the link lets one."""
    alice = make_user(email="alice@example.com")
    tokens = log_in(alice.email).json()
    mail.outbox.clear()
    assert APIClient().post("/api/auth/email/change/", {"password": PASSWORD, "new_email": NEW}, format="json",
                            **bearer(tokens["access"])).status_code == 202
    key = key_from(sent_to(NEW)[0])
    mail.outbox.clear()

    def confirm_at_once(client, i):
        response = client.post("/api/auth/email/change/confirm/", {"key": key}, format="json",
                               REMOTE_ADDR=f"10.0.1.{i + 1}")
        return response.status_code, response.json() if response.content else None

    results = in_parallel(10, confirm_at_once)

    assert Counter(status for status, _ in results) == {204: 1, 400: 9}, results
    assert all(body == KEY_INVALID for status, body in results if status == 400)
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.EMAIL_CHANGED).count() == 1
    assert Counter(message.to[0] for message in mail.outbox) == {NEW: 1, "alice@example.com": 1}
