"""
The admin's door is the API's door (DESIGN.md, "Staff and the admin").

Django's stock admin login takes a password alone — no second factor, no
rate limit, no audit event — and behind it a staff member revokes anyone's
sessions and switches off anyone's second factor. Here staff sign in through
the login service the API uses (``accounts.flows.login.login`` with
``staff=True``, then ``complete_two_factor_login``), under the API's rate
limits on the same counters, with the same audit events marked ``via:
admin``: email + password, then their second factor (``accounts.admin_second_step``:
a code, or a passkey) unless ``AUTH_2FA=off`` or the browser is one they asked
to be remembered (``accounts.admin_factors``).

A finished sign-in starts a ``tokens.Session`` like any login (its JWTs are
not used) and binds the Django session to it. An admin page is served only
while that session is live, by the definition every token check uses
(``tokens.services.active_sessions``): whatever ends it — logout everywhere,
staff revoking it, a new password, deactivation, its expiry — ends the admin
session too. A Django session made any other way (``login()`` in a shell, a
test's ``force_login``, a future view that forgets the rule) has no bound
session and reaches no admin page.
"""

import logging

from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME, get_user_model
from django.contrib.auth import login as django_login
from django.db import transaction
from django.forms import Form
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from accounts import admin_factors
from accounts.admin_forms import PasswordForm
from accounts.admin_second_step import CHALLENGE_KEY, VIA, SecondStep
from accounts.admin_session import REAUTH_PARAM, SESSION_ID_KEY, signed_in_at
from accounts.errors import EmailUnverified, InvalidCredentials
from accounts.flows import challenges, login
from accounts.flows.credentials import credentials_changed
from accounts.limits import enforce_login_email_limits
from authsvc.errors import ServiceError, TooManyRequests, Unavailable
from authsvc.exceptions import describe_error
from authsvc.net import client_ip, user_agent
from authsvc.ratelimits import enforce_ip_rate_limit, enforce_rate_limit
from tokens.models import Session
from tokens.services import revoke_session

logger = logging.getLogger(__name__)


