"""
Passkeys and security keys (WebAuthn): registered with the password, listed,
named and removed; the options a login's second step or a step-up signs
(``accounts.methods.Passkey`` checks the answers, in the login frame).
"""

import uuid
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import methods, passkeys
from accounts.conf import conf
from accounts.errors import MethodUnavailable, PasskeyNotFound, PasskeyRefused
from accounts.flows import notices, recovery_codes
from accounts.flows.credentials import confirm_password, require_factors_available
from accounts.models import User, WebAuthnCeremony, WebAuthnCredential
from tokens import audit

Purpose = WebAuthnCeremony.Purpose
NAME_MAX_LENGTH = WebAuthnCredential._meta.get_field("name").max_length


def open_ceremony(purpose: str, *, user: User | None) -> str:
    """A new ceremony's challenge, valid once for ``WEBAUTHN_TIMEOUT``; the user's older open ones of it end."""
    now = timezone.now()
    if user is not None:
        WebAuthnCeremony.objects.filter(user=user, purpose=purpose, used_at__isnull=True).update(used_at=now)
    challenge = passkeys.new_challenge()
    WebAuthnCeremony.objects.create(user=user, purpose=purpose, challenge=challenge, created_at=now,
                                    expires_at=now + timedelta(seconds=conf.webauthn_timeout))
    return challenge


def _keys(user: User) -> list[tuple[str, list[str]]]:
    return list(WebAuthnCredential.objects.filter(user=user).values_list("credential_id", "transports"))


def request_options(user: User | None, challenge: str, *, require_uv: bool) -> dict:
    return passkeys.request_options(rp_id=conf.webauthn_rp_id, challenge=challenge,
                                    allow=_keys(user) if user is not None else [], require_uv=require_uv,
                                    timeout=conf.webauthn_timeout)


def begin_registration(*, user: User, password: str) -> dict:
    """The creation options for a new passkey of ``user``, after the password."""
    require_factors_available()
    confirm_password(user, password)
    handle = (WebAuthnCredential.objects.filter(user=user).values_list("user_handle", flat=True).first()
              or passkeys.new_user_handle())
    challenge = open_ceremony(Purpose.REGISTER, user=user)
    # The handle travels in the options and comes back in nothing we trust: remembered on the ceremony's row.
    WebAuthnCeremony.objects.filter(challenge=challenge).update(user_handle=handle)
    return passkeys.creation_options(rp_id=conf.webauthn_rp_id, rp_name=conf.service_name, user_handle=handle,
                                     user_name=user.email, challenge=challenge, exclude=_keys(user),
                                     timeout=conf.webauthn_timeout)


def finish_registration(*, user: User, credential, name: str = "", ip: str | None = None,
                        user_agent: str = "") -> tuple[WebAuthnCredential, list[str]]:
    """
    The browser's answer to ``begin_registration``: its ceremony spent (once,
    this user's, unexpired), the attestation verified for our RP id and
    origins, the public key stored. Returns the passkey and the recovery
    codes the user got if they had none (else an empty list). A refused
    answer is 400 ``passkey_refused``.
    """
    require_factors_available()
    signed = passkeys.challenge_of(credential)
    now = timezone.now()
    ceremony = WebAuthnCeremony.objects.filter(challenge=signed or "", purpose=Purpose.REGISTER, user=user).first()
    # Spent before the answer is judged, refused or not, as every ceremony is.
    if signed is None or ceremony is None or not methods.spend_ceremony(signed, Purpose.REGISTER, user=user, now=now):
        raise PasskeyRefused()
    try:
        registered = passkeys.verify_registration(credential, challenge=signed, rp_id=conf.webauthn_rp_id,
                                                  origins=conf.webauthn_origins)
    except passkeys.Refused as exc:
        raise PasskeyRefused() from exc
    with transaction.atomic():
        count = WebAuthnCredential.objects.filter(user=user).count()
        try:
            with transaction.atomic():
                key = WebAuthnCredential.objects.create(
                    user=user, credential_id=registered.credential_id, public_key=registered.public_key,
                    sign_count=registered.sign_count, user_handle=ceremony.user_handle,
                    transports=registered.transports, aaguid=registered.aaguid, backed_up=registered.backed_up,
                    name=(name or "").strip()[:NAME_MAX_LENGTH] or f"Passkey {count + 1}", created_at=now,
                )
        except IntegrityError as exc:
            raise PasskeyRefused() from exc  # registered already (exclude_credentials was ignored)
        codes = recovery_codes.app_factor_added(user, method=methods.WEBAUTHN, ip=ip, user_agent=user_agent)
    return key, codes


def user_passkeys(user: User):
    """The user's passkeys, oldest first: what ``GET 2fa`` lists (never a key or a counter)."""
    return WebAuthnCredential.objects.filter(user=user).order_by("created_at").values(
        "id", "name", "created_at", "last_used_at")


def rename_passkey(*, user: User, passkey_id: uuid.UUID, name: str) -> None:
    name = name.strip()[:NAME_MAX_LENGTH]
    if not name or not WebAuthnCredential.objects.filter(pk=passkey_id, user=user).update(name=name):
        raise PasskeyNotFound()


def remove_passkey(*, user: User, passkey_id: uuid.UUID, password: str, ip: str | None = None,
                   user_agent: str = "") -> None:
    """
    The user removes one passkey, with the password; another user's (or an
    unknown id) is 404. The last app factor gone, logins ask for the emailed
    code again (``methods.methods_for``).
    """
    confirm_password(user, password)
    with transaction.atomic():
        if not remove_passkeys(user, passkey_id=passkey_id, actor="user", ip=ip, user_agent=user_agent,
                               via=audit.Via.API):
            raise PasskeyNotFound()


def remove_passkeys(user: User, *, passkey_id: uuid.UUID | None = None, actor: str, ip: str | None, user_agent: str,
                    via: str) -> int:
    """One passkey (or all, staff's removal: ``actor``), audited and noticed. How many went."""
    keys = WebAuthnCredential.objects.filter(user=user)
    if passkey_id is not None:
        keys = keys.filter(pk=passkey_id)
    removed, _ = keys.delete()
    if removed:
        audit.record_event(audit.Kind.FACTOR_REMOVED, user_id=user.pk, email=user.email, ip=ip,
                           user_agent=user_agent, reason=methods.WEBAUTHN, actor=actor, via=via)
        notices.factor_changed(user, method=methods.WEBAUTHN, change="removed", by=actor,
                               detail="" if passkey_id is not None else f"{removed} passkey(s)")
    return removed


def begin_step_up(*, user: User) -> dict:
    """Request options for a passkey asked for again outside a login (deleting the account): one use, this user's."""
    if not methods.get(methods.WEBAUTHN).enrolled(user):
        raise MethodUnavailable()
    return request_options(user, open_ceremony(Purpose.STEP_UP, user=user), require_uv=False)


def begin_sign_in() -> dict:
    """Request options for a passwordless sign-in: any discoverable passkey of this RP, user verification required."""
    return request_options(None, open_ceremony(Purpose.SIGN_IN, user=None), require_uv=True)
