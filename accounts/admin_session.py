"""
The admin's Django session, bound to the ``tokens.Session`` its sign-in
started (``accounts.admin_site``): live only while that session is, by the
definition every token check uses.
"""

from datetime import datetime

from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth import logout as django_logout
from django.urls import reverse
from django.utils.http import urlencode

from tokens.services import active_sessions

# The tokens.Session this Django session signed in as.
SESSION_ID_KEY = "authsvc_session_id"
# Asks the login page for the form even to signed-in staff, to sign in afresh.
REAUTH_PARAM = "reauth"


def signed_in_at(request) -> datetime | None:
    """
    When the staff member behind ``request`` signed in to the admin, while
    that sign-in's session is live; None otherwise (and the Django session is
    then ended). One query, made once per request however often the admin
    asks (``has_permission`` runs for the view and again for its context).
    """
    if not hasattr(request, "_authsvc_signed_in_at"):
        request._authsvc_signed_in_at = _live_sign_in(request)
    return request._authsvc_signed_in_at


def _live_sign_in(request) -> datetime | None:
    user = request.user
    if not user.is_authenticated:
        return None
    session_id = request.session.get(SESSION_ID_KEY)
    started = None
    if session_id:
        started = (
            active_sessions(user_id=user.pk).filter(pk=session_id).values_list("created_at", flat=True).first()
        )
    if started is None:
        # Revoked, expired, ended by new credentials, or never bound: the
        # Django session is over too, not merely refused for this request.
        django_logout(request)
    return started


def reauthenticate_url(request) -> str:
    """The login page for signed-in staff to sign in afresh, coming back to where they are."""
    return reverse("admin:login") + "?" + urlencode({REAUTH_PARAM: "1", REDIRECT_FIELD_NAME: request.get_full_path()})
