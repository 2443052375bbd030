"""
The admin's second step beyond the emailed code (``accounts.admin_site``):
the methods the pending sign-in can finish with, kept beside its challenge,
and the remembered browser — the admin's own ``device`` cookie.

A staff member who ticks "Remember this browser" gets a remembered device
(``tokens.devices``) like an API login with ``remember_device``; its token
travels in a cookie of the admin's own path, which the API's login never
sees, and the admin's password step presents it. The login flow binds the
token to its user: another staff member's cookie on a shared browser, a
forgotten or expired one, is no device and the second step is asked.
"""

from accounts.admin_session import REAUTH_PARAM
from accounts.methods import EMAIL
from tokens.cookies import seconds_until, set_private_cookie

# In the server-side Django session, beside the challenge: what the login
# answer listed, for the page's words and for reading the one answer field.
METHODS_KEY = "authsvc_admin_methods"
DEVICE_COOKIE = "admin_device"


def keep_methods(request, methods) -> None:
    request.session[METHODS_KEY] = list(methods)


def pending_methods(request) -> list[str]:
    # A login pending since before its methods were kept was the emailed code's.
    return request.session.get(METHODS_KEY) or [EMAIL]


def forget_methods(request) -> None:
    request.session.pop(METHODS_KEY, None)


def remembered_browser(request) -> str | None:
    """
    The remembered device's token this browser sent to the admin, if any —
    but not when staff sign in afresh before weakening an account
    (``?reauth``): that sign-in must prove the second factor again, not
    only the password on a browser that was once remembered.
    """
    if REAUTH_PARAM in request.GET:
        return None
    return request.COOKIES.get(DEVICE_COOKIE)


def remember_browser(response, issued, *, path: str) -> None:
    """
    The device cookie, when the finished sign-in asked to be remembered:
    HttpOnly, Secure and Domain as the auth cookies (``tokens.cookies``),
    only under the admin's ``path``. SameSite=Lax whatever ``COOKIE_SAMESITE``
    a cross-site API client needs: the admin is never embedded in another site.
    """
    if not issued.device_token:
        return
    set_private_cookie(response, DEVICE_COOKIE, issued.device_token, path=path,
                       max_age=seconds_until(issued.device_expires_at))
    response.cookies[DEVICE_COOKIE]["samesite"] = "Lax"
