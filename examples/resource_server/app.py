"""
An example resource server: an API of its own that accepts authsvc's access
tokens without calling authsvc per request (DESIGN.md, Part 2, "Keys other
services can verify"). Plain WSGI, the standard library and PyJWT — both
already in authsvc's requirements.txt.

- **Signature and claims, locally.** PyJWT's ``PyJWKClient`` fetches
  ``/.well-known/jwks.json`` and keeps it for the five minutes authsvc lets it
  be cached; a ``kid`` it does not know makes it fetch again at once (a key
  just rotated in with ``rotate_signing_key --now``), at most once a second.
  Checked: the signature, with the algorithm of the key the ``kid`` names
  (never the token's own choice: RFC 8725 §3.1), and ``exp``, ``iss``,
  ``aud``, ``token_type == "access"``.
- **Revocation, within a second.** A thread polls the revocation feed,
  ``GET /api/auth/revocations/?since=<cursor>`` as the service named in
  ``FEED_CLIENT``, every ``FEED_INTERVAL`` seconds, and keeps the revoked
  session ids until no access token of theirs can still be valid (revoked at
  + ``ACCESS_TOKEN_TTL`` + ``LEEWAY``). A token of a revoked session is 401.
- **Each token verified once.** A token whose signature and claims passed is
  kept (token → claims, at most ``VERIFIED_TOKENS`` of them, the oldest evicted
  first), as gateways do (Envoy's ``jwt_cache_config``): a client sends the
  same access token for its whole life. On every request, cached or not,
  ``exp`` is checked against the clock, the feed must be in sync and the
  session not revoked. A cached token counts only while its ``kid`` is in
  the key set fetched within ``jwks_lifespan``; past that the token is
  verified again, which fetches the set again, so a key authsvc retired is
  refused as soon as it would be without the cache.
- **Fail closed.** Until the feed has answered, or once it has not answered
  for ``FEED_MAX_STALENESS`` seconds, a revoked session could pass unseen:
  every token is refused with 503 (``revocations_unknown``, ``Retry-After``)
  instead. ``GET /healthz`` says the same to a load balancer.

Run it (environment in README.md)::

    AUTHSVC_URL=http://127.0.0.1:8000 FEED_CLIENT=orders:secret \\
        granian --interface wsgi --workers 2 --working-dir examples/resource_server \\
        --host 127.0.0.1 --port 8001 app:application

or under gunicorn (``--chdir`` for ``--working-dir``). Each worker process
has its own key cache, token cache and feed thread. ``application`` is built
on first use (PEP 562), so importing this module starts nothing.
"""

from __future__ import annotations

import base64
import collections
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime

import jwt

logger = logging.getLogger("resource_server")

# The algorithms authsvc signs with a published key. HS256 is not here: its
# key is a shared secret, never published, and a verifier that accepted it
# could be handed a token "signed" with the public key (algorithm confusion).
ASYMMETRIC = ("ES256", "EdDSA", "RS256")


@dataclass(frozen=True)
class Config:
    authsvc_url: str
    feed_client: str  # "name:secret", one of authsvc's INTROSPECTION_CLIENTS
    audience: str = "authsvc"
    issuer: str = "authsvc"
    access_token_ttl: float = 900  # authsvc's ACCESS_TOKEN_TTL
    leeway: float = 5  # seconds of clock skew allowed on exp (authsvc's JWT_LEEWAY)
    feed_interval: float = 0.5
    feed_max_staleness: float = 5.0
    jwks_lifespan: float = 300  # authsvc's Cache-Control: max-age=300
    verified_tokens: int = 10_000  # tokens kept verified per process; 0 verifies every request afresh

    @classmethod
    def from_environ(cls, environ=os.environ) -> Config:
        def number(name: str, default: float) -> float:
            return float(environ.get(name, default))

        missing = [name for name in ("AUTHSVC_URL", "FEED_CLIENT") if not environ.get(name)]
        if missing:
            raise SystemExit(f"resource server: set {' and '.join(missing)} (see README.md)")
        return cls(
            authsvc_url=environ["AUTHSVC_URL"].rstrip("/"),
            feed_client=environ["FEED_CLIENT"],
            audience=environ.get("AUDIENCE", cls.audience),
            issuer=environ.get("ISSUER", cls.issuer),
            access_token_ttl=number("ACCESS_TOKEN_TTL", cls.access_token_ttl),
            leeway=number("LEEWAY", cls.leeway),
            feed_interval=number("FEED_INTERVAL", cls.feed_interval),
            feed_max_staleness=number("FEED_MAX_STALENESS", cls.feed_max_staleness),
            verified_tokens=int(environ.get("VERIFIED_TOKENS", cls.verified_tokens)),
        )


