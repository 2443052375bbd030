"""Pure 2FA code logic, no database."""

import uuid

from accounts import codes


def test_codes_are_six_digits_with_leading_zeros_kept():
    generated = {codes.new_code() for _ in range(2000)}
    assert all(len(c) == 6 and c.isdigit() for c in generated)
    assert len(generated) > 1900  # 10^6 space: collisions in 2000 draws are rare
    assert any(c.startswith("0") for c in generated)


def test_secrets_are_long_and_unique():
    secrets = {codes.new_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(len(s) >= 43 for s in secrets)


def test_code_hash_is_keyed_and_bound_to_its_challenge():
    a, b = uuid.uuid4(), uuid.uuid4()
    assert codes.hash_code(a, "123456") == codes.hash_code(a, "123456")
    assert codes.hash_code(a, "123456") != codes.hash_code(b, "123456")
    assert "123456" not in codes.hash_code(a, "123456")
    assert codes.hash_code(a, "123456") != codes.hash_code(a, "123457")


def test_hash_depends_on_the_secret_key(settings):
    before = codes.hash_secret("s")
    settings.SECRET_KEY = "another-key-" * 6
    assert codes.hash_secret("s") != before


def test_hashes_match_refuses_empty_expected():
    assert not codes.hashes_match("", "")
    assert codes.hashes_match("ab", "ab")
    assert not codes.hashes_match("ab", "ac")


def test_well_formed_code():
    assert codes.is_well_formed_code("012345")
    for bad in ("12345", "1234567", "12345a", "١٢٣٤٥٦", " 12345"):
        assert not codes.is_well_formed_code(bad)
