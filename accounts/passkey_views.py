"""
Passkeys (``/api/auth/2fa/webauthn/…``, ``/api/auth/login/2fa/webauthn/begin/``,
``/api/auth/login/passkey/…``): thin views over ``accounts.flows.passkeys``
and ``accounts.flows.login``. Every ``begin`` answers WebAuthn options in the
standard JSON form, wrapped as ``{"publicKey": …}``.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.factor_views import ERRORS_400, ERRORS_403, check_password_budget
from accounts.flows import login, passkeys
from accounts.serializers import (
    PasskeyChallengeSerializer,
    PasskeyNameSerializer,
    PasskeyRegisterSerializer,
    PasskeySignInSerializer,
    PasswordConfirmSerializer,
    RegisteredPasskeySerializer,
    WebAuthnOptionsSerializer,
)
from accounts.views import ERRORS_429, ERRORS_429_2FA, challenge_secret
from authsvc.api import ERRORS_401, ERRORS_403_CSRF, ERRORS_503, ErrorSerializer, PublicAPIView, no_store
from authsvc.net import client_ip, user_agent
from authsvc.ratelimits import enforce_ip_rate_limit
from authsvc.schema import RETRY_AFTER
from tokens.responses import token_response
from tokens.serializers import EmptySerializer, TokensSerializer

ERRORS_404 = {404: OpenApiResponse(ErrorSerializer, description="not_found: no such passkey of this user")}
ERRORS_PASSKEY = {400: OpenApiResponse(ErrorSerializer, description="passkey_refused: the answer did not verify "
                                       "(origin, RP id, challenge used or expired, signature); invalid")}


def _options(options: dict) -> Response:
    return no_store(Response(WebAuthnOptionsSerializer(options).data))


class PasskeyRegisterBeginView(APIView):
    @extend_schema(summary="Register a passkey, step one: the creation options (with the password)",
                   request=PasswordConfirmSerializer,
                   responses={200: WebAuthnOptionsSerializer, **ERRORS_400, **ERRORS_401, **ERRORS_403,
                              **ERRORS_429, **ERRORS_503},
                   parameters=[RETRY_AFTER])
    def post(self, request):
        check_password_budget(request)
        serializer = PasswordConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _options(passkeys.begin_registration(user=request.user, **serializer.validated_data))


class PasskeyRegisterFinishView(APIView):
    @extend_schema(summary="Register a passkey, step two: the browser's credential",
                   description="From now on logins ask for an app factor and no code is emailed. Ten recovery "
                               "codes, shown once, if the user had none left.",
                   request=PasskeyRegisterSerializer,
                   responses={201: RegisteredPasskeySerializer, **ERRORS_PASSKEY, **ERRORS_401, **ERRORS_403,
                              **ERRORS_503},
                   parameters=[RETRY_AFTER])
    def post(self, request):
        serializer = PasskeyRegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, codes = passkeys.finish_registration(user=request.user, ip=client_ip(request),
                                                  user_agent=user_agent(request), **serializer.validated_data)
        body = RegisteredPasskeySerializer({"id": key.pk, "name": key.name, "recovery_codes": codes}).data
        return no_store(Response(body, status=status.HTTP_201_CREATED))


class PasskeyRenameView(APIView):
    @extend_schema(summary="Rename a passkey", request=PasskeyNameSerializer,
                   responses={204: None, 400: ErrorSerializer, **ERRORS_401, **ERRORS_403_CSRF, **ERRORS_404,
                              **ERRORS_503},
                   parameters=[RETRY_AFTER])
    def post(self, request, passkey_id):
        serializer = PasskeyNameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        passkeys.rename_passkey(user=request.user, passkey_id=passkey_id, **serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasskeyRemoveView(APIView):
    @extend_schema(summary="Remove a passkey (with the password)",
                   description="With no app factor left, logins go back to the emailed code.",
                   request=PasswordConfirmSerializer,
                   responses={204: None, **ERRORS_400, **ERRORS_401, **ERRORS_403_CSRF, **ERRORS_404, **ERRORS_429,
                              **ERRORS_503},
                   parameters=[RETRY_AFTER])
    def post(self, request, passkey_id):
        check_password_budget(request)
        serializer = PasswordConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        passkeys.remove_passkey(user=request.user, passkey_id=passkey_id, ip=client_ip(request),
                                user_agent=user_agent(request), **serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasskeyStepUpBeginView(APIView):
    @extend_schema(summary="Request options to answer with a passkey outside a login (account/delete)",
                   request=EmptySerializer,
                   responses={200: WebAuthnOptionsSerializer, 400: ErrorSerializer, **ERRORS_401, **ERRORS_403_CSRF,
                              **ERRORS_503},
                   parameters=[RETRY_AFTER])
    def post(self, request):
        EmptySerializer(data=request.data).is_valid(raise_exception=True)
        return _options(passkeys.begin_step_up(user=request.user))


class LoginPasskeyBeginView(PublicAPIView):
    @extend_schema(summary="Log in, step two with a passkey: the request options for the pending login",
                   description="The answer goes to login/2fa with method webauthn and `credential`.",
                   request=PasskeyChallengeSerializer,
                   responses={200: WebAuthnOptionsSerializer, 400: ErrorSerializer, **ERRORS_401, **ERRORS_429,
                              **ERRORS_503},
                   parameters=[RETRY_AFTER], auth=[])
    def post(self, request):
        enforce_ip_rate_limit(request, "two_factor_ip")
        serializer = PasskeyChallengeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        secret = challenge_secret(request, serializer.validated_data.get("challenge"))
        return _options(login.begin_login_assertion(challenge=secret))


class PasswordlessBeginView(PublicAPIView):
    @extend_schema(summary="Sign in with a passkey alone: the request options",
                   description="Any discoverable passkey of this service, user verification required.",
                   request=EmptySerializer,
                   responses={200: WebAuthnOptionsSerializer, 400: ErrorSerializer, **ERRORS_429, **ERRORS_503},
                   parameters=[RETRY_AFTER], auth=[])
    def post(self, request):
        enforce_ip_rate_limit(request, "passkey_ip")
        EmptySerializer(data=request.data).is_valid(raise_exception=True)
        return _options(passkeys.begin_sign_in())


class PasswordlessView(PublicAPIView):
    @extend_schema(summary="Sign in with a passkey alone: the browser's credential → tokens",
                   description="401 invalid_code for a refused passkey (unknown, another ceremony's, used, "
                               "without user verification, a counter gone back); 429 two_factor_cooldown while "
                               "the account's wrong answers are spent; 403 email_unverified under mandatory "
                               "verification.",
                   request=PasskeySignInSerializer,
                   responses={200: TokensSerializer, 400: ErrorSerializer, **ERRORS_401,
                              403: OpenApiResponse(ErrorSerializer, description="email_unverified"),
                              **ERRORS_429_2FA, **ERRORS_503},
                   parameters=[RETRY_AFTER], auth=[])
    def post(self, request):
        enforce_ip_rate_limit(request, "passkey_ip")
        serializer = PasskeySignInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        issued = login.sign_in_with_passkey(credential=data["credential"], ip=client_ip(request),
                                            user_agent=user_agent(request))
        return token_response(issued, data["transport"])
