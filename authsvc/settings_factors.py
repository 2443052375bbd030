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


def webauthn_rp_id(allowed_hosts: list[str]) -> str:
    """
    The relying party a passkey is bound to, by default: the first
    ``ALLOWED_HOSTS`` entry that is a domain name. An IP address cannot be
    one (WebAuthn §5.1.4: browsers refuse it), so ``127.0.0.1`` is skipped;
    a leading dot (``.example.com``, Django's subdomain wildcard) is dropped.
    """
    for host in allowed_hosts:
        host = host.lstrip(".")
        if host and host != "*" and not host.startswith("[") and not host.replace(".", "").isdigit():
            return host
    return "localhost"


def webauthn_origins(rp_id: str, *, debug: bool) -> list[str]:
    """``https://<rp id>``; with ``DEBUG`` also the development server, ``http://<rp id>:8000``."""
    return [f"https://{rp_id}", *([f"http://{rp_id}:8000"] if debug else [])]


# Seconds a WebAuthn ceremony (registration, a passwordless sign-in) may take.
WEBAUTHN_TIMEOUT = env.int("WEBAUTHN_TIMEOUT", default=300)
