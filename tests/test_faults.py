"""
Faults lose nothing (DESIGN.md, "Production shape, hosts and faults"): with
PostgreSQL or Redis unreachable, a request that needs the missing one answers
503 ``{"detail", "code": "service_unavailable"}`` with ``Retry-After`` — a
path that does not need it keeps answering — never a 500, never a hang,
never a 401 that would sign a client out, never a half-done rotation; and
the service recovers by itself within seconds of their return.

Real faults, not mocks: gunicorn from the shipped venv (``tests/hosts.py``)
reaches the test database and a private redis-server through TCP proxies the
test controls (``tests/faults.py``), and cuts them while a few clients loop
over refresh, me, login, register and an admin page.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from django.db import connection
from django.utils import timezone

from accounts.models import User
from tests import faults, hosts
from tests.celery_worker import database_url
from tokens.models import RefreshToken, Session

pytestmark = [
    *hosts.PRODUCTION_SHAPE,
    pytest.mark.skipif(not faults.redis_server_available(), reason="needs redis-server for a private Redis"),
]

PASSWORD = "a long and unusual passphrase 42"
# An answer slower than this is a hang.
CLIENT_TIMEOUT = 10
# How long after PostgreSQL or Redis is back every endpoint must answer normally again.
RECOVERY_BOUND = 3
# Pause between two requests of one client, so the load does not starve the two cores of a CI runner.
PAUSE = 0.02
# Limits high enough that the load's logins and registrations are never refused as too many.
NO_LIMITS = {"RATELIMIT_LOGIN_EMAIL": "100000/m", "RATELIMIT_LOGIN_EMAIL_IP": "100000/m",
             "RATELIMIT_LOGIN_IP": "100000/m", "RATELIMIT_REGISTER_IP": "100000/h"}


# --- the service behind proxies -------------------------------------------------------------


@dataclass
class Service:
    """Where a host's environment points: the test database and a private Redis, each behind a proxy."""

    database: faults.Proxy
    redis: faults.Proxy
    env: dict[str, str]
    workdir: Path

    def host(self, workers: int = 2, **overrides: str) -> hosts.Host:
        return hosts.Host("web", env={**self.env, **overrides}, workdir=self.workdir, workers=workers)


@pytest.fixture(scope="module")
def static_root(tmp_path_factory):
    """The admin's static files, collected once for the module (production serves them from the manifest)."""
    workdir = tmp_path_factory.mktemp("static")
    env = hosts.production_env(database_url="postgres://unused@127.0.0.1:1/unused", redis_url="redis://127.0.0.1:1/0",
                               workdir=workdir)
    collected = hosts.run_command(["manage.py", "collectstatic", "--noinput"], env=env)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    return env["STATIC_ROOT"]


@pytest.fixture
def service(tmp_path, settings, static_root):
    """
    Production hosts' environment on this test's database and a private Redis,
    each reached through a proxy; one-step logins and no limits in the way.
    """
    db = settings.DATABASES["default"]
    with faults.private_redis(tmp_path / "redis") as redis_port, \
            faults.proxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)) as database, \
            faults.proxy("127.0.0.1", redis_port) as redis_proxy:
        env = hosts.production_env(
            database_url=re.sub(r"@[^/]*/", f"@127.0.0.1:{database.port}/", database_url(settings), count=1),
            redis_url=f"redis://127.0.0.1:{redis_proxy.port}/0", workdir=tmp_path,
            AUTH_2FA="off", STATIC_ROOT=static_root, **NO_LIMITS,
        )
        yield Service(database=database, redis=redis_proxy, env=env, workdir=tmp_path)


# --- clients ----------------------------------------------------------------------------------


class Client:
    """One user of the service, looping over one endpoint; its credentials stay valid throughout."""

    kind: str
    success: int = 200

    def __init__(self, web: hosts.Host) -> None:
        self.web = web

    def send(self) -> requests.Response:
        raise NotImplementedError

    def succeeded(self, response: requests.Response) -> None:
        """Take what a successful answer hands back (a rotated refresh token)."""


class Refresher(Client):
    kind = "refresh"

    def __init__(self, web, tokens: dict) -> None:
        super().__init__(web)
        self.refresh = tokens["refresh"]
        self.access = tokens["access"]

    def send(self):
        return self.web.post("/api/auth/refresh/", {"refresh": self.refresh}, timeout=CLIENT_TIMEOUT)

    def succeeded(self, response):
        self.refresh = response.json()["refresh"]
        self.access = response.json()["access"]


