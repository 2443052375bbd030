import uuid

from django.conf import settings
from django.db import models
from django.db.models import Exists, ExpressionWrapper, F, OuterRef, Q


#: The user model's field that moves on when the user's credentials change
#: (accounts.User.auth_epoch); a session is live only while it carries the
#: same value. tokens reaches the user model through settings, never by
#: import: ``tokens.checks`` makes sure the field is there.
AUTH_EPOCH_FIELD = "auth_epoch"


class SessionQuerySet(models.QuerySet):
    def with_live_refresh(self, at):
        """Annotate ``has_live_refresh``: the session holds an unused refresh token unexpired at ``at``."""
        live_refresh = RefreshToken.objects.filter(session=OuterRef("pk"), used_at__isnull=True, expires_at__gt=at)
        return self.annotate(has_live_refresh=Exists(live_refresh))

    @staticmethod
    def live_row_q(at) -> Q:
        """
        The part of the live rule that a session row and its user decide: not
        revoked, within the absolute lifetime, the user active and still on
        the credentials epoch the session began in. The hot paths
        (``tokens.store``) compile their statements from it and need no more,
        because a token's own ``exp`` already decides the rest: an access
        token never outlives the refresh token issued with it, and a refresh
        token is only exchanged before its own expiry.
        """
        return Q(revoked_at__isnull=True, expires_at__gt=at, user__is_active=True,
                 auth_epoch=F(f"user__{AUTH_EPOCH_FIELD}"))

    @classmethod
    def live_q(cls, at) -> Q:
        """
        The one definition of a live session, as a condition (on a queryset
        annotated by ``with_live_refresh``): :meth:`live_row_q`, and holding
        an unused refresh token that has not expired (a session whose newest
        refresh token expired has timed out).

        Every list, filter and column of sessions uses it through the methods
        below, and so does the purge; tests/tokens/test_live_rule.py holds
        every form, the hot paths' included, to the same answer in each case.
        """
        return cls.live_row_q(at) & Q(has_live_refresh=True)

    def active(self, at):
        """The sessions live at ``at``."""
        return self.with_live_refresh(at).filter(self.live_q(at))

    def with_liveness(self, at):
        """Annotate ``is_live`` (the same rule as :meth:`active`), for lists that show every session."""
        return self.with_live_refresh(at).annotate(
            is_live=ExpressionWrapper(self.live_q(at), output_field=models.BooleanField())
        )

    def ended(self, at):
        """Not revoked, yet no longer live at ``at``: past the absolute lifetime, idle, or its user's credentials moved on."""
        return self.with_live_refresh(at).filter(revoked_at__isnull=True).exclude(self.live_q(at))


