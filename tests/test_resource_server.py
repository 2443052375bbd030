"""
The example resource server (``examples/resource_server/``, issue 17 point 7):
an API that verifies authsvc's access tokens locally, with the published
JWKS, and learns of ended sessions from the revocation feed (DESIGN.md,
Part 2, "Keys other services can verify").

authsvc runs as production runs it (gunicorn from the shipped venv, one
PostgreSQL, one Redis), and so does the example: gunicorn from the same venv,
two workers, each with its own key cache and feed thread. Both talk plain
HTTP on the loopback, as services inside one network do behind the
TLS-ending proxy, so authsvc's HTTPS redirect is off here.
"""

import base64
import json
import secrets
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests import hosts
from tests.celery_worker import database_url

pytestmark = hosts.PRODUCTION_SHAPE

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "resource_server"
PASSWORD = "a long and unusual passphrase 42"
# The feed tells every worker within FEED_INTERVAL (0.5 s); the contract is one second.
REFUSAL_DEADLINE = 1.0
# Consecutive refusals that count as "refused": with two workers, each polling
# on its own, a single 401 could come from the one that has heard first. The
# streak must start within the deadline; its last requests may end just after.
REFUSAL_STREAK = 6


class ResourceServer(hosts.Process):
    """``gunicorn app:application`` in ``examples/resource_server``, from the shipped venv."""

    def __init__(self, *, env: dict[str, str], workdir: Path, workers: int = 2) -> None:
        self.port = hosts.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["-m", "gunicorn", "--chdir", str(EXAMPLE), "app:application", "--bind", f"127.0.0.1:{self.port}",
                "--workers", str(workers), "--timeout", "30", "--graceful-timeout", "5"]
        super().__init__("resource-server", args, env=env, workdir=workdir)

    def start(self) -> "ResourceServer":
        super().start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"the resource server exited with {self.popen.returncode}\n{self.tail()}")
            try:
                # Healthy once the feed has answered; a few times over, to reach both workers.
                if all(self.get("/healthz").status_code == 200 for _ in range(4)):
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the resource server did not become healthy within 60 s\n{self.tail()}")

    def get(self, path: str, token: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(self.url + path, headers=headers, timeout=5)


@pytest.fixture
def servers(tmp_path, settings):
    """authsvc (one gunicorn host, a feed client configured) and the example resource server in front of it."""
    client = f"orders:{secrets.token_urlsafe(24)}"
    env = hosts.production_env(database_url=database_url(settings), redis_url=settings.REDIS_URL,
                               workdir=tmp_path, AUTH_2FA="off", INTROSPECTION_CLIENTS=client,
                               SECURE_SSL_REDIRECT="0")
    started: list[hosts.Process] = []
    try:
        authsvc = hosts.Host("authsvc", env=env, workdir=tmp_path).start()
        started.append(authsvc)
        basic = "Basic " + base64.b64encode(client.encode()).decode()
        if authsvc.get("/api/auth/revocations/", headers={"Authorization": basic}).status_code == 404:
            pytest.skip("the revocation feed is not built yet (GET /api/auth/revocations/ is 404)")
        example = ResourceServer(env={
            "PATH": env["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
            "AUTHSVC_URL": authsvc.url, "FEED_CLIENT": client, "AUDIENCE": "authsvc", "ISSUER": "authsvc",
        }, workdir=tmp_path)
        started.append(example)
        example.start()
        yield authsvc, example
    finally:
        for process in reversed(started):
            process.stop()
        import redis

        with redis.Redis.from_url(settings.REDIS_URL) as broker:
            broker.delete(env["CELERY_QUEUE"], f"_kombu.binding.{env['CELERY_QUEUE']}")


def login(authsvc: hosts.Host) -> dict:
    email = f"orders-{uuid.uuid4().hex[:8]}@example.com"
    registered = authsvc.post("/api/auth/register/", {"email": email, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    answer = authsvc.post("/api/auth/login/", {"email": email, "password": PASSWORD, "transport": "body"})
    assert answer.status_code == 200, answer.text
    return {**answer.json(), "user_id": registered.json()["id"]}


def test_a_session_revoked_at_authsvc_is_refused_by_the_resource_server_within_a_second(servers):
    """
    The resource server serves a valid access token without asking authsvc,
    and refuses it — every worker of it — within a second of the session's
    revocation at authsvc, well before the token's own expiry.
    """
    authsvc, example = servers
    tokens = login(authsvc)
    served = example.get("/orders", tokens["access"])
    assert served.status_code == 200, served.text
    assert served.json() == {"user_id": tokens["user_id"], "orders": []}

    revoked = authsvc.request("DELETE", f"/api/auth/sessions/{tokens['session_id']}/",
                              headers={"Authorization": f"Bearer {tokens['access']}"})
    assert revoked.status_code == 204, revoked.text
    revoked_at = time.monotonic()

    streak, streak_started, answer = 0, None, None
    while streak < REFUSAL_STREAK and (streak or time.monotonic() - revoked_at < REFUSAL_DEADLINE):
        sent = time.monotonic()
        answer = example.get("/orders", tokens["access"])
        if answer.status_code == 401:
            streak_started = streak_started if streak else sent
            streak += 1
        else:
            assert answer.status_code == 200, answer.text
            streak = 0
            time.sleep(0.02)
    assert streak == REFUSAL_STREAK, (f"still served {REFUSAL_DEADLINE} s after the revocation\n"
                                      f"{authsvc.tail()}\n{example.tail()}")
    delay = streak_started - revoked_at
    print(f"\nresource server refused the revoked session {delay * 1000:.0f} ms after the revocation's 204")
    assert delay < REFUSAL_DEADLINE
    assert answer.json() == {"detail": "The session of this token has ended.", "code": "token_revoked"}
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_the_resource_server_refuses_what_is_not_a_valid_access_token(servers):
    """No token, a refresh token, a token whose signature or claims were changed: 401, never served."""
    authsvc, example = servers
    tokens = login(authsvc)
    head, payload, signature = tokens["access"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "user_id": 1}).encode()).rstrip(b"=").decode()
    unsigned = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()

    missing = example.get("/orders")
    assert missing.status_code == 401
    assert missing.json() == {"detail": "No access token.", "code": "not_authenticated"}
    invalid = {"detail": "The access token is not valid.", "code": "token_invalid"}
    for token, body in ((tokens["refresh"], {"detail": "Not an access token.", "code": "token_invalid"}),
                        (f"{head}.{forged}.{signature}", invalid), (f"{unsigned}.{payload}.", invalid),
                        ("garbage", invalid)):
        refused = example.get("/orders", token)
        assert (refused.status_code, refused.json()) == (401, body), token
        assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert example.get("/orders", tokens["access"]).status_code == 200


def test_the_resource_server_fails_closed_when_the_feed_falls_silent(servers):
    """
    With authsvc unreachable, the resource server cannot learn of revocations:
    past FEED_MAX_STALENESS (5 s) it refuses even a valid token with 503 and
    Retry-After, never a 200 that could serve a revoked session.
    """
    authsvc, example = servers
    tokens = login(authsvc)
    assert example.get("/orders", tokens["access"]).status_code == 200

    authsvc.stop()
    deadline, answer = time.monotonic() + 15, None
    while time.monotonic() < deadline:
        answer = example.get("/orders", tokens["access"])
        if answer.status_code == 503 and answer.json()["code"] == "revocations_unknown":
            break
        # A worker that never fetched the keys cannot fetch them now: refused too, never served.
        assert answer.status_code == 200 or answer.json()["code"] == "keys_unavailable", answer.text
        time.sleep(0.2)

    assert answer.status_code == 503, answer.text
    assert answer.json() == {"detail": "Revoked sessions cannot be told apart right now.",
                             "code": "revocations_unknown"}
    assert answer.headers["Retry-After"] == "1"
    # Each worker's feed fell silent at its own last poll, up to FEED_INTERVAL apart: both out within a second.
    time.sleep(1)
    assert [example.get("/healthz").status_code for _ in range(4)] == [503] * 4
