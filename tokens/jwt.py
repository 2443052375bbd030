"""
The JWTs authsvc issues, as simplejwt token classes carrying the session id.

No database here: these classes sign, verify and expose claims. Whether a
token's session is still alive is the business of ``tokens.services``.

Both token kinds hold the same claims: ``token_type``, ``user_id``, ``sid``
(session id), ``jti``, ``iat``, ``exp``. Issuing is deterministic: the same
claims always sign to the same string, which is how a refresh inside the
reuse grace window hands back the very successor token already issued,
although only its ``jti`` and times are stored.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import datetime_to_epoch

from tokens.conf import conf
from tokens.errors import TokenExpired, TokenInvalid

# A JWT of ours is a few hundred bytes; refuse to even parse anything huge.
MAX_TOKEN_LENGTH = 4096


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
        # Signature (with the configured algorithm only: "none" and algorithm
        # confusion are refused by PyJWT), exp, nbf, jti and token_type.
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
        return token_backend.encode(payload)

    def get_token_backend(self) -> TokenBackend:
        return token_backend


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
