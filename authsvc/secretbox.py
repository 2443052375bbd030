"""
Secrets at rest: the second factors' (DESIGN.md, Part 2, "Second factors"),
and the private parts of the signing keys (``tokens.keys``).

A TOTP secret must be read back to check a code, so it cannot be hashed: it
is encrypted with Fernet (AES-128-CBC + HMAC-SHA256, ``cryptography``), with
a key derived by HKDF from ``FACTOR_ENCRYPTION_KEY`` — by default from
``SECRET_KEY`` — under a purpose of its own, so the same secret never keys
two things. ``FACTOR_ENCRYPTION_KEY`` may list several keys: the first
encrypts, every one decrypts (``MultiFernet``), so a key is rotated by
putting the new one first. With it unset, ``SECRET_KEY_FALLBACKS`` decrypt
too, as they verify Django's own signatures.

Recovery codes are not encrypted but keyed-hashed (``mac``), with the same
key material: a leaked table cannot be brute-forced offline without it.
"""

import base64
import functools
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class UndecryptableSecret(Exception):
    """Stored with a key that is no longer configured (or tampered with)."""


def _key_material() -> tuple[str, ...]:
    configured = [key for key in settings.FACTOR_ENCRYPTION_KEY if key]
    if configured:
        return tuple(configured)
    return (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ()))


def _derive(material: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"authsvc." + purpose).derive(
        material.encode()
    )


@functools.lru_cache(maxsize=8)
def _fernet(materials: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(base64.urlsafe_b64encode(_derive(m, b"factor-encryption"))) for m in materials])


def encrypt(plaintext: str) -> str:
    return _fernet(_key_material()).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(_key_material()).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise UndecryptableSecret() from exc


@functools.lru_cache(maxsize=8)
def _mac_key(material: str) -> bytes:
    return _derive(material, b"factor-mac")


def mac(purpose: str, value: str) -> str:
    """Keyed hash (HMAC-SHA256) of ``value`` under the current key, to store."""
    return macs(purpose, value)[0]


def macs(purpose: str, value: str) -> list[str]:
    """``value``'s keyed hash under every configured key, newest first: what a lookup by equality matches."""
    message = f"{purpose}:{value}".encode()
    return [hmac.new(_mac_key(m), message, hashlib.sha256).hexdigest() for m in _key_material()]
