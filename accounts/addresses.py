"""
Email addresses as account identities: the one form an address is stored,
looked up and compared in, and what makes two addresses confusable. Pure
functions, no database.

Why a library for the domain: Python's ``encodings.idna`` is IDNA 2003,
which RFC 5891 replaced; it takes symbols (``☃.net``) that no registry
hands out any more and folds ``ß`` into ``ss``, so ``faß.de`` would become
``fass.de``, someone else's domain. The ``idna`` package implements IDNA
2008 with the UTS #46 mapping, as browsers and requests/urllib3 do.
"""

import re
import unicodedata

import idna

# The messages a refused address gets, under ``errors.email``.
INVALID = "Enter a valid email address."
MIXED_SCRIPTS = "This address mixes Latin letters with Cyrillic or Greek ones in one part."
LOOKALIKE = "This address looks like the address of an existing account."

# Cyrillic and Greek letters drawn like Latin ones in common fonts, after
# case folding (after UTS #39's confusables.txt, restricted to the
# unambiguous whole-letter look-alikes). Digits are not folded into letters:
# user1@ and userl@ are two real mailboxes.
_LOOKALIKES = str.maketrans({
    # Cyrillic
    "а": "a", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "і": "i", "ј": "j", "ӏ": "l", "о": "o", "р": "p",
    "ԛ": "q", "ѕ": "s", "ԝ": "w", "х": "x", "у": "y",
    # Greek
    "α": "a", "ϲ": "c", "ι": "i", "ϳ": "j", "κ": "k", "ο": "o", "ρ": "p", "υ": "u", "ν": "v", "χ": "x",
    # Latin letters that pass for others
    "ı": "i", "ɡ": "g",
})
_CONFUSABLE_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK")
# RFC 5322 §3.2.3 dot-atom: the plain form of a local part (what Django's
# validator accepts unquoted).
_DOT_ATOM = re.compile(r"[-!#$%&'*+/=?^_`{}|~0-9a-z]+(\.[-!#$%&'*+/=?^_`{}|~0-9a-z]+)*\Z", re.IGNORECASE)
_QUOTED_PAIR = re.compile(r"\\(.)")


def normalize_email(email: str) -> str:
    """
    The form an address is stored, looked up and compared in, by every door
    (registration, login, password reset, the manager and the model's
    ``clean()``, so the admin's forms and ``authenticate()``).

    NFKC first: a compatibility character is the one it stands for (the
    full-width ``ｅ`` is ``e``, ``＠`` is ``@``). The whole address is then
    case-insensitive, as it always was (allauth's default: no provider hands
    out two mailboxes that differ by case). A domain that is not ASCII is
    mapped (UTS #46) and stored as its IDNA 2008 A-label (``xn--…``), the
    form DNS and SMTP carry, so every spelling of one domain is one string.
    A domain IDNA 2008 refuses is left lower-cased: it matches no account,
    and a lookup must answer "nobody", not fail (registration refuses it,
    see ``refusal``).

    A quoted local part with a plain form is that form (RFC 5321 §4.1.2:
    ``"alice"@example.com`` and ``alice@example.com`` are one mailbox);
    one without (``"a b"@``) stays quoted, and ``refusal`` refuses it.
    """
    email = unicodedata.normalize("NFKC", email).strip()
    local, at, domain = email.rpartition("@")
    if not at:
        return email.lower()
    return f"{_unquoted(local).lower()}@{_ascii_domain(domain)}"


def _unquoted(local: str) -> str:
    """The dot-atom a quoted local part stands for (quoted pairs undone), or the local part as it was."""
    if len(local) < 2 or not (local.startswith('"') and local.endswith('"')):
        return local
    plain = _QUOTED_PAIR.sub(r"\1", local[1:-1])
    return plain if _DOT_ATOM.match(plain) else local


def skeleton(email: str) -> str:
    """
    What an address looks like, in ``normalize_email``'s form: two
    addresses are confusable when their skeletons are equal (after UTS #39
    §4 "skeleton", with the small table above). The domain is compared in
    Unicode, case-folded, with Cyrillic and Greek look-alikes replaced by the
    Latin letters they imitate, so ``ехаmple.com`` (Cyrillic е, х, а) and
    ``аррӏе.com`` (all Cyrillic) have the skeletons ``example.com`` and
    ``apple.com``. A plain Latin address is its own skeleton, which is what
    lets registration find the account a look-alike imitates with one exact
    lookup.
    """
    local, at, domain = normalize_email(email).rpartition("@")
    if not at:
        return normalize_email(domain.casefold().translate(_LOOKALIKES))
    looks = f"{local}@{_unicode_domain(domain)}".casefold().translate(_LOOKALIKES)
    return normalize_email(looks)


def refusal(email: str) -> str | None:
    """
    Why the normalised address ``email`` cannot open an account, or None.

    - Not ASCII once normalised: a domain IDNA 2008 refuses (no mail can be
      routed to it), or a non-ASCII local part (Django's validator refuses
      those; SMTPUTF8 mailboxes are not supported).
    - A quoted local part with no plain form, or a domain literal.
    - A local part or a domain label that mixes Latin with Cyrillic or Greek
      letters: registries refuse such labels, so the one purpose left to
      such an address is to pass for another (UTS #39 §5.2, "single script").
      Together with the look-alike lookup at registration, this keeps an
      impostor from squatting on ``pаypal.com`` (Cyrillic а) ahead of the
      real owner.
    """
    if not email.isascii():
        return INVALID
    local, _, domain = email.rpartition("@")
    if not _DOT_ATOM.match(local) or domain.startswith("["):
        # A quoted local part with no plain form (``"a b"@``, ``"a..b"@``): few
        # mail systems deliver it and each spells it its own way. A domain
        # literal (``alice@[127.0.0.1]``) names a host, not a domain: the same
        # mailbox has countless spellings (every address of the host, IPv6
        # forms), so it cannot be one account's identity.
        return INVALID
    parts = [local, *_unicode_domain(domain).split(".")]
    if any(len(_scripts(part)) > 1 for part in parts):
        return MIXED_SCRIPTS
    return None


def _ascii_domain(domain: str) -> str:
    if domain.isascii():
        return domain.lower()
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return domain.lower()


def _unicode_domain(domain: str) -> str:
    try:
        return idna.decode(domain)
    except idna.IDNAError:
        return domain


def _scripts(text: str) -> set[str]:
    """Which of Latin, Cyrillic and Greek the letters of ``text`` belong to (by their Unicode names)."""
    return {script for script in (unicodedata.name(c, "").partition(" ")[0] for c in text)
            if script in _CONFUSABLE_SCRIPTS}