class Reader(Client):
    kind = "me"

    def __init__(self, web, tokens: dict) -> None:
        super().__init__(web)
        self.access = tokens["access"]

    def send(self):
        return self.web.get("/api/auth/me/", headers={"Authorization": f"Bearer {self.access}"},
                            timeout=CLIENT_TIMEOUT)


class LoggerIn(Client):
    kind = "login"

    def __init__(self, web, email: str) -> None:
        super().__init__(web)
        self.email = email

    def send(self):
        return self.web.post("/api/auth/login/", {"email": self.email, "password": PASSWORD, "transport": "body"},
                             timeout=CLIENT_TIMEOUT)


class Registrar(Client):
    kind = "register"
    success = 201

    def send(self):
        email = f"new-{uuid.uuid4().hex}@example.com"
        return self.web.post("/api/auth/register/", {"email": email, "password": PASSWORD}, timeout=CLIENT_TIMEOUT)


class AdminReader(Client):
    """Staff on the admin's sessions list: a page outside DRF that needs the database."""

    kind = "admin"

    def __init__(self, web, cookies: str) -> None:
        super().__init__(web)
        self.cookies = cookies

    def send(self):
        return self.web.get("/admin/tokens/session/", headers={"Cookie": self.cookies}, timeout=CLIENT_TIMEOUT)


def body_login(web: hosts.Host, email: str) -> dict:
    response = web.post("/api/auth/login/", {"email": email, "password": PASSWORD, "transport": "body"})
    assert response.status_code == 200, response.text
    return response.json()


def admin_login(web: hosts.Host, email: str) -> str:
    """Sign staff into the admin as a browser would (HTTPS behind the proxy); the Cookie header to send after."""
    page = web.get("/admin/login/")
    assert page.status_code == 200, page.text[:2000]
    csrf_cookie = page.cookies["csrftoken"]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    signed_in = web.post(
        "/admin/login/?next=/admin/", json=None,
        data={"username": email, "password": PASSWORD, "csrfmiddlewaretoken": token, "next": "/admin/"},
        headers={"Cookie": f"csrftoken={csrf_cookie}", "Referer": f"https://127.0.0.1:{web.port}/admin/login/"},
    )
    assert signed_in.status_code == 302, signed_in.text[:2000]
    return f"csrftoken={csrf_cookie}; sessionid={signed_in.cookies['sessionid']}"


# --- load ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    kind: str
    started: float
    ended: float
    status: int | None  # None: no answer within CLIENT_TIMEOUT, or the connection failed
    body: object
    retry_after: str | None
    success: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == self.success

    @property
    def label(self) -> str:
        if self.status is None:
            return self.error
        code = self.body.get("code") if isinstance(self.body, dict) else None
        return f"{self.status} {code}" if code else str(self.status)


@dataclass
class Load:
    """The clients, each looping in its own thread, and every answer they got, with when."""

    clients: list[Client]
    answers: list[Answer] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(client,), daemon=True) for client in self.clients]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=CLIENT_TIMEOUT + 5)

    def mark(self, name: str) -> None:
        self.marks[name] = time.monotonic()

    def _run(self, client: Client) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            status = body = retry_after = None
            error = ""
            try:
                response = client.send()
            except requests.RequestException as exc:
                error = f"no answer ({type(exc).__name__})"
            else:
                status, retry_after = response.status_code, response.headers.get("Retry-After")
                try:
                    body = response.json()
                except ValueError:
                    body = response.text[:200]
                if status == client.success:
                    client.succeeded(response)
            with self._lock:
                self.answers.append(Answer(client.kind, started, time.monotonic(), status, body, retry_after,
                                           client.success, error))
            time.sleep(PAUSE)

    def started_during(self, start: str, end: str, settle: float = 0.1) -> list[Answer]:
        """
        The answers to requests sent while the fault lasted, from ``settle``
        seconds after mark ``start`` (the fault is made just after the mark)
        until mark ``end``, whenever they were answered.
        """
        return [a for a in self.answers if self.marks[start] + settle <= a.started < self.marks[end]]

    def between(self, start: str, end: str | None = None) -> list[Answer]:
        """The answers to requests sent at or after mark ``start`` and answered before mark ``end``."""
        low, high = self.marks[start], self.marks[end] if end else float("inf")
        return [a for a in self.answers if a.started >= low and a.ended <= high]

    def summary(self, phases: list[tuple[str, str, str | None]]) -> str:
        lines = []
        for title, start, end in phases:
            low, high = self.marks[start], self.marks[end] if end else float("inf")
            answers = [a for a in self.answers if low <= a.started < high]
            for kind in sorted({a.kind for a in self.answers}):
                counts = Counter(a.label for a in answers if a.kind == kind)
                slowest = max((a.ended - a.started for a in answers if a.kind == kind), default=0)
                lines.append(f"{title:>15} {kind:>9}: " + ", ".join(f"{n}×{label}" for label, n in counts.most_common())
                             + f" (slowest {slowest:.1f} s)")
        return "\n".join(lines)

    def recovery(self, restored: str, until: str | None = None) -> float:
        """
        Seconds from mark ``restored`` until the last answer that was not a
        success (0 if none). With ``until``, the mark of the next fault, only
        answers that ended before it count: one still in flight when that
        fault began (its connection reset by the switch) belongs to it.
        """
        low = self.marks[restored]
        failures = [a.ended for a in self.between(restored, until) if not a.ok]
        return max(failures, default=low) - low


