from django.contrib.auth import get_user_model
from rest_framework import serializers

from tokens.serializers import transport_field

# Long enough for any passphrase, short enough that hashing it is no DoS.
PASSWORD_MAX_LENGTH = 1024
CHALLENGE_MAX_LENGTH = 128


class NewPasswordField(serializers.CharField):
    """
    A password the service will judge with Django's validators
    (``AUTH_PASSWORD_VALIDATORS``); it parses like any other. Its schema
    states their rules (authsvc/schema.py).
    """


def password_field(*, new: bool = False, **kwargs) -> serializers.CharField:
    field_class = NewPasswordField if new else serializers.CharField
    return field_class(
        max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False, write_only=True,
        style={"input_type": "password"}, **kwargs,
    )


def challenge_field() -> serializers.CharField:
    return serializers.CharField(
        max_length=CHALLENGE_MAX_LENGTH, required=False,
        help_text="The challenge from the login response (body transport). Browsers send the two_factor_auth cookie.",
    )


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = password_field(new=True)


class LoginSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = password_field()
    transport = transport_field()


class TwoFactorPendingSerializer(serializers.Serializer):
    two_factor_required = serializers.BooleanField(default=True)
    expires_in = serializers.IntegerField(help_text="Seconds the emailed code stays valid.")
    challenge = serializers.CharField(required=False, help_text="Body transport only.")


class TwoFactorLoginSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=16, help_text="The 6-digit code from the email.")
    challenge = challenge_field()
    transport = transport_field()


class TwoFactorResendSerializer(serializers.Serializer):
    challenge = challenge_field()


class PasswordChangeSerializer(serializers.Serializer):
    old_password = password_field()
    new_password = password_field(new=True)


class PasswordResetSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    new_password = password_field(new=True)


class PasswordConfirmSerializer(serializers.Serializer):
    password = password_field()


class UserSerializer(serializers.Serializer):
    """
    GET /me, on every page load of every client: its fields are declared, not
    derived from the model, which a ModelSerializer redoes on each instance
    (about 0.15 ms of a 1 ms request, bench/RESULTS.md).
    """

    id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(read_only=True)
    two_factor_enabled = serializers.BooleanField(read_only=True)
    date_joined = serializers.DateTimeField(read_only=True)
    is_staff = serializers.BooleanField(read_only=True)


class RegisteredUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "email"]
        read_only_fields = fields
