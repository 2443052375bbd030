"""
The account's whole life (``/api/auth/email/…``, ``/api/auth/account/…``):
thin views over ``accounts.flows`` (verification, email_change, deletion,
export).
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.factor_views import check_password_budget
from accounts.flows import deletion, email_change, export, verification
from accounts.serializers import (
    AccountDeleteSerializer,
    AccountExportSerializer,
    EmailChangeSerializer,
    EmailKeySerializer,
    VerificationResendSerializer,
)
from accounts.views import ERRORS_429, ERRORS_429_2FA
from authsvc.api import ERRORS_401, ERRORS_403_CSRF, ERRORS_503, ErrorSerializer, PublicAPIView, no_store
from authsvc.net import client_ip, user_agent
from authsvc.ratelimits import enforce_ip_rate_limit, enforce_rate_limit
from authsvc.schema import RETRY_AFTER
from tokens.cookies import clear_auth_cookies

ERRORS_400_KEY = {400: OpenApiResponse(ErrorSerializer, description="verification_key_invalid: a used, expired or "
                                       "garbage key; invalid for a malformed body")}


class _EmailLinkView(PublicAPIView):
    """The key of an emailed link, posted by the page the link opens: no session needed."""

    #: The flow that spends the key: ``(key=, ip=, user_agent=)``.
    use_key = None

    def post(self, request):
        enforce_ip_rate_limit(request, "email_link_ip")
        serializer = EmailKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        type(self).use_key(ip=client_ip(request), user_agent=user_agent(request), **serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(post=extend_schema(
    summary="Verify the address with the emailed link's key",
    request=EmailKeySerializer,
    responses={204: None, **ERRORS_400_KEY, **ERRORS_429, **ERRORS_503}, parameters=[RETRY_AFTER], auth=[],
))
class EmailVerifyView(_EmailLinkView):
    use_key = verification.verify_email


class EmailVerifyResendView(APIView):
    """Signed in, or by address: credentials are read only when no address is given."""

    permission_classes = ()

    @extend_schema(
        summary="Mail a new verification link",
        description="Signed in (no body): to the account's address. With `email` and no session: to that address "
                    "if it has an unverified account — 202 whatever the address. At most one link a minute per "
                    "account; within it the last link still works and the answer is the same.",
        request=VerificationResendSerializer,
        responses={202: None, 400: ErrorSerializer, **ERRORS_401, **ERRORS_403_CSRF, **ERRORS_429, **ERRORS_503},
        parameters=[RETRY_AFTER], auth=[{"bearerAuth": []}, {"cookieAuth": []}, {}],
    )
    def post(self, request):
        serializer = VerificationResendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = serializer.validated_data.get("email")
        if email:
            enforce_ip_rate_limit(request, "verify_resend_ip")
            verification.resend(email=email)
        else:
            if not request.user or not request.user.is_authenticated:
                raise NotAuthenticated()
            verification.resend(user=request.user)
        return Response(status=status.HTTP_202_ACCEPTED)

    def perform_authentication(self, request):
        """Lazily, in ``post``: a stale cookie must not stand in the way of asking by address."""


class EmailChangeView(APIView):
    @extend_schema(
        summary="Ask to change the account's address",
        description="Mails a link to the new address (confirm with email/change/confirm) and a notice to the "
                    "current one. 400 invalid_password; email_taken; invalid with errors.email for an address "
                    "refused or looking like another account's. Password checks spend the password/change budget.",
        request=EmailChangeSerializer,
        responses={202: None, 400: ErrorSerializer, **ERRORS_401, **ERRORS_403_CSRF, **ERRORS_429, **ERRORS_503},
        parameters=[RETRY_AFTER],
    )
    def post(self, request):
        check_password_budget(request)
        serializer = EmailChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email_change.request_email_change(user=request.user, session_id=request.auth.session_id,
                                          ip=client_ip(request), user_agent=user_agent(request),
                                          **serializer.validated_data)
        return Response(status=status.HTTP_202_ACCEPTED)


@extend_schema_view(post=extend_schema(
    summary="Confirm a new address with the emailed link's key",
    description="No session needed: the link is opened from the new mailbox. The address is checked again "
                "(400 email_taken, or invalid with errors.email); then every session ends but the one that "
                "asked, remembered devices are forgotten, and the old address is told.",
    request=EmailKeySerializer,
    responses={204: None, **ERRORS_400_KEY, **ERRORS_429, **ERRORS_503}, parameters=[RETRY_AFTER], auth=[],
))
class EmailChangeConfirmView(_EmailLinkView):
    use_key = email_change.confirm_email_change


class AccountDeleteView(APIView):
    @extend_schema(
        summary="Delete the account",
        description="With the password (400 invalid_password) and, where the user has an app factor, `method` and "
                    "`code` (401 invalid_code when missing or wrong). Every session ends (and shows in the "
                    "revocation feed), the account and its factors go, the address is free, a notice is mailed. "
                    "Clears the auth cookies.",
        request=AccountDeleteSerializer,
        responses={204: None, 400: ErrorSerializer, **ERRORS_401, **ERRORS_403_CSRF, **ERRORS_429_2FA,
                   **ERRORS_503},
        parameters=[RETRY_AFTER],
    )
    def post(self, request):
        check_password_budget(request)
        serializer = AccountDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deletion.delete_own_account(user=request.user, ip=client_ip(request), user_agent=user_agent(request),
                                    **serializer.validated_data)
        response = Response(status=status.HTTP_204_NO_CONTENT)
        clear_auth_cookies(response)
        return response


class AccountExportView(APIView):
    @extend_schema(
        summary="Everything authsvc holds about the user",
        description="user, sessions, devices, factors (by name and date: never a secret, hash or code), events "
                    "(with their IPs and user agents), notices, email_links. Ten exports an hour per user.",
        responses={200: AccountExportSerializer, **ERRORS_401, **ERRORS_429, **ERRORS_503},
        parameters=[RETRY_AFTER],
    )
    def get(self, request):
        enforce_rate_limit(request, "export_user", str(request.user.pk))
        data = export.export_account(request.user, ip=client_ip(request), user_agent=user_agent(request))
        response = no_store(Response(data))
        response["Content-Disposition"] = 'attachment; filename="authsvc-export.json"'
        return response
