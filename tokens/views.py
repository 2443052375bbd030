from django.middleware.csrf import get_token
from django.views.decorators.csrf import ensure_csrf_cookie
from django.utils.decorators import method_decorator
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from authsvc.api import ERRORS_401, ERRORS_403_CSRF, ERRORS_503, ErrorSerializer, PublicAPIView, no_store, validated
from authsvc.errors import Unauthorized
from authsvc.exceptions import exception_handler
from authsvc.net import client_ip, user_agent
from authsvc.schema import RETRY_AFTER
from tokens import devices, keys, services
from tokens.authentication import bearer_token, enforce_csrf
from tokens.conf import conf
from tokens.cookies import clear_auth_cookies, delete_private_cookie, device_cookie
from tokens.responses import token_response
from tokens.serializers import (
    CsrfTokenSerializer,
    DeviceSerializer,
    JwksSerializer,
    EmptySerializer,
    LogoutRequestSerializer,
    RefreshRequestSerializer,
    RevokedCountSerializer,
    SessionSerializer,
    TokensSerializer,
    Transport,
)

class RefreshView(PublicAPIView):
    @extend_schema(
        summary="Exchange a refresh token for a new pair (rotation)",
        description=(
            "The refresh token comes from the refresh_token cookie (CSRF header required), "
            "`Authorization: Bearer <refresh>`, or the body. The answer uses the same transport. "
            "Codes: not_authenticated, token_invalid, token_expired, token_revoked, token_reused."
        ),
        request=RefreshRequestSerializer,
        responses={200: TokensSerializer, 400: ErrorSerializer, **ERRORS_401, **ERRORS_403_CSRF, **ERRORS_503},
        parameters=[RETRY_AFTER],
        auth=[],
    )
    def post(self, request):
        raw = validated(RefreshRequestSerializer, request.data).get("refresh") or bearer_token(request)
        transport = Transport.BODY
        if not raw:
            raw = request.COOKIES.get(conf.refresh_cookie)
            transport = Transport.COOKIE
            if not raw:
                raise Unauthorized("No refresh token was provided.")
            enforce_csrf(request)
        try:
            issued = services.rotate_refresh_token(raw=raw, ip=client_ip(request), user_agent=user_agent(request))
        except Unauthorized as exc:
            if transport != Transport.COOKIE:
                raise
            # The browser's cookies are dead for good: drop them with the refusal.
            response = exception_handler(exc, {"request": request, "view": self})
            clear_auth_cookies(response)
            return response
        return token_response(issued, transport)


class LogoutView(PublicAPIView):
    @extend_schema(
        summary="End the current session",
        description=(
            "Revokes the session of the access token (header or cookie) or of the refresh token "
            "(body or cookie) and clears the auth cookies. Idempotent: 204 whatever token it finds, one "
            "it cannot use or none; 400 for a malformed body, 401 for a malformed Authorization header."
        ),
        request=LogoutRequestSerializer,
        responses={204: None, 400: ErrorSerializer,
                   401: OpenApiResponse(ErrorSerializer, description="token_invalid: malformed Authorization header"),
                   **ERRORS_403_CSRF, **ERRORS_503},
        parameters=[RETRY_AFTER],
        # Whichever credential it finds, or none (then it only clears the cookies).
        auth=[{"bearerAuth": []}, {"cookieAuth": []}, {}],
    )
    def post(self, request):
        serializer = LogoutRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        header_token = bearer_token(request)
        if header_token or serializer.validated_data.get("refresh"):
            tokens = [header_token, serializer.validated_data.get("refresh")]
        else:
            tokens = [request.COOKIES.get(conf.access_cookie), request.COOKIES.get(conf.refresh_cookie)]
            if any(tokens):
                enforce_csrf(request)
        services.end_session(tokens=[raw for raw in tokens if raw], ip=client_ip(request),
                             user_agent=user_agent(request))
        response = Response(status=status.HTTP_204_NO_CONTENT)
        clear_auth_cookies(response)
        return response


