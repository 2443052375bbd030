"""The auth cookies: set on token responses in cookie transport, cleared on logout."""

import math
from datetime import datetime

from django.utils import timezone

from tokens.conf import conf


def _max_age(expires_at: datetime) -> int:
    # Token times are whole seconds (JWT NumericDate); round up so the cookie
    # lives exactly as long as the token it carries.
    return max(0, math.ceil((expires_at - timezone.now()).total_seconds()))


def _set(response, name: str, value: str, *, path: str, expires_at: datetime) -> None:
    response.set_cookie(
        name,
        value,
        max_age=_max_age(expires_at),
        path=path,
        domain=conf.cookie_domain,
        secure=conf.cookie_secure,
        httponly=True,
        samesite=conf.cookie_samesite,
    )


def set_auth_cookies(response, issued) -> None:
    _set(response, conf.access_cookie, issued.access, path=conf.access_cookie_path,
         expires_at=issued.access_expires_at)
    # The refresh cookie only travels to the auth endpoints, never to the app's other APIs.
    _set(response, conf.refresh_cookie, issued.refresh, path=conf.refresh_cookie_path,
         expires_at=issued.refresh_expires_at)


def clear_auth_cookies(response) -> None:
    for name, path in ((conf.access_cookie, conf.access_cookie_path), (conf.refresh_cookie, conf.refresh_cookie_path)):
        response.delete_cookie(name, path=path, domain=conf.cookie_domain, samesite=conf.cookie_samesite)
