from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.errors import ChallengeMissing
from accounts.serializers import (
    LoginSerializer,
    PasswordChangeSerializer,
    PasswordConfirmSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetSerializer,
    RegisteredUserSerializer,
    RegisterSerializer,
    TwoFactorLoginSerializer,
    TwoFactorPendingSerializer,
    TwoFactorResendSerializer,
    UserSerializer,
)
from authsvc.net import client_ip, user_agent
from authsvc.ratelimits import enforce_rate_limit
from tokens.cookies import delete_private_cookie, set_private_cookie
from tokens.responses import no_store, token_response
from tokens.serializers import BodyTokensSerializer, ErrorSerializer, Transport
from tokens.views import ERRORS_401, PublicAPIView

# The challenge cookie only travels to the login endpoints (login/2fa/, login/2fa/resend/).
CHALLENGE_COOKIE = "two_factor_auth"
CHALLENGE_COOKIE_PATH = "/api/auth/login/"

ERRORS_429 = {429: OpenApiResponse(ErrorSerializer, description="rate_limited, with Retry-After")}
LOGIN_RESPONSES = {
    200: PolymorphicProxySerializer(
        component_name="LoginResult",
        serializers=[BodyTokensSerializer, TwoFactorPendingSerializer],
        resource_type_field_name=None,
    ),
    400: ErrorSerializer, **ERRORS_401, **ERRORS_429,
}


def _challenge_secret(request, given: str | None) -> str:
    secret = given or request.COOKIES.get(CHALLENGE_COOKIE)
    if not secret:
        raise ChallengeMissing()
    return secret


class RegisterView(PublicAPIView):
    @extend_schema(
        summary="Create an account",
        request=RegisterSerializer,
        responses={201: RegisteredUserSerializer,
                   400: OpenApiResponse(ErrorSerializer, description="invalid (with errors) or email_taken"),
                   **ERRORS_429},
        auth=[],
    )
    def post(self, request):
        enforce_rate_limit(request, "register_ip", client_ip(request))
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.register_user(**serializer.validated_data)
        return Response(RegisteredUserSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginView(PublicAPIView):
    @extend_schema(
        summary="Log in with email and password",
        description=(
            "Unknown email and wrong password give the same 401 invalid_credentials. When two-factor "
            "applies, the answer is {two_factor_required, expires_in} and a code is emailed; the challenge "
            "travels in the HttpOnly two_factor_auth cookie, or as `challenge` in the body for transport 'body'. "
            "transport 'cookie' (default) sets HttpOnly token cookies; 'body' returns both tokens."
        ),
        request=LoginSerializer, responses=LOGIN_RESPONSES, auth=[],
    )
    def post(self, request):
        ip = client_ip(request)
        enforce_rate_limit(request, "login_ip", ip)
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        enforce_rate_limit(request, "login_email", data["email"].lower())
        result = services.login(email=data["email"], password=data["password"], ip=ip, user_agent=user_agent(request))
        if isinstance(result, services.TwoFactorPending):
            return self._pending(result, data["transport"])
        return token_response(result, data["transport"])

    @staticmethod
    def _pending(pending: services.TwoFactorPending, transport: str) -> Response:
        body = {"two_factor_required": True, "expires_in": pending.expires_in}
        if transport == Transport.BODY:
            body["challenge"] = pending.challenge
            return no_store(Response(body))
        response = Response(body)
        set_private_cookie(response, CHALLENGE_COOKIE, pending.challenge, path=CHALLENGE_COOKIE_PATH,
                           max_age=pending.expires_in)
        return no_store(response)


class TwoFactorLoginView(PublicAPIView):
    @extend_schema(
        summary="Log in, step two: the emailed code",
        description="Codes: invalid_code, challenge_missing, challenge_invalid, challenge_expired, "
                    "challenge_locked (5 wrong codes), challenge_used.",
        request=TwoFactorLoginSerializer,
        responses={200: BodyTokensSerializer, 400: ErrorSerializer, **ERRORS_401, **ERRORS_429},
        auth=[],
    )
    def post(self, request):
        enforce_rate_limit(request, "two_factor_ip", client_ip(request))
        serializer = TwoFactorLoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        secret = _challenge_secret(request, data.get("challenge"))
        enforce_rate_limit(request, "two_factor_challenge", secret)
        issued = services.complete_two_factor_login(
            challenge=secret, code=data["code"], ip=client_ip(request), user_agent=user_agent(request)
        )
        response = token_response(issued, data["transport"])
        delete_private_cookie(response, CHALLENGE_COOKIE, path=CHALLENGE_COOKIE_PATH)
        return response


class TwoFactorResendView(PublicAPIView):
    @extend_schema(
        summary="Email a new code for the pending login",
        description="The previous code stops working. One email per 30 s per challenge (429 with Retry-After).",
        request=TwoFactorResendSerializer,
        responses={202: None, 400: ErrorSerializer, **ERRORS_401, **ERRORS_429},
        auth=[],
    )
    def post(self, request):
        enforce_rate_limit(request, "resend_ip", client_ip(request))
        serializer = TwoFactorResendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.resend_two_factor_code(challenge=_challenge_secret(request, serializer.validated_data.get("challenge")))
        return Response(status=status.HTTP_202_ACCEPTED)


class MeView(APIView):
    @extend_schema(summary="The current user", responses={200: UserSerializer, **ERRORS_401})
    def get(self, request):
        return Response(UserSerializer(request.user).data)


class PasswordChangeView(APIView):
    @extend_schema(
        summary="Change the password",
        description="Keeps the current session and revokes every other session of the user.",
        request=PasswordChangeSerializer, responses={204: None, 400: ErrorSerializer, **ERRORS_401},
    )
    def post(self, request):
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.change_password(user=request.user, current_session_id=request.auth.session_id,
                                 ip=client_ip(request), user_agent=user_agent(request), **serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetView(PublicAPIView):
    @extend_schema(
        summary="Ask for a password reset email",
        description="Always 202, whether or not the email has an account.",
        request=PasswordResetSerializer, responses={202: None, 400: ErrorSerializer, **ERRORS_429}, auth=[],
    )
    def post(self, request):
        enforce_rate_limit(request, "reset_ip", client_ip(request))
        serializer = PasswordResetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        enforce_rate_limit(request, "reset_email", serializer.validated_data["email"].lower())
        services.request_password_reset(**serializer.validated_data)
        return Response(status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(PublicAPIView):
    @extend_schema(
        summary="Set a new password from a reset link",
        description="Revokes every session of the user. 400 reset_token_invalid for a bad, used or old link.",
        request=PasswordResetConfirmSerializer, responses={204: None, 400: ErrorSerializer, **ERRORS_429}, auth=[],
    )
    def post(self, request):
        enforce_rate_limit(request, "reset_ip", client_ip(request))
        serializer = PasswordResetConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.confirm_password_reset(ip=client_ip(request), user_agent=user_agent(request),
                                        **serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TwoFactorSwitchView(APIView):
    enabled: bool

    @extend_schema(
        request=PasswordConfirmSerializer,
        responses={204: None, 400: ErrorSerializer, **ERRORS_401,
                   403: OpenApiResponse(ErrorSerializer, description="two_factor_enforced / two_factor_unavailable")},
    )
    def post(self, request):
        serializer = PasswordConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.set_two_factor(user=request.user, enabled=self.enabled, **serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TwoFactorEnableView(TwoFactorSwitchView):
    enabled = True


class TwoFactorDisableView(TwoFactorSwitchView):
    enabled = False
