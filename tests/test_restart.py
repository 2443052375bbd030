"""
A PostgreSQL restart costs at most one 503 per gunicorn worker, never a 500
and never a 401 (DESIGN.md, "Production shape, hosts and faults").

Each worker keeps one persistent connection (``CONN_MAX_AGE``). The hot
paths, GET /api/auth/me/ and POST /api/auth/refresh/, reach PostgreSQL
through ``tokens/store.py`` without Django's health check
(``CONN_HEALTH_CHECKS``), which would cost them a round trip each. After a
restart that connection is stale: the first statement on it fails with
``OperationalError``, the exception handler answers 503 service_unavailable
with Retry-After, and Django closes the broken connection when that request
ends, so the worker's next request connects again. Every other query goes
through the ORM's cursor, whose health check reconnects without a word: a
login never sees the restart.

So, per worker: at most its first request after the restart is a 503, and
every later one succeeds; a refresh answered 503 did nothing, so the client
retries the same refresh token and gets its new pair.

A real restart, without touching the shared server: the host reaches
PostgreSQL through a proxy (``tests/faults.py``) that resets every open
connection and at once accepts new ones, and the server ends the backends it
served — as a restart does, with no request in between. gunicorn's access
log names the worker (its pid) that served each request, found by the
request id the test sends; ``pg_stat_activity`` counts the host's
connections by the ``application_name`` its database URL gives them.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from django.db import connection

from tests import faults, hosts
from tests.celery_worker import database_url
from tests.test_faults import (
    NO_LIMITS,
    PASSWORD,
    Answer,
    assert_nothing_half_done,
    assert_quiet_log,
    assert_unavailable,
    body_login,
    users,
)

pytestmark = hosts.PRODUCTION_SHAPE

# Workers, so persistent connections: the most 503s a restart may cost.
WORKERS = 3
# An answer slower than this is a hang.
CLIENT_TIMEOUT = 10
# After the restart, requests go on until every worker has served this many of each kind of the step — its
# first meets the stale connection, the next ones show it connected again; MAX_REQUESTS fails the test
# rather than loop on if the kernel never hands a worker one.
PER_WORKER = 2
MAX_REQUESTS = 150
# One access log line per request: the worker's pid, the request id the test sent, the status.
ACCESS_LOG = "--access-logfile - --access-logformat 'served %(p)s %({x-request-id}i)s %(s)s'"
SERVED = re.compile(r"^served <(\d+)> (\S+) (\d{3})$", re.MULTILINE)


# --- the host, its database behind a proxy -----------------------------------------------------------------


@dataclass
class Service:
    web: hosts.Host
    database: faults.Proxy
    application_name: str


@pytest.fixture
def service(tmp_path, settings):
    """
    One production host with WORKERS sync workers, its database reached
    through a proxy and its connections named; the machine's Redis (never
    cut here) under a key prefix of the host's own; no limits in the way.
    """
    db = settings.DATABASES["default"]
    application_name = f"authsvc-restart-{uuid.uuid4().hex[:8]}"
    with faults.proxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)) as database:
        proxied = re.sub(r"@[^/]*/", f"@127.0.0.1:{database.port}/", database_url(settings), count=1)
        env = hosts.production_env(
            database_url=f"{proxied}?application_name={application_name}", redis_url=settings.REDIS_URL,
            workdir=tmp_path, AUTH_2FA="off", GUNICORN_CMD_ARGS=ACCESS_LOG,
            # Signing keys read once per worker, at warm-up: no ORM query (and so no
            # health check) inside GET /me on the way, only the store's statement.
            JWT_KEYRING_MAX_AGE="3600", **NO_LIMITS,
        )
        with hosts.Host("web", env=env, workdir=tmp_path, workers=WORKERS) as web:
            yield Service(web=web, database=database, application_name=application_name)


def backends(application_name: str) -> set[int]:
    """The server processes of the host's connections, as PostgreSQL lists them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [application_name])
        return {pid for (pid,) in cursor.fetchall()}


# --- requests, and the worker that served each ---------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    request_id: str
    worker: str
    answer: Answer


