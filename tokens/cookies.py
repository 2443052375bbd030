"""The auth cookies: set on token responses in cookie transport, cleared on logout."""

import math
from datetime import datetime

from django.utils import timezone

from tokens.conf import conf


def seconds_until(moment: datetime) -> int:
    # Token times are whole seconds (JWT NumericDate); round up so the cookie
    # lives exactly as long as the token it carries.
    return max(0, math.ceil((moment - timezone.now()).total_seconds()))


def set_private_cookie(response, name: str, value: str, *, path: str, max_age: int) -> None:
    """An HttpOnly cookie with the configured Secure, SameSite and Domain: script on the page cannot read it."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        domain=conf.cookie_domain,
        secure=conf.cookie_secure,
        httponly=True,
        samesite=conf.cookie_samesite,
    )


def delete_private_cookie(response, name: str, *, path: str) -> None:
    response.delete_cookie(name, path=path, domain=conf.cookie_domain, samesite=conf.cookie_samesite)


def set_auth_cookies(response, issued) -> None:
    set_private_cookie(response, conf.access_cookie, issued.access, path=conf.access_cookie_path,
                       max_age=seconds_until(issued.access_expires_at))
    # The refresh cookie only travels to the auth endpoints, never to the app's other APIs.
    set_private_cookie(response, conf.refresh_cookie, issued.refresh, path=conf.refresh_cookie_path,
                       max_age=seconds_until(issued.refresh_expires_at))


def clear_auth_cookies(response) -> None:
    delete_private_cookie(response, conf.access_cookie, path=conf.access_cookie_path)
    delete_private_cookie(response, conf.refresh_cookie, path=conf.refresh_cookie_path)


def device_cookie(request) -> str | None:
    """The remembered device's token this browser sent, if any (``tokens.devices``)."""
    return request.COOKIES.get(conf.device_cookie)
