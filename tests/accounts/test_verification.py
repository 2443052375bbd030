"""
Proving an address (DESIGN.md, Part 2, "Account lifecycle", "Email
verification" and "With mandatory"): the link registration mails, its
single use and lifetime, the key that exists only in the email, resend and
its per-account cooldown, the emailed sign-in code as proof, and the logins
``ACCOUNT_EMAIL_VERIFICATION=mandatory`` stops.

Emails are really composed and "sent" (locmem): the tests read the key out
of the message body the way the front end's page would, through the
``VERIFY_EMAIL_URL`` template.
"""

import email
import email.policy
import re
import smtplib
import time
from types import SimpleNamespace
from unittest.mock import ANY

import pytest
import time_machine
from django.apps import apps
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection
from django.utils import timezone

from accounts import emails, links, notifications
from accounts.flows.recovery_codes import replace_codes
from accounts.models import EmailLink, User
from tests.accounts.conftest import code_from_outbox
from tests.accounts.factors import STEP, answer, enrol_totp, signed_in, totp_code
from tests.accounts.mailbox import key_in
from tests.celery_worker import celery_conf, celery_worker, database_url
from tests.conftest import PASSWORD
from tokens import devices
from tokens.models import AuthEvent, Session

pytestmark = pytest.mark.django_db

REGISTER, LOGIN, ME = "/api/auth/register/", "/api/auth/login/", "/api/auth/me/"
VERIFY, RESEND = "/api/auth/email/verify/", "/api/auth/email/verify/resend/"
# Not the default template: the key is found where this one puts it, so the email follows VERIFY_EMAIL_URL.
VERIFY_EMAIL_URL = "https://front.example/account/verify/{key}/?from=email"
SUBJECT = "Confirm your email address"
TTL = 3 * 24 * 3600
COOLDOWN = 60

KEY_INVALID = {"detail": "This link is invalid, used or expired; ask for a new one.",
               "code": "verification_key_invalid"}
EMAIL_UNVERIFIED = {"detail": "Confirm your email address first: a new link was mailed to it.",
                    "code": "email_unverified"}
INVALID_CREDENTIALS = {"detail": "Email or password is incorrect.", "code": "invalid_credentials"}


@pytest.fixture(autouse=True)
def _lifecycle(settings):
    """The documented defaults, spelled out, and a link template of the test's own."""
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    settings.EMAIL_VERIFICATION_TTL = TTL
    settings.EMAIL_VERIFICATION_COOLDOWN = COOLDOWN
    settings.VERIFY_EMAIL_URL = VERIFY_EMAIL_URL


