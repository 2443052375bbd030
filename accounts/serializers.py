from django.contrib.auth import get_user_model
from rest_framework import serializers

from tokens.serializers import transport_field

# Long enough for any passphrase, short enough that hashing it is no DoS.
PASSWORD_MAX_LENGTH = 1024


def password_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(
        max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False, write_only=True,
        style={"input_type": "password"}, **kwargs,
    )


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = password_field()


class LoginSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = password_field()
    transport = transport_field()


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "email", "two_factor_enabled", "date_joined", "is_staff"]
        read_only_fields = fields


class RegisteredUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "email"]
        read_only_fields = fields
