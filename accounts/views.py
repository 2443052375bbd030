from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.errors import ChallengeMissing
from accounts.flows import challenges, login, passwords, registration, verification
from accounts.limits import enforce_login_email_limits
from accounts.models import normalize_email
from accounts.serializers import (
    LoginSerializer,
    PasswordChangeSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetSerializer,
    RegisteredSerializer,
    RegisteredUserSerializer,
    RegisterSerializer,
    TwoFactorLoginSerializer,
    TwoFactorPendingSerializer,
    TwoFactorResendSerializer,
    UserSerializer,
)
from authsvc.api import (
    ERRORS_401, ERRORS_403_CSRF, ERRORS_503, ErrorSerializer, PublicAPIView, no_store, represent,
)
from authsvc.net import client_ip, user_agent
from authsvc.ratelimits import enforce_ip_rate_limit, enforce_rate_limit
from authsvc.schema import RETRY_AFTER
from tokens.cookies import delete_private_cookie, device_cookie, set_private_cookie
from tokens.responses import token_response
from tokens.serializers import TokensSerializer, Transport

# The challenge cookie only travels to the login endpoints (login/2fa/, login/2fa/resend/).
CHALLENGE_COOKIE = "two_factor_auth"
CHALLENGE_COOKIE_PATH = "/api/auth/login/"

ERRORS_429 = {429: OpenApiResponse(ErrorSerializer, description="rate_limited, with Retry-After")}
ERRORS_429_2FA = {429: OpenApiResponse(
    ErrorSerializer,
    description="with Retry-After: rate_limited, or two_factor_cooldown (the account's wrong codes for the hour "
                "are spent: no code is checked and no login gets a challenge until Retry-After)",
)}
LOGIN_RESPONSES = {
    200: PolymorphicProxySerializer(
        component_name="LoginResult",
        serializers=[TokensSerializer, TwoFactorPendingSerializer],
        resource_type_field_name=None,
    ),
    400: ErrorSerializer, **ERRORS_401, **ERRORS_429_2FA, **ERRORS_503,
}


def challenge_secret(request, given: str | None) -> str:
    secret = given or request.COOKIES.get(CHALLENGE_COOKIE)
    if not secret:
        raise ChallengeMissing()
    return secret


