"""The account: one person, one address, one password, and the epoch of their credentials."""

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
