from django.contrib.auth import get_user_model
from rest_framework import serializers

from authsvc.api import UtcDateTimeField
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


METHODS = ("webauthn", "totp", "email", "recovery")


class LoginSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = password_field()
    transport = transport_field()
    # No max_length, blank or null allowed: a token that does not count is
    # ignored, never a 400 (DESIGN.md); ``tokens.devices`` drops over-long ones unhashed.
    device_token = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, write_only=True,
        help_text="A remembered device's token (body transport): this user's login skips the second factor. "
                  "Browsers send the device cookie. One that does not count is ignored.",
    )


class TwoFactorPendingSerializer(serializers.Serializer):
    two_factor_required = serializers.BooleanField(default=True)
    expires_in = serializers.IntegerField(help_text="Seconds the challenge (and an emailed code) stays valid.")
    methods = serializers.ListField(
        child=serializers.ChoiceField(choices=METHODS),
        help_text="What this user can finish with, in order of preference: webauthn, totp, email (only for users "
                  "with no app factor), recovery (while codes are left).",
    )
    challenge = serializers.CharField(required=False, help_text="Body transport only.")


def credential_field(**kwargs) -> serializers.JSONField:
    # Any JSON value parses (null included): whether it is a passkey's answer is the check's to say (401).
    return serializers.JSONField(
        help_text="A passkey's answer: the PublicKeyCredential from navigator.credentials as JSON (its toJSON()).",
        allow_null=True, **kwargs)


class TwoFactorLoginSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32, required=False,
                                 help_text="The answer: a 6-digit code (email, totp) or a recovery code.")
    credential = credential_field(required=False)
    method = serializers.ChoiceField(choices=METHODS, required=False,
                                     help_text="Default: the first of the login answer's methods.")
    challenge = challenge_field()
    transport = transport_field()
    remember_device = serializers.BooleanField(
        default=False, help_text="Remember this browser or app: its next password logins skip the second factor.")

    def validate(self, data):
        """An answer: ``code``, or a passkey's ``credential`` (whether it suits the method is the login's to say)."""
        if data.get("code") in (None, "") and data.get("credential") is None:
            raise serializers.ValidationError({"code": ["This field is required."]})
        return data


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


class CodeSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32, help_text="A 6-digit code from the authenticator app.")


class PasswordAndCodeSerializer(serializers.Serializer):
    password = password_field()
    code = serializers.CharField(max_length=32, help_text="A code from the authenticator app, or a recovery code.")


class PasskeySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    created_at = UtcDateTimeField()
    last_used_at = UtcDateTimeField(allow_null=True)


class TwoFactorStatusSerializer(serializers.Serializer):
    methods = serializers.ListField(child=serializers.ChoiceField(choices=METHODS))
    recovery_codes_left = serializers.IntegerField()
    webauthn = PasskeySerializer(many=True, help_text="The user's passkeys and security keys.")


class TotpSetupSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="Base32, for typing into an app that cannot scan.")
    otpauth_uri = serializers.CharField()
    qr_svg = serializers.CharField(help_text="The otpauth URI as an inline SVG QR code.")


class RecoveryCodesSerializer(serializers.Serializer):
    recovery_codes = serializers.ListField(
        child=serializers.CharField(), help_text="Shown once: only their hashes are kept. Empty when the user had "
                                                 "codes left already.")


class UserSerializer(serializers.Serializer):
    """
    GET /me, on every page load of every client: its fields are declared, not
    derived from the model, which a ModelSerializer redoes on each instance
    (about 0.15 ms of a 1 ms request, bench/RESULTS.md).
    """

    id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(read_only=True)
    email_verified = serializers.BooleanField(read_only=True)
    two_factor_enabled = serializers.BooleanField(read_only=True)
    date_joined = UtcDateTimeField(read_only=True)
    is_staff = serializers.BooleanField(read_only=True)


class RegisteredUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "email"]
        read_only_fields = fields


class RegisteredSerializer(serializers.Serializer):
    """What ``register`` answers (documents it; ``RegisteredUserSerializer`` renders the account)."""

    id = serializers.IntegerField(required=False, help_text="Absent with ACCOUNT_EMAIL_VERIFICATION=mandatory, "
                                                            "where a taken address gets the same answer.")
    email = serializers.EmailField()


class EmailKeySerializer(serializers.Serializer):
    # No max_length: any string that is not a live key is verification_key_invalid
    # (``links.use`` refuses a long one unhashed; the body limit bounds it).
    key = serializers.CharField(help_text="The key from the emailed link.")


class VerificationResendSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254, required=False,
                                   help_text="Without a session: the address to send a new link to.")


class EmailChangeSerializer(serializers.Serializer):
    password = password_field()
    new_email = serializers.EmailField(max_length=254)

    def to_internal_value(self, data):
        """A refused address is under ``errors.email`` whoever refuses it, this syntax check or the address rules."""
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict) and "new_email" in exc.detail:
                exc.detail["email"] = exc.detail.pop("new_email")
            raise


class AccountDeleteSerializer(serializers.Serializer):
    password = password_field()
    method = serializers.ChoiceField(choices=METHODS, required=False,
                                     help_text="With an app factor: which one answers (default: the first).")
    code = serializers.CharField(max_length=32, required=False, allow_blank=True,
                                 help_text="With an app factor: its code, or a recovery code.")
    credential = credential_field(required=False)


class AccountExportSerializer(serializers.Serializer):
    """GET account/export: what authsvc holds about the user (documents the answer; the flow builds it)."""

    exported_at = UtcDateTimeField()
    user = serializers.DictField(help_text="id, email, email_verified, date_joined, last_login, is_active, is_staff, "
                                           "two_factor_enabled")
    sessions = serializers.ListField(child=serializers.DictField(), help_text="Every session, ended ones too.")
    devices = serializers.ListField(child=serializers.DictField(), help_text="Remembered devices.")
    factors = serializers.ListField(child=serializers.DictField(), help_text="By method and dates: never a secret.")
    events = serializers.ListField(child=serializers.DictField(), help_text="The audit trail of the user.")
    notices = serializers.ListField(child=serializers.DictField())
    email_links = serializers.ListField(child=serializers.DictField(), help_text="Links mailed: never their keys.")


class WebAuthnOptionsSerializer(serializers.Serializer):
    """WebAuthn options in the standard JSON form (PublicKeyCredential.parseCreationOptionsFromJSON / ...RequestOptions...)."""

    publicKey = serializers.DictField()  # noqa: N815 (the standard's name)


class PasskeyRegisterSerializer(serializers.Serializer):
    credential = credential_field()
    name = serializers.CharField(max_length=64, required=False, allow_blank=True,
                                 help_text="What to call it (default: Passkey n).")


class RegisteredPasskeySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    recovery_codes = serializers.ListField(child=serializers.CharField(),
                                           help_text="Shown once: ten new codes if the user had none left, else empty.")


class PasskeyNameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)


class PasskeyChallengeSerializer(serializers.Serializer):
    challenge = challenge_field()


class PasskeySignInSerializer(serializers.Serializer):
    credential = credential_field()
    transport = transport_field()
