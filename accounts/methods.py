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

from datetime import datetime

from accounts import codes, recovery, secretbox, totp
from accounts.models import RecoveryCode, TotpDevice, TwoFactorChallenge, User

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
    step = totp.matching_step(secretbox.decrypt(device.encrypted_secret), answer.strip(), at=now)
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
