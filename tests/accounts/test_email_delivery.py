"""
The code emails survive workers and mail servers (DESIGN.md, "Production
shape, hosts and faults"): a queued task survives a stopped worker and is
delivered once a worker is back; an email is sent once per code; SMTP
failures are retried with backoff.

The rules are first shown in-process (eager tasks, a real SMTP server from
aiosmtpd), then with real ``celery worker`` processes on Redis and the test's
PostgreSQL database.
"""

import asyncio
import contextlib
import email
import email.policy
import re
import smtplib
import socket
import threading
import time
from pathlib import Path

import pytest
import redis
from aiosmtpd.controller import Controller
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection, connections
from django.utils import timezone
from prometheus_client import REGISTRY

from accounts import emails
from accounts.flows import challenges
from accounts.models import TwoFactorChallenge
from authsvc import celery_app
from tests.accounts.conftest import code_from_outbox
from tests.celery_worker import (
    celery_conf,
    celery_worker,
    database_url,
    kill_worker,
    private_queue,
    queued_tasks,
    unacked_tags,
    worker_settings,
)
from tests.conftest import PASSWORD

TASK = "accounts.tasks.send_two_factor_code"


def real_worker(test):
    """A test with ``celery worker`` processes, which share this test's PostgreSQL database and Redis."""
    for mark in (
        pytest.mark.postgres,
        pytest.mark.django_db(transaction=True),
        pytest.mark.skipif(
            not django_settings.REDIS_URL or connection.vendor != "postgresql",
            reason="needs REDIS_URL and DATABASE_URL=postgres://… (a worker process shares the database)",
        ),
        pytest.mark.usefixtures("through_broker"),
    ):
        test = mark(test)
    return test


pytestmark = pytest.mark.usefixtures("two_factor")


def log_in(api, user):
    response = api.post("/api/auth/login/", {"email": user.email, "password": PASSWORD, "transport": "body"},
                        format="json")
    assert response.status_code == 200, response.content
    return response.json()["challenge"]


def finish(api, challenge: str, code: str):
    return api.post("/api/auth/login/2fa/", {"challenge": challenge, "code": code, "transport": "body"},
                    format="json")


def resend(api, challenge: str):
    response = api.post("/api/auth/login/2fa/resend/", {"challenge": challenge}, format="json")
    assert response.status_code < 300, response.content
    return response


def emails_failed(template: str = "two_factor_code") -> float:
    return REGISTRY.get_sample_value("authsvc_emails_failed_total", {"template": template}) or 0


# --- one email per send asked for ----------------------------------------------------


@pytest.mark.django_db
def test_a_code_email_delivered_twice_is_sent_once(api, user, django_capture_on_commit_callbacks):
    """
    Late acknowledgement redelivers a message whose worker died before
    acknowledging it, and Redis does so for one held past its visibility
    timeout: the second delivery finds the send done and mails no second
    code, so the code already mailed keeps working.
    """
    with django_capture_on_commit_callbacks() as queued:
        challenge = log_in(api, user)
    (deliver,) = queued  # the task message login queued: (challenge id, send id)

    deliver()
    deliver()

    assert len(mail.outbox) == 1
    assert finish(api, challenge, code_from_outbox(0)).status_code == 200


@pytest.mark.django_db
def test_a_resend_supersedes_a_code_email_not_sent_yet(api, user, settings, django_capture_on_commit_callbacks):
    """
    Login's email still queued when the user asks for another: only the
    newest send mails a code, and login's message, delivered before or after
    it, sends nothing (it would otherwise replace the code just mailed).
    """
    settings.TWO_FACTOR_RESEND_COOLDOWN = 0
    with django_capture_on_commit_callbacks() as from_login:
        challenge = log_in(api, user)
    with django_capture_on_commit_callbacks() as from_resend:
        resend(api, challenge)

    from_login[0]()
    assert mail.outbox == []
    from_resend[0]()
    from_login[0]()

    assert len(mail.outbox) == 1
    assert finish(api, challenge, code_from_outbox(0)).status_code == 200


