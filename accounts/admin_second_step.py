"""
The admin's second step (``/admin/login/code/``), part of its login
(``accounts.admin_site``): the pending login's challenge, kept in the
server-side Django session, finished with the API's login frame
(``accounts.flows.login.complete_two_factor_login``) under the API's rate
limits, so every method has the same tries, budget and audit events.

One ``code`` field takes every typed answer; a staff member with a passkey
also gets a button (``accounts/static/accounts/admin_passkey.js``) that
fetches the login's request options from ``passkey_options`` — a WebAuthn
challenge set on the pending login, as the API's
``login/2fa/webauthn/begin`` sets it — and posts the browser's credential
in the same form, in its hidden ``credential`` field.
"""

from django.contrib import messages
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts import admin_factors, methods
from accounts.admin_forms import CodeForm
from accounts.errors import (
    ChallengeExpired,
    ChallengeInvalid,
    ChallengeLocked,
    ChallengeUsed,
    EmailUnverified,
    InvalidCode,
    MethodUnavailable,
)
from accounts.flows import challenges, login
from authsvc.errors import ServiceError, TooManyRequests, Unavailable
from authsvc.net import client_ip, user_agent
from authsvc.ratelimits import enforce_ip_rate_limit, enforce_rate_limit
from tokens.models import AuthEvent

VIA = AuthEvent.Via.ADMIN
# In the server-side Django session only: the pending login's challenge
# secret never reaches the browser, so a page, a URL or a form field cannot
# leak it; the browser holds nothing but its session cookie.
CHALLENGE_KEY = "authsvc_admin_challenge"
# The page's words for a refused passkey: it was no code that was wrong.
PASSKEY_REFUSED = "Your passkey's answer was not accepted. Try it again, or enter a code."

# What ends a pending admin login: it starts again at the password.
_CHALLENGE_OVER = (ChallengeInvalid, ChallengeExpired, ChallengeLocked, ChallengeUsed)
_REFUSED = (TooManyRequests, Unavailable, MethodUnavailable, EmailUnverified)


class SecondStep:
    """
    The second step's views, for ``AdminSite``, whose page helpers they use
    (``_page``, ``_refused``, ``_with_refusal``, ``_signed_in``,
    ``_redirect_keeping_next``).
    """

    two_factor_template = "admin/authsvc/two_factor.html"

    def second_step_urls(self) -> list:
        return [
            path("login/code/", self.login_two_factor, name="login_two_factor"),
            path("login/code/passkey-options/", self.login_passkey_options, name="login_passkey_options"),
        ]

    @method_decorator(sensitive_post_parameters("code", "credential"))
    @method_decorator(csrf_protect)
    @method_decorator(never_cache)
    def login_two_factor(self, request):
        challenge = request.session.get(CHALLENGE_KEY)
        if not challenge:
            return self._start_over(request, None)
        available = admin_factors.pending_methods(request)
        resend = request.method == "POST" and "resend" in request.POST
        form = CodeForm(request.POST if request.method == "POST" and not resend else None, methods=available)
        context = {"methods": available, "passkey": methods.WEBAUTHN in available}
        if request.method == "POST":
            try:
                done = (self._resend(request, challenge) if resend
                        else self._check_answer(request, form, challenge, available))
            except _CHALLENGE_OVER as over:
                return self._start_over(request, over.detail)
            except _REFUSED as refused:
                return self._refused(request, self.two_factor_template, form, refused, extra_context=context)
            if done is not None:
                return done
        return self._page(request, self.two_factor_template, form, extra_context=context)

    def _check_answer(self, request, form: CodeForm, challenge: str, available: list[str]) -> HttpResponseRedirect | None:
        """The API's login/2fa view, for a form: a typed code (its method read from it), or a passkey's credential."""
        enforce_ip_rate_limit(request, "two_factor_ip")
        if not form.is_valid():
            return None
        enforce_rate_limit(request, "two_factor_challenge", challenge)
        credential = form.cleaned_data["credential"]
        if credential is not None:
            answer, method = credential, methods.WEBAUTHN
        else:
            answer = form.cleaned_data["code"]
            method = methods.method_for_answer(available, answer)
        try:
            issued = login.complete_two_factor_login(
                challenge=challenge, code=answer, method=method, remember_device=form.cleaned_data["remember_device"],
                ip=client_ip(request), user_agent=user_agent(request), via=VIA,
            )
        except InvalidCode as wrong:
            if credential is not None:
                form.add_error(None, PASSKEY_REFUSED)
            else:
                form.add_error("code", wrong.detail)
            return None
        response = self._signed_in(request, issued)
        admin_factors.remember_browser(response, issued, path=reverse("admin:index", current_app=self.name))
        return response

    def _resend(self, request, challenge: str) -> HttpResponseRedirect:
        """The API's login/2fa/resend view, for a button."""
        enforce_ip_rate_limit(request, "resend_ip")
        challenges.resend_two_factor_code(challenge=challenge)
        messages.info(request, "A new code is on its way; the previous one no longer works.")
        return HttpResponseRedirect(request.get_full_path())

    @method_decorator(require_POST)
    @method_decorator(csrf_protect)
    @method_decorator(never_cache)
    def login_passkey_options(self, request):
        """
        The API's login/2fa/webauthn/begin, for the page's button: the
        request options of the pending login, as JSON. Each call sets a new
        WebAuthn challenge on the login; only an answer to the newest counts.
        A refusal is ``{"detail", "code"}`` with its status, and where the
        login is over, the page to start again at (``location``).
        """
        challenge = request.session.get(CHALLENGE_KEY)
        try:
            enforce_ip_rate_limit(request, "two_factor_ip")
            if not challenge:
                raise ChallengeInvalid()
            return JsonResponse(login.begin_login_assertion(challenge=challenge))
        except _CHALLENGE_OVER as over:
            location = self._start_over(request, over.detail if challenge else None)["Location"]
            return self._with_refusal(request, JsonResponse({"detail": over.detail, "code": over.code,
                                                             "location": location}), over)
        except ServiceError as refused:
            return self._with_refusal(request, JsonResponse({"detail": refused.detail, "code": refused.code}),
                                      refused)

    def _start_over(self, request, why: str | None) -> HttpResponseRedirect:
        request.session.pop(CHALLENGE_KEY, None)
        admin_factors.forget_methods(request)
        if why:
            messages.error(request, why)
        return self._redirect_keeping_next(request, "admin:login")