class LogoutAllView(APIView):
    @extend_schema(
        summary="End every session of the current user",
        request=None,
        responses={200: RevokedCountSerializer,
                   400: OpenApiResponse(ErrorSerializer, description="a body, if sent, that is not a JSON object"),
                   **ERRORS_401, **ERRORS_403_CSRF, **ERRORS_503},
        parameters=[RETRY_AFTER],
    )
    def post(self, request):
        EmptySerializer(data=request.data).is_valid(raise_exception=True)
        revoked = services.sign_out_everywhere(user_id=request.user.pk, ip=client_ip(request),
                                               user_agent=user_agent(request))
        response = Response(RevokedCountSerializer({"revoked": revoked}).data)
        clear_auth_cookies(response)
        delete_private_cookie(response, conf.device_cookie, path=conf.device_cookie_path)
        return response


class SessionListView(APIView):
    @extend_schema(summary="The current user's active sessions, newest first",
                   responses={200: SessionSerializer(many=True), **ERRORS_401, **ERRORS_503},
                   parameters=[RETRY_AFTER])
    def get(self, request):
        sessions = services.active_sessions(user_id=request.user.pk)
        serializer = SessionSerializer(sessions, many=True, context={"current_session_id": request.auth.session_id})
        # Where the user is logged in, from which IPs: never cached (RFC 9111 §5.2.2.5).
        return no_store(Response(serializer.data))


class SessionDetailView(APIView):
    @extend_schema(summary="Revoke one of the current user's sessions",
                   responses={204: None, 404: ErrorSerializer, **ERRORS_401, **ERRORS_403_CSRF, **ERRORS_503},
                   parameters=[RETRY_AFTER])
    def delete(self, request, session_id):
        services.revoke_own_session(user_id=request.user.pk, session_id=session_id, ip=client_ip(request),
                                    user_agent=user_agent(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class JwksView(PublicAPIView):
    @extend_schema(
        summary="The public keys tokens are signed with (JWKS, RFC 7517)",
        description="The next, active and retiring keys: a resource server verifies access tokens with them, "
                    "by the kid in each token's header. Empty with JWT_ALGORITHM=HS256. Cacheable for 5 minutes.",
        responses={200: JwksSerializer}, auth=[],
    )
    def get(self, request):
        # The first key is made on first use: a fresh install publishes one before it has signed anything.
        keys.keyring.active()
        response = Response(JwksSerializer({"keys": keys.keyring.published()}).data)
        response["Cache-Control"] = "public, max-age=300"
        return response


class DeviceListView(APIView):
    @extend_schema(summary="The current user's remembered devices, newest first",
                   description="`current` marks the device whose cookie came with this request.",
                   responses={200: DeviceSerializer(many=True), **ERRORS_401, **ERRORS_503},
                   parameters=[RETRY_AFTER])
    def get(self, request):
        raw = device_cookie(request)
        context = {"current_token_hash": devices.hash_device_token(raw) if raw else None}
        serializer = DeviceSerializer(devices.remembered_devices(user_id=request.user.pk), many=True, context=context)
        return no_store(Response(serializer.data))


class DeviceDetailView(APIView):
    @extend_schema(summary="Forget one of the current user's remembered devices",
                   description="Its next password login asks for the second factor again. Another user's or "
                               "an unknown device: 404.",
                   responses={204: None, 404: ErrorSerializer, **ERRORS_401, **ERRORS_403_CSRF, **ERRORS_503},
                   parameters=[RETRY_AFTER])
    def delete(self, request, device_id):
        devices.forget_device(user_id=request.user.pk, device_id=device_id, ip=client_ip(request),
                              user_agent=user_agent(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


@method_decorator(ensure_csrf_cookie, name="dispatch")
class CsrfView(PublicAPIView):
    @extend_schema(summary="Set the csrftoken cookie and return its value",
                   description="Send it back as the X-CSRFToken header on unsafe requests authenticated by cookie.",
                   responses={200: CsrfTokenSerializer}, auth=[])
    def get(self, request):
        return Response(CsrfTokenSerializer({"csrf_token": get_token(request)}).data)