@pytest.fixture
def mandatory(settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"


@pytest.fixture
def frozen():
    """The clock stands still (and is moved by hand): cooldowns and lifetimes are crossed on purpose only."""
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def link_emails(to: str | None = None) -> list:
    return [m for m in mail.outbox if m.subject == SUBJECT and (to is None or m.to == [to])]


def key_from(message) -> str:
    return key_in(message, VERIFY_EMAIL_URL)


def only_key(to: str) -> str:
    (message,) = link_emails(to)
    return key_from(message)


def verify(api, key):
    return api.post(VERIFY, {"key": key}, format="json")


def me(user) -> dict:
    response = signed_in(user).get(ME)
    assert response.status_code == 200, response.content
    return response.json()


def register(api, capture, email="new.person@example.com"):
    response = capture(api.post, REGISTER, {"email": email, "password": PASSWORD}, format="json")
    assert response.status_code == 201, response.content
    return response


def password_login(api, user, password=PASSWORD, **body):
    return api.post(LOGIN, {"email": user.email, "password": password, "transport": "body", **body}, format="json")


def events(kind: str, user: User) -> list[str]:
    return list(AuthEvent.objects.filter(kind=kind, user_id=user.pk).order_by("pk").values_list("reason", flat=True))


# --- the link registration mails ----------------------------------------------------------------------------------


def test_registration_mails_a_link_that_verifies_the_address(api, capture):
    """Registration (optional mode, the default) mails one link; its key → 204, and ``me`` says verified."""
    response = register(api, capture, "New.Person@Example.COM")

    user = User.objects.get()
    assert response.json() == {"id": user.pk, "email": "new.person@example.com"}
    assert [m.to for m in mail.outbox] == [["new.person@example.com"]]
    assert me(user)["email_verified"] is False

    verified = verify(api, only_key("new.person@example.com"))

    assert (verified.status_code, verified.content) == (204, b"")
    assert me(user) == {"id": user.pk, "email": "new.person@example.com", "email_verified": True,
                        "two_factor_enabled": False, "date_joined": ANY, "is_staff": False}
    assert events(AuthEvent.Kind.EMAIL_VERIFIED, user) == ["link"]


def test_a_link_works_once(api, capture):
    register(api, capture)
    key = only_key("new.person@example.com")
    assert verify(api, key).status_code == 204

    again = verify(api, key)

    assert (again.status_code, again.json()) == (400, KEY_INVALID)
    assert len(events(AuthEvent.Kind.EMAIL_VERIFIED, User.objects.get())) == 1


def test_a_link_works_until_its_lifetime_ends(api, capture, frozen):
    """``EMAIL_VERIFICATION_TTL``: a second short of it the key works; past it, it is refused."""
    register(api, capture)
    key = only_key("new.person@example.com")

    frozen.shift(TTL)
    expired = verify(api, key)

    assert (expired.status_code, expired.json()) == (400, KEY_INVALID)
    assert me(User.objects.get())["email_verified"] is False
    frozen.shift(-1)
    assert verify(api, key).status_code == 204


@pytest.mark.parametrize("key", [
    "garbage",
    "A" * 43,  # the shape of a real key (token_urlsafe(32)), not one we made
    "A" * links.KEY_MAX_LENGTH,
    "A" * (links.KEY_MAX_LENGTH + 1),  # refused unhashed
    "A" * 60_000,  # under DATA_UPLOAD_MAX_MEMORY_SIZE (64 KiB): past it, 413 before any parsing
    "\u00e9\u4e2d\U0001f600",
    "' OR 1=1 --",
])
def test_a_key_we_did_not_make_is_refused(api, capture, key):
    register(api, capture)

    refused = verify(api, key)

    assert (refused.status_code, refused.json()) == (400, KEY_INVALID)
    assert me(User.objects.get())["email_verified"] is False


@pytest.mark.parametrize("body", [
    {"key": ""},
    {"key": None},
    {"key": ["a", "b"]},
    {"key": {"a": 1}},
    {},
])
def test_a_malformed_key_is_a_400_not_a_500(api, capture, body):
    """Empty, not a string, missing: refused before any lookup (the serializer's ``invalid``)."""
    register(api, capture)

    refused = api.post(VERIFY, body, format="json")  # the whole body, not {"key": body}

    assert refused.status_code == 400, refused.content
    assert refused.json()["code"] == "invalid"
    assert me(User.objects.get())["email_verified"] is False


@pytest.mark.parametrize("mode, mailed", [("optional", 1), ("mandatory", 1), ("none", 0)])
def test_registration_mails_a_link_unless_verification_is_off(api, capture, settings, mode, mailed):
    settings.ACCOUNT_EMAIL_VERIFICATION = mode

    register(api, capture)

    assert len(link_emails("new.person@example.com")) == mailed
    assert EmailLink.objects.count() == mailed
    assert len(mail.outbox) == mailed


def test_a_link_to_an_address_the_account_no_longer_has_proves_nothing(api, capture):
    register(api, capture)
    key = only_key("new.person@example.com")
    User.objects.update(email="moved@example.com")

    refused = verify(api, key)

    assert (refused.status_code, refused.json()) == (400, KEY_INVALID)
    assert User.objects.get().email_verified is False


def test_an_email_change_link_does_not_verify(api, make_user, capture):
    """The keys of the two purposes open their own door only."""
    user = make_user()
    link = links.new_link(user, EmailLink.Purpose.CHANGE, email=user.email)
    notifications.send_email_link(link_id=link.pk)
    key = re.search(r"key=(\S+)", mail.outbox[-1].body).group(1)

    refused = verify(api, key)

    assert (refused.status_code, refused.json()) == (400, KEY_INVALID)
    assert User.objects.get().email_verified is False


# --- the key exists only in the email ------------------------------------------------------------------------------


# These go through the signed-in resend, whose link row is written in the request (``owe_link``); the send
# is the same ``notifications.send_email_link`` that every verification and email-change link takes.


@pytest.fixture
def owed(make_user, django_capture_on_commit_callbacks):
    """A link owed to a new user, not sent yet: ``(link, [the queued send])``."""
    user = make_user(email="new.person@example.com")
    with django_capture_on_commit_callbacks() as queued:
        assert signed_in(user).post(RESEND).status_code == 202
    return EmailLink.objects.get(), queued


def test_the_key_is_never_stored(api, owed):
    """
    Until the worker sends it, the link has no key at all; then only its
    keyed hash is stored. No column of any table holds the key: a copy of
    the database opens no link.
    """
    link, queued = owed
    assert (link.key_hash, link.sent_at) == (None, None)
    (send,) = queued
    send()

    key = only_key("new.person@example.com")
    link.refresh_from_db()
    assert link.key_hash and link.sent_at
    assert link.key_hash != key and key not in link.key_hash
    assert links.use(key, EmailLink.Purpose.VERIFY) is not None, "the hash is what the key is looked up by"
    for model in apps.get_models():
        for row in model.objects.values_list():
            assert not any(key in str(value) for value in row), f"{model.__name__} holds the key"


def test_a_link_send_delivered_twice_mails_once(api, owed):
    """
    A task message delivered twice (late ack, visibility timeout) claims
    nothing the second time: a second email would carry a second key.
    """
    link, _ = owed

    assert notifications.send_email_link(link_id=link.pk) is True
    assert notifications.send_email_link(link_id=link.pk) is False

    assert len(mail.outbox) == 1
    assert verify(api, only_key("new.person@example.com")).status_code == 204


def test_a_failed_send_gives_the_claim_back_for_the_retry(api, owed, monkeypatch):
    """
    The SMTP server refuses the first try: the claim is given back (the key
    it made dies unsent), and the task's retry mails a new key that works.
    """
    link, _ = owed
    real_send, lost = emails.send, []

    def refused(**message):
        lost.append(message["context"]["link"])
        raise smtplib.SMTPDataError(451, b"4.3.0 try again later")

    monkeypatch.setattr(emails, "send", refused)
    with pytest.raises(smtplib.SMTPDataError):
        notifications.send_email_link(link_id=link.pk)
    link.refresh_from_db()
    assert (link.key_hash, link.sent_at) == (None, None)
    assert mail.outbox == []

    monkeypatch.setattr(emails, "send", real_send)
    assert notifications.send_email_link(link_id=link.pk) is True

    key = only_key("new.person@example.com")
    assert lost and key not in lost[0]
    lost_key = re.search(r"/verify/([^/]+)/", lost[0]).group(1)
    assert verify(api, lost_key).status_code == 400
    assert verify(api, key).status_code == 204


# --- resend --------------------------------------------------------------------------------------------------------


def test_resend_signed_in_mails_a_link_at_most_once_a_cooldown(make_user, api, capture, frozen):
    """
    DESIGN.md: a new link at most once a minute per account; within that
    minute the answer is the same and the last link still works.
    """
    user = make_user()
    client = signed_in(user)

    first = capture(client.post, RESEND)
    assert (first.status_code, first.content) == (202, b"")
    assert len(link_emails(user.email)) == 1

    frozen.shift(COOLDOWN - 1)
    second = capture(client.post, RESEND)

    assert (second.status_code, second.content) == (202, b"")
    assert len(link_emails(user.email)) == 1
    assert EmailLink.objects.count() == 1
    assert verify(api, key_from(link_emails(user.email)[0])).status_code == 204


def test_resend_after_the_cooldown_mails_a_new_link(make_user, capture, frozen):
    user = make_user()
    client = signed_in(user)
    capture(client.post, RESEND)

    frozen.shift(COOLDOWN + 1)
    again = capture(client.post, RESEND)

    assert again.status_code == 202
    first, second = link_emails(user.email)
    assert key_from(first) != key_from(second)


def test_a_verification_task_delivered_again_after_the_cooldown_mails_once(make_user, frozen):
    """
    A link asked for by address is made in the worker: a task message
    delivered again (Redis's visibility timeout is an hour, far past the
    cooldown) finds the link its task made, and sends nothing more.
    """
    user = make_user()
    notifications.send_verification_email(email=user.email, task_id="task-1")
    frozen.shift(COOLDOWN + 1)
    notifications.send_verification_email(email=user.email, task_id="task-1")

    assert len(link_emails(user.email)) == 1
    notifications.send_verification_email(email=user.email, task_id="task-2")  # another request, past the cooldown: a new link
    assert len(link_emails(user.email)) == 2


def test_verifying_ends_every_other_link(make_user, api, capture, frozen):
    """Once the address is proved, the links still out there open nothing (a leaked mailbox later, say)."""
    user = make_user()
    client = signed_in(user)
    capture(client.post, RESEND)
    frozen.shift(COOLDOWN + 1)
    capture(client.post, RESEND)
    older, newer = (key_from(m) for m in link_emails(user.email))

    assert verify(api, newer).status_code == 204
    refused = verify(api, older)

    assert (refused.status_code, refused.json()) == (400, KEY_INVALID)
    assert not EmailLink.objects.filter(used_at__isnull=True).exists()


def test_resend_for_a_verified_account_mails_nothing(make_user, capture):
    user = make_user(email_verified=True)

    response = capture(signed_in(user).post, RESEND)

    assert (response.status_code, response.content) == (202, b"")
    assert mail.outbox == []


def test_resend_by_address_answers_alike_and_mails_only_an_unverified_account(make_api, make_user, capture):
    """
    Without a session, by address: 202 with the same (empty) body for an
    unverified, a verified and an unknown address, so the answer tells no
    one which addresses have accounts; only the unverified one gets a link.
    """
    unverified = make_user(email="unverified@example.com")
    make_user(email="verified@example.com", email_verified=True)

    answers = {email: capture(make_api().post, RESEND, {"email": email}, format="json")
               for email in ("unverified@example.com", "verified@example.com", "unknown@example.com")}

    assert {email: (r.status_code, r.content) for email, r in answers.items()} == {
        email: (202, b"") for email in answers}
    assert [m.to for m in mail.outbox] == [["unverified@example.com"]]
    assert me(unverified)["email_verified"] is False
    assert verify(make_api(), key_from(mail.outbox[0])).status_code == 204
    assert me(unverified)["email_verified"] is True


def test_resend_by_address_keeps_the_cooldown(make_api, make_user, capture, frozen):
    user = make_user(email="Unverified@Example.com")
    for _ in range(3):
        assert capture(make_api().post, RESEND, {"email": "UNVERIFIED@example.com"}, format="json").status_code == 202
    frozen.shift(COOLDOWN + 1)
    assert capture(make_api().post, RESEND, {"email": "unverified@example.com"}, format="json").status_code == 202

    assert len(link_emails(user.email)) == 2


def test_resend_without_session_or_address_is_401(api, capture):
    response = capture(api.post, RESEND, {}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert mail.outbox == []


# --- the emailed sign-in code proves the address -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["optional", "mandatory", "none"])
def test_an_emailed_code_login_verifies_the_address(user, api, start_login, settings, mode):
    """The code reached the mailbox and came back: that is the proof a link gives, in every mode."""
    settings.ACCOUNT_EMAIL_VERIFICATION = mode
    settings.AUTH_2FA = "required"
    pending, code = start_login(user)

    done = answer(api, pending.json()["challenge"], code)

    assert done.status_code == 200, done.content
    assert me(user)["email_verified"] is True
    assert events(AuthEvent.Kind.EMAIL_VERIFIED, user) == ["email_code"]


def test_an_emailed_code_login_ends_the_outstanding_links(user, api, start_login, settings, capture):
    settings.AUTH_2FA = "required"
    capture(signed_in(user).post, RESEND)
    key = only_key(user.email)
    pending, code = start_login(user)

    assert answer(api, pending.json()["challenge"], code).status_code == 200

    assert verify(api, key).status_code == 400


# --- mandatory: a login needs a proved address ---------------------------------------------------------------------


@pytest.fixture
def unproved_login(settings, user, clock):
    """
    The ways a right password can lead straight to a session, or to an app
    factor, without the emailed code: each must be stopped for an
    unverified address. Returns ``login(api) → response``.
    """

    def by(route: str):
        if route == "2fa_off":
            settings.AUTH_2FA = "off"
            return lambda api: password_login(api, user)
        if route == "totp":
            settings.AUTH_2FA = "optional"
            enrol_totp(user)
            clock.shift(STEP)
            return lambda api: password_login(api, user)
        assert route == "remembered_device"
        settings.AUTH_2FA = "required"
        device = devices.remember_device(user=user, ip="127.0.0.1", user_agent="tests")
        return lambda api: password_login(api, user, device_token=device.token)

    return by


ROUTES = ["2fa_off", "totp", "remembered_device"]


@pytest.mark.usefixtures("mandatory")
@pytest.mark.parametrize("route", ROUTES)
def test_mandatory_refuses_a_right_password_of_an_unverified_address(user, api, capture, unproved_login, clock,
                                                                     route):
    """
    DESIGN.md: 403 ``email_unverified``, a new link mailed as resend would
    (so within the cooldown no second one), an audit event — and no session.
    """
    log_in = unproved_login(route)
    sessions = Session.objects.count()  # enrolling an app signs in a client of the test's own

    refused = capture(log_in, api)

    assert (refused.status_code, refused.json()) == (403, EMAIL_UNVERIFIED)
    assert len(link_emails(user.email)) == 1
    assert Session.objects.count() == sessions
    failed = AuthEvent.objects.filter(kind=AuthEvent.Kind.LOGIN_FAILED, user_id=user.pk)
    assert list(failed.values_list("reason", flat=True)) == ["email_unverified"]
    assert not AuthEvent.objects.filter(kind=AuthEvent.Kind.LOGIN_SUCCEEDED).exists()

    again = capture(log_in, api)
    assert (again.status_code, again.json()) == (403, EMAIL_UNVERIFIED)
    assert len(link_emails(user.email)) == 1, "within the cooldown the link already mailed still works"

    clock.shift(COOLDOWN + 1)
    assert capture(log_in, api).status_code == 403
    assert len(link_emails(user.email)) == 2


@pytest.mark.usefixtures("mandatory")
@pytest.mark.parametrize("route", ROUTES)
def test_mandatory_lets_the_login_through_once_the_link_is_followed(user, api, capture, unproved_login, route):
    log_in = unproved_login(route)
    assert capture(log_in, api).status_code == 403

    assert verify(api, only_key(user.email)).status_code == 204

    done = capture(log_in, api)
    assert done.status_code == 200, done.content
    assert "access" in done.json() or done.json().get("methods") == ["totp", "recovery"]


@pytest.mark.usefixtures("mandatory")
@pytest.mark.parametrize("verified", [False, True])
@pytest.mark.parametrize("two_factor", ["off", "required"])
def test_mandatory_a_wrong_password_is_the_usual_401(make_user, api, capture, settings, verified, two_factor):
    """Whatever the address's state: the 403 (and its link) is earned by the right password only."""
    settings.AUTH_2FA = two_factor
    user = make_user(email_verified=verified)

    refused = capture(password_login, api, user, password="not the password")

    assert (refused.status_code, refused.json()) == (401, INVALID_CREDENTIALS)
    assert mail.outbox == []
    assert not EmailLink.objects.exists()


@pytest.mark.usefixtures("mandatory")
def test_mandatory_an_emailed_code_login_goes_on_and_proves_the_address(user, api, capture, settings):
    """With no app factor under ``AUTH_2FA=required`` the code step is the proof: no 403, no link."""
    settings.AUTH_2FA = "required"

    pending = capture(password_login, api, user)

    assert pending.status_code == 200, pending.content
    assert pending.json() == {"two_factor_required": True, "expires_in": 600, "methods": ["email"],
                              "challenge": ANY}
    assert [m.subject for m in mail.outbox] == ["Your sign-in code"]
    done = answer(api, pending.json()["challenge"], code_from_outbox())
    assert done.status_code == 200, done.content
    assert "access" in done.json()
    assert me(user)["email_verified"] is True
    assert not link_emails()


@pytest.mark.usefixtures("mandatory")
def test_mandatory_step_two_by_recovery_code_needs_a_proved_address(user, api, capture, settings):
    """Only the emailed code proves the address: an unverified user answering with a recovery code is stopped."""
    settings.AUTH_2FA = "required"
    recovery_codes = replace_codes(user)
    pending = capture(password_login, api, user)
    assert pending.json()["methods"] == ["email", "recovery"]

    refused = capture(answer, api, pending.json()["challenge"], recovery_codes[0], "recovery")

    assert (refused.status_code, refused.json()) == (403, EMAIL_UNVERIFIED)
    assert not Session.objects.exists()
    assert len(link_emails(user.email)) == 1
    assert me(user)["email_verified"] is False
    # The emailed code still finishes that same challenge, and proves the address.
    done = answer(api, pending.json()["challenge"], code_from_outbox(0))
    assert done.status_code == 200, done.content
    assert me(user)["email_verified"] is True


@pytest.mark.usefixtures("mandatory")
def test_mandatory_a_totp_answer_needs_a_proved_address_too(user, api, capture, settings, clock):
    """An app factor enrolled after a challenge was opened does not sneak an unverified login through step two."""
    settings.AUTH_2FA = "required"
    pending = capture(password_login, api, user)
    enrolled = enrol_totp(user)
    clock.shift(STEP)

    sessions = Session.objects.count()

    refused = capture(answer, api, pending.json()["challenge"], totp_code(enrolled.secret), "totp")

    assert (refused.status_code, refused.json()) == (403, EMAIL_UNVERIFIED)
    assert Session.objects.count() == sessions
    assert not AuthEvent.objects.filter(kind=AuthEvent.Kind.LOGIN_SUCCEEDED).exists()


@pytest.mark.usefixtures("mandatory")
@pytest.mark.parametrize("two_factor", ["off", "optional"])
def test_mandatory_a_verified_address_logs_in_as_usual(make_user, api, capture, settings, two_factor):
    settings.AUTH_2FA = two_factor
    user = make_user(email_verified=True)

    done = capture(password_login, api, user)

    assert done.status_code == 200, done.content
    assert set(done.json()) >= {"access", "refresh"}
    assert not link_emails()
    assert not AuthEvent.objects.filter(kind=AuthEvent.Kind.LOGIN_FAILED).exists()


@pytest.mark.parametrize("mode", ["optional", "none"])
def test_without_mandatory_an_unverified_address_logs_in(user, api, capture, settings, mode):
    settings.ACCOUNT_EMAIL_VERIFICATION = mode

    done = capture(password_login, api, user)

    assert done.status_code == 200, done.content
    assert mail.outbox == []
    assert me(user)["email_verified"] is False


# --- through a real worker -----------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not django_settings.REDIS_URL or connection.vendor != "postgresql",
                    reason="needs REDIS_URL and DATABASE_URL=postgres://… (a worker process shares the database)")
def test_a_registration_s_link_comes_from_a_real_worker_and_works(api, settings, tmp_path):
    """
    The registration queues the send on Redis; a ``celery worker`` process
    makes the key, stores its hash in the shared PostgreSQL database and
    mails the link (file backend); the key read from that file verifies.
    """
    env = {
        "DJANGO_SETTINGS_MODULE": "authsvc.settings",
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,  # the key's hash is keyed: the same key as this process
        "DATABASE_URL": database_url(settings),
        "REDIS_URL": settings.REDIS_URL,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "VERIFY_EMAIL_URL": VERIFY_EMAIL_URL,
    }
    log = tmp_path / "worker.log"
    with celery_conf(task_always_eager=False), celery_worker(env=env, log_path=log):
        response = api.post(REGISTER, {"email": "new.person@example.com", "password": PASSWORD}, format="json")
        assert response.status_code == 201, response.content
        message = wait_for_mail(tmp_path / "mail", log)

    key = key_from(message)
    assert verify(api, key).status_code == 204
    assert User.objects.get().email_verified is True
    assert key not in log.read_text(), "the worker logs the task, never the key"


def wait_for_mail(directory, log, timeout: float = 45):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(directory.glob("*.log")) if directory.exists() else []:
            message = email.message_from_string(path.read_text(), policy=email.policy.default)
            if message["Subject"] == SUBJECT:
                return SimpleNamespace(body=message.get_body(preferencelist=("plain",)).get_content())
        time.sleep(0.2)
    pytest.fail("no verification email from the worker; its log:\n" + log.read_text()[-3000:])
