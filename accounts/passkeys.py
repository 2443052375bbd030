"""
WebAuthn ceremonies (passkeys and security keys) through py_webauthn: the
options a browser passes to ``navigator.credentials.create()`` / ``.get()``
and the verification of what it returns. No database, no CBOR or COSE of
our own: the library parses and checks attestation objects, authenticator
data, client data and signatures; this module only says what to expect.

The signature counter (WebAuthn §6.1.1, §7.2 step 21) is compared here,
after the library has verified the signature, not by the library before
it: a counter that did not move on is then known to come from the real key
(or a clone of it), so refusing it and auditing it means something, and a
forged assertion cannot fill the audit trail with false clone alarms.
"""

import json
import secrets
from dataclasses import dataclass

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_client_data_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

CHALLENGE_BYTES = 32
#: A credential as a browser hands it over (``PublicKeyCredential.toJSON()``): bounded before any parsing.
MAX_CREDENTIAL_JSON = 16 * 1024
_TRANSPORTS = {transport.value for transport in AuthenticatorTransport}


class Refused(Exception):
    """The credential does not verify: malformed, wrong origin, RP id, challenge, signature, user verification."""


class CounterWentBack(Refused):
    """A valid signature whose counter did not move on: a cloned authenticator, or a replayed assertion."""


@dataclass(frozen=True)
class Registered:
    credential_id: str
    public_key: bytes
    sign_count: int
    aaguid: str
    backed_up: bool
    transports: list[str]


def new_challenge() -> str:
    """A ceremony's challenge, base64url (256 bits from the OS CSPRNG)."""
    return bytes_to_base64url(secrets.token_bytes(CHALLENGE_BYTES))


def new_user_handle() -> str:
    """The user handle a discoverable credential stores (random: never the account's id or address)."""
    return bytes_to_base64url(secrets.token_bytes(32))


def _descriptors(credentials) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(id=base64url_to_bytes(credential_id),
                                      transports=[AuthenticatorTransport(t) for t in transports if t in _TRANSPORTS])
        for credential_id, transports in credentials
    ]


def _wrapped(options) -> dict:
    """The standard JSON form, wrapped as ``{"publicKey": …}`` (what ``PublicKeyCredential.parse*OptionsFromJSON`` takes)."""
    return {"publicKey": json.loads(options_to_json(options))}


def creation_options(*, rp_id: str, rp_name: str, user_handle: str, user_name: str, challenge: str,
                     exclude: list[tuple[str, list[str]]], timeout: int) -> dict:
    """
    Options to register a passkey: a discoverable credential asked for
    (``residentKey: preferred``, so an older security key can still serve as
    a second factor), user verification preferred, no attestation (we trust
    no vendor list, so asking for one would only leak the device model), the
    user's existing credentials excluded.
    """
    return _wrapped(generate_registration_options(
        rp_id=rp_id, rp_name=rp_name, user_id=base64url_to_bytes(user_handle), user_name=user_name,
        user_display_name=user_name, challenge=base64url_to_bytes(challenge), timeout=timeout * 1000,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.PREFERRED),
        exclude_credentials=_descriptors(exclude),
    ))


def request_options(*, rp_id: str, challenge: str, allow: list[tuple[str, list[str]]], require_uv: bool,
                    timeout: int) -> dict:
    """Options to sign in with a passkey: the user's credentials (none: any discoverable one of this RP)."""
    return _wrapped(generate_authentication_options(
        rp_id=rp_id, challenge=base64url_to_bytes(challenge), timeout=timeout * 1000,
        allow_credentials=_descriptors(allow),
        user_verification=UserVerificationRequirement.REQUIRED if require_uv else UserVerificationRequirement.PREFERRED,
    ))


def _as_dict(credential) -> dict:
    if isinstance(credential, str):
        if len(credential) > MAX_CREDENTIAL_JSON:
            raise Refused("credential too long")
        try:
            credential = json.loads(credential)
        except ValueError as exc:
            raise Refused("credential is not JSON") from exc
    if not isinstance(credential, dict):
        raise Refused("credential is not an object")
    return credential


def challenge_of(credential) -> str | None:
    """The challenge the authenticator signed (from clientDataJSON), to find its ceremony by; None if unreadable."""
    try:
        response = _as_dict(credential).get("response")
        client_data = parse_client_data_json(base64url_to_bytes(response["clientDataJSON"]))
        return bytes_to_base64url(client_data.challenge)
    except (Refused, WebAuthnException, TypeError, KeyError, ValueError, AttributeError):
        return None


def credential_id_of(credential) -> str | None:
    """The credential's id (base64url of its raw id), to find its key by; None if absent."""
    try:
        value = _as_dict(credential).get("rawId") or _as_dict(credential).get("id")
    except Refused:
        return None
    return value if isinstance(value, str) and 0 < len(value) <= 1400 else None


def user_handle_of(credential) -> str | None:
    """The user handle a discoverable credential returned (``response.userHandle``), if any."""
    try:
        value = _as_dict(credential).get("response", {}).get("userHandle")
    except (Refused, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def verify_registration(credential, *, challenge: str, rp_id: str, origins: list[str]) -> Registered:
    """The new credential, if the browser's answer verifies for this challenge, RP id and one of the origins."""
    credential = _as_dict(credential)
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=base64url_to_bytes(challenge), expected_rp_id=rp_id,
            expected_origin=origins, require_user_presence=True, require_user_verification=False,
        )
    except (WebAuthnException, TypeError, KeyError, ValueError) as exc:
        raise Refused(str(exc)) from exc
    transports = credential.get("response", {}).get("transports") or []
    return Registered(
        credential_id=bytes_to_base64url(verified.credential_id), public_key=verified.credential_public_key,
        sign_count=verified.sign_count, aaguid=str(verified.aaguid), backed_up=verified.credential_backed_up,
        transports=[t for t in transports if t in _TRANSPORTS] if isinstance(transports, list) else [],
    )


def verify_assertion(credential, *, challenge: str, rp_id: str, origins: list[str], public_key: bytes,
                     sign_count: int, require_uv: bool) -> int:
    """
    The new signature counter, if the browser's assertion verifies — this
    challenge, RP id, origin, the stored public key, user presence, and user
    verification where required. ``CounterWentBack`` when the signature is
    right but the counter did not move on (both zero is a device without a
    counter, which is allowed).
    """
    try:
        verified = verify_authentication_response(
            credential=_as_dict(credential), expected_challenge=base64url_to_bytes(challenge), expected_rp_id=rp_id,
            expected_origin=origins, credential_public_key=public_key, credential_current_sign_count=0,
            require_user_verification=require_uv,
        )
    except (WebAuthnException, TypeError, KeyError, ValueError) as exc:
        raise Refused(str(exc)) from exc
    if (verified.new_sign_count or sign_count) and verified.new_sign_count <= sign_count:
        raise CounterWentBack(f"counter {verified.new_sign_count} after {sign_count}")
    return verified.new_sign_count