@pytest.mark.django_db
def test_a_redelivered_email_does_not_replace_the_code_a_resend_sent(api, user, settings,
                                                                    django_capture_on_commit_callbacks):
    """
    Login's email is sent, then a resend's; login's message delivered again
    sends nothing: the code the user just received stays the one that works.
    """
    settings.TWO_FACTOR_RESEND_COOLDOWN = 0
    with django_capture_on_commit_callbacks() as from_login:
        challenge = log_in(api, user)
    from_login[0]()
    with django_capture_on_commit_callbacks(execute=True):
        resend(api, challenge)
    first, second = code_from_outbox(0), code_from_outbox(1)

    from_login[0]()

    assert len(mail.outbox) == 2
    assert finish(api, challenge, first).status_code == 401
    assert finish(api, challenge, second).status_code == 200


def _expire(api, challenge):
    TwoFactorChallenge.objects.update(expires_at=timezone.now())


def _consume(api, challenge):
    assert finish(api, challenge, code_from_outbox(0)).status_code == 200


def _lock(api, challenge):
    wrong = f"{(int(code_from_outbox(0)) + 1) % 1000000:06d}"
    for _ in range(TwoFactorChallenge.MAX_ATTEMPTS):
        assert finish(api, challenge, wrong).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("close", [_expire, _consume, _lock], ids=["expired", "consumed", "locked"])
def test_no_code_email_for_a_challenge_that_no_longer_takes_codes(api, user, settings, close,
                                                                  django_capture_on_commit_callbacks):
    """A resend still queued when the challenge expires, logs in or locks: a code could not be used, none is sent."""
    settings.TWO_FACTOR_RESEND_COOLDOWN = 0
    with django_capture_on_commit_callbacks(execute=True):
        challenge = log_in(api, user)
    with django_capture_on_commit_callbacks() as from_resend:
        resend(api, challenge)

    close(api, challenge)
    from_resend[0]()

    assert len(mail.outbox) == 1


# --- SMTP refusing -----------------------------------------------------------------------


class SMTPServer:
    """
    The handler of an aiosmtpd server: refuses the first ``refuse`` messages
    (at RCPT or DATA, counted in ``tries``) with ``reply``, then accepts. ``while_refusing`` runs,
    in a thread, before the refusal is answered; ``hold_first`` keeps the
    first message's reply back until ``release()`` (a server that took the
    message but whose answer never reached the client).
    """

    def __init__(self, *, refuse: int = 0, reply: str = "451 4.3.0 try again later", at: str = "DATA",
                 while_refusing=None, hold_first: bool = False):
        self.refuse, self.reply, self.at = refuse, reply, at
        self.while_refusing, self.hold_first = while_refusing, hold_first
        self.tries = 0
        self.messages: list[email.message.EmailMessage] = []
        self.holding = threading.Event()
        self._released = threading.Event()

    def _refusing(self) -> bool:
        self.tries += 1
        return self.tries <= self.refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.at == "RCPT" and self._refusing():
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.at == "DATA" and self._refusing():
            if self.while_refusing:
                await asyncio.get_running_loop().run_in_executor(None, self.while_refusing)
            return self.reply
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        if self.hold_first and len(self.messages) == 1:
            self.holding.set()
            deadline = time.monotonic() + 30
            while not self._released.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        return "250 2.0.0 OK"

    def release(self) -> None:
        self._released.set()

    def codes_to(self, address: str) -> list[str]:
        return [_code(m.get_body(("plain",)).get_content()) for m in self.messages if m["To"] == address]


def _code(text: str) -> str:
    match = re.search(r"sign-in code is (\d{6})", text)
    assert match, "no code in the email"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    """Start an SMTPServer handler on a free local port: ``start(**options) → (handler, port)``."""
    controllers = []

    def start(**options):
        handler = SMTPServer(**options)
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        controller.start()
        controllers.append(controller)
        return handler, controller.port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp_backend(settings):
    """This process mails through SMTP to ``port``: ``use(port)``."""

    def use(port: int) -> None:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5

    return use


