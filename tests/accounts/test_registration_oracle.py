"""
Registration without an oracle (DESIGN.md, Part 2, "Account lifecycle"):
with ``ACCOUNT_EMAIL_VERIFICATION=mandatory`` a taken address gets the
answer a new one gets — 201 ``{"email"}``, no id, the same headers, no
measurable difference in time — and its owner is told by email instead.
OWASP ASVS v4.0.3 2.2.x / the Authentication Cheat Sheet, "Authentication and
Error Messages": registration must not confirm which addresses have accounts.
With ``optional`` and ``none`` a taken address stays 400 ``email_taken``.
"""

import statistics
import time

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.utils import timezone

from accounts.models import EmailLink, User, normalize_email
from accounts.notifications import send_sign_up_attempt_email
from tests.conftest import PASSWORD
from tests.hashers import FastArgon2PasswordHasher
from tokens.models import AuthEvent

pytestmark = pytest.mark.django_db

REGISTER = "/api/auth/register/"
OLD_PASSWORD = PASSWORD
NEW_PASSWORD = "an entirely different passphrase 99"
SIGN_UP_ATTEMPT = "Someone tried to sign up with your address"
VERIFY_SUBJECT = "Confirm your email address"
# Headers that differ between any two requests, whatever was asked:
#   X-Request-ID — a fresh id per request (DESIGN.md, "Observability");
#   Date — set per response by the server (gunicorn; the test client sets none, listed for clarity).
# Everything else must be equal. Content-Length is compared too: the two
# addresses below are of one length, as the body echoes the address sent.
PER_REQUEST_HEADERS = {"x-request-id", "date"}


@pytest.fixture
def mandatory(settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"


def register(api, email, password=NEW_PASSWORD):
    return api.post(REGISTER, {"email": email, "password": password}, format="json")


def headers(response) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items()
            if name.lower() not in PER_REQUEST_HEADERS}


def kinds(kind: str) -> list[str]:
    return list(AuthEvent.objects.filter(kind=kind).order_by("pk").values_list("email", flat=True))


# --- the same answer ------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("mandatory")
@pytest.mark.parametrize("verified", [False, True])
def test_a_taken_address_gets_the_answer_a_new_one_gets(make_api, make_user, capture, verified):
    owner = make_user(email="taken1@example.com", email_verified=verified)
    mail.outbox.clear()

    new = capture(register, make_api(), "Fresh1@Example.com")
    taken = capture(register, make_api(), "TAKEN1@example.com")

    assert (new.status_code, new.json()) == (201, {"email": "fresh1@example.com"})
    assert (taken.status_code, taken.json()) == (201, {"email": "taken1@example.com"})
    assert len(new.content) == len(taken.content)
    assert headers(new) == headers(taken)
    assert {name.lower() for name in new.headers} - set(headers(new)) == {"x-request-id"}, "left out: only these"
    assert new.cookies.keys() == taken.cookies.keys() == set()
    # The taken account is untouched: its password, its address's state.
    owner.refresh_from_db()
    assert owner.check_password(OLD_PASSWORD) and not owner.check_password(NEW_PASSWORD)
    assert owner.email_verified is verified
    assert User.objects.count() == 2
    assert kinds(AuthEvent.Kind.ACCOUNT_CREATED) == ["fresh1@example.com"]
    assert kinds(AuthEvent.Kind.SIGN_UP_TAKEN) == ["taken1@example.com"]
    assert AuthEvent.objects.get(kind=AuthEvent.Kind.SIGN_UP_TAKEN).user_id is None


@pytest.mark.usefixtures("mandatory")
@pytest.mark.parametrize("verified, subjects", [
    (True, [SIGN_UP_ATTEMPT]),
    # Not verified yet: the notice, and a verification link in an email of its own.
    (False, [VERIFY_SUBJECT, SIGN_UP_ATTEMPT]),
])
def test_the_owner_of_a_taken_address_is_told(api, make_user, capture, verified, subjects):
    owner = make_user(email="taken1@example.com", email_verified=verified)

    capture(register, api, "taken1@example.com")

    assert [(m.to, m.subject) for m in mail.outbox] == [(["taken1@example.com"], s) for s in subjects]
    notice = next(m for m in mail.outbox if m.subject == SIGN_UP_ATTEMPT)
    assert "taken1@example.com" in notice.body
    assert ("Your address is not confirmed yet" in notice.body) is not verified
    assert EmailLink.objects.filter(user=owner).count() == (0 if verified else 1)


@pytest.mark.usefixtures("mandatory")
def test_the_link_a_sign_up_attempt_mails_respects_the_cooldown(api, make_api, make_user, capture):
    """Repeated sign-ups with someone's address tell them each time, but mail one link a cooldown."""
    make_user(email="taken1@example.com")

    for _ in range(3):
        capture(register, make_api(), "taken1@example.com")

    subjects = [m.subject for m in mail.outbox]
    assert subjects.count(VERIFY_SUBJECT) == 1
    assert subjects.count(SIGN_UP_ATTEMPT) == 3


