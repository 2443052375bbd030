"""
What other services may ask about tokens (DESIGN.md, Part 2, "Keys other
services can verify"): whether a token is active (RFC 7662 introspection),
and which sessions ended early (the revocation feed, ``tokens.feed``).
Callers are services that ``tokens.clients`` has authenticated.
"""

from dataclasses import dataclass

from django.utils import timezone

from authsvc.errors import Unauthorized
from tokens import feed, store
from tokens.conf import conf
from tokens.jwt import RefreshJWT, SessionToken, decode
from tokens.models import RefreshToken
from tokens.services import authenticate_access_token

#: RFC 7662 §2.2: an inactive token says nothing more, not even why.
INACTIVE = {"active": False}


def introspect(*, raw: str) -> dict:
    """
    RFC 7662 §2.2: ``{"active": true, "sub", "sid", "exp", "iat", "iss",
    "aud", "token_type"}`` for a token authsvc would honour right now, else
    ``{"active": false}``.

    An access token is active when ``/me`` would take it: the very function
    every authenticated request calls (``authenticate_access_token``). A
    refresh token is active when its session is live by the same rule and it
    is still the session's unused, unexpired newest token, i.e. a refresh
    would rotate it (a used one is a replay, not a credential).
    """
    try:
        _, token = authenticate_access_token(raw)
    except Unauthorized:
        token = _active_refresh_token(raw)
    if token is None:
        return INACTIVE
    payload = token.payload
    return {
        "active": True, "sub": str(token.user_id), "sid": str(token.session_id), "exp": payload["exp"],
        "iat": payload["iat"], "iss": payload.get("iss", conf.jwt_issuer), "aud": payload.get("aud", conf.jwt_audience),
        "token_type": token.token_type,
    }


def _active_refresh_token(raw: str) -> SessionToken | None:
    try:
        token = decode(RefreshJWT, raw)
    except Unauthorized:
        return None
    now = timezone.now()
    if store.user_of_live_session(session_id=token.session_id, user_id=token.user_id, now=now) is None:
        return None
    unused = RefreshToken.objects.filter(jti=token.jti, session_id=token.session_id, used_at__isnull=True,
                                         expires_at__gt=now)
    return token if unused.exists() else None


@dataclass(frozen=True)
class Revocations:
    revoked: list[dict]
    cursor: str


def revocations_since(*, since: str | None) -> Revocations:
    """
    The feed from the opaque cursor ``since`` (none: one access-token
    lifetime back): ``{"sid", "revoked_at"}`` of each session ended early
    whose access tokens may still be unexpired, and the cursor to poll with
    next. A cursor this feed did not hand out is 400 ``invalid_cursor``.
    """
    page = feed.read(since=None if since is None else feed.Cursor.decode(since))
    return Revocations(revoked=[{"sid": sid, "revoked_at": at} for sid, at in page.ends],
                       cursor=page.cursor.encode())
