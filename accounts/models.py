import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

# The one normal form of an address (NFKC, case-insensitive, IDNA domain): accounts/addresses.py.
from accounts.addresses import normalize_email, skeleton


class UserManager(BaseUserManager):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        # Django's own lower-cases the domain only; whoever asks the manager gets the project's rule.
        return normalize_email(email or "")

    def get_by_natural_key(self, email):
        """The login's lookup (ModelBackend, so the admin's too; ``revoke_all``): any spelling of the address."""
        return self.get(email=normalize_email(email))

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        user = self.model(email=normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with an email address and a password."""

    email = models.EmailField(max_length=254, unique=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    two_factor_enabled = models.BooleanField(
        default=False, help_text="Whether login asks for an emailed code (when AUTH_2FA is 'optional')."
    )
    auth_epoch = models.PositiveIntegerField(
        default=0, db_default=0, editable=False,
        help_text="Moves on when the password is set, the address changed or the account deactivated: every older "
                  "session ends.",
    )
    email_verified = models.BooleanField(
        default=False, db_default=False,
        help_text="The owner of the address proved it: a verification link, an email change, an emailed sign-in code.",
    )
    # What the address looks like (``addresses.skeleton``), uniquely indexed:
    # an address that passes for an existing account's is refused in either
    # order, and of two look-alikes registered at once the index lets one in.
    # Empty (NULL) only for a row that collided when the column was added
    # (migration 0008 reports them; ``accounts.checks`` keeps warning).
    email_skeleton = models.CharField(max_length=254, unique=True, null=True, blank=True, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            # Belt and braces: emails are stored lower-cased, and even a row
            # written around the manager cannot duplicate one in another case.
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    # --- the credentials epoch ------------------------------------------------------------
    #
    # A session is live only while it carries its user's current epoch
    # (``tokens`` compares the two in the query that checks every token), so
    # whatever door sets a password or deactivates the account — the API, the
    # admin's forms, ``manage.py changepassword``, a shell — every session
    # issued before ends at that moment, and reactivating the account brings
    # none of them back. This is the data behind the rule; the services still
    # revoke the sessions by name for the audit trail
    # (accounts.flows.credentials.credentials_changed).

    @classmethod
    def from_db(cls, db, field_names, values):
        user = super().from_db(db, field_names, values)
        user._active_when_loaded = user.__dict__.get("is_active")
        user._epoch_when_saved = user.__dict__.get("auth_epoch")
        user._email_when_loaded = user.__dict__.get("email")
        return user

    def change_email(self, email: str) -> None:
        """
        Take the new address (its owner proved it: ``flows.email_change``):
        verified, and a credentials change — every older session ends.
        """
        self.email = normalize_email(email)
        self.email_verified = True
        self.auth_epoch += 1

    def set_password(self, raw_password) -> None:
        super().set_password(raw_password)
        self.auth_epoch += 1

    def set_unusable_password(self) -> None:
        super().set_unusable_password()
        self.auth_epoch += 1

    def save(self, *args, update_fields=None, **kwargs) -> None:
        if getattr(self, "_active_when_loaded", None) and not self.is_active:
            self.auth_epoch += 1
        if update_fields is not None and {"password", "is_active"} & set(update_fields):
            update_fields = {*update_fields, "auth_epoch"}
        if self._state.adding or self.email != getattr(self, "_email_when_loaded", self.email):
            # A collided legacy row keeps its empty skeleton until its address changes.
            self.email_skeleton = skeleton(self.email)
            if update_fields is not None and "email" in update_fields:
                update_fields = {*update_fields, "email_skeleton"}
        saved_before = getattr(self, "_epoch_when_saved", None)
        #: Whether this save moves the credentials on (read by ``accounts.receivers`` for the notice). Set
        #: before ``super().save()``: post_save is sent from inside it.
        self.credentials_moved = saved_before is not None and self.auth_epoch != saved_before
        super().save(*args, update_fields=update_fields, **kwargs)
        self._active_when_loaded = self.is_active
        self._epoch_when_saved = self.auth_epoch
        self._email_when_loaded = self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)


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