# --- what every fault must (not) do --------------------------------------------------------------


def answered_before(answers: list[Answer], mark: float) -> list[Answer]:
    return [a for a in answers if a.ended < mark]


def assert_no_500_no_hang_no_signout(load: Load, report: str) -> None:
    """Every answer came in time and is the client's success or a well-formed 503 — nothing else, ever."""
    for answer in load.answers:
        assert answer.status is not None, f"{answer.kind}: {answer.label} (a hang or a dropped request)\n{report}"
        assert answer.ended - answer.started < CLIENT_TIMEOUT, report
        assert answer.status in (answer.success, 503), (
            f"{answer.kind}: {answer.status} {answer.body!r} for a client whose credentials are valid\n{report}"
        )
        if answer.status == 503:
            assert_unavailable(answer, report)


def assert_unavailable(answer: Answer, report: str) -> None:
    assert answer.status == 503, f"{answer.kind}: {answer.label}\n{report}"
    body = answer.body
    assert isinstance(body, dict) and set(body) == {"detail", "code"}, f"{answer.kind}: {body!r}\n{report}"
    assert body["code"] == "service_unavailable" and isinstance(body["detail"], str) and body["detail"], body
    assert answer.retry_after and answer.retry_after.isdigit() and int(answer.retry_after) > 0, answer


def assert_recovered(load: Load, restored: str, report: str) -> float:
    """Within RECOVERY_BOUND of the restore every client succeeds again, by itself."""
    recovery = load.recovery(restored)
    assert recovery <= RECOVERY_BOUND, f"still failing {recovery:.1f} s after the restore\n{report}"
    late = [a for a in load.answers if a.started >= load.marks[restored] + RECOVERY_BOUND]
    for kind in {client.kind for client in load.clients}:
        assert any(a.ok for a in late if a.kind == kind), f"no {kind} succeeded after the restore\n{report}"
    return recovery


def assert_nothing_half_done() -> None:
    """
    Every used refresh record names its successor, and that successor exists
    in the same session; every session still holds exactly one live refresh
    token and none was revoked (no refresh was mistaken for a replay).
    """
    tokens = {record.jti: record for record in RefreshToken.objects.all()}
    for record in tokens.values():
        if record.used_at is not None:
            successor = tokens.get(record.replaced_by)
            assert successor is not None, f"{record} was used but its successor {record.replaced_by} does not exist"
            assert successor.session_id == record.session_id
    now = timezone.now()
    sessions = Session.objects.all()
    assert not sessions.filter(revoked_at__isnull=False).exists(), list(sessions.values("revoke_reason"))
    for session in sessions:
        live = [r for r in tokens.values() if r.session_id == session.id and r.used_at is None and r.expires_at > now]
        assert len(live) == 1, f"{session} holds {len(live)} live refresh tokens"


def assert_clients_still_signed_in(refreshers: list[Refresher]) -> None:
    for client in refreshers:
        response = client.send()
        assert response.status_code == 200, response.text
        client.succeeded(response)
        me = client.web.get("/api/auth/me/", headers={"Authorization": f"Bearer {client.access}"})
        assert me.status_code == 200, me.text


def assert_quiet_log(web: hosts.Host) -> None:
    """A 503 is one WARNING line: no traceback, nothing at ERROR from Django's request logging."""
    log = web.log()
    assert "Traceback" not in log, web.tail(6000)
    errors = [line for line in log.splitlines() if '"level": "ERROR"' in line or " ERROR " in line]
    assert not errors, "\n".join(errors[:5])


def users(count: int, *, staff: bool = False) -> list[str]:
    emails = [f"faults-{uuid.uuid4().hex[:10]}@example.com" for _ in range(count)]
    for email in emails:
        User.objects.create_user(email=email, password=PASSWORD, is_staff=staff, is_superuser=staff)
    return emails


