"""Second factors: a pending login's challenge, the authenticator app, recovery codes, passkeys."""

import uuid

from django.db import models

from accounts.models.users import User


class TwoFactorChallengeQuerySet(models.QuerySet):
    def taking_codes(self, now):
        """The challenges a code may still be sent for and tried on: not consumed, not expired, not locked."""
        return self.filter(consumed_at__isnull=True, expires_at__gt=now, attempts__lt=TwoFactorChallenge.MAX_ATTEMPTS)


class TwoFactorChallenge(models.Model):
    """
    One pending two-step login: the password was right, the emailed code is
    awaited. The raw code and the raw challenge secret are never stored, only
    their keyed hashes (``accounts.codes``).
    """

    MAX_ATTEMPTS = 5

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="two_factor_challenges")
    secret_hash = models.CharField(max_length=64, unique=True)
    code_hash = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    code_sent_at = models.DateTimeField(null=True, blank=True)
    # The code email that login or resend asked for and no worker has sent
    # yet; its task carries this id. The worker claims it with a conditional
    # UPDATE, so a redelivered or superseded task message sends nothing
    # (``accounts.notifications.send_two_factor_code``).
    pending_send = models.UUIDField(null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    consumed_at = models.DateTimeField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    # The WebAuthn challenge this login's passkey must sign (``login/2fa/webauthn/begin``), base64url;
    # spent with the login challenge itself.
    webauthn_challenge = models.CharField(max_length=128, blank=True, default="")

    objects = TwoFactorChallengeQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="challenge_expires")]

    def __str__(self) -> str:
        return f"2FA challenge {self.id} for user {self.user_id}"


class TotpDevice(models.Model):
    """
    A user's authenticator app (RFC 6238). The secret is encrypted at rest
    (``authsvc.secretbox``). Pending until a first code confirms it
    (``confirmed_at``): an unconfirmed device is no factor. ``last_step`` is
    the newest time step a code was accepted for: a code of that step or an
    older one is refused, so each code works at most once (RFC 6238 §5.2),
    whichever host or request presents it (``accounts.methods``).
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp_device")
    encrypted_secret = models.TextField()
    created_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_step = models.BigIntegerField(default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"authenticator app of user {self.user_id}"


class RecoveryCode(models.Model):
    """One of a user's single-use recovery codes: only a keyed hash bound to the user (``accounts.recovery``)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "code_hash"], name="recovery_code_unique")]

    def __str__(self) -> str:
        return f"recovery code {self.pk} of user {self.user_id}"


class WebAuthnCredential(models.Model):
    """
    A passkey or security key of a user (WebAuthn, ``accounts.passkeys``):
    its id and COSE public key as the authenticator gave them at
    registration, and the signature counter it last reported. Nothing here is
    secret: the private key never leaves the authenticator.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="webauthn_credentials")
    credential_id = models.CharField(max_length=1400, unique=True, help_text="base64url of the credential's raw id")
    public_key = models.BinaryField(help_text="COSE_Key, as registered")
    sign_count = models.BigIntegerField(default=0)
    # The user handle the authenticator stores with a discoverable credential (random, never the pk).
    user_handle = models.CharField(max_length=128)
    transports = models.JSONField(default=list, blank=True)
    aaguid = models.CharField(max_length=36, blank=True, default="")
    backed_up = models.BooleanField(default=False, help_text="A synced (multi-device) passkey")
    name = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"passkey {self.name!r} of user {self.user_id}"


class WebAuthnCeremony(models.Model):
    """
    One WebAuthn ceremony outside a password login's challenge: a passkey's
    registration, a passwordless sign-in, or a passkey asked for again
    (``STEP_UP``: deleting the account). Found by the challenge the
    authenticator signed (it is in the credential's clientDataJSON) and
    spent by a conditional UPDATE: each works once, before ``expires_at``,
    and — but for a passwordless sign-in, which names no user before it —
    only for its user.
    """

    class Purpose(models.TextChoices):
        REGISTER = "register", "Register a passkey"
        SIGN_IN = "sign_in", "Passwordless sign-in"
        STEP_UP = "step_up", "Passkey asked for again"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    challenge = models.CharField(max_length=128, unique=True, help_text="base64url, as sent in the options")
    # A registration's user handle (base64url), as put in the options: the new passkey's.
    user_handle = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="webauthn_ceremony_expires")]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} ceremony {self.id}"