def test_a_sign_up_attempt_task_delivered_again_mails_nothing_more(make_user):
    """Redelivered past the link cooldown (Redis's visibility timeout is an hour): the same notice, the same link."""
    owner = make_user(email="taken2@example.com")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        send_sign_up_attempt_email(email=owner.email, task_id="task-1")
        clock.shift(3600)
        send_sign_up_attempt_email(email=owner.email, task_id="task-1")

    subjects = [m.subject for m in mail.outbox]
    assert (subjects.count(VERIFY_SUBJECT), subjects.count(SIGN_UP_ATTEMPT)) == (1, 1)


@pytest.mark.usefixtures("mandatory")
def test_the_new_address_gets_only_its_verification_link(api, capture):
    capture(register, api, "fresh1@example.com")

    assert [(m.to, m.subject) for m in mail.outbox] == [(["fresh1@example.com"], VERIFY_SUBJECT)]


@pytest.mark.usefixtures("mandatory")
def test_a_look_alike_gets_the_same_answer_and_no_one_is_mailed(make_api, make_user, capture):
    """
    An address that passes for an existing account's (all-Cyrillic аррӏе.com
    for apple.com) is not created, not refused either: the answer of a new
    address, and no email — the look-alike has no mailbox of ours, and the
    real owner did not have their address tried.
    """
    make_user(email="alice@apple.com", email_verified=True)
    mail.outbox.clear()

    # Of one length with the twin's stored (ASCII) form, so Content-Length is compared too.
    new = capture(register, make_api(), "bobby@apple-examples.com")
    twin = capture(register, make_api(), "alice@аррӏе.com")

    # Stored (and answered) in its ASCII form, as every address is (``normalize_email``).
    assert normalize_email("alice@аррӏе.com") == "alice@xn--80ak6aa92e.com"
    assert (twin.status_code, twin.json()) == (201, {"email": "alice@xn--80ak6aa92e.com"})
    assert (new.status_code, new.json()) == (201, {"email": "bobby@apple-examples.com"})
    assert headers(twin) == headers(new)
    assert [m.to for m in mail.outbox] == [["bobby@apple-examples.com"]]
    assert list(User.objects.values_list("email", flat=True).order_by("email")) == ["alice@apple.com",
                                                                                    "bobby@apple-examples.com"]
    assert kinds(AuthEvent.Kind.SIGN_UP_TAKEN) == ["alice@xn--80ak6aa92e.com"]


@pytest.mark.parametrize("mode", ["optional", "none"])
def test_without_mandatory_a_taken_address_is_refused(api, make_user, capture, settings, mode):
    settings.ACCOUNT_EMAIL_VERIFICATION = mode
    owner = make_user(email="taken1@example.com")

    refused = capture(register, api, "Taken1@example.com")

    assert (refused.status_code, refused.json()) == (
        400, {"detail": "An account with this email already exists.", "code": "email_taken"})
    assert mail.outbox == []
    owner.refresh_from_db()
    assert owner.check_password(OLD_PASSWORD)
    assert kinds(AuthEvent.Kind.SIGN_UP_TAKEN) == []


@pytest.mark.parametrize("mode", ["optional", "none"])
def test_without_mandatory_a_new_address_gets_its_id(api, capture, settings, mode):
    settings.ACCOUNT_EMAIL_VERIFICATION = mode

    created = capture(register, api, "fresh1@example.com")

    assert (created.status_code, created.json()) == (201, {"id": User.objects.get().pk, "email": "fresh1@example.com"})


@pytest.mark.usefixtures("mandatory")
def test_mandatory_still_refuses_what_is_not_an_address(api, capture):
    """What the requester typed wrong is theirs to hear: no account's existence is in it."""
    refused = capture(register, api, "alice@[127.0.0.1]")

    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid"
    assert mail.outbox == []


@pytest.mark.usefixtures("mandatory")
def test_each_registration_queues_one_task_alike(make_api, make_user, django_capture_on_commit_callbacks):
    """The same work: one row written (or refused by the unique index), one task queued, new or taken."""
    make_user(email="taken1@example.com")

    with django_capture_on_commit_callbacks() as new:
        register(make_api(), "fresh1@example.com")
    with django_capture_on_commit_callbacks() as taken:
        register(make_api(), "taken1@example.com")

    assert len(new) == len(taken) == 1


# --- the same time --------------------------------------------------------------------------------------------------


ROUNDS = 40


def auc(slower: list[float], faster: list[float]) -> float:
    """
    Mann–Whitney U / (n·m): the probability that a random sample of
    ``slower`` exceeds a random one of ``faster`` (ties count a half).
    0.5: indistinguishable; 0 or 1: one always slower. Rank-based, so a few
    outliers (a GC pause, a checkpoint) cannot move it much.
    """
    wins = sum((a > b) + 0.5 * (a == b) for a in slower for b in faster)
    return wins / (len(slower) * len(faster))


