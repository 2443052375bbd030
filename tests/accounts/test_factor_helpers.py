"""
Pure logic of the second factors, no database (STYLE 4): TOTP codes and
secrets (``accounts.totp``), recovery codes (``accounts.recovery``) and the
secrets' box (``authsvc.secretbox``: Fernet at rest, keyed hashes).
"""

import base64
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from accounts import recovery, totp
from authsvc import secretbox

# RFC 6238 Appendix B: the SHA-1 seed "12345678901234567890" and its 8-digit
# codes; the 6-digit code is the last six digits (RFC 4226 §5.3, mod 10^6).
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"), (1234567890, "89005924"),
               (2000000000, "69279037"), (20000000000, "65353130")]


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# --- accounts.totp ---------------------------------------------------------------------------------------------


def test_secrets_are_160_bit_base32_and_unique():
    secrets = {totp.new_secret() for _ in range(200)}
    assert len(secrets) == 200
    for secret in secrets:
        assert re.fullmatch(r"[A-Z2-7]{32}", secret)
        assert len(base64.b32decode(secret)) * 8 == 160


@pytest.mark.parametrize("seconds, code", RFC_VECTORS)
def test_rfc_6238_test_vectors(seconds, code):
    """The code RFC 6238 gives for each time matches the step of that time (T = floor(t / 30))."""
    assert totp.matching_step(RFC_SECRET, code[-6:], at=at(seconds)) == seconds // 30


@pytest.mark.parametrize("offset, matches", [(-60, False), (-59, True), (-30, True), (0, True), (1, True),
                                              (30, True), (31, False)])
def test_one_step_of_drift_either_way(offset, matches):
    """
    1111111109 is 29 s into step 37037036: its code is matched while the
    clock is in the step before it, in it, or in the step after it — not two away.
    """
    found = totp.matching_step(RFC_SECRET, "081804", at=at(1111111109 + offset))
    assert found == (37037036 if matches else None)


@pytest.mark.parametrize("code", ["81804", "0081804", "08180a", " 081804", "081804\n", "０８１８０４", "٠٨١٨٠٤", ""])
def test_only_six_ascii_digits_can_match(code):
    """Full-width and Arabic-Indic digits pass ``str.isdigit``; a code is six ASCII digits, nothing else."""
    assert totp.matching_step(RFC_SECRET, code, at=at(1111111109)) is None


def test_a_code_of_another_secret_does_not_match():
    other = base64.b32encode(b"abcdefghijabcdefghij").decode()
    assert totp.matching_step(other, "081804", at=at(1111111109)) is None


def test_provisioning_uri_names_issuer_and_account():
    """Google Authenticator's Key Uri Format: label ``issuer:account``, ``secret`` and ``issuer`` parameters."""
    uri = urlsplit(totp.provisioning_uri(RFC_SECRET, account="a+b@example.com", issuer="Example Auth"))

    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == "/Example Auth:a+b@example.com"
    assert "+" not in uri.path  # encoded: a literal "+" may be read back as a space
    query = parse_qs(uri.query)
    assert query["secret"] == [RFC_SECRET] and query["issuer"] == ["Example Auth"]


def test_qr_code_is_inline_svg():
    svg = totp.qr_svg("otpauth://totp/x:y?secret=" + RFC_SECRET)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<path" in svg and "href" not in svg and "<image" not in svg
    assert RFC_SECRET not in svg  # the secret is drawn, not written


# --- accounts.recovery -----------------------------------------------------------------------------------------


def test_ten_grouped_codes_from_an_unambiguous_alphabet():
    codes = recovery.new_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(rf"[{recovery.ALPHABET}]{{5}}-[{recovery.ALPHABET}]{{5}}", code)
    # Nothing a reader can take for another character.
    assert not set(recovery.ALPHABET) & set("01oil")
    assert len(set(recovery.ALPHABET)) == len(recovery.ALPHABET)


def test_codes_are_random_across_draws():
    drawn = [code for _ in range(100) for code in recovery.new_codes()]
    assert len(set(drawn)) == 1000
    assert set("".join(drawn).replace("-", "")) == set(recovery.ALPHABET)


@pytest.mark.parametrize("typed, normal", [
    ("abcde-fghjk", "abcdefghjk"),
    ("ABCDE-FGHJK", "abcdefghjk"),
    ("abcdefghjk", "abcdefghjk"),
    (" abc de-FGH jk ", "abcdefghjk"),
    ("abcde-fghj", None),
    ("abcde-fghjkm", None),
    ("abcde-fghj0", None),
    ("abcde-fghjo", None),
    ("abcde_fghjk", None),
    ("", None),
])
def test_normalized(typed, normal):
    assert recovery.normalized(typed) == normal


