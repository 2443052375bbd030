"""
Email addresses as identities (accounts/addresses.py), pure functions
tested without a database: the one form an address is stored, looked up
and compared in, and what makes two addresses confusable.
"""

import pytest

from accounts.addresses import INVALID, MIXED_SCRIPTS, normalize_email, refusal, skeleton

NORMAL_FORMS = [
    ("user@example.com", "user@example.com"),
    # The whole address is case-insensitive, as it always was (allauth's default).
    ("User@EXAMPLE.com", "user@example.com"),
    ("  user@example.com\t", "user@example.com"),
    # NFKC: full-width forms are the letters they stand for (the address of issue 11).
    ("user@ｅxample.com", "user@example.com"),
    ("user@ＥＸＡＭＰＬＥ.ＣＯＭ", "user@example.com"),
    ("ｕｓｅｒ＠example.com", "user@example.com"),
    # An internationalised domain is stored as its IDNA A-label, what DNS and SMTP carry.
    ("user@bücher.example", "user@xn--bcher-kva.example"),
    ("user@BÜCHER.example", "user@xn--bcher-kva.example"),
    ("user@XN--BCHER-KVA.example", "user@xn--bcher-kva.example"),
    # ü typed as u + combining diaeresis is the same domain.
    ("user@bu\u0308cher.example", "user@xn--bcher-kva.example"),
    # UTS #46 maps invisible characters away: no twin that differs by a zero-width space.
    ("user@exa\u200bmple.com", "user@example.com"),
    # IDNA 2008, not 2003: ß is a letter of its own (faß.de and fass.de are two domains).
    ("user@faß.de", "user@xn--fa-hia.de"),
]


@pytest.mark.parametrize("given, stored", NORMAL_FORMS)
def test_the_normal_form(given, stored):
    assert normalize_email(given) == stored


@pytest.mark.parametrize("given, stored", NORMAL_FORMS)
def test_normalising_twice_changes_nothing(given, stored):
    assert normalize_email(stored) == stored


@pytest.mark.parametrize("given, expected", [
    # IDNA 2008 refuses symbols (IDNA 2003, and so Django's validator, took them).
    ("User@☃.net", "user@☃.net"),
    ("user@a..b", "user@a..b"),
    ("not an address", "not an address"),
    ("", ""),
])
def test_an_address_idna_refuses_is_lower_cased_and_never_an_error(given, expected):
    """A lookup (login, reset) must answer "no such account", not fail; registration refuses these."""
    assert normalize_email(given) == expected


@pytest.mark.parametrize("address, twin", [
    # Cyrillic е, х, а in an otherwise Latin domain.
    ("user@example.com", "user@ехаmple.com"),
    # Every letter Cyrillic (а р р ӏ е): the 2017 "xn--80ak6aa92e.com" demonstration.
    ("ceo@apple.com", "ceo@аррӏе.com"),
    ("ceo@apple.com", "ceo@xn--80ak6aa92e.com"),
    # Greek omicron and kappa.
    ("user@ok.example", "user@οκ.example"),
    ("user@paypal.com", "user@PАYPAL.com"),
    ("user@example.com", "user@ｅxample.com"),
])
def test_addresses_that_look_alike_share_a_skeleton(address, twin):
    assert skeleton(twin) == skeleton(address)
    # A plain Latin address is its own skeleton: one exact lookup finds the account a twin imitates.
    assert skeleton(address) == normalize_email(address)


@pytest.mark.parametrize("address, other", [
    ("user@example.com", "user@example.org"),
    # Digits and letters are not folded together: user1 and userl are two real mailboxes.
    ("user1@example.com", "userl@example.com"),
    # A letter with a diacritic is another letter, not a disguise.
    ("user@bücher.example", "user@bucher.example"),
])
def test_different_addresses_have_different_skeletons(address, other):
    assert skeleton(address) != skeleton(other)


@pytest.mark.parametrize("address, reason", [
    ("user@example.com", None),
    ("user@bücher.example", None),
    # One script per label is fine, whichever it is.
    ("user@почта.рф", None),
    ("user@аррӏе.com", None),
    # Latin and Cyrillic in one label: refused whatever accounts exist.
    ("user@pаypal.com", MIXED_SCRIPTS),
    ("user@xn--pypal-4ve.com", MIXED_SCRIPTS),
    ("user@ok.οκ-ok.example", MIXED_SCRIPTS),
    # A domain IDNA 2008 refuses cannot receive mail: not an address to open an account for.
    ("user@☃.net", INVALID),
    # Local parts are ASCII (Django's validator; SMTPUTF8 mailboxes are not supported).
    ("usеr@example.com", INVALID),
])
def test_which_addresses_cannot_open_an_account(address, reason):
    assert refusal(normalize_email(address)) == reason
