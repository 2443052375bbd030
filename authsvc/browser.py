"""
Django's session, authentication and messages middleware, for the pages a
browser signs in to with a Django session: the admin (and whatever else is
not the API). The JSON API under ``/api/`` reads its own credentials — access
tokens, in a header or a cookie (``tokens.authentication``) — never a Django
session or its messages, so its requests skip the three: on GET /me they
were about a twelfth of the CPU (bench/RESULTS.md). CSRF stays for every
request: the API's cookie transport checks it (``tokens.authentication``),
and ``csrf/`` sets its cookie through ``CsrfViewMiddleware``.

Subclasses, in Django's own places in ``MIDDLEWARE``, so that the admin's
checks (admin.E408–E410) still find them.
"""

from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions

API_PREFIX = "/api/"


class _NotForTheAPI:
    def __call__(self, request):
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(_NotForTheAPI, sessions.SessionMiddleware):
    pass


class AuthenticationMiddleware(_NotForTheAPI, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(_NotForTheAPI, messages.MessageMiddleware):
    pass
