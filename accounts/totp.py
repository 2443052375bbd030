"""
Pure logic of the TOTP factor (RFC 6238, through ``pyotp``): secrets, the
``otpauth://`` URI and its QR code, and matching a code to a time step. No
database here: replay protection (a step used once) is the flow's, with a
conditional ``UPDATE`` (``accounts.methods``).

DESIGN.md: SHA-1, 6 digits, 30 s steps, one step of drift either way —
what every authenticator app does by default (RFC 6238 §5.2 recommends
allowing one step back for transmission delay).
"""

from datetime import datetime
from urllib.parse import quote

import pyotp
import segno
from pyotp.utils import strings_equal

DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1
# 32 base32 characters: 160 bits, the HMAC-SHA1 key length RFC 4226 §4 recommends.
SECRET_LENGTH = 32


def new_secret() -> str:
    return pyotp.random_base32(length=SECRET_LENGTH)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/…`` URI an authenticator app enrols from (the Key Uri Format)."""
    return _totp(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as an SVG QR code (``segno``), to show inline; no external image request."""
    return segno.make(uri, error="m").svg_inline(scale=4, title=quote("authenticator app enrolment", safe=" "))


def matching_step(secret: str, code: str, *, at: datetime) -> int | None:
    """
    The time step whose code ``code`` is, within one step of ``at`` either
    way, or None. Each candidate is compared in constant time, and all three
    are compared whatever matched.
    """
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = _totp(secret)
    now = totp.timecode(at)
    found = None
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if strings_equal(totp.generate_otp(step), code) and found is None:
            found = step
    return found


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
