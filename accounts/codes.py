"""
Pure logic of the emailed second factor: making codes and challenge secrets,
hashing them with a server-side key, and comparing in constant time. No
database here; tested on its own.
"""

import hmac
import secrets

from django.utils.crypto import salted_hmac

CODE_DIGITS = 6


def new_code() -> str:
    """A uniformly random 6-digit code from the OS CSPRNG (leading zeros kept)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def new_secret() -> str:
    """The challenge secret a client holds between the two login steps (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """Keyed hash of a challenge secret: a leaked table cannot be replayed without SECRET_KEY."""
    return salted_hmac("authsvc.two_factor.secret", secret, algorithm="sha256").hexdigest()


def hash_code(challenge_id, code: str) -> str:
    """
    Keyed hash of a code, bound to its challenge: a code is only ever valid
    for the challenge it was sent for, and 10^6 codes cannot be brute-forced
    offline from a leaked hash without the key.
    """
    return salted_hmac("authsvc.two_factor.code", f"{challenge_id}:{code}", algorithm="sha256").hexdigest()


def hashes_match(expected: str, candidate: str) -> bool:
    return bool(expected) and hmac.compare_digest(expected.encode(), candidate.encode())


def is_well_formed_code(code: str) -> bool:
    return len(code) == CODE_DIGITS and code.isascii() and code.isdigit()
