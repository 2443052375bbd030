"""simplejwt's documented URLs, plus a ``/me`` protected by its ``JWTAuthentication`` (the default class)."""

from django.urls import path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView


class UserSerializer(serializers.Serializer):
    # The same shape, and the same kind of serializer, as authsvc's GET
    # /api/auth/me/: the bench compares the authentication, not the view.
    id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(read_only=True)
    username = serializers.CharField(read_only=True)
    date_joined = serializers.DateTimeField(read_only=True)
    is_staff = serializers.BooleanField(read_only=True)


class MeView(APIView):
    def get(self, request):
        return Response(UserSerializer(request.user).data)


urlpatterns = [
    path("api/token/", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("api/token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("me", MeView.as_view(), name="me"),
]