def clients(web: hosts.Host) -> tuple[list[Client], list[Refresher]]:
    """Two refreshers, two readers, one login, one registration and staff on the admin."""
    refresher_emails, reader_emails, (login_email,), (staff_email,) = users(2), users(2), users(1), users(1, staff=True)
    refreshers = [Refresher(web, body_login(web, email)) for email in refresher_emails]
    readers = [Reader(web, body_login(web, email)) for email in reader_emails]
    return [*refreshers, *readers, LoggerIn(web, login_email), Registrar(web),
            AdminReader(web, admin_login(web, staff_email))], refreshers


def run_fault(load: Load, *, fault, restore, warm_up: float, duration: float) -> None:
    time.sleep(warm_up)
    load.mark("cut")
    fault()
    time.sleep(duration)
    restore()
    load.mark("restored")
    # Two seconds past the bound: a busy machine's slowest client (a login,
    # about a second under load) still starts a request there to be judged by.
    time.sleep(RECOVERY_BOUND + 2)


PHASES = [("before the cut", "start", "cut"), ("during the cut", "cut", "restored"),
          ("after restore", "restored", None)]


# --- the faults ------------------------------------------------------------------------------------


def test_postgres_cut_under_load(service):
    """
    PostgreSQL gone for 6 s under load (every connection reset, new ones
    refused): everything needs the database, so every answer in the cut is a
    503 service_unavailable with Retry-After — refresh, me, login, register
    and the admin alike — never a 500, a hang or a 401; within seconds of
    its return every endpoint answers normally, and no rotation was left half
    done.
    """
    with service.host() as web:
        load_clients, refreshers = clients(web)
        with Load(load_clients) as load:
            load.mark("start")
            run_fault(load, fault=service.database.cut, restore=service.database.restore, warm_up=1.5, duration=6)
        report = load.summary(PHASES) + f"\nrecovery: {load.recovery('restored'):.2f} s"
        print("\n" + report)

        assert all(a.ok for a in load.between("start", "cut")), report
        assert_no_500_no_hang_no_signout(load, report)
        during = load.between("cut", "restored")
        for client in load_clients:
            assert any(a.kind == client.kind for a in during), f"no {client.kind} request during the cut\n{report}"
        for answer in during:
            assert_unavailable(answer, report)
        assert_recovered(load, "restored", report)
        assert_clients_still_signed_in(refreshers)
        assert_quiet_log(web)
    assert_nothing_half_done()


def test_redis_cut_under_load(service):
    """
    Redis gone for 4 s under load: login and register need the rate-limit
    counters, which fail closed (503 service_unavailable with Retry-After);
    refresh, me and the admin do not need Redis and keep answering 200. No
    500, no hang, and all is normal within seconds of its return.
    """
    with service.host() as web:
        load_clients, refreshers = clients(web)
        with Load(load_clients) as load:
            load.mark("start")
            run_fault(load, fault=service.redis.cut, restore=service.redis.restore, warm_up=1, duration=4)
        report = load.summary(PHASES) + f"\nrecovery: {load.recovery('restored'):.2f} s"
        print("\n" + report)

        assert all(a.ok for a in load.between("start", "cut")), report
        assert_no_500_no_hang_no_signout(load, report)
        for answer in load.between("cut", "restored"):
            if answer.kind in ("refresh", "me", "admin"):
                assert answer.ok, f"{answer.kind} needs no Redis but answered {answer.label}\n{report}"
            else:
                assert_unavailable(answer, report)
        assert_recovered(load, "restored", report)
        assert_clients_still_signed_in(refreshers)
        assert_quiet_log(web)
    assert_nothing_half_done()