class AdminSite(SecondStep, admin.AdminSite):
    """``admin.site`` (installed by ``authsvc.apps.AdminConfig``): Django's admin behind authsvc's login."""

    login_template = "admin/authsvc/login.html"

    def has_permission(self, request) -> bool:
        return super().has_permission(request) and signed_in_at(request) is not None

    def get_urls(self):
        return [*self.second_step_urls(), *super().get_urls()]

    # --- step one: email and password ---------------------------------------------------------

    @method_decorator(sensitive_post_parameters("password"))
    @method_decorator(csrf_protect)
    @method_decorator(never_cache)
    def login(self, request, extra_context=None):
        if request.method == "GET" and REAUTH_PARAM not in request.GET and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        form = PasswordForm(request.POST if request.method == "POST" else None)
        if request.method == "POST":
            try:
                done = self._check_password(request, form)
            except (TooManyRequests, Unavailable, EmailUnverified) as refused:
                return self._refused(request, self.login_template, form, refused)
            if done is not None:
                return done
        return self._page(request, self.login_template, form, extra_context=extra_context)

    def _check_password(self, request, form: PasswordForm) -> HttpResponseRedirect | None:
        """The API's login view, for a form: the same limits in the same order, then the same service."""
        ip = client_ip(request)
        enforce_ip_rate_limit(request, "login_ip")
        if not form.is_valid():
            return None
        email = form.cleaned_data["username"]
        # The API's scopes and keys: one budget per email, whichever door the guesses come through.
        enforce_login_email_limits(request, email)
        try:
            result = login.login(email=email, password=form.cleaned_data["password"], ip=ip,
                                 user_agent=user_agent(request), via=VIA, staff=True,
                                 device_token=admin_factors.remembered_browser(request))
        except InvalidCredentials as refused:
            form.add_error(None, refused.detail)
            return None
        if isinstance(result, challenges.TwoFactorPending):
            request.session[CHALLENGE_KEY] = result.challenge
            admin_factors.keep_methods(request, result.methods)
            return self._redirect_keeping_next(request, "admin:login_two_factor")
        return self._signed_in(request, result)

    # --- signed in, signed out --------------------------------------------------------------------

    def _signed_in(self, request, issued) -> HttpResponseRedirect:
        """Bind the Django session to the session the login service just started."""
        user = get_user_model()._default_manager.get(auth_sessions__pk=issued.session_id)
        previous = request.session.get(SESSION_ID_KEY)
        request.session.pop(CHALLENGE_KEY, None)
        admin_factors.forget_methods(request)
        # Django's own login(): a new session key (no fixation of the one the
        # browser had before) and a new CSRF token. It sends user_logged_in a
        # second time (the service sent it without a request); the receiver
        # that sets last_login writes the same value again.
        django_login(request, user)
        request.session[SESSION_ID_KEY] = str(issued.session_id)
        if previous and previous != str(issued.session_id):
            # This browser's earlier admin sign-in (before signing in afresh) is over, not left live unseen.
            revoke_session(session_id=previous, reason=Session.RevokeReason.LOGOUT, ip=client_ip(request),
                           user_agent=user_agent(request), via=VIA)
        return HttpResponseRedirect(self._next(request, safe=True))

    def logout(self, request, extra_context=None):
        # Django's LogoutView signs out on POST only; the session it was bound to ends with it.
        session_id = request.session.get(SESSION_ID_KEY)
        if request.method == "POST" and session_id:
            revoke_session(session_id=session_id, user_id=request.user.pk, reason=Session.RevokeReason.LOGOUT,
                           ip=client_ip(request), user_agent=user_agent(request), via=VIA)
        return super().logout(request, extra_context)

    def password_change(self, request, extra_context=None):
        """
        A staff member's own new password: the one rule (every other session
        of theirs ends, by name), keeping the admin session it was set from,
        as the API's password change keeps the session it came from.
        """
        if request.method == "POST":
            try:
                # The API's password/change budget: a signed-in session (perhaps
                # left open, perhaps taken over) is no licence to guess the
                # password it was signed in with.
                enforce_rate_limit(request, "password_check_user", str(request.user.pk))
            except (TooManyRequests, Unavailable) as refused:
                # The form again, untouched by this POST, with the refusal.
                messages.error(request, refused.detail)
                request.method = "GET"
                page = super().password_change(request, extra_context)
                request.method = "POST"
                return self._with_refusal(request, page, refused)
        epoch_before = request.user.auth_epoch
        with transaction.atomic():
            response = super().password_change(request, extra_context)
            if request.user.auth_epoch != epoch_before:
                credentials_changed(
                    user=request.user, reason=Session.RevokeReason.PASSWORD_CHANGE,
                    keep_session_id=request.session.get(SESSION_ID_KEY), ip=client_ip(request),
                    user_agent=user_agent(request), via=VIA,
                )
        return response

    # --- pages --------------------------------------------------------------------------------------

    def _next(self, request, *, safe: bool = False) -> str:
        next_url = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
        if not safe:
            return next_url
        if next_url and url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                                        require_https=request.is_secure()):
            return next_url
        return reverse("admin:index", current_app=self.name)

    def _page(self, request, template: str, form: Form, *, refusal: str = "",
              extra_context=None) -> TemplateResponse:
        request.current_app = self.name
        context = {
            **self.each_context(request),
            "title": "Log in",
            "subtitle": None,
            "app_path": request.get_full_path(),
            "form": form,
            "refusal": refusal,
            REDIRECT_FIELD_NAME: self._next(request) or reverse("admin:index", current_app=self.name),
            **(extra_context or {}),
        }
        return TemplateResponse(request, template, context)

    def _refused(self, request, template: str, form: Form, refused: ServiceError, *, extra_context=None):
        """A refused login step (rate-limited, unavailable, a method this login lacks): the page again, with it."""
        page = self._page(request, template, form, refusal=refused.detail, extra_context=extra_context)
        return self._with_refusal(request, page, refused)

    def _with_refusal(self, request, response, refused: ServiceError):
        """``response`` with the refusal's status and Retry-After."""
        response.status_code = refused.status
        for header, value in refused.headers.items():
            response[header] = value
        if isinstance(refused, Unavailable):
            # One WARNING line, as the API's 503s get (authsvc.exceptions), and none at ERROR from Django.
            logger.warning("%s %s: 503 %s, %s", request.method, request.path, refused.code,
                           describe_error(refused.__cause__), extra={"status_code": 503})
            response._has_been_logged = True
        return response

    def _redirect_keeping_next(self, request, url_name: str) -> HttpResponseRedirect:
        url = reverse(url_name, current_app=self.name)
        next_url = self._next(request)
        return HttpResponseRedirect(url + "?" + urlencode({REDIRECT_FIELD_NAME: next_url}) if next_url else url)