@pytest.fixture
def eager_retries():
    """Eager tasks that retry in-process (at once, without the countdown) instead of raising Retry."""
    with celery_conf(task_eager_propagates=False):
        yield


def task_log(caplog) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "accounts.tasks"]


@pytest.mark.django_db
def test_a_transient_smtp_refusal_is_retried_and_the_code_sent_once(api, user, smtp_server, smtp_backend, capture,
                                                                   eager_retries, caplog):
    """
    "451 try again later" (RFC 5321 §4.2.1: transient, the client should
    retry): the failed try gives its send back, the retry mails the code,
    once. Each failed try is counted and logged with the task and attempt,
    never with the code.
    """
    server, port = smtp_server(refuse=1)
    smtp_backend(port)
    failed_before = emails_failed()

    challenge = capture(log_in, api, user)

    assert server.tries == 2
    (code,) = server.codes_to(user.email)
    assert finish(api, challenge, code).status_code == 200
    assert emails_failed() == failed_before + 1
    ((level, message),) = task_log(caplog)
    assert level == "WARNING"
    assert re.fullmatch(rf"{TASK} failed on attempt 1 of 4: SMTPDataError 451; retrying in [0-5] s", message)
    assert code not in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize("at, reply, failure", [
    ("RCPT", "550 5.1.1 no such mailbox", "SMTPRecipientsRefused [550]"),
    ("DATA", "554 5.7.1 message refused", "SMTPDataError 554"),
])
def test_a_permanent_smtp_refusal_is_not_retried(api, user, smtp_server, smtp_backend, capture, eager_retries,
                                                 caplog, at, reply, failure):
    """
    A 5yz reply is permanent (RFC 5321 §4.2.1: the client "SHOULD NOT repeat
    the exact request"): sending again would be refused again, so the task
    fails at once, for an operator to see.
    """
    server, port = smtp_server(refuse=4, at=at, reply=reply)
    smtp_backend(port)
    failed_before = emails_failed()

    capture(log_in, api, user)

    assert server.tries == 1
    assert server.messages == []
    assert emails_failed() == failed_before + 1
    assert task_log(caplog) == [("ERROR", f"{TASK} failed on attempt 1 of 4: {failure} is permanent, not retried")]


@pytest.mark.django_db
def test_an_unreachable_smtp_server_is_tried_four_times_then_the_task_fails(api, user, smtp_backend, capture,
                                                                           eager_retries, caplog):
    """A refused connection is retried three times; the last failure is an ERROR; the send stays pending."""
    smtp_backend(free_port())  # nothing listens there: the connection is refused
    failed_before = emails_failed()

    capture(log_in, api, user)

    assert emails_failed() == failed_before + 4
    logged = task_log(caplog)
    assert [level for level, _ in logged] == ["WARNING", "WARNING", "WARNING", "ERROR"]
    assert all(f"{TASK} failed on attempt {n} of 4: ConnectionRefusedError" in message
               for n, (_, message) in enumerate(logged, start=1))
    assert logged[-1][1].endswith("; giving up")
    assert TwoFactorChallenge.objects.get().pending_send is not None


@pytest.mark.parametrize("exc, transient", [
    (smtplib.SMTPDataError(451, b"4.3.0 try again later"), True),
    (smtplib.SMTPDataError(554, b"5.7.1 refused"), False),
    (smtplib.SMTPRecipientsRefused({"a@example.com": (450, b"4.2.1 greylisted")}), True),
    (smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"5.1.1 unknown")}), False),
    (smtplib.SMTPSenderRefused(421, b"4.3.2 shutting down", "no-reply@localhost"), True),
    (smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"), False),
    (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), True),
    (ConnectionRefusedError(111, "Connection refused"), True),
    (TimeoutError("timed out"), True),
    (socket.gaierror(-3, "Temporary failure in name resolution"), True),
    (ValueError("not a network failure"), False),
])
def test_which_email_failures_are_worth_retrying(exc, transient):
    assert emails.is_transient_failure(exc) is transient


