"""The user's second factors (``/api/auth/2fa/…``): thin views over ``accounts.flows`` (factors, totp, recovery_codes)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.flows import factors, recovery_codes, totp
from accounts.serializers import (
    CodeSerializer,
    PasswordAndCodeSerializer,
    PasswordConfirmSerializer,
    RecoveryCodesSerializer,
    TotpSetupSerializer,
    TwoFactorStatusSerializer,
)
from accounts.views import ERRORS_429, ERRORS_429_2FA
from authsvc.api import ERRORS_401, ERRORS_403_CSRF, ERRORS_503, ErrorSerializer, no_store
from authsvc.net import client_ip, user_agent
from authsvc.ratelimits import enforce_rate_limit
from authsvc.schema import RETRY_AFTER

ERRORS_403 = {403: OpenApiResponse(ErrorSerializer, description="two_factor_unavailable (AUTH_2FA=off), or "
                                   "csrf_failed (credentials from a cookie without X-CSRFToken)")}
ERRORS_400 = {400: OpenApiResponse(ErrorSerializer, description="invalid (with errors), invalid_password, "
                                   "factor_exists, factor_missing")}


def check_password_budget(request) -> None:
    # The password/change budget: one per user for every old-password check behind a token.
    enforce_rate_limit(request, "password_check_user", str(request.user.pk))


class TwoFactorStatusView(APIView):
    @extend_schema(summary="The current user's second factors",
                   description="`methods`: what a login of this user can finish with, in order of preference.",
                   responses={200: TwoFactorStatusSerializer, **ERRORS_401, **ERRORS_503}, parameters=[RETRY_AFTER])
    def get(self, request):
        return no_store(Response(TwoFactorStatusSerializer(factors.factor_status(request.user)).data))


class TotpSetupView(APIView):
    @extend_schema(
        summary="Set up an authenticator app: a new secret, pending until confirmed",
        description="Old-password checks are limited per user, with password/change (429 rate_limited).",
        request=PasswordConfirmSerializer,
        responses={200: TotpSetupSerializer, **ERRORS_400, **ERRORS_401, **ERRORS_403, **ERRORS_429, **ERRORS_503},
        parameters=[RETRY_AFTER],
    )
    def post(self, request):
        check_password_budget(request)
        serializer = PasswordConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        setup = totp.begin_totp_setup(user=request.user, **serializer.validated_data)
        return no_store(Response(TotpSetupSerializer(setup).data))


class TotpConfirmView(APIView):
    @extend_schema(
        summary="Confirm the authenticator app with its first code",
        description="From now on logins ask for the app and no code is emailed. Returns ten recovery codes, shown "
                    "once, if the user had none left. 401 invalid_code for a wrong code (it spends the account's "
                    "budget of wrong answers: 429 two_factor_cooldown once spent).",
        request=CodeSerializer,
        responses={200: RecoveryCodesSerializer, **ERRORS_400, **ERRORS_401, **ERRORS_403, **ERRORS_429_2FA,
                   **ERRORS_503},
        parameters=[RETRY_AFTER],
    )
    def post(self, request):
        serializer = CodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        codes = totp.confirm_totp(user=request.user, ip=client_ip(request), user_agent=user_agent(request),
                                  **serializer.validated_data)
        return no_store(Response(RecoveryCodesSerializer({"recovery_codes": codes}).data))


class TotpDisableView(APIView):
    @extend_schema(
        summary="Remove the authenticator app",
        description="With the password and a code from the app or a recovery code. Without an app factor left, "
                    "logins go back to the emailed code. 401 invalid_code for a wrong code.",
        request=PasswordAndCodeSerializer,
        responses={204: None, **ERRORS_400, **ERRORS_401, **ERRORS_403_CSRF, **ERRORS_429_2FA, **ERRORS_503},
        parameters=[RETRY_AFTER],
    )
    def post(self, request):
        check_password_budget(request)
        serializer = PasswordAndCodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        totp.disable_totp(user=request.user, ip=client_ip(request), user_agent=user_agent(request),
                          **serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RecoveryCodesView(APIView):
    @extend_schema(
        summary="Replace the recovery codes",
        description="Ten new codes, shown once; the old ones stop working.",
        request=PasswordConfirmSerializer,
        responses={200: RecoveryCodesSerializer, **ERRORS_400, **ERRORS_401, **ERRORS_403, **ERRORS_429,
                   **ERRORS_503},
        parameters=[RETRY_AFTER],
    )
    def post(self, request):
        check_password_budget(request)
        serializer = PasswordConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        codes = recovery_codes.regenerate_recovery_codes(user=request.user, ip=client_ip(request),
                                                         user_agent=user_agent(request), **serializer.validated_data)
        return no_store(Response(RecoveryCodesSerializer({"recovery_codes": codes}).data))


class TwoFactorSwitchView(APIView):
    enabled: bool

    @extend_schema(
        request=PasswordConfirmSerializer,
        responses={204: None, 400: ErrorSerializer, **ERRORS_401,
                   403: OpenApiResponse(ErrorSerializer, description="two_factor_enforced / two_factor_unavailable, "
                                        "or csrf_failed (credentials from a cookie without X-CSRFToken)"),
                   **ERRORS_429, **ERRORS_503},
        parameters=[RETRY_AFTER],
        description="The emailed code, per user, when AUTH_2FA is optional. Old-password checks are limited per "
                    "user, with password/change (429 rate_limited).",
    )
    def post(self, request):
        check_password_budget(request)
        serializer = PasswordConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        factors.set_two_factor(user=request.user, enabled=self.enabled, ip=client_ip(request),
                               user_agent=user_agent(request), **serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TwoFactorEnableView(TwoFactorSwitchView):
    enabled = True


class TwoFactorDisableView(TwoFactorSwitchView):
    enabled = False
