"""
The example resource server (``examples/resource_server/``, issue 17 point 7):
an API that verifies authsvc's access tokens locally, with the published
JWKS, and learns of ended sessions from the revocation feed (DESIGN.md,
Part 2, "Keys other services can verify").

authsvc runs as production runs it (gunicorn from the shipped venv, one
PostgreSQL, one Redis), and the example as its README runs it: granian's WSGI
server (from requirements-dev.txt, so from this venv), two workers, each with
its own key cache, verified-token cache and feed thread. Both talk plain
HTTP on the loopback, as services inside one network do behind the
TLS-ending proxy, so authsvc's HTTPS redirect is off here.

The rules of the verified-token cache are also tested on the example's own
``Verifier``, against a key set served here and a feed and a clock of the
test's: these need neither PostgreSQL nor Redis.
"""

import base64
import importlib.util
import json
import secrets
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from tests import hosts
from tests.celery_worker import database_url

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "resource_server"


def _load_example():
    """``examples/resource_server/app.py`` as a module; importing it starts nothing (its app is built on use)."""
    spec = importlib.util.spec_from_file_location("resource_server_app", EXAMPLE / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


resource_app = _load_example()


def production_shape(test):
    """hosts.PRODUCTION_SHAPE on one test: the processes need PostgreSQL and Redis, or the test is skipped."""
    for mark in hosts.PRODUCTION_SHAPE:
        test = mark(test)
    return test

PASSWORD = "a long and unusual passphrase 42"
# The feed tells every worker within FEED_INTERVAL (0.5 s); the contract is one second.
REFUSAL_DEADLINE = 1.0
# Consecutive refusals that count as "refused": with two workers, each polling
# on its own, a single 401 could come from the one that has heard first. The
# streak must start within the deadline; its last requests may end just after.
REFUSAL_STREAK = 6


class ResourceServer(hosts.Process):
    """``granian --interface wsgi … app:application`` in ``examples/resource_server``, as its README runs it."""

    def __init__(self, *, env: dict[str, str], workdir: Path, workers: int = 2) -> None:
        self.port = hosts.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["-m", "granian", "--interface", "wsgi", "--workers", str(workers), "--working-dir", str(EXAMPLE),
                "--host", "127.0.0.1", "--port", str(self.port), "--workers-kill-timeout", "5", "app:application"]
        super().__init__("resource-server", args, env=env, workdir=workdir)

    def start(self) -> "ResourceServer":
        # granian is the example's server, not authsvc's: it is in requirements-dev.txt, so it
        # runs from this venv (the example itself needs only PyJWT and cryptography, which both have).
        self._log = open(self.log_path, "ab")
        self.popen = subprocess.Popen([sys.executable, *self.args], cwd=hosts.ROOT, env=self.env, stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
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


@production_shape
def test_a_session_revoked_at_authsvc_is_refused_by_the_resource_server_within_a_second(servers):
    """
    The resource server serves a valid access token without asking authsvc,
    and refuses it — every worker of it — within a second of the session's
    revocation at authsvc, well before the token's own expiry, though each
    worker verified the token before and keeps it as verified.
    """
    authsvc, example = servers
    tokens = login(authsvc)
    # Several requests, on connections of their own, so that both workers verify and keep the
    # token before the revocation (test_a_kept_token_… below proves the refusal of a kept one).
    for _ in range(8):
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


@production_shape
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


@production_shape
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


@production_shape
def test_a_kept_token_whose_session_is_revoked_is_refused_within_a_second(servers):
    """
    The example's Verifier, with its real feed from the running authsvc: a
    token it verified and keeps is refused within a second of its session's
    revocation, without being verified again.
    """
    authsvc, example = servers
    config = resource_app.Config(authsvc_url=authsvc.url, feed_client=example.env["FEED_CLIENT"])
    feed = resource_app.RevocationFeed(config)
    feed.start()
    try:
        verifier = resource_app.Verifier(config, feed)
        tokens = login(authsvc)
        deadline = time.monotonic() + 10
        while not feed.in_sync():
            assert time.monotonic() < deadline, "the feed did not answer within 10 s"
            time.sleep(0.05)
        assert verifier.claims(tokens["access"])["user_id"] == tokens["user_id"]
        assert len(verifier.verified) == 1

        revoked = authsvc.request("DELETE", f"/api/auth/sessions/{tokens['session_id']}/",
                                  headers={"Authorization": f"Bearer {tokens['access']}"})
        assert revoked.status_code == 204, revoked.text
        revoked_at = time.monotonic()
        while True:
            try:
                verifier.claims(tokens["access"])
            except resource_app.Refused as refused:
                assert (refused.status, refused.code) == (401, "token_revoked")
                break
            assert time.monotonic() - revoked_at < REFUSAL_DEADLINE, "a kept token was still served"
            time.sleep(0.01)
        assert verifier.verified.get(tokens["access"]) is not None  # refused from the cache, not verified again
    finally:
        feed.stop()


# --- the verified-token cache, on its own -------------------------------------------------------------


class KeySet:
    """ES256 keys, published as authsvc publishes them (/.well-known/jwks.json) by a server of the test's."""

    def __init__(self) -> None:
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.published: list[str] = []
        keys = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"keys": [keys.jwk(kid) for kid in keys.published]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, kid: str) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())
        self.published.append(kid)

    def jwk(self, kid: str) -> dict:
        public = jwt.algorithms.ECAlgorithm.to_jwk(self.keys[kid].public_key(), as_dict=True)
        return {**public, "kid": kid, "alg": "ES256", "use": "sig"}

    def sign(self, kid: str, **claims) -> str:
        now = int(time.time())
        payload = {"iss": "authsvc", "aud": "authsvc", "iat": now, "exp": now + 900, "sid": "session-1",
                   "user_id": 7, "token_type": "access", **claims}
        return jwt.encode(payload, self.keys[kid], algorithm="ES256", headers={"kid": kid})


