"""
The accounts app's models, by what they hold: the account (``users``), its
second factors (``factors``), what it is mailed (``mail``).
"""

# The one normal form of an address (NFKC, case-insensitive, IDNA domain): accounts/addresses.py.
from accounts.addresses import normalize_email
from accounts.models.factors import (
    RecoveryCode,
    TotpDevice,
    TwoFactorChallenge,
    TwoFactorChallengeQuerySet,
    WebAuthnCeremony,
    WebAuthnCredential,
)
from accounts.models.mail import EmailLink, Notice
from accounts.models.users import User, UserManager

__all__ = [
    "EmailLink", "Notice", "RecoveryCode", "TotpDevice", "TwoFactorChallenge", "TwoFactorChallengeQuerySet", "User",
    "UserManager", "WebAuthnCeremony", "WebAuthnCredential", "normalize_email",
]
