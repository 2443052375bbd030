"""
Pure logic of recovery codes (DESIGN.md, Part 2, "Second factors"): ten
single-use codes of 10 characters from an unambiguous alphabet, shown grouped
(``xxxxx-xxxxx``), accepted without the dash and in any case. Each code
carries 49 bits; only a keyed hash bound to the user is stored
(``authsvc.secretbox.mac``), so the table alone yields nothing.
"""

import secrets

from authsvc import secretbox

COUNT = 10
LENGTH = 10
# No 0/o, 1/i/l, u/v: nothing a reader can mistake for another character.
ALPHABET = "23456789abcdefghjkmnpqrstwxyz"
_PURPOSE = "recovery-code"


def new_codes() -> list[str]:
    return [_grouped("".join(secrets.choice(ALPHABET) for _ in range(LENGTH))) for _ in range(COUNT)]


def _grouped(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def normalized(code: str) -> str | None:
    """The code as stored (lower case, no dash or spaces), or None if it cannot be one."""
    plain = code.strip().replace("-", "").replace(" ", "").lower()
    if len(plain) != LENGTH or any(ch not in ALPHABET for ch in plain):
        return None
    return plain


def hash_code(user_id: int, code: str) -> str:
    """The stored form of a (normalized) code, bound to its user."""
    return secretbox.mac(_PURPOSE, f"{user_id}:{code}")


def candidate_hashes(user_id: int, code: str) -> list[str]:
    """What a stored code of ``user_id`` equal to ``code`` may be hashed as (one per configured key)."""
    return secretbox.macs(_PURPOSE, f"{user_id}:{code}")
