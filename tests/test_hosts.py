"""
Several hosts, one truth (DESIGN.md, "Production shape, hosts and faults"):
two gunicorn instances — separate processes on separate ports, as two
machines behind a load balancer would be — share one PostgreSQL and one
Redis, and every rule holds across them: one successor per refresh token,
a revocation on one host refused on the next request to the other, and rate
limits and second-factor tries counted once for both.
"""

import uuid

import pytest
import requests

from tests import hosts
from tests.concurrency import at_once
from tests.celery_worker import database_url
from tokens.models import RefreshToken

pytestmark = hosts.PRODUCTION_SHAPE

PASSWORD = "a long and unusual passphrase 42"


@pytest.fixture
def two_hosts(tmp_path, settings):
    """Start hosts A and B on one database and one Redis, with the given extra environment."""
    started: list[hosts.Host] = []
    base = hosts.production_env(database_url=database_url(settings), redis_url=settings.REDIS_URL, workdir=tmp_path)

    def start(**env: str) -> tuple[hosts.Host, hosts.Host]:
        shared = {**base, **env}
        for name in ("host-a", "host-b"):
            started.append(hosts.Host(name, env=shared, workdir=tmp_path).start())
        return started[-2], started[-1]

    yield start
    for host in started:
        host.stop()
    import redis

    with redis.Redis.from_url(settings.REDIS_URL) as client:
        client.delete(base["CELERY_QUEUE"], f"_kombu.binding.{base['CELERY_QUEUE']}")


def register_and_login(host: hosts.Host) -> tuple[str, dict]:
    email = f"hosts-{uuid.uuid4().hex[:8]}@example.com"
    assert host.post("/api/auth/register/", {"email": email, "password": PASSWORD}).status_code == 201
    response = host.post("/api/auth/login/", {"email": email, "password": PASSWORD, "transport": "body"})
    assert response.status_code == 200, response.text
    return email, response.json()


def exchange_in_parallel(refresh: str, both: tuple[hosts.Host, hosts.Host], count: int = 20) -> list:
    """``count`` exchanges of one refresh token released at once, alternating between the hosts."""
    def exchange(i: int) -> requests.Response:
        with requests.Session() as session:
            return both[i % 2].post("/api/auth/refresh/", {"refresh": refresh}, session=session, timeout=30)

    return at_once(count, exchange)


def test_concurrent_exchanges_across_hosts_give_one_successor_shared_in_the_grace_window(two_hosts):
    """Two tabs on two hosts: every exchange inside the grace window gets the same successor, stored once."""
    a, b = two_hosts(AUTH_2FA="off", REFRESH_REUSE_GRACE="10")
    _, tokens = register_and_login(a)

    results = exchange_in_parallel(tokens["refresh"], (a, b))

    assert [r.status_code for r in results] == [200] * 20, [r.text for r in results if r.status_code != 200]
    assert len({r.json()["refresh"] for r in results}) == 1
    assert RefreshToken.objects.filter(session_id=tokens["session_id"]).count() == 2


def test_concurrent_exchanges_across_hosts_without_grace_let_exactly_one_win(two_hosts):
    """With REFRESH_REUSE_GRACE=0 the conditional UPDATE decides across hosts: one 200, every other a 401."""
    a, b = two_hosts(AUTH_2FA="off", REFRESH_REUSE_GRACE="0")
    _, tokens = register_and_login(a)

    results = exchange_in_parallel(tokens["refresh"], (a, b))

    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] + [401] * 19, [r.text for r in results]
    served_by = {i % 2 for i, r in enumerate(results) if r.status_code == 401}
    assert served_by == {0, 1}, "both hosts refused some exchanges"
    assert RefreshToken.objects.filter(session_id=tokens["session_id"]).count() == 2


def test_a_session_revoked_on_one_host_is_refused_by_the_other_on_the_next_request(two_hosts):
    a, b = two_hosts(AUTH_2FA="off")
    _, tokens = register_and_login(a)
    access = {"Authorization": f"Bearer {tokens['access']}"}
    assert b.get("/api/auth/me/", headers=access).status_code == 200

    assert a.request("DELETE", f"/api/auth/sessions/{tokens['session_id']}/", headers=access).status_code == 204

    refused = b.get("/api/auth/me/", headers=access)
    assert refused.status_code == 401 and refused.json()["code"] == "token_invalid"
    refresh = b.post("/api/auth/refresh/", {"refresh": tokens["refresh"]})
    assert refresh.status_code == 401 and refresh.json()["code"] == "token_revoked"


def test_login_rate_limit_counts_tries_on_both_hosts(two_hosts):
    """Five logins a minute for one email, split over two hosts: the sixth is refused, right password or not."""
    a, b = two_hosts(AUTH_2FA="off", RATELIMIT_LOGIN_EMAIL="5/m")
    email, _ = register_and_login(a)  # the first of the five
    wrong = {"email": email, "password": "not the password", "transport": "body"}

    answers = [host.post("/api/auth/login/", wrong).status_code for host in (a, b, a, b)]
    assert answers == [401, 401, 401, 401]

    limited = b.post("/api/auth/login/", {**wrong, "password": PASSWORD})
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1


def test_second_factor_tries_add_up_across_hosts(two_hosts):
    """Five wrong codes, alternating hosts, lock the challenge for both: no host grants a sixth try."""
    a, b = two_hosts(AUTH_2FA="required")
    email = f"hosts-{uuid.uuid4().hex[:8]}@example.com"
    assert a.post("/api/auth/register/", {"email": email, "password": PASSWORD}).status_code == 201
    pending = a.post("/api/auth/login/", {"email": email, "password": PASSWORD, "transport": "body"})
    assert pending.status_code == 200 and pending.json()["two_factor_required"] is True
    attempt = {"challenge": pending.json()["challenge"], "code": "000000", "transport": "body"}

    codes = [host.post("/api/auth/login/2fa/", attempt).json()["code"] for host in (a, b, a, b, a)]
    assert codes == ["invalid_code"] * 5

    locked = b.post("/api/auth/login/2fa/", attempt)
    assert locked.status_code == 401 and locked.json()["code"] == "challenge_locked"