def test_blackholed_postgres_and_redis_answer_in_seconds(service):
    """
    PostgreSQL, then Redis, take connections but never answer (a dead
    backend behind a TCP load balancer): connecting times out
    (``DATABASE_CONNECT_TIMEOUT``, the cache's socket timeouts), so every
    request still answers within seconds — 503, or 200 for a path that does
    not need the silent one — and none waits for gunicorn to kill its worker.
    """
    # One worker per client: while a connection waits out its timeout it holds
    # its gunicorn worker, and queueing behind it is not what is measured here.
    with service.host(workers=3, DATABASE_CONNECT_TIMEOUT="2") as web:
        (refresh_email,), (read_email,), (login_email,) = users(1), users(1), users(1)
        refresher = Refresher(web, body_login(web, refresh_email))
        load_clients = [refresher, Reader(web, body_login(web, read_email)), LoggerIn(web, login_email)]
        with Load(load_clients) as load:
            load.mark("start")
            time.sleep(1)
            load.mark("db_cut")
            service.database.blackhole()
            time.sleep(4.5)
            service.database.restore()
            load.mark("db_restored")
            # Longer than the bound: a failure later than it, answered before
            # Redis's cut, is still counted by the recovery.
            time.sleep(RECOVERY_BOUND + 1)
            load.mark("redis_cut")
            service.redis.blackhole()
            time.sleep(4)
            service.redis.restore()
            load.mark("redis_restored")
            time.sleep(RECOVERY_BOUND + 1)
        phases = [("before", "start", "db_cut"), ("PG blackhole", "db_cut", "db_restored"),
                  ("PG restored", "db_restored", "redis_cut"), ("Redis blackhole", "redis_cut", "redis_restored"),
                  ("Redis restored", "redis_restored", None)]
        report = load.summary(phases) + (f"\nrecovery: PostgreSQL {load.recovery('db_restored', 'redis_cut'):.2f} s,"
                                         f" Redis {load.recovery('redis_restored'):.2f} s")
        print("\n" + report)

        assert all(a.ok for a in load.between("start", "db_cut")), report
        assert_no_500_no_hang_no_signout(load, report)
        pg_blackhole, redis_blackhole = load.started_during("db_cut", "db_restored"), \
            load.started_during("redis_cut", "redis_restored")
        for client in load_clients:
            assert any(a.kind == client.kind for a in pg_blackhole), f"no {client.kind} request\n{report}"
        # What each answer must be is judged on those answered before the
        # restore: one sent just before it connects after it, and may succeed.
        for answer in answered_before(pg_blackhole, load.marks["db_restored"]):
            assert_unavailable(answer, report)
        for answer in answered_before(redis_blackhole, load.marks["redis_restored"]):
            if answer.kind == "login":
                assert_unavailable(answer, report)
            else:
                assert answer.ok, f"{answer.kind} needs no Redis but answered {answer.label}\n{report}"
        # Connecting gives up after 2 s (the cache's socket timeout is 2 s too): a 503 well before a hang.
        for answer in pg_blackhole + redis_blackhole:
            assert answer.ended - answer.started < 4, f"{answer.kind} took {answer.ended - answer.started:.1f} s"
        assert load.recovery("db_restored", until="redis_cut") <= RECOVERY_BOUND, report
        assert_recovered(load, "redis_restored", report)
        assert_clients_still_signed_in([refresher])
        assert_quiet_log(web)
    assert_nothing_half_done()


def test_queueing_on_a_silent_broker_fails_in_seconds(tmp_path):
    """
    A task published to a Redis that takes the connection but never answers
    raises within seconds (kombu's Redis transport would wait forever), so
    the request that queues an email gets its 503 instead of hanging.
    """
    from kombu.exceptions import OperationalError

    from authsvc.celery import app
    from tests.celery_worker import celery_conf

    with faults.private_redis(tmp_path / "redis") as port, faults.proxy("127.0.0.1", port) as broker, \
            celery_conf(task_always_eager=False):
        broker.blackhole()
        outcome = []

        def publish() -> None:
            with app.connection_for_write(f"redis://127.0.0.1:{broker.port}/0") as silent:
                try:
                    # What task.delay() does, with the app's retry policy and transport options.
                    app.send_task("accounts.tasks.send_two_factor_code", args=[str(uuid.uuid4())], connection=silent)
                except OperationalError as exc:
                    outcome.append(exc)
                else:
                    outcome.append("queued")

        # In a thread, so that a publish that waits forever fails this test instead of hanging it.
        started = time.monotonic()
        publisher = threading.Thread(target=publish, daemon=True)
        publisher.start()
        publisher.join(timeout=CLIENT_TIMEOUT)
        assert not publisher.is_alive(), f"publishing still waits on the silent broker after {CLIENT_TIMEOUT} s"
        assert isinstance(outcome[0], OperationalError), outcome
        assert time.monotonic() - started < 6


def test_database_sockets_carry_the_timeouts():
    """
    On an established connection whose peer vanished without a word (a
    network partition, a host powered off), libpq gives up after
    ``DATABASE_TCP_USER_TIMEOUT`` of unacknowledged data and notices a
    silent peer by keepalives, instead of the kernel's default of about 15
    minutes. A proxy on the loopback cannot drop packets (its kernel
    acknowledges them), so this checks that Django's connection has the
    options on its socket.
    """
    connection.ensure_connection()
    assert connection.settings_dict["OPTIONS"]["connect_timeout"] == 5
    probe = socket.socket(fileno=connection.connection.pgconn.socket)
    try:
        assert probe.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 5000
        assert probe.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert probe.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 10
    finally:
        probe.detach()