def describe(samples: list[float]) -> str:
    deciles = statistics.quantiles(samples, n=10)
    return (f"median {statistics.median(samples) * 1000:.2f} ms, p10 {deciles[0] * 1000:.2f} ms, "
            f"p90 {deciles[-1] * 1000:.2f} ms")


@pytest.mark.usefixtures("mandatory")
def test_a_taken_address_takes_as_long_as_a_new_one(make_api, make_user, settings):
    """
    N interleaved registrations of new and of taken addresses, timed round
    trip through the API client (middleware, DRF, the flow, the database):
    the two take the same time, to within a quarter of the faster median.

    What this measures, and what not: the suite's password hasher is a
    minimal-cost Argon2id (tests/hashers.py, well under a millisecond), so
    here the hash is a small part of each request and the test sees the rest
    — the two statements of ``registration._inserted`` (an INSERT that a
    unique index may turn into nothing, then the row the address has), the
    audit event, the task queued. (A first version let the INSERT fail and
    caught the IntegrityError: the exception and the savepoint rolled back
    made a taken address ~0.2 ms slower on PostgreSQL, AUC up to 0.8.) A path that
    answers a taken address early (an ``exists()`` and return, hash and all
    skipped) is caught: tried by patching the flow, its median came out 2–5×
    faster (2× on SQLite on 12-07: medians 97% apart). A difference of one
    query (~0.5 ms) is within the noise of this threshold and is not
    reliably caught; the rule that the same work is done
    is pinned without a stopwatch by ``test_each_registration_queues_one_task_alike``
    and ``test_registration_hashes_for_a_taken_address_too``. In production
    the hash is tens of milliseconds and dominates both paths alike, which
    hides such small differences further. The tasks are queued, not run (the
    test's transaction never commits): in production a worker sends the
    emails, outside the request's time.

    Interleaved (new, taken, then taken, new, the order flipped each round)
    so drift — a warming cache, a growing table, another process — falls on
    both alike; the first round is a warm-up and not counted.

    The assertion is on the size of the difference (the medians, robust to
    a GC pause or a checkpoint), not on whether the two can be separated:
    the one difference left by design — a row written for a new address, a
    conflict for a taken one, ~0.1 ms on SQLite — is consistent, so on a
    quiet machine a separability statistic finds it however small (CI on
    12-07: medians 7% apart, AUC 0.18). The AUC is printed for the reader:
    0.5 is indistinguishable, 0 or 1 is one always slower. The bound, 25%
    of the faster median, is far below the early-answer path (97% and
    more) and well above the noise of a median of 40 (a few percent).
    """
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "register_ip": "100000/h"}
    for i in range(ROUNDS + 1):
        make_user(email=f"taken{i:03d}@example.com", password=PASSWORD)
    times: dict[str, list[float]] = {"new": [], "taken": []}
    bodies = set()
    for i in range(ROUNDS + 1):
        order = [("new", f"fresh{i:03d}@example.com"), ("taken", f"taken{i:03d}@example.com")]
        for kind, email in order if i % 2 else reversed(order):
            client = make_api()
            started = time.perf_counter()
            response = register(client, email)
            elapsed = time.perf_counter() - started
            assert response.status_code == 201, response.content
            bodies.add(tuple(response.json()))
            if i:
                times[kind].append(elapsed)

    assert bodies == {("email",)}
    score = auc(times["taken"], times["new"])
    new_median, taken_median = statistics.median(times["new"]), statistics.median(times["taken"])
    report = (f"\nregistration timing on {connection.vendor}, {ROUNDS} each (fast test hasher):\n"
              f"  new:   {describe(times['new'])}\n  taken: {describe(times['taken'])}\n"
              f"  AUC P(taken slower than new) = {score:.3f}; medians differ by "
              f"{abs(taken_median - new_median) / min(new_median, taken_median):.1%}")
    print(report)
    assert abs(taken_median - new_median) <= 0.25 * min(new_median, taken_median), report


@pytest.mark.usefixtures("mandatory")
def test_registration_hashes_for_a_taken_address_too(make_api, make_user, monkeypatch):
    """
    The password's hash is the one cost in registration big enough to time
    from across the internet (Argon2, tens of milliseconds): it is computed
    for a taken address just as for a new one, once each.
    """
    make_user(email="taken1@example.com")
    calls = []
    real = FastArgon2PasswordHasher.encode
    monkeypatch.setattr(FastArgon2PasswordHasher, "encode",
                        lambda self, *args, **kwargs: calls.append(1) or real(self, *args, **kwargs))

    register(make_api(), "fresh1@example.com")
    register(make_api(), "taken1@example.com")

    assert len(calls) == 2
