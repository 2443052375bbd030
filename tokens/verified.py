"""
The access tokens this process has verified, kept so that the next request
with the same token skips its signature (ES256: the largest single cost of a
GET /me, bench/RESULTS.md). A client sends one access token with every call
for its whole life (``ACCESS_TOKEN_TTL``), so most requests bring a token
some worker has already checked; API gateways keep such a cache for the
same reason (Envoy's ``jwt_cache_config``).

What a hit skips is only what cannot change for a given string: its
signature and its claims. What can change is checked on every request:

- ``exp`` against the clock, with the leeway: an expired token is refused
  and dropped;
- its key (``kid``) is still published (``tokens.keys``): a key taken out of
  the key set ends its tokens here when it ends them for a fresh check;
- the session behind it: that is the database's query in
  ``tokens.services.authenticate_access_token``, made on every request,
  cached or not, so revocation stays immediate.

Only whole verified tokens go in, keyed by their exact string together with
the settings they were checked against (issuer, audience, leeway), so a
string that differs by one byte is checked from scratch. Tokens without a
``kid`` (issued before keys had ids) are never kept. The cache is bounded
(``ACCESS_TOKEN_CACHE_SIZE`` per process, 0 turns it off): full, it forgets
its oldest entry.
"""

import threading
import time

from tokens import keys
from tokens.conf import conf


class VerifiedTokens:
    def __init__(self) -> None:
        self._entries: dict[tuple, object] = {}
        self._lock = threading.Lock()

    def get(self, raw: str):
        """The verified token for ``raw``, if this process checked it and it may still be used; else None."""
        if not self._entries:
            return None
        key = self._key(raw)
        token = self._entries.get(key)
        if token is None:
            return None
        if token.expires_at_epoch <= time.time() - conf.leeway or keys.keyring.verifying(token.kid) is None:
            with self._lock:  # every change under the lock: add() iterates to evict
                self._entries.pop(key, None)
            return None
        return token

    def add(self, raw: str, token) -> None:
        size = conf.access_token_cache_size
        if token.kid is None or size <= 0:
            return
        with self._lock:
            while len(self._entries) >= size:
                self._entries.pop(next(iter(self._entries)))
            self._entries[self._key(raw)] = token

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @staticmethod
    def _key(raw: str) -> tuple:
        return raw, conf.jwt_issuer, conf.jwt_audience, conf.leeway


verified_access_tokens = VerifiedTokens()