class Feed:
    """The revocation feed as the Verifier sees it: in sync or not, and the revoked sessions."""

    def __init__(self) -> None:
        self.synced = True
        self.revoked: set[str] = set()

    def in_sync(self) -> bool:
        return self.synced

    def is_revoked(self, sid: str) -> bool:
        return sid in self.revoked


@pytest.fixture
def keyset():
    keys = KeySet()
    keys.add("key-1")
    yield keys
    keys.server.shutdown()
    keys.server.server_close()


def verifier_of(keyset: KeySet, **config) -> "resource_app.Verifier":
    return resource_app.Verifier(resource_app.Config(authsvc_url=keyset.url, feed_client="orders:x", **config),
                                 Feed())


def refusal(verifier, token: str) -> tuple[int, str]:
    with pytest.raises(resource_app.Refused) as refused:
        verifier.claims(token)
    return refused.value.status, refused.value.code


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """The tokens whose signature the example checked (jwt.decode), in order."""
    seen: list[str] = []
    decode = resource_app.jwt.decode

    def counted(token, *args, **kwargs):
        seen.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(resource_app.jwt, "decode", counted)
    return seen


def test_a_token_is_verified_once_and_its_session_and_the_feed_are_checked_on_every_request(keyset, decodes):
    """Kept after one verification; a revoked session (401) and a silent feed (503) are refused from the cache too."""
    verifier = verifier_of(keyset)
    token = keyset.sign("key-1")
    for _ in range(3):
        assert verifier.claims(token)["user_id"] == 7
    assert decodes == [token]

    verifier.feed.synced = False
    assert refusal(verifier, token) == (503, "revocations_unknown")
    verifier.feed.synced = True
    verifier.feed.revoked.add("session-1")
    assert refusal(verifier, token) == (401, "token_revoked")
    assert decodes == [token]


def test_a_kept_token_past_its_exp_is_refused_and_dropped(keyset):
    """exp (plus the leeway) is read against the clock on every request: a kept token does not outlive it."""
    now = time.time()
    verifier = verifier_of(keyset, leeway=5)
    token = keyset.sign("key-1", exp=int(now) + 60)
    assert verifier.claims(token)["user_id"] == 7

    verifier.clock = lambda: int(now) + 64.9
    assert verifier.claims(token)["user_id"] == 7
    verifier.clock = lambda: int(now) + 65
    assert refusal(verifier, token) == (401, "token_expired")
    assert len(verifier.verified) == 0


def test_the_cache_is_bounded_the_oldest_evicted_first(keyset):
    verifier = verifier_of(keyset, verified_tokens=3)
    tokens = [keyset.sign("key-1", sid=f"session-{n}") for n in range(5)]
    for token in tokens:
        verifier.claims(token)
    assert len(verifier.verified) == 3
    assert [verifier.verified.get(token) is not None for token in tokens] == [False, False, True, True, True]


def test_a_token_that_differs_in_its_signature_is_never_taken_from_the_cache(keyset):
    """
    The cache is keyed by the whole token: a kept token's header and payload
    with another signature (changed, cut short, or made with a key of the
    attacker's that reuses the kid) is never found in it, and is refused.
    """
    verifier = verifier_of(keyset)
    token = keyset.sign("key-1")
    verifier.claims(token)
    found: dict[str, bool] = {}
    lookup = verifier.verified.get

    def recorded(presented):
        kept = lookup(presented)
        found[presented] = kept is not None
        return kept

    verifier.verified.get = recorded
    head, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    attacker = ec.generate_private_key(ec.SECP256R1())
    other = jwt.encode(jwt.decode(token, options={"verify_signature": False}), attacker, algorithm="ES256",
                       headers={"kid": "key-1"}).split(".")[2]
    forgeries = (f"{head}.{payload}.{flipped}", f"{head}.{payload}.{signature[:-4]}", f"{head}.{payload}.{other}",
                 f"{head}.{payload}.")
    for forged in forgeries:
        assert refusal(verifier, forged) == (401, "token_invalid"), forged
    assert found == dict.fromkeys(forgeries, False)
    assert len(verifier.verified) == 1
    assert verifier.claims(token)["user_id"] == 7 and found[token]


def test_a_kept_token_is_refused_once_its_key_is_no_longer_published(keyset, decodes):
    """
    authsvc retires a key by taking it out of its key set. A kept token counts
    only while its kid is in the set fetched within jwks_lifespan; then it is
    verified again against the set fetched afresh, and refused.
    """
    verifier = verifier_of(keyset, jwks_lifespan=0.2)
    old = keyset.sign("key-1")
    verifier.claims(old)
    keyset.add("key-2")
    keyset.published.remove("key-1")
    time.sleep(0.25)  # the set is due
    assert refusal(verifier, old) == (401, "token_invalid")
    assert verifier.verified.get(old) is None
    new = keyset.sign("key-2")
    assert verifier.claims(new)["user_id"] == 7

    # A key still published: its kept token is verified again when the set is due, and kept on.
    time.sleep(0.25)
    assert verifier.claims(new)["user_id"] == 7
    assert decodes == [old, new, new]