def test_hash_is_keyed_bound_to_the_user_and_hides_the_code(settings):
    code = "abcdefghjk"
    stored = recovery.hash_code(1, code)
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    assert code not in stored
    assert recovery.hash_code(1, code) == stored
    assert recovery.hash_code(2, code) != stored
    assert recovery.hash_code(1, "abcdefghjm") != stored
    assert stored in recovery.candidate_hashes(1, code)

    settings.SECRET_KEY = "another key for the suite only " * 3
    assert recovery.hash_code(1, code) != stored  # keyed: the table alone cannot be brute-forced


def test_a_code_hashed_before_a_key_rotation_is_still_found(settings):
    settings.FACTOR_ENCRYPTION_KEY = ["old key"]
    stored = recovery.hash_code(7, "abcdefghjk")

    settings.FACTOR_ENCRYPTION_KEY = ["new key", "old key"]

    assert recovery.hash_code(7, "abcdefghjk") != stored
    assert recovery.candidate_hashes(7, "abcdefghjk") == [recovery.hash_code(7, "abcdefghjk"), stored]


# --- authsvc.secretbox ----------------------------------------------------------------------------------------


def test_encrypt_round_trips_and_hides_the_secret():
    secret = totp.new_secret()
    token = secretbox.encrypt(secret)
    assert secret not in token and secret.lower() not in token
    assert secretbox.decrypt(token) == secret
    assert secretbox.encrypt(secret) != token  # a fresh IV each time: equal secrets do not look equal


def test_a_tampered_token_is_refused():
    token = secretbox.encrypt("JBSWY3DPEHPK3PXP")
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[-40] ^= 1
    with pytest.raises(secretbox.UndecryptableSecret):
        secretbox.decrypt(base64.urlsafe_b64encode(bytes(raw)).decode())
    with pytest.raises(secretbox.UndecryptableSecret):
        secretbox.decrypt("not a token")


def test_the_key_comes_from_factor_encryption_key_read_when_used(settings):
    """STYLE 8: settings read when used. A box from one key does not open with another."""
    settings.FACTOR_ENCRYPTION_KEY = ["key one"]
    token = secretbox.encrypt("JBSWY3DPEHPK3PXP")

    settings.FACTOR_ENCRYPTION_KEY = ["key two"]
    with pytest.raises(secretbox.UndecryptableSecret):
        secretbox.decrypt(token)

    settings.FACTOR_ENCRYPTION_KEY = ["key two", "key one"]
    assert secretbox.decrypt(token) == "JBSWY3DPEHPK3PXP"
    rotated = secretbox.encrypt("JBSWY3DPEHPK3PXP")
    settings.FACTOR_ENCRYPTION_KEY = ["key two"]
    assert secretbox.decrypt(rotated) == "JBSWY3DPEHPK3PXP"  # the first key encrypts


def test_by_default_the_key_is_derived_from_secret_key_and_its_fallbacks(settings):
    settings.FACTOR_ENCRYPTION_KEY = []
    old_key = settings.SECRET_KEY
    token = secretbox.encrypt("JBSWY3DPEHPK3PXP")

    settings.SECRET_KEY = "a rotated secret key for the suite only " * 2
    with pytest.raises(secretbox.UndecryptableSecret):
        secretbox.decrypt(token)

    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert secretbox.decrypt(token) == "JBSWY3DPEHPK3PXP"


def test_the_fernet_key_is_not_the_raw_secret_key(settings):
    """Derived under a purpose of its own (HKDF): SECRET_KEY's bytes, used as a Fernet key, open nothing."""
    from cryptography.fernet import Fernet, InvalidToken

    settings.FACTOR_ENCRYPTION_KEY = ["x" * 32]
    token = secretbox.encrypt("JBSWY3DPEHPK3PXP")
    with pytest.raises(InvalidToken):
        Fernet(base64.urlsafe_b64encode(b"x" * 32)).decrypt(token.encode())


def test_mac_is_per_purpose_value_and_key(settings):
    settings.FACTOR_ENCRYPTION_KEY = ["k1", "k0"]
    assert secretbox.mac("a", "v") == secretbox.macs("a", "v")[0]
    assert len(secretbox.macs("a", "v")) == 2
    assert secretbox.mac("a", "v") != secretbox.mac("b", "v")
    assert secretbox.mac("a", "v") != secretbox.mac("a", "w")
    settings.FACTOR_ENCRYPTION_KEY = ["k0"]
    assert secretbox.mac("a", "v") == secretbox.macs("a", "v")[0]
    assert [secretbox.mac("a", "v")] == secretbox.macs("a", "v")


def test_time_step_boundaries():
    """A step is [30k, 30k + 30): the code of step k is current from its first second to its last."""
    step = 1111111109 // 30
    start = step * 30
    for seconds in (start, start + 29):
        assert totp.matching_step(RFC_SECRET, "081804", at=at(seconds)) == step
    assert totp.matching_step(RFC_SECRET, "081804", at=at(start) + timedelta(seconds=90)) is None
