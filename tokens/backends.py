"""
Which key, and which simplejwt backend, verify a token of ours: the one its
header names, if authsvc still publishes it (``tokens.keys``), with that
key's algorithm alone and authsvc's ``iss`` and ``aud`` required
(``tokens.jwt`` builds the token classes on top).
"""

import jwt as pyjwt
from rest_framework_simplejwt.exceptions import TokenError

from tokens import keys
from tokens.conf import conf
from tokens.jws import Backend, ClaimsBackend, jws


def backend_for(token: str) -> tuple[Backend, str | None]:
    """
    What verifies ``token``: the published key its ``kid`` names, with that
    key's algorithm alone and our ``iss`` and ``aud`` required; for a token
    with no ``kid`` (HS256, issued before keys had ids) the shared secret,
    only while such tokens can still be unexpired. A retired or unknown
    ``kid``, or a header that names a key elsewhere (``jku``, ``x5u``,
    ``jwk``…), is no token of ours. With the backend: the key's ``kid``.
    """
    try:
        header = jws.get_unverified_header(token)
    except pyjwt.PyJWTError as exc:
        raise TokenError("Token is invalid") from exc
    key = key_for(header)
    return backend_of(key), key.kid


def key_for(header: dict) -> keys.Key:
    """The published key a token's header names, or TokenError (``backend_for``)."""
    if keys.FOREIGN_KEY_HEADERS & header.keys():
        raise TokenError("Token is invalid")
    kid = header.get("kid")
    if kid is None:
        key = keys.keyring.legacy()
    elif isinstance(kid, str) and len(kid) <= 64:
        key = keys.keyring.verifying(kid)
    else:
        key = None
    if key is None:
        raise TokenError("Token is invalid")
    return key


def backend_of(key: keys.Key, *, signature_proven: bool = False) -> Backend:
    """The backend of ``key``; with ``signature_proven``, one that checks the claims alone (``ClaimsBackend``)."""
    # Tokens issued before keys had ids carry neither iss nor aud.
    audience, issuer = (None, None) if key.kid is None else (conf.jwt_audience, conf.jwt_issuer)
    # A key object is no dict key: a kid names one key for good, a secret names itself.
    identity = key.verifying_key if isinstance(key.verifying_key, str) else key.kid
    backend_class = ClaimsBackend if signature_proven else Backend
    cache_key = (backend_class, key.kid, key.algorithm, identity, audience, issuer, conf.leeway)
    backend = _backends.get(cache_key)
    if backend is None:
        if len(_backends) > 64:
            _backends.clear()
        # simplejwt checks the algorithm and the key when it builds a backend: once per key and setting.
        hmac_key = key.verifying_key if key.algorithm == "HS256" else None
        backend = _backends[cache_key] = backend_class(
            key.algorithm, signing_key=hmac_key, verifying_key=key.verifying_key, audience=audience, issuer=issuer,
            leeway=conf.leeway,
        )
    return backend


def issued_before_keys(iat) -> bool:
    """Whether a token with no ``kid`` was issued before this version made its first key (none was after)."""
    cutoff = keys.keyring.legacy_issued_before
    # Whole seconds, as iat is: a token stamped within the second the first key was made is not let through.
    return cutoff is not None and isinstance(iat, int | float) and iat < int(cutoff.timestamp())


_backends: dict[tuple, Backend] = {}
