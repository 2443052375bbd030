"""simplejwt's documented URLs, plus a ``/me`` protected by its ``JWTAuthentication`` (the default class)."""

from django.contrib.auth import get_user_model
from django.urls import path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView


class UserSerializer(serializers.ModelSerializer):
    # The same shape as authsvc's GET /api/auth/me/.
    class Meta:
        model = get_user_model()
        fields = ["id", "email", "username", "date_joined", "is_staff"]
        read_only_fields = fields


class MeView(APIView):
    def get(self, request):
        return Response(UserSerializer(request.user).data)


urlpatterns = [
    path("api/token/", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("api/token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("me", MeView.as_view(), name="me"),
]
