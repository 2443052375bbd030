"""
The second-factor methods (DESIGN.md, Part 2, "Second factors"), each only
"check this answer" (STYLE 18, django-otp's ``Device.verify_token``): what
a user has enrolled, and whether an answer is right — spending it where it
is single use. Everything around a check — the tries a challenge allows,
the account's budget of wrong answers, audit events, metrics, consuming the
challenge — is written once, in ``flows.login.complete_two_factor_login``
(and, for a factor change that asks for a code, ``flows.totp``).

A method's ``check`` runs inside the transaction that consumes the login
challenge, so a single-use answer (a TOTP step, a recovery code) that is
claimed by a login which then loses the race for its challenge is given
back by the rollback. Each claim is a conditional ``UPDATE`` on the row's
own columns: of parallel requests with one code, one wins, on one host or
many (STYLE 7).

A passkey (``webauthn``) is the next method: a class here, its name first
in ``ORDER``.
"""

import logging
from collections.abc import Sequence
from datetime import datetime

from accounts import codes, recovery, totp
from accounts.models import RecoveryCode, TotpDevice, TwoFactorChallenge, User
from authsvc import secretbox

logger = logging.getLogger(__name__)

EMAIL = "email"
TOTP = "totp"
RECOVERY = "recovery"
WEBAUTHN = "webauthn"
# DESIGN.md: the order of preference, also the order ``methods`` lists them in.
ORDER = (WEBAUTHN, TOTP, EMAIL, RECOVERY)


class Method:
    name: str
    #: An app-based factor: once a user has one, the emailed code is no longer offered.
    app_factor = False

    def enrolled(self, user: User) -> bool:
        raise NotImplementedError

    def check(self, user: User, answer: str, *, challenge: TwoFactorChallenge | None, now: datetime) -> bool:
        """Whether ``answer`` is right for ``user`` now; a single-use answer is spent by a right check."""
        raise NotImplementedError


class EmailCode(Method):
    """The 6-digit code mailed for one login challenge (``accounts.codes``)."""

    name = EMAIL

    def enrolled(self, user: User) -> bool:
        return True

    def check(self, user, answer, *, challenge, now) -> bool:
        return (challenge is not None and codes.is_well_formed_code(answer)
                and codes.hashes_match(challenge.code_hash, codes.hash_code(challenge.pk, answer)))


class AuthenticatorApp(Method):
    """RFC 6238 codes from the user's confirmed authenticator app (``accounts.totp``)."""

    name = TOTP
    app_factor = True

    def enrolled(self, user: User) -> bool:
        return TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()

    def check(self, user, answer, *, challenge, now) -> bool:
        device = TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).first()
        return device is not None and accept_totp_code(device, answer, now=now)


def accept_totp_code(device: TotpDevice, answer: str, *, now: datetime) -> bool:
    """
    Whether ``answer`` is a code of ``device`` within the drift window that
    no earlier answer used. Accepting it moves ``last_step`` on to its step
    by a conditional ``UPDATE``: a replay of the same code — or of an older
    one — finds the step taken, whichever host it reaches and however many
    arrive together (django-otp's ``TOTPDevice.verify_token`` keeps the
    same ``last_t``).
    """
    try:
        secret = secretbox.decrypt(device.encrypted_secret)
    except secretbox.UndecryptableSecret:
        # FACTOR_ENCRYPTION_KEY (or SECRET_KEY) changed without keeping the old
        # key: no code can be checked. The user falls back to a recovery code.
        logger.error("an authenticator app's secret cannot be decrypted: was its key removed?",
                     extra={"user_id": device.user_id})
        return False
    step = totp.matching_step(secret, answer.strip(), at=now)
    if step is None:
        return False
    return bool(TotpDevice.objects.filter(pk=device.pk, last_step__lt=step).update(last_step=step, last_used_at=now))


class RecoveryCodes(Method):
    """The user's single-use recovery codes (``accounts.recovery``)."""

    name = RECOVERY

    def enrolled(self, user: User) -> bool:
        return RecoveryCode.objects.filter(user=user, used_at__isnull=True).exists()

    def check(self, user, answer, *, challenge, now) -> bool:
        plain = recovery.normalized(answer)
        if plain is None:
            return False
        return bool(
            RecoveryCode.objects.filter(user=user, used_at__isnull=True,
                                        code_hash__in=recovery.candidate_hashes(user.pk, plain))
            .update(used_at=now)
        )


METHODS: dict[str, Method] = {method.name: method for method in (EmailCode(), AuthenticatorApp(), RecoveryCodes())}


def get(name: str) -> Method:
    return METHODS[name]


def methods_for(user: User) -> list[str]:
    """
    The methods ``user`` can finish a login with, in DESIGN's order: app
    factors, the emailed code only for a user with none, then recovery
    codes while any are left.
    """
    enrolled = {name for name, method in METHODS.items() if name != EMAIL and method.enrolled(user)}
    if not any(METHODS[name].app_factor for name in enrolled):
        enrolled.add(EMAIL)
    return [name for name in ORDER if name in enrolled]


def has_app_factor(user: User) -> bool:
    return any(method.app_factor and method.enrolled(user) for method in METHODS.values())


def recovery_codes_left(user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def method_for_answer(available: Sequence[str], answer: str) -> str:
    """
    The method a typed answer is for, where one field takes every method
    (the admin's code step): six digits are a code — the app's, else the
    emailed one — and anything else a recovery code. When the user has no
    method of that shape, their other one: a mistyped code is then a wrong
    answer like any other, not a different refusal. With none of these (a
    passkey alone), the shape's own, which the login frame refuses as
    ``method_unavailable``.
    """
    is_code = codes.is_well_formed_code(answer.strip())
    preference = (TOTP, EMAIL, RECOVERY) if is_code else (RECOVERY, TOTP, EMAIL)
    return next((name for name in preference if name in available), preference[0])
