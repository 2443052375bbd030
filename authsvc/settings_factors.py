"""
Second factors beyond the emailed code (DESIGN.md, Part 2, "Second
factors"): TOTP, recovery codes, remembered devices and the new sign-in
alert. Read when used, through ``accounts.conf`` and ``tokens.conf``. Part of
the settings: ``authsvc/settings.py`` star-imports this module.
"""

import environ

env = environ.Env()

# The issuer an authenticator app shows beside the account (otpauth:// URI).
TOTP_ISSUER = env.str("TOTP_ISSUER", default="authsvc")
# Keys the TOTP secrets are encrypted with at rest (Fernet, authsvc/secretbox.py),
# comma-separated: the first encrypts, every one decrypts (rotation). Unset:
# derived from SECRET_KEY (and SECRET_KEY_FALLBACKS).
FACTOR_ENCRYPTION_KEY = env.list("FACTOR_ENCRYPTION_KEY", default=[])
# Seconds a remembered device skips the second factor.
TRUSTED_DEVICE_TTL = env.int("TRUSTED_DEVICE_TTL", default=30 * 24 * 3600)
# Days an IP + user agent pair of a login is "seen": a login from a pair not
# seen for this long mails the user a "New sign-in" alert.
NEW_SIGN_IN_WINDOW_DAYS = env.int("NEW_SIGN_IN_WINDOW_DAYS", default=90)