class Refused(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


# --- the revocation feed --------------------------------------------------------------------------


class RevocationFeed:
    """The sessions revoked at authsvc, kept in memory from its feed by one background thread."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.url = f"{config.authsvc_url}/api/auth/revocations/"
        self.authorization = "Basic " + base64.b64encode(config.feed_client.encode()).decode()
        self.cursor: str | None = None  # none yet: the feed starts one access-token lifetime ago
        # session id -> wall-clock time after which no access token of it can be valid.
        # Only the feed thread writes; readers see whole dicts (one reference swap on pruning).
        self.revoked: dict[str, float] = {}
        self.synced_at: float | None = None  # time.monotonic() of the last answered poll
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopped = threading.Event()

    def start(self) -> None:
        """Start polling in this process (again after a fork: a thread does not survive one)."""
        if self._pid == os.getpid() and self._thread and self._thread.is_alive():
            return
        self._pid = os.getpid()
        self._stopped.clear()
        self._thread = threading.Thread(target=self._run, name="revocation-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (the thread ends within one interval); in_sync() turns false after FEED_MAX_STALENESS."""
        self._stopped.set()

    def is_revoked(self, sid: str) -> bool:
        return sid in self.revoked

    def in_sync(self) -> bool:
        return self.synced_at is not None and time.monotonic() - self.synced_at <= self.config.feed_max_staleness

    def _run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            try:
                self.poll()
                failures = 0
                delay = self.config.feed_interval
            except (OSError, ValueError, KeyError, TypeError) as error:  # unreachable, HTTP error, not the feed's JSON
                failures += 1
                delay = min(self.config.feed_interval * 2 ** min(failures, 4), 5.0)
                logger.warning("revocation feed: %s (retrying in %.1f s)", error, delay)
            self._stopped.wait(delay)

    def poll(self) -> None:
        """Read the feed from the cursor on, page after page while it has news (at most 100 a poll)."""
        for _ in range(100):
            query = f"?{urllib.parse.urlencode({'since': self.cursor})}" if self.cursor else ""
            request = urllib.request.Request(self.url + query, headers={"Authorization": self.authorization,
                                                                        "Accept": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    page = json.load(response)
            except urllib.error.HTTPError as error:
                error.close()
                if error.code == 400 and self.cursor:
                    # A cursor authsvc no longer accepts: start again from one access-token
                    # lifetime ago, which covers every revocation that can still matter.
                    logger.warning("revocation feed refused the cursor; reading it again from the start")
                    self.cursor = None
                    continue
                raise
            self._add(page["revoked"])
            moved, self.cursor = page["cursor"] != self.cursor, page["cursor"]
            self.synced_at = time.monotonic()
            if not page["revoked"] or not moved:
                break
        self._prune()

    def _add(self, entries: list[dict]) -> None:
        keep = self.config.access_token_ttl + self.config.leeway
        for entry in entries:
            self.revoked[str(entry["sid"])] = _timestamp(entry.get("revoked_at")) + keep

    def _prune(self) -> None:
        now = time.time()
        if any(until < now for until in self.revoked.values()):
            self.revoked = {sid: until for sid, until in self.revoked.items() if until >= now}


def _timestamp(value: str | None) -> float:
    """An ISO 8601 time as a Unix time; now when it is missing or unreadable (kept longer, never shorter)."""
    try:
        return datetime.fromisoformat(value).timestamp() if value else time.time()
    except ValueError:
        return time.time()


# --- tokens -----------------------------------------------------------------------------------------


class PublishedKeys(jwt.PyJWKClient):
    """PyJWKClient that also keeps which ``kid`` it last saw published, and until when that holds."""

    def __init__(self, url: str, *, lifespan: float) -> None:
        super().__init__(url, lifespan=lifespan, cooldown_duration=1.0, timeout=5)
        self.lifespan = lifespan
        self.published: frozenset[str] = frozenset()
        self.published_until = 0.0  # time.monotonic()

    def fetch_data(self):
        data = super().fetch_data()
        keys = data.get("keys") or ()  # a JSON object: PyJWKClient checked it
        self.published = frozenset(key["kid"] for key in keys if isinstance(key, dict) and "kid" in key)
        # As long as PyJWKClient keeps the set: past it, a verification fetches the set again.
        self.published_until = time.monotonic() + self.lifespan
        return data

    def still_published(self, kid: str) -> bool:
        return kid in self.published and time.monotonic() <= self.published_until


@dataclass(frozen=True, slots=True)
class Verified:
    claims: dict
    sid: str
    kid: str
    expires_at: float  # exp + leeway, Unix time: refused from then on


class VerifiedTokens:
    """
    Access tokens whose signature and claims were checked, by token, at most
    ``size`` of them (the oldest evicted first). Only what passed every check
    goes in, keyed by the whole token, so a token that differs in any byte,
    its signature included, is never found here. Reads take no lock.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: collections.OrderedDict[str, Verified] = collections.OrderedDict()
        self._lock = threading.Lock()  # writers only: eviction must not race another write

    def get(self, token: str) -> Verified | None:
        return self._entries.get(token)

    def put(self, token: str, verified: Verified) -> None:
        if self.size <= 0:
            return
        with self._lock:
            while len(self._entries) >= self.size:
                self._entries.popitem(last=False)
            self._entries[token] = verified

    def drop(self, token: str) -> None:
        with self._lock:
            self._entries.pop(token, None)

    def __len__(self) -> int:
        return len(self._entries)


class Verifier:
    """An access token's signature and claims, checked against authsvc's published keys, once per token."""

    def __init__(self, config: Config, feed: RevocationFeed, clock=time.time) -> None:
        self.config = config
        self.feed = feed
        self.clock = clock
        self.jwks = PublishedKeys(f"{config.authsvc_url}/.well-known/jwks.json", lifespan=config.jwks_lifespan)
        self.verified = VerifiedTokens(config.verified_tokens)

    def claims(self, token: str) -> dict:
        verified = self.verified.get(token)
        if verified is None or not self.jwks.still_published(verified.kid):
            if verified is not None:
                # The key set is due again, or no longer has this key (authsvc retired it):
                # verified afresh, and refused if its key is gone.
                self.verified.drop(token)
            verified = self._verify(token)
        elif self.clock() >= verified.expires_at:
            self.verified.drop(token)
            raise Refused(401, "token_expired", "The access token has expired.")
        # Checked on every request, the cached ones too: a session revoked after its token was
        # verified is refused at the next poll. An unsigned sid proves nothing, hence after the signature.
        if not self.feed.in_sync():
            raise Refused(503, "revocations_unknown", "Revoked sessions cannot be told apart right now.")
        if self.feed.is_revoked(verified.sid):
            raise Refused(401, "token_revoked", "The session of this token has ended.")
        return verified.claims

    def _verify(self, token: str) -> Verified:
        try:
            header = jwt.get_unverified_header(token)
            # A key named elsewhere (jku, x5u) or carried in the token (jwk) is the attacker's key.
            if header.get("alg") not in ASYMMETRIC or not header.get("kid"):
                raise jwt.InvalidTokenError("not a token signed with a published key")
            key = self.jwks.get_signing_key(header["kid"])
            if key.algorithm_name not in ASYMMETRIC:
                raise jwt.InvalidTokenError("not a signing key of ours")
            claims = jwt.decode(
                token, key.key, algorithms=[key.algorithm_name], audience=self.config.audience,
                issuer=self.config.issuer, leeway=self.config.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sid", "user_id", "token_type"]},
            )
        except jwt.ExpiredSignatureError:
            raise Refused(401, "token_expired", "The access token has expired.") from None
        except jwt.PyJWKClientConnectionError:
            raise Refused(503, "keys_unavailable", "The signing keys cannot be fetched now.") from None
        except jwt.PyJWTError:
            raise Refused(401, "token_invalid", "The access token is not valid.") from None
        if claims["token_type"] != "access":
            raise Refused(401, "token_invalid", "Not an access token.")
        verified = Verified(claims=claims, sid=str(claims["sid"]), kid=header["kid"],
                            expires_at=float(claims["exp"]) + self.config.leeway)
        self.verified.put(token, verified)
        return verified


# --- the WSGI application -------------------------------------------------------------------------


class ResourceServer:
    def __init__(self, config: Config) -> None:
        self.feed = RevocationFeed(config)
        self.verifier = Verifier(config, self.feed)
        self.feed.start()

    def __call__(self, environ, start_response):
        self.feed.start()  # a no-op, unless this process was forked after the thread started
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if path.rstrip("/") != "/orders":
            if path == "/healthz" and method == "GET":
                ok = self.feed.in_sync()
                return _json(start_response, 200 if ok else 503, {"status": "ok" if ok else "revocations_unknown"})
            return _json(start_response, 404, {"detail": "Not found.", "code": "not_found"})
        if method != "GET":
            return _json(start_response, 405, {"detail": "Method not allowed.", "code": "method_not_allowed"})
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _refuse(start_response, Refused(401, "not_authenticated", "No access token."))
        try:
            claims = self.verifier.claims(token.strip())
        except Refused as refused:
            return _refuse(start_response, refused)
        # What this service would look up for the user; the id is all an example needs.
        return _json(start_response, 200, {"user_id": claims["user_id"], "orders": []})


STATUS_LINES = {200: "200 OK", 401: "401 Unauthorized", 404: "404 Not Found", 405: "405 Method Not Allowed",
                503: "503 Service Unavailable"}


def _json(start_response, status: int, body: dict, headers: list[tuple[str, str]] = ()) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(STATUS_LINES[status], [
        ("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
        ("Cache-Control", "no-store"), *headers,
    ])
    return [payload]


def _refuse(start_response, refused: Refused) -> list[bytes]:
    if refused.status == 401:
        # RFC 6750 §3: the scheme, and invalid_token when a token was sent.
        error = "" if refused.code == "not_authenticated" else ', error="invalid_token"'
        headers = [("WWW-Authenticate", f'Bearer realm="resource_server"{error}')]
    else:
        headers = [("Retry-After", "1")]
    return _json(start_response, refused.status, {"detail": refused.detail, "code": refused.code}, headers)


def create_app(environ=os.environ) -> ResourceServer:
    logging.basicConfig(level=environ.get("LOG_LEVEL", "INFO"))
    return ResourceServer(Config.from_environ(environ))


def __getattr__(name: str):
    """``app:application``, built when a server first asks for it (PEP 562), once per worker process."""
    if name == "application":
        global application
        application = create_app()
        return application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    from wsgiref.simple_server import make_server

    port = int(os.environ.get("PORT", "8001"))
    make_server("127.0.0.1", port, create_app()).serve_forever()