class Session(models.Model):
    """
    One login: the family of refresh tokens that descend from it by rotation.

    Revoking the session ends every refresh token of the family and, because
    access tokens carry the session id and are checked against this row on
    every request, every access token too.
    """

    class RevokeReason(models.TextChoices):
        LOGOUT = "logout", "Signed out"
        LOGOUT_ALL = "logout_all", "Signed out everywhere"
        USER = "user", "Revoked by the user"
        REUSE = "reuse", "Refresh token reuse detected"
        PASSWORD_CHANGE = "password_change", "Password changed"
        PASSWORD_RESET = "password_reset", "Password reset"
        ADMIN = "admin", "Revoked by staff"
        COMMAND = "command", "Revoked by an operator"
        PASSWORD_SET = "password_set", "Password set by staff"
        DEACTIVATED = "deactivated", "Account deactivated"
        EMAIL_CHANGE = "email_change", "Email address changed"
        ACCOUNT_DELETED = "account_deleted", "Account deleted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(  # indexed by the (user, -created_at) index below
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="auth_sessions", db_index=False
    )
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField()
    expires_at = models.DateTimeField(help_text="Absolute end of the session, whatever the refreshes.")
    user_agent = models.CharField(max_length=512, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=32, choices=RevokeReason.choices, blank=True, default="")
    revoked_by = models.CharField(
        max_length=254, blank=True, default="", help_text="Who revoked it, when not the user: staff email, command."
    )
    auth_epoch = models.PositiveIntegerField(
        default=0, db_default=0, help_text="The user's credentials epoch at login: the session ends when the user's moves on."
    )

    objects = SessionQuerySet.as_manager()

    class Meta:
        indexes = [
            # The user's sessions, newest first (sessions list, revoke_all).
            models.Index(fields=["user", "-created_at"], name="session_user_created"),
            # The admin's sessions list, newest first, without sorting the table.
            models.Index(fields=["-created_at"], name="session_created"),
            # Purge: absolute expiry, and revoked sessions past retention.
            models.Index(fields=["expires_at"], name="session_expires"),
            models.Index(fields=["revoked_at"], name="session_revoked", condition=Q(revoked_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"session {self.id} of user {self.user_id}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class RefreshToken(models.Model):
    """
    The record of one refresh JWT ever issued. Only its id (``jti``) and
    metadata are kept, never the token: a database leak yields nothing usable.
    """

    jti = models.UUIDField(primary_key=True, editable=False)
    # The database cascades too on PostgreSQL (migration 0004): the purge deletes sessions in bulk SQL.
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="refresh_tokens")
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True, help_text="When it was exchanged (rotated).")
    replaced_by = models.UUIDField(null=True, blank=True, help_text="The jti of the token it was exchanged for.")

    class Meta:
        indexes = [
            models.Index(fields=["expires_at"], name="refresh_expires"),
        ]

    def __str__(self) -> str:
        return f"refresh token {self.jti}"


class AuthEvent(models.Model):
    """
    The audit trail: who logged in or failed to, which codes were wrong, which session was revoked by
    whom, where a stolen refresh token was replayed. Never a password, code, challenge secret or token.
    """

    class Kind(models.TextChoices):
        LOGIN_SUCCEEDED = "login_succeeded", "Login succeeded"
        LOGIN_FAILED = "login_failed", "Login failed"
        TWO_FACTOR_FAILED = "two_factor_failed", "Wrong two-factor code"
        TWO_FACTOR_LOCKED = "two_factor_locked", "Two-factor challenge locked"
        REFRESH_REUSE = "refresh_reuse", "Refresh token reuse detected"
        SESSION_REVOKED = "session_revoked", "Session revoked"
        TWO_FACTOR_DISABLED = "two_factor_disabled", "Two-factor disabled"
        TWO_FACTOR_ENABLED = "two_factor_enabled", "Two-factor enabled"
        CREDENTIALS_CHANGED = "credentials_changed", "Credentials changed"
        # Second factors: ``reason`` names the method ("totp", "recovery", "webauthn", "email"), as a
        # login's names how it was finished ("password", a method, "remembered_device").
        FACTOR_ADDED = "factor_added", "Second factor added"
        FACTOR_REMOVED = "factor_removed", "Second factor removed"
        RECOVERY_CODE_USED = "recovery_code_used", "Recovery code used"
        PASSKEY_COUNTER_WENT_BACK = "passkey_counter_went_back", "Passkey counter went back (cloned?)"
        DEVICE_REMEMBERED = "device_remembered", "Device remembered"
        DEVICE_FORGOTTEN = "device_forgotten", "Device forgotten"
        # A wrong service credential (introspection, feed, metrics); ``reason`` names the door.
        SERVICE_CREDENTIALS_REFUSED = "service_credentials_refused", "Service credentials refused"
        ACCOUNT_CREATED = "account_created", "Account created"
        SIGN_UP_TAKEN = "sign_up_taken", "Sign-up with a taken address"
        EMAIL_VERIFIED = "email_verified", "Email address verified"
        EMAIL_CHANGE_REQUESTED = "email_change_requested", "Email change requested"
        EMAIL_CHANGED = "email_changed", "Email address changed"
        ACCOUNT_EXPORTED = "account_exported", "Account data exported"
        ACCOUNT_DELETED = "account_deleted", "Account deleted"

    class Via(models.TextChoices):
        """The door the event came through: the same rules hold at each, and the trail says which."""

        API = "api", "API"
        ADMIN = "admin", "Admin"
        COMMAND = "command", "Command"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    created_at = models.DateTimeField()
    # Plain ids, no foreign keys: sessions are purged in bulk SQL, and a deleted user's events stay.
    user_id = models.BigIntegerField(null=True, blank=True)
    email = models.CharField(max_length=254, blank=True, default="", help_text="The account's, or the one tried.")
    session_id = models.UUIDField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    reason = models.CharField(max_length=64, blank=True, default="")
    actor = models.CharField(max_length=254, blank=True, default="", help_text="user, system, staff email, command")
    via = models.CharField(max_length=16, choices=Via.choices, default=Via.API)

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="authevent_created"),
            models.Index(fields=["user_id", "-created_at"], name="authevent_user"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class TrustedDevice(models.Model):
    """
    A browser or app the user asked to remember after a second factor
    (``remember_device`` on ``login/2fa``): a later password login of the same
    user presenting its token skips the second factor until ``expires_at``.
    Only a keyed hash of the token is kept. Forgotten devices are deleted:
    nothing about them is worth keeping but the audit event.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trusted_devices")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    user_agent = models.CharField(max_length=512, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    auth_epoch = models.PositiveIntegerField(
        default=0, help_text="The user's credentials epoch when remembered: the device skips nothing once it moves on.")

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="trusted_device_expires")]

    def __str__(self) -> str:
        return f"remembered device {self.id} of user {self.user_id}"


class SigningKey(models.Model):
    """
    A key tokens are signed with (``tokens.keys``). Asymmetric keys keep the
    private part encrypted at rest (``authsvc.secretbox``) and publish the
    public one as a JWK; an HS256 key row holds no secret (that stays in the
    settings) and is published nowhere, it only gives the tokens a ``kid``.

    ``next`` (published, not signing yet) → ``active`` (the one that signs)
    → ``retiring`` (verifies what it signed, signs nothing) → ``retired``
    (its tokens can no longer be valid; refused, unpublished).
    """

    class State(models.TextChoices):
        NEXT = "next", "Next (published, not signing yet)"
        ACTIVE = "active", "Active (signing)"
        RETIRING = "retiring", "Retiring (verifying only)"
        RETIRED = "retired", "Retired"

    kid = models.CharField(max_length=64, primary_key=True)
    algorithm = models.CharField(max_length=16)
    private_key = models.TextField(blank=True, default="", help_text="PEM, encrypted (authsvc.secretbox).")
    public_jwk = models.JSONField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices)
    created_at = models.DateTimeField()
    activated_at = models.DateTimeField(null=True, blank=True)
    retiring_since = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One key signs at a time; two hosts creating the first key at once: one wins.
            models.UniqueConstraint(fields=["state"], condition=Q(state="active"), name="one_active_signing_key"),
        ]

    def __str__(self) -> str:
        return f"{self.algorithm} key {self.kid} ({self.state})"


class SessionEnd(models.Model):
    """
    The revocation feed's log (``tokens.feed``): one row per session ended
    early, written in the transaction that revoked it, never updated.
    ``xid`` is that transaction's id on PostgreSQL (``pg_current_xact_id()``):
    the feed's cursor is a transaction horizon, not a time or a serial, so a
    slow transaction that commits late is never skipped. Empty on SQLite,
    where one writer at a time makes the row id a sound cursor. No foreign
    key: sessions are purged in bulk SQL, and the feed outlives nothing it needs.
    """

    id = models.BigAutoField(primary_key=True)
    session_id = models.UUIDField()
    revoked_at = models.DateTimeField()
    xid = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["xid", "id"], name="session_end_cursor"),
            models.Index(fields=["revoked_at"], name="session_end_revoked"),
        ]

    def __str__(self) -> str:
        return f"session {self.session_id} ended at {self.revoked_at:%Y-%m-%d %H:%M:%S}"