class RegisterView(PublicAPIView):
    @extend_schema(
        summary="Create an account",
        description="A verification link is mailed (unless ACCOUNT_EMAIL_VERIFICATION=none). With `mandatory`, "
                    "a taken address gets the answer a new one gets, {email} and no id, and its owner is mailed.",
        request=RegisterSerializer,
        responses={201: RegisteredSerializer,
                   400: OpenApiResponse(ErrorSerializer, description="invalid (with errors) or email_taken"),
                   **ERRORS_429, **ERRORS_503},
        parameters=[RETRY_AFTER],
        auth=[],
    )
    def post(self, request):
        enforce_ip_rate_limit(request, "register_ip")
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = registration.register_user(ip=client_ip(request), user_agent=user_agent(request),
                                          **serializer.validated_data)
        if verification.required():
            # No id, and nothing else that differs from a taken address's answer.
            body = {"email": normalize_email(serializer.validated_data["email"])}
            return Response(body, status=status.HTTP_201_CREATED)
        return Response(RegisteredUserSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginView(PublicAPIView):
    @extend_schema(
        summary="Log in with email and password",
        description=(
            "Unknown email and wrong password give the same 401 invalid_credentials. When two-factor "
            "applies, the answer is {two_factor_required, expires_in} and a code is emailed; the challenge "
            "travels in the HttpOnly two_factor_auth cookie, or as `challenge` in the body for transport 'body'. "
            "transport 'cookie' (default) sets HttpOnly token cookies; 'body' returns both tokens. "
            "Limits (429 with Retry-After): per client network, per (email, network), per email (its owner is "
            "mailed when that one trips); with the right password, the account's code emails an hour "
            "(rate_limited) and its wrong codes an hour (two_factor_cooldown)."
        ),
        request=LoginSerializer, responses=LOGIN_RESPONSES, parameters=[RETRY_AFTER], auth=[],
    )
    def post(self, request):
        ip = client_ip(request)
        enforce_ip_rate_limit(request, "login_ip")
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        enforce_login_email_limits(request, data["email"])
        result = login.login(email=data["email"], password=data["password"], ip=ip, user_agent=user_agent(request),
                             device_token=data.get("device_token") or device_cookie(request))
        if isinstance(result, challenges.TwoFactorPending):
            return self._pending(result, data["transport"])
        return token_response(result, data["transport"])

    @staticmethod
    def _pending(pending: challenges.TwoFactorPending, transport: str) -> Response:
        body = {"two_factor_required": True, "expires_in": pending.expires_in, "methods": list(pending.methods)}
        if transport == Transport.BODY:
            body["challenge"] = pending.challenge
            return no_store(Response(body))
        response = Response(body)
        set_private_cookie(response, CHALLENGE_COOKIE, pending.challenge, path=CHALLENGE_COOKIE_PATH,
                           max_age=pending.expires_in)
        return no_store(response)


class TwoFactorLoginView(PublicAPIView):
    @extend_schema(
        summary="Log in, step two: the second factor",
        description="`method` (default: the first the login answer listed) with its `code`, or a passkey's "
                    "`credential` (options from login/2fa/webauthn/begin). `remember_device`: "
                    "the answer also sets the device cookie (or returns device_token, body transport). "
                    "Codes: invalid_code, method_unavailable (400), challenge_missing, challenge_invalid, challenge_expired (also a "
                    "challenge ended by a newer login: an account holds three by default), challenge_locked "
                    "(5 wrong answers, all methods together), challenge_used; 429 two_factor_cooldown once the account's wrong codes "
                    "for the hour are spent (every open challenge ends, the owner is mailed).",
        request=TwoFactorLoginSerializer,
        responses={200: TokensSerializer, 400: ErrorSerializer, **ERRORS_401, **ERRORS_429_2FA, **ERRORS_503},
        parameters=[RETRY_AFTER],
        auth=[],
    )
    def post(self, request):
        enforce_ip_rate_limit(request, "two_factor_ip")
        serializer = TwoFactorLoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        secret = challenge_secret(request, data.get("challenge"))
        enforce_rate_limit(request, "two_factor_challenge", secret)
        passkey = data.get("credential") is not None and data.get("method") in (None, "webauthn")
        issued = login.complete_two_factor_login(
            challenge=secret, code=data["credential"] if passkey else data.get("code", ""),
            method=data.get("method") or ("webauthn" if passkey else None), remember_device=data["remember_device"],
            ip=client_ip(request), user_agent=user_agent(request),
        )
        response = token_response(issued, data["transport"])
        delete_private_cookie(response, CHALLENGE_COOKIE, path=CHALLENGE_COOKIE_PATH)
        return response


class TwoFactorResendView(PublicAPIView):
    @extend_schema(
        summary="Email a new code for the pending login",
        description="The previous code stops working. One email per 30 s per challenge, and by default at most "
                    "10 code emails an hour per account, logins included (429 rate_limited with Retry-After).",
        request=TwoFactorResendSerializer,
        responses={202: None, 400: ErrorSerializer, **ERRORS_401, **ERRORS_429, **ERRORS_503},
        parameters=[RETRY_AFTER],
        auth=[],
    )
    def post(self, request):
        enforce_ip_rate_limit(request, "resend_ip")
        serializer = TwoFactorResendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        challenges.resend_two_factor_code(challenge=challenge_secret(request, serializer.validated_data.get("challenge")))
        return Response(status=status.HTTP_202_ACCEPTED)


class MeView(APIView):
    @extend_schema(summary="The current user", responses={200: UserSerializer, **ERRORS_401, **ERRORS_503},
                   parameters=[RETRY_AFTER])
    def get(self, request):
        # Account data: no shared cache or back/forward store keeps it (RFC 9111 §5.2.2.5).
        return no_store(Response(represent(UserSerializer, request.user)))


class PasswordChangeView(APIView):
    @extend_schema(
        summary="Change the password",
        description="Keeps the current session and revokes every other session of the user. The new password "
                    "is judged first (400 invalid with errors.new_password whatever the old one), then the old "
                    "(400 invalid_password). Old-password checks are limited per user, with 2fa/enable and "
                    "2fa/disable (429 rate_limited).",
        request=PasswordChangeSerializer,
        responses={204: None, 400: ErrorSerializer, **ERRORS_401, **ERRORS_403_CSRF, **ERRORS_429, **ERRORS_503},
        parameters=[RETRY_AFTER],
    )
    def post(self, request):
        # Per user, whatever the address: a stolen access token buys no password guessing.
        enforce_rate_limit(request, "password_check_user", str(request.user.pk))
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        passwords.change_password(user=request.user, current_session_id=request.auth.session_id,
                                  ip=client_ip(request), user_agent=user_agent(request), **serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetView(PublicAPIView):
    @extend_schema(
        summary="Ask for a password reset email",
        description="Always 202, whether or not the email has an account.",
        request=PasswordResetSerializer, responses={202: None, 400: ErrorSerializer, **ERRORS_429, **ERRORS_503},
        parameters=[RETRY_AFTER], auth=[],
    )
    def post(self, request):
        enforce_ip_rate_limit(request, "reset_ip")
        serializer = PasswordResetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        enforce_rate_limit(request, "reset_email", normalize_email(serializer.validated_data["email"]))
        passwords.request_password_reset(**serializer.validated_data)
        return Response(status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(PublicAPIView):
    @extend_schema(
        summary="Set a new password from a reset link",
        description="Revokes every session of the user. 400 reset_token_invalid for a bad, used or old link; "
                    "400 invalid with errors.new_password for a password the validators refuse.",
        request=PasswordResetConfirmSerializer,
        responses={204: None, 400: ErrorSerializer, **ERRORS_429, **ERRORS_503},
        parameters=[RETRY_AFTER], auth=[],
    )
    def post(self, request):
        enforce_ip_rate_limit(request, "reset_ip")
        serializer = PasswordResetConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        passwords.confirm_password_reset(ip=client_ip(request), user_agent=user_agent(request),
                                        **serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)