@pytest.mark.django_db(transaction=True)
def test_a_failed_send_is_not_put_back_once_a_newer_code_was_sent(api, user, settings, smtp_server, smtp_backend,
                                                                 eager_retries):
    """
    While the mail server keeps a resend's email waiting before refusing it,
    the user resends again and that code is mailed. The refused send must
    not become pending again: its retry would mail a third code and kill the
    one the user just received.
    """
    settings.TWO_FACTOR_RESEND_COOLDOWN = 0
    challenge = log_in(api, user)  # mailed through locmem: the SMTP server starts refusing after it

    def resend_meanwhile():
        try:
            challenges.resend_two_factor_code(challenge=challenge)  # its eager task mails through the server
        finally:
            connections.close_all()

    server, port = smtp_server(refuse=1, while_refusing=resend_meanwhile)
    smtp_backend(port)

    resend(api, challenge)  # refused, after the newer resend was sent

    assert server.tries == 2
    (newest,) = server.codes_to(user.email)
    assert finish(api, challenge, newest).status_code == 200


# --- real workers on Redis -------------------------------------------------------------------


@pytest.fixture
def queue(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    with private_queue(settings.REDIS_URL, prefix="authsvc-mail-test") as name:
        yield name


@pytest.fixture
def through_broker(queue):
    """Tasks go to Redis, on this test's own queue, instead of running in this process."""
    with celery_conf(task_always_eager=False, task_default_queue=queue):
        yield


@pytest.fixture
def broker(settings):
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        yield client


@pytest.fixture
def worker(settings, tmp_path, queue):
    """
    ``with worker(*args, env=…, **settings) as (process, log):`` a ``celery
    worker`` on this test's queue and database, with extra command-line
    arguments, environment and settings.
    """
    logs = iter(range(100))

    def start(*args: str, env: dict[str, str] | None = None, **overrides):
        worker_env = {
            "SECRET_KEY": settings.SECRET_KEY,  # the code hash is keyed: same key as this process
            "DATABASE_URL": database_url(settings),
            "REDIS_URL": settings.REDIS_URL,
            **worker_settings(tmp_path, CELERY_TASK_DEFAULT_QUEUE=queue, **overrides),
            **(env or {}),
        }
        log_path = tmp_path / f"worker-{next(logs)}.log"
        return _with_log(celery_worker("-Q", queue, *args, env=worker_env, log_path=log_path), log_path)

    return start


@contextlib.contextmanager
def _with_log(running, log_path: Path):
    with running as process:
        yield process, log_path


def file_outbox(tmp_path: Path) -> dict[str, str]:
    return {"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(tmp_path / "mail")}


def codes_in_files(mail_dir: Path) -> dict[str, list[str]]:
    """Recipient → codes of every email the file backend wrote (one file per connection, ``-`` × 79 between)."""
    found: dict[str, list[str]] = {}
    for path in sorted(mail_dir.glob("*.log")) if mail_dir.exists() else []:
        for raw in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if raw.strip():
                message = email.message_from_bytes(raw, policy=email.policy.default)
                found.setdefault(message["To"], []).append(_code(message.get_body(("plain",)).get_content()))
    return found


def wait_until(condition, log: Path, what: str, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"{what}: not in time; the worker's log:\n" + log.read_text()[-4000:])


def runs_done(log: Path) -> int:
    """How many runs of the code email task the worker finished (whether or not they had a code to send)."""
    return len(re.findall(rf"{TASK}\[[0-9a-f-]+\] succeeded", log.read_text()))


@real_worker
def test_code_emails_queued_while_no_worker_runs_are_sent_once_each_when_one_starts(
    api, make_user, worker, broker, queue, tmp_path,
):
    """
    Logins go on while no worker runs: their code emails wait in Redis, as
    (challenge id, send id) — no code exists before a worker makes it. A
    worker that starts sends each exactly once, and each code logs its user in.
    """
    logins = 3
    users = [make_user() for _ in range(logins)]
    challenges = {user.email: log_in(api, user) for user in users}

    pending = TwoFactorChallenge.objects.values_list("pk", "pending_send")
    assert sorted(queued_tasks(broker, queue)) == sorted((TASK, [str(pk), str(send)]) for pk, send in pending)

    with worker(**file_outbox(tmp_path)) as (_, log):
        wait_until(lambda: runs_done(log) == logins, log, "every queued email sent")

    sent = codes_in_files(tmp_path / "mail")
    assert {address: len(codes) for address, codes in sent.items()} == {user.email: 1 for user in users}
    for address, (code,) in sent.items():
        assert finish(api, challenges[address], code).status_code == 200
    assert broker.llen(queue) == 0


@real_worker
def test_a_killed_worker_s_messages_come_back_and_send_no_second_code(api, make_user, worker, broker, queue,
                                                                      smtp_server):
    """
    A worker is SIGKILLed while the mail server has taken one user's email
    but not yet answered, and while it holds a second user's message it has
    not started. Both messages were never acknowledged: after the visibility
    timeout (1 s here) the next worker gets them back. The second user's
    email is sent; the first user's message sends no second code (the first,
    delivered, keeps working).
    """
    server, port = smtp_server(hold_first=True)
    smtp = {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": port}
    users = [make_user() for _ in range(2)]
    challenges = {user.email: log_in(api, user) for user in users}

    # A pool process runs one task while the main process holds the next
    # message (production takes one per pool process).
    with worker("--pool=prefork", "--concurrency=1", CELERY_WORKER_PREFETCH_MULTIPLIER=2, **smtp) as (first, log):
        wait_until(lambda: server.holding.is_set() and len(unacked_tags(broker, queue)) == 2, log,
                   "one email at the server and both messages taken")
        kill_worker(first)
    server.release()
    assert broker.llen(queue) == 0  # nothing back yet: kombu's default would wait an hour

    with worker(env={"CELERY_VISIBILITY_TIMEOUT": "1"}, **smtp) as (_, log):
        wait_until(lambda: runs_done(log) == 2, log, "both messages delivered again")

    assert {user.email: len(server.codes_to(user.email)) for user in users} == {user.email: 1 for user in users}
    for user in users:
        (code,) = server.codes_to(user.email)
        assert finish(api, challenges[user.email], code).status_code == 200


@real_worker
def test_a_real_worker_retries_a_refused_email_with_backoff(api, user, worker, smtp_server):
    """
    The mail server answers the first try "451 4.3.0 try again later": the
    worker logs the failure and retries after the backoff (EMAIL_RETRY_BACKOFF
    of 1 s here), and the code arrives once.
    """
    server, port = smtp_server(refuse=1)
    smtp = {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": port}

    with worker(env={"EMAIL_RETRY_BACKOFF": "1"}, **smtp) as (_, log):
        challenge = log_in(api, user)
        wait_until(lambda: runs_done(log) == 1, log, "the retry sent the email")

    assert server.tries == 2
    (code,) = server.codes_to(user.email)
    assert finish(api, challenge, code).status_code == 200
    output = log.read_text()
    assert re.search(rf"{TASK} failed on attempt 1 of 4: SMTPDataError 451; retrying in [01] s", output)
    assert re.search(rf"Task {TASK}\[[0-9a-f-]+\] retry: Retry in [01]s", output)
    assert code not in output


def test_the_broker_redelivers_lost_messages_within_a_code_s_life():
    """Messages of a lost worker come back (and are requeued) before the code they would send has expired."""
    assert celery_app.conf.task_acks_late and celery_app.conf.task_reject_on_worker_lost
    assert celery_app.conf.broker_transport_options["visibility_timeout"] < django_settings.TWO_FACTOR_CODE_TTL
