"""
The JWTs authsvc issues, as simplejwt token classes carrying the session id.

No database here: these classes sign, verify and expose claims. Whether a
token's session is still alive is the business of ``tokens.services``.

Both token kinds hold the same claims: ``token_type``, ``user_id``, ``sid``
(session id), ``jti``, ``iat``, ``exp``, ``iss``, ``aud``; the header names
the signing key (``kid``, ``tokens.keys``). Issuing is deterministic: the
same claims always sign to the same string (ES256 with RFC 6979 nonces), which is how a refresh inside the
reuse grace window hands back the very successor token already issued,
although only its ``jti`` and times are stored.
"""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import jwt as pyjwt
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import datetime_to_epoch

from tokens import keys
from tokens.conf import conf
from tokens.errors import TokenExpired, TokenInvalid
from tokens.jws import Backend, encode, jws
from tokens.verified import verified_access_tokens

# A JWT of ours is a few hundred bytes; refuse to even parse anything huge.
MAX_TOKEN_LENGTH = 4096


# --- signing and verifying -----------------------------------------------------------------------


def sign(claims: dict) -> str:
    """``claims`` with ``iss`` and ``aud``, signed by the active key, its ``kid`` in the header."""
    key = keys.keyring.active()
    payload = {**claims, "iss": conf.jwt_issuer, "aud": conf.jwt_audience}
    return encode(json.dumps(payload, separators=(",", ":")).encode(), key.signing_key, algorithm=key.algorithm,
                  kid=key.kid)


class _ConfLifetime:
    """A class attribute read from ``tokens.conf`` on access (simplejwt wants ``lifetime``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance, owner):
        return getattr(conf, self.name)


class SessionToken(Token):
    """A simplejwt token bound to a ``tokens.Session`` through its ``sid`` claim."""

    session_claim = "sid"

    user_id: int
    session_id: uuid.UUID
    jti: uuid.UUID

    def __init__(self, token: str) -> None:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("Token is invalid")
        self._backend, self.kid = _backend_for(token)
        self._unkeyed = self.kid is None
        # Signature (with the algorithm of the key its kid names only: "none"
        # and algorithm confusion are refused by PyJWT), iss and aud, exp,
        # nbf, jti and token_type.
        super().__init__(token, verify=True)

    def verify(self) -> None:
        super().verify()
        payload = self.payload
        try:
            user_id = payload[api_settings.USER_ID_CLAIM]
            if type(user_id) is not int:
                raise TypeError("user id must be an integer")
            self.user_id = user_id
            self.session_id = uuid.UUID(payload[self.session_claim])
            self.jti = uuid.UUID(hex=payload[api_settings.JTI_CLAIM])
            self.expires_at_epoch = int(payload["exp"])
            if self._unkeyed and not _issued_before_keys(payload["iat"]):
                raise ValueError("a token with no kid, issued since keys have had ids: not one of ours")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TokenError("Token is invalid") from exc

    @classmethod
    def encode(
        cls, *, user_id: int, session_id: uuid.UUID, jti: uuid.UUID, issued_at: datetime, expires_at: datetime
    ) -> str:
        """Sign a token with exactly these claims (same claims, same string)."""
        payload = {
            api_settings.TOKEN_TYPE_CLAIM: cls.token_type,
            api_settings.USER_ID_CLAIM: user_id,
            cls.session_claim: str(session_id),
            api_settings.JTI_CLAIM: jti.hex,
            "iat": datetime_to_epoch(issued_at),
            "exp": datetime_to_epoch(expires_at),
        }
        return sign(payload)

    def get_token_backend(self) -> TokenBackend:
        return self._backend


def _backend_for(token: str) -> tuple[TokenBackend, str | None]:
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
    # Tokens issued before keys had ids carry neither iss nor aud.
    audience, issuer = (None, None) if key.kid is None else (conf.jwt_audience, conf.jwt_issuer)
    # A key object is no dict key: a kid names one key for good, a secret names itself.
    identity = key.verifying_key if isinstance(key.verifying_key, str) else key.kid
    cache_key = (key.kid, key.algorithm, identity, audience, issuer, conf.leeway)
    backend = _backends.get(cache_key)
    if backend is None:
        if len(_backends) > 64:
            _backends.clear()
        # simplejwt checks the algorithm and the key when it builds a backend: once per key and setting.
        hmac_key = key.verifying_key if key.algorithm == "HS256" else None
        backend = _backends[cache_key] = Backend(
            key.algorithm, signing_key=hmac_key, verifying_key=key.verifying_key, audience=audience, issuer=issuer,
            leeway=conf.leeway,
        )
    return backend, key.kid


def _issued_before_keys(iat) -> bool:
    """Whether a token with no ``kid`` was issued before this version made its first key (none was after)."""
    cutoff = keys.keyring.legacy_issued_before
    # Whole seconds, as iat is: a token stamped within the second the first key was made is not let through.
    return cutoff is not None and isinstance(iat, int | float) and iat < int(cutoff.timestamp())


_backends: dict[tuple, TokenBackend] = {}


class AccessJWT(SessionToken):
    token_type = "access"
    lifetime = _ConfLifetime("access_ttl")


class RefreshJWT(SessionToken):
    token_type = "refresh"
    lifetime = _ConfLifetime("refresh_ttl")


@dataclass(frozen=True)
class IssuedTokens:
    """A fresh access token and the refresh token that goes with it."""

    access: str
    access_expires_at: datetime
    refresh: str
    refresh_expires_at: datetime
    session_id: uuid.UUID
    #: A remembered device's token, when the login that issued these asked to be remembered (``tokens.devices``).
    device_token: str | None = None
    device_expires_at: datetime | None = None


def decode(token_class: type[SessionToken], raw: str) -> SessionToken:
    """Verify a raw JWT of the given kind, mapping every failure to one domain error."""
    try:
        return token_class(raw)
    except ExpiredTokenError as exc:
        raise TokenExpired() from exc
    except TokenError as exc:
        raise TokenInvalid() from exc


def decode_access(raw: str) -> "AccessJWT":
    """``decode(AccessJWT, raw)``, minus the signature of a token this process has verified (``tokens.verified``)."""
    token = verified_access_tokens.get(raw)
    if token is None:
        token = decode(AccessJWT, raw)
        verified_access_tokens.add(raw, token)
    return token


def issue_pair(*, user_id: int, session_id: uuid.UUID, refresh_jti: uuid.UUID, refresh_issued_at: datetime,
               refresh_expires_at: datetime, now: datetime) -> IssuedTokens:
    """Sign an access token and the refresh token it goes with (whose record the caller stored)."""
    # An access token never outlives the refresh token issued with it, so an
    # idle session (newest refresh token expired) ends for both at once.
    access_expires_at = min(now + conf.access_ttl, refresh_expires_at)
    access = AccessJWT.encode(
        user_id=user_id, session_id=session_id, jti=uuid.uuid4(),
        issued_at=now, expires_at=access_expires_at,
    )
    refresh = RefreshJWT.encode(
        user_id=user_id, session_id=session_id, jti=refresh_jti,
        issued_at=refresh_issued_at, expires_at=refresh_expires_at,
    )
    return IssuedTokens(
        access=access,
        access_expires_at=access_expires_at,
        refresh=refresh,
        refresh_expires_at=refresh_expires_at,
        session_id=session_id,
    )


def decode_any(raw: str) -> SessionToken | None:
    """Either kind of token, verified; None if it is neither (logout takes whatever it is given)."""
    for token_class in (AccessJWT, RefreshJWT):
        try:
            return token_class(raw)
        except TokenError:
            continue
    return None
