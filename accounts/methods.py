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

A passkey (``webauthn``) answers with a credential (the browser's
``PublicKeyCredential`` as JSON) where the others answer with a code.
"""

import logging
from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone

from accounts import codes, passkeys, recovery, totp
from accounts.conf import conf
from accounts.models import RecoveryCode, TotpDevice, TwoFactorChallenge, User, WebAuthnCeremony, WebAuthnCredential
from tokens import audit
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


class Passkey(Method):
    """
    The user's passkeys and security keys (WebAuthn, ``accounts.passkeys``).
    The answer must sign the challenge of this login (``webauthn_challenge``,
    set by ``login/2fa/webauthn/begin``) or, outside a login, of the user's
    open ``STEP_UP`` ceremony, which the check spends; with one of the
    user's own credentials, whose counter then moves on by a conditional
    UPDATE. A counter that went back is refused and audited.
    """

    name = WEBAUTHN
    app_factor = True

    def enrolled(self, user: User) -> bool:
        return WebAuthnCredential.objects.filter(user=user).exists()

    def check(self, user, answer, *, challenge, now) -> bool:
        signed = passkeys.challenge_of(answer)
        if signed is None:
            return False
        if challenge is not None:
            if not challenge.webauthn_challenge or signed != challenge.webauthn_challenge:
                return False
        elif not spend_ceremony(signed, WebAuthnCeremony.Purpose.STEP_UP, user=user, now=now):
            return False
        key = WebAuthnCredential.objects.filter(user=user, credential_id=passkeys.credential_id_of(answer)).first()
        return key is not None and accept_assertion(key, answer, challenge=signed, require_uv=False, now=now)


def spend_ceremony(challenge: str, purpose: str, *, user: User | None, now) -> bool:
    """Use the open ceremony of ``purpose`` (and ``user``) that sent ``challenge``, once: a conditional UPDATE."""
    return bool(WebAuthnCeremony.objects.filter(challenge=challenge, purpose=purpose, user=user, used_at__isnull=True,
                                                expires_at__gt=now).update(used_at=now))


def accept_assertion(key: WebAuthnCredential, answer, *, challenge: str, require_uv: bool, now) -> bool:
    """
    Whether ``answer`` is ``key``'s signature of ``challenge``; if so its
    counter moves on, by a conditional UPDATE on the counter it was checked
    against (of two parallel uses, one wins). A counter that went back is
    audited (a cloned authenticator, WebAuthn §6.1.1) and refused.
    """
    try:
        count = passkeys.verify_assertion(answer, challenge=challenge, rp_id=conf.webauthn_rp_id,
                                          origins=conf.webauthn_origins, public_key=bytes(key.public_key),
                                          sign_count=key.sign_count, require_uv=require_uv)
    except passkeys.CounterWentBack:
        logger.warning("a passkey's signature counter went back", extra={"user_id": key.user_id})
        audit.record_event(audit.Kind.PASSKEY_COUNTER_WENT_BACK, user_id=key.user_id, reason=f"{WEBAUTHN}: {key.pk}",
                           actor="system")
        return False
    except passkeys.Refused:
        return False
    return bool(WebAuthnCredential.objects.filter(pk=key.pk, sign_count=key.sign_count)
                .update(sign_count=count, last_used_at=now or timezone.now()))


METHODS: dict[str, Method] = {
    method.name: method for method in (Passkey(), EmailCode(), AuthenticatorApp(), RecoveryCodes())
}


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


def default_for(available: Sequence[str], answer) -> str:
    """
    The method an answer sent without one is for: the first of the user's
    (DESIGN.md), but a passkey's answer is a credential, never a typed
    code — a code goes to the first method that takes codes, so a client
    that sends an app's code without ``method`` keeps working once the user
    adds a passkey.
    """
    if isinstance(answer, str) and available[0] == WEBAUTHN:
        return next((name for name in available if name != WEBAUTHN), available[0])
    return available[0]