class Probe:
    """Requests to the host, each with a request id of its own, and which worker served it."""

    def __init__(self, web: hosts.Host) -> None:
        self.web = web
        self._ids = itertools.count()
        self._workers: dict[str, str] = {}

    def send(self, kind: str, method: str, path: str, *, headers=None, **kwargs) -> tuple[str, Answer]:
        request_id = f"restart-{next(self._ids)}"
        started = time.monotonic()
        try:
            response = self.web.request(method, path, headers={"X-Request-ID": request_id, **(headers or {})},
                                        timeout=CLIENT_TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise AssertionError(f"{kind}: no answer ({type(exc).__name__})\n{self.web.tail()}") from exc
        try:
            body = response.json()
        except ValueError:
            body = response.text[:200]
        return request_id, Answer(kind, started, time.monotonic(), response.status_code, body,
                                  response.headers.get("Retry-After"), 200)

    def worker_of(self, request_id: str, timeout: float = 5) -> str:
        """The pid of the worker that served ``request_id`` (gunicorn logs it just after the answer)."""
        deadline = time.monotonic() + timeout
        while request_id not in self._workers:
            self._workers.update((rid, pid) for pid, rid, _ in SERVED.findall(self.web.log()))
            if request_id in self._workers:
                break
            assert time.monotonic() < deadline, f"{request_id} is not in the access log\n{self.web.tail()}"
            time.sleep(0.02)
        return self._workers[request_id]


class Users:
    """The clients: readers of /me, refresh chains and one account that logs in, all signed in before the restart."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        web = probe.web
        self.readers = [body_login(web, email)["access"] for email in users(1)]
        self.chains = [body_login(web, email) for email in users(2)]
        (self.login_email,) = users(1)
        self._reads, self._refreshes = itertools.count(), itertools.count()
        # Refresh tokens a 503 answered, until the same token is exchanged (200).
        self.unanswered: set[str] = set()

    def me(self) -> tuple[str, Answer, str | None]:
        access = self.readers[next(self._reads) % len(self.readers)]
        request_id, answer = self.probe.send("me", "GET", "/api/auth/me/",
                                             headers={"Authorization": f"Bearer {access}"})
        return request_id, answer, None

    def refresh(self) -> tuple[str, Answer, str | None]:
        """The next chain's refresh; a 503 leaves the chain on the same token, to be sent again."""
        chain = self.chains[next(self._refreshes) % len(self.chains)]
        sent = chain["refresh"]
        request_id, answer = self.probe.send("refresh", "POST", "/api/auth/refresh/", json={"refresh": sent})
        if answer.ok:
            chain.update(answer.body)
            self.unanswered.discard(sent)
        elif answer.status == 503:
            self.unanswered.add(sent)
        return request_id, answer, sent

    def login(self) -> tuple[str, Answer, str | None]:
        request_id, answer = self.probe.send("login", "POST", "/api/auth/login/",
                                             json={"email": self.login_email, "password": PASSWORD,
                                                   "transport": "body"})
        return request_id, answer, None


def warm(service: Service, users_: Users) -> set[str]:
    """
    Bursts of concurrent /me until every worker has served one and holds its
    persistent connection; the workers' pids.
    """
    probe, deadline, workers = users_.probe, time.monotonic() + 30, set()
    with ThreadPoolExecutor(WORKERS) as pool:
        while time.monotonic() < deadline:
            for request_id, answer, _ in pool.map(lambda _: users_.me(), range(2 * WORKERS)):
                assert answer.ok, f"before the restart: {answer.label}\n{service.web.tail()}"
                workers.add(probe.worker_of(request_id))
            if len(workers) == WORKERS and len(backends(service.application_name)) == WORKERS:
                return workers
    raise AssertionError(f"warm-up: {len(workers)} workers served, "
                         f"{len(backends(service.application_name))} connections held, of {WORKERS}")


def restart(service: Service) -> None:
    """
    Every connection to PostgreSQL reset and new ones accepted at once, with
    no request in between; returns once the server has ended every backend
    the host held, as after a restart.
    """
    before = backends(service.application_name)
    assert len(before) == WORKERS, before
    service.database.cut()
    service.database.restore()
    deadline = time.monotonic() + 5
    while backends(service.application_name) & before:
        assert time.monotonic() < deadline, "the server still serves the connections the proxy reset"
        time.sleep(0.05)


def until_every_worker_served(users_: Users, kinds: tuple[str, ...], workers: set[str]) -> list[Served]:
    """
    Requests one after another, taking turns over ``kinds``, until every
    worker has served PER_WORKER of each kind.
    """
    senders: list[Callable[[], tuple[str, Answer, str | None]]] = [getattr(users_, kind) for kind in kinds]
    served: list[Served] = []
    seen: dict[str, Counter] = {kind: Counter() for kind in kinds}
    for turn in range(MAX_REQUESTS):
        request_id, answer, _ = senders[turn % len(senders)]()
        worker = users_.probe.worker_of(request_id)
        assert worker in workers, f"{request_id} served by {worker}, not one of {workers} (a worker restarted?)"
        served.append(Served(request_id, worker, answer))
        seen[answer.kind][worker] += 1
        if all(counts[pid] >= PER_WORKER for counts in seen.values() for pid in workers):
            return served
    raise AssertionError(f"{MAX_REQUESTS} requests, yet not every worker served each of {kinds}: {seen}\n"
                         + report(served))


def report(served: list[Served]) -> str:
    by_worker = defaultdict(list)
    for item in served:
        by_worker[item.worker].append(f"{item.answer.kind} {item.answer.label}")
    unavailable = Counter(item.answer.kind for item in served if item.answer.status == 503)
    lines = [f"worker {pid}: " + ", ".join(answers) for pid, answers in sorted(by_worker.items())]
    return "\n".join([*lines, f"503s by path: {dict(unavailable)} of {len(served)} requests"])


def assert_one_warning_per_503(web: hosts.Host, served: list[Served]) -> None:
    """Each 503 is one WARNING line naming its request (authsvc/exceptions.py), none for anything else."""
    records = [json.loads(line) for line in web.log().splitlines() if line.startswith("{")]
    logged = Counter(record.get("request_id") for record in records if record.get("status_code") == 503)
    assert all(record["level"] == "WARNING" for record in records if record.get("status_code") == 503), records
    assert logged == Counter(item.request_id for item in served if item.answer.status == 503), logged


# --- the rule ------------------------------------------------------------------------------------------------


def assert_at_most_first_request_per_worker_unavailable(served: list[Served], text: str) -> None:
    """
    Every answer is the client's success or a well-formed 503 — never a 500,
    never a 401 that would sign the client out — and a 503 only as a
    worker's first request after the restart: that request met the stale
    connection, and every later one finds the worker connected again.
    """
    firsts = set()
    for item in served:
        answer = item.answer
        first = item.worker not in firsts
        firsts.add(item.worker)
        assert answer.status in (answer.success, 503), f"{answer.kind}: {answer.label} {answer.body!r}\n{text}"
        if answer.status == 503:
            assert_unavailable(answer, text)
            assert first, f"a second 503 from worker {item.worker}: it did not reconnect\n{text}"


@pytest.mark.parametrize("steps, health_checked", [
    pytest.param([("me",)], False, id="me"),
    pytest.param([("refresh",)], False, id="refresh"),
    pytest.param([("me", "refresh")], False, id="me-and-refresh"),
    # A login's queries go through the ORM's cursor, whose health check
    # reconnects: no 503 — and the hot paths that follow on each worker find
    # that fresh connection.
    pytest.param([("login",), ("me", "refresh")], True, id="login-then-me-and-refresh"),
])
def test_postgres_restart_costs_at_most_one_503_per_worker(service, steps, health_checked):
    """
    After a PostgreSQL restart, each worker answers at most its first request
    with a 503 service_unavailable (Retry-After) and then serves every request
    again: never a 500, never a 401; paths with the health check see no 503;
    a refresh token answered 503 is exchanged on its retry, nothing half done;
    one WARNING line per 503 in the log, no traceback, no ERROR.
    """
    probe = Probe(service.web)
    clients = Users(probe)
    workers = warm(service, clients)
    before = backends(service.application_name)

    restart(service)
    served = [item for kinds in steps for item in until_every_worker_served(clients, kinds, workers)]
    text = report(served)
    print(f"\n{text}")

    assert_at_most_first_request_per_worker_unavailable(served, text)
    if health_checked:
        assert not [item for item in served if item.answer.status == 503], text
    # Each chain's next refresh sends the token a 503 may have left it on: every worker is connected again.
    for _ in clients.chains:
        _, answer, sent = clients.refresh()
        assert answer.ok, f"refresh of {sent}: {answer.label}\n{text}"
    assert not clients.unanswered, f"refresh tokens answered 503 and never exchanged: {clients.unanswered}\n{text}"
    for chain in clients.chains:
        _, answer = probe.send("me", "GET", "/api/auth/me/", headers={"Authorization": f"Bearer {chain['access']}"})
        assert answer.ok, answer.label
    # The host reconnected: none of its connections is one from before the restart, one at most per worker.
    after = backends(service.application_name)
    assert not after & before and 0 < len(after) <= WORKERS, (before, after)
    assert_quiet_log(service.web)
    assert_one_warning_per_503(service.web, served)
    assert_nothing_half_done()
