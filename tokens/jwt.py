"""
The JWTs authsvc issues, as simplejwt token classes carrying the session id.

No database here: these classes sign, verify and expose claims. Whether a
token's session is still alive is the business of ``tokens.services``.

Both token kinds hold the same claims: ``token_type``, ``user_id``, ``sid``
(session id), ``jti``, ``iat``, ``exp``, ``iss``, ``aud``; the header names
the signing key (``kid``, ``tokens.keys``), and a refresh token's header
also holds its payload's MAC (``mac``: see ``_MAC_SALT``). Issuing is
deterministic: the same claims always sign to the same string (ES256 with
RFC 6979 nonces, and an HMAC), which is how a refresh inside the reuse grace
window hands back the very successor token already issued, although only
its ``jti`` and times are stored.
"""

import contextlib
import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime

import jwt as pyjwt
from django.utils.crypto import constant_time_compare, salted_hmac
from jwt.utils import base64url_encode
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import datetime_to_epoch

from tokens import keys
from tokens.backends import backend_for, backend_of, issued_before_keys, key_for
from tokens.conf import conf
from tokens.errors import TokenExpired, TokenInvalid
from tokens.jws import encode, header_segment, jws
from tokens.verified import verified_access_tokens

# A JWT of ours is a few hundred bytes; refuse to even parse anything huge.
MAX_TOKEN_LENGTH = 4096


# --- signing and verifying -----------------------------------------------------------------------


def sign(claims: dict, *, mac: bool = False) -> str:
    """
    ``claims`` with ``iss`` and ``aud``, signed by the active key, its ``kid``
    in the header; with ``mac``, the payload's MAC in the header too.
    """
    key = keys.keyring.active()
    payload = {**claims, "iss": conf.jwt_issuer, "aud": conf.jwt_audience}
    return encode(json.dumps(payload, separators=(",", ":")).encode(), key.signing_key, algorithm=key.algorithm,
                  kid=key.kid, mac=_payload_mac if mac else None)


# Refresh tokens carry, besides their signature, a MAC of their payload
# under a key only authsvc holds (derived from SECRET_KEY), in the header's
# ``mac``. Only authsvc ever reads a refresh token, and checking the MAC
# costs a twentieth of verifying an ES256 signature: a refresh is proven by
# it (``decode_refresh``). The signature stays, and decides whenever the MAC
# does not prove the token: one issued before refresh tokens had a MAC, or
# under a SECRET_KEY since rotated.
_MAC_SALT = "authsvc.tokens.jwt.refresh-token-mac"


def _payload_mac(payload_segment: bytes) -> str:
    return base64url_encode(salted_hmac(_MAC_SALT, payload_segment, algorithm="sha256").digest()).decode()


def _epoch(moment: datetime) -> int:
    """
    simplejwt's ``datetime_to_epoch`` (whole seconds since the epoch, UTC),
    the same number (tests/tokens/test_jwt_epoch.py), without the time tuple
    it goes through for an aware time — every time authsvc keeps is one: a
    fifth of the cost, four times a refresh.
    """
    if moment.tzinfo is None:
        return datetime_to_epoch(moment)
    return math.floor(moment.timestamp())


class _ConfLifetime:
    """A class attribute read from ``tokens.conf`` on access (simplejwt wants ``lifetime``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance, owner):
        return getattr(conf, self.name)


class SessionToken(Token):
    """A simplejwt token bound to a ``tokens.Session`` through its ``sid`` claim."""

    session_claim = "sid"
    #: Whether tokens of this kind hold their payload's MAC in the header (``proven_by_mac``).
    carries_mac = False

    user_id: int
    session_id: uuid.UUID
    jti: uuid.UUID

    def __init__(self, token: str, *, proven_by: "keys.Key | None" = None) -> None:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("Token is invalid")
        if proven_by is None:
            self._backend, self.kid = backend_for(token)
        else:  # its signature proven otherwise, by this key's kid (``proven_by_mac``)
            self._backend, self.kid = backend_of(proven_by, signature_proven=True), proven_by.kid
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
            if self._unkeyed and not issued_before_keys(payload["iat"]):
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
            "iat": _epoch(issued_at),
            "exp": _epoch(expires_at),
        }
        return sign(payload, mac=cls.carries_mac)

    @classmethod
    def proven_by_mac(cls, token: str) -> "SessionToken | None":
        """
        The token, its claims checked by ``__init__`` but not its signature,
        if its header is exactly the one authsvc writes for a published key
        and the MAC it holds is its payload's; None if not (``__init__``
        without ``proven_by``, which verifies the signature, then decides). What is left unchecked is the
        signature segment: only a holder of this very header and payload,
        that is of the token, can present them.
        """
        if not cls.carries_mac or not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            return None
        try:
            header = jws.get_unverified_header(token)
            key = key_for(header)
        except (pyjwt.PyJWTError, TokenError):
            return None
        mac = header.get("mac")
        head, payload_segment, _ = token.split(".")
        if (not isinstance(mac, str) or key.kid is None
                or not constant_time_compare(head, header_segment(key.algorithm, key.kid, mac))
                or not constant_time_compare(mac, _payload_mac(payload_segment.encode()))):
            return None
        return cls(token, proven_by=key)

    def get_token_backend(self) -> TokenBackend:
        return self._backend


class AccessJWT(SessionToken):
    token_type = "access"
    lifetime = _ConfLifetime("access_ttl")


class RefreshJWT(SessionToken):
    token_type = "refresh"
    carries_mac = True
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
    with _domain_errors():
        return token_class(raw)


def decode_refresh(raw: str) -> "RefreshJWT":
    """``decode(RefreshJWT, raw)``, proven by its MAC where it holds a valid one, by its signature otherwise."""
    with _domain_errors():
        token = RefreshJWT.proven_by_mac(raw)
        return token if token is not None else RefreshJWT(raw)


@contextlib.contextmanager
def _domain_errors():
    try:
        yield
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
