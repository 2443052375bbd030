from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.serializers import LoginSerializer, RegisteredUserSerializer, RegisterSerializer, UserSerializer
from authsvc.net import client_ip, user_agent
from tokens.responses import token_response
from tokens.serializers import BodyTokensSerializer, ErrorSerializer
from tokens.views import ERRORS_401, PublicAPIView


class RegisterView(PublicAPIView):
    @extend_schema(
        summary="Create an account",
        request=RegisterSerializer,
        responses={201: RegisteredUserSerializer,
                   400: OpenApiResponse(ErrorSerializer, description="invalid (with errors) or email_taken")},
        auth=[],
    )
    def post(self, request):
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.register_user(**serializer.validated_data)
        return Response(RegisteredUserSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginView(PublicAPIView):
    @extend_schema(
        summary="Log in with email and password",
        description=(
            "Unknown email and wrong password give the same 401 invalid_credentials. "
            "transport 'cookie' (default) sets HttpOnly cookies; 'body' returns both tokens."
        ),
        request=LoginSerializer,
        responses={200: BodyTokensSerializer, 400: ErrorSerializer, **ERRORS_401},
        auth=[],
    )
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        issued = services.login(
            email=data["email"], password=data["password"], ip=client_ip(request), user_agent=user_agent(request)
        )
        return token_response(issued, data["transport"])


class MeView(APIView):
    @extend_schema(summary="The current user", responses={200: UserSerializer, **ERRORS_401})
    def get(self, request):
        return Response(UserSerializer(request.user).data)
