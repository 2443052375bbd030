"""What the account is mailed: security notices, and the links that prove an address."""

import uuid

from django.db import models

from accounts.models.users import User


class Notice(models.Model):
    """
    A security notice owed to a user (a credentials or factor change, a new
    sign-in): written with the change, in its transaction, and mailed by a
    worker that claims it first (``sent_at``), so a task delivered twice
    sends it once. ``key`` makes one notice of one event: the change the
    flows record and the same change seen by the model (a password set in a
    shell, ``accounts.receivers``) are one row. ``context`` holds what the
    email says — never a secret.
    """

    class Kind(models.TextChoices):
        CREDENTIALS_CHANGED = "credentials_changed", "Credentials changed"
        FACTOR_CHANGED = "factor_changed", "Second factor changed"
        NEW_SIGN_IN = "new_sign_in", "New sign-in"
        PASSWORD_RESET = "password_reset", "Password reset link"
        SIGN_IN_ATTEMPTS = "sign_in_attempts", "Someone is trying to sign in"
        TWO_FACTOR_PAUSED = "two_factor_paused", "Too many wrong sign-in codes"
        SIGN_UP_ATTEMPT = "sign_up_attempt", "Someone tried to sign up with this address"
        EMAIL_CHANGE_REQUESTED = "email_change_requested", "Address change requested"
        EMAIL_CHANGED = "email_changed", "Address changed"
        ACCOUNT_DELETED = "account_deleted", "Account deleted"
        ACCOUNT_EXPORTED = "account_exported", "Account data exported"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Empty for the farewell of a deleted account, which outlives its row.
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notices", null=True, blank=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    key = models.CharField(max_length=128)
    # Where it goes when not to the user's address: the old address of an
    # email change, the address of a deleted account.
    to = models.CharField(max_length=254, blank=True, default="")
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="notice_once")]
        indexes = [models.Index(fields=["created_at"], name="notice_created")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} notice to user {self.user_id}"


class EmailLink(models.Model):
    """
    A link mailed to prove an address: the account's own (``VERIFY``) or the
    new one it asked to move to (``CHANGE``). The key is made in the worker
    that mails it, and only its keyed hash is stored, in the same claim that
    marks the link sent (``notifications.send_email_link``); using the link
    is a conditional UPDATE of ``used_at``, so it works once, and only until
    ``expires_at``.
    """

    class Purpose(models.TextChoices):
        VERIFY = "verify", "Verify the address"
        CHANGE = "change", "Change to this address"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="email_links")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    email = models.CharField(max_length=254, help_text="The address the link goes to, and proves.")
    key_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    # The worker's task that made it (a link asked for by address): a redelivered task finds it made,
    # and its send already claimed.
    task_id = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    # The session that asked for an email change: it stays signed in when the change is confirmed.
    session_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "purpose", "-created_at"], name="email_link_user"),
            models.Index(fields=["expires_at"], name="email_link_expires"),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} link for user {self.user_id}"
