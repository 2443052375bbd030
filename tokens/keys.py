"""
The keys tokens are signed with (DESIGN.md, Part 2, "Keys other services can
verify"), and how every process knows them.

``JWT_ALGORITHM`` ES256 (default), EdDSA or RS256: asymmetric keys made here
with ``cryptography``, kept in the database (``tokens.SigningKey``, the
private part encrypted by ``authsvc.secretbox``), the public parts published
at ``/.well-known/jwks.json``, so a resource server verifies tokens without
holding anything that could mint one. HS256: the shared secret of the
settings, behind a key row that only gives its tokens a ``kid``.

Rotation signs nobody out: a new key is published (``next``) for
``JWT_KEY_PUBLISH_DELAY`` before it signs, so every verifier's cached JWKS
already holds it; the key it replaces keeps verifying (``retiring``) until
nothing it signed can still be valid, then it is ``retired`` and refused.

Every process keeps the keys in memory (``keyring``) and reads them again
after ``JWT_KEYRING_MAX_AGE`` seconds (by the monotonic clock), or at once —
at most once a second — for a ``kid`` it does not know: the hot paths make
no query for keys, and a rotation reaches every host and worker without a
restart. A retired or unknown ``kid`` is refused; header URLs (``jku``,
``x5u``) and embedded keys (``jwk``) are never used.
"""

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.db import IntegrityError, transaction
from django.db.models import Min
from django.utils import timezone

from authsvc import secretbox
from tokens.conf import conf
from tokens.models import SigningKey

logger = logging.getLogger(__name__)

State = SigningKey.State
ASYMMETRIC = ("ES256", "EdDSA", "RS256")
ALGORITHMS = (*ASYMMETRIC, "HS256")
PUBLISHED = (State.NEXT, State.ACTIVE, State.RETIRING)
# Header parameters that name a key elsewhere (RFC 7515 §4.1.2–4.1.6): never
# ours, never followed; a token that carries one is refused outright.
FOREIGN_KEY_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256"})
UNKNOWN_KID_RELOAD_INTERVAL = 1.0


@dataclass(frozen=True)
class Key:
    kid: str | None
    algorithm: str
    state: str
    verifying_key: object
    signing_key: object | None
    public_jwk: dict | None


# --- making keys ----------------------------------------------------------------------------------


def _new_private_key(algorithm: str):
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise ValueError(f"not an asymmetric algorithm: {algorithm}")


def _pem(private_key) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_jwk(kid: str, algorithm: str, public_key) -> dict:
    """The public key as a JWK (RFC 7517), by PyJWT's own serializer, with its ``kid``, ``alg`` and ``use``."""
    jwk = jwt.get_algorithm_by_name(algorithm).to_jwk(public_key, as_dict=True)
    return {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}


def new_key(algorithm: str, *, state: str, now: datetime) -> SigningKey:
    """A new key row (unsaved) for ``algorithm``; HS256 holds no secret: it stays in the settings."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"JWT_ALGORITHM must be one of {', '.join(ALGORITHMS)}")
    kid = secrets.token_urlsafe(16)
    key = SigningKey(kid=kid, algorithm=algorithm, state=state, created_at=now,
                     activated_at=now if state == State.ACTIVE else None)
    if algorithm in ASYMMETRIC:
        private_key = _new_private_key(algorithm)
        key.private_key = secretbox.encrypt(_pem(private_key))
        key.public_jwk = public_jwk(kid, algorithm, private_key.public_key())
    return key


# --- the life of a key ----------------------------------------------------------------------------


def ensure_active_key(*, now: datetime | None = None) -> None:
    """
    Make sure a key of ``JWT_ALGORITHM`` signs: the very first one, or — after
    the setting changed — one of the new algorithm at once, the former key
    retiring (it still verifies what it signed). Of two processes doing this
    at once, one wins (a unique index allows one active key); the other
    reads the winner's.
    """
    now = now or timezone.now()
    try:
        with transaction.atomic():
            active = SigningKey.objects.select_for_update().filter(state=State.ACTIVE).first()
            if active is not None and active.algorithm == conf.jwt_algorithm:
                return
            if active is not None:
                _retire(active, now)
            pending = SigningKey.objects.filter(state=State.NEXT, algorithm=conf.jwt_algorithm).first()
            if pending is not None:
                _activate(pending, now)
            else:
                new_key(conf.jwt_algorithm, state=State.ACTIVE, now=now).save(force_insert=True)
    except IntegrityError:
        logger.info("another process made the signing key first")


def rotate(*, now: datetime | None = None, at_once: bool = False) -> SigningKey:
    """
    ``manage.py rotate_signing_key``: publish a ``next`` key (or keep the one
    already waiting), which ``advance`` activates once it has been published
    for ``JWT_KEY_PUBLISH_DELAY``. ``at_once``: it signs now (tokens a
    verifier checks against a JWKS cached before this moment will be refused
    until it fetches the JWKS again). Returns the new or pending key.
    """
    now = now or timezone.now()
    algorithm = conf.jwt_algorithm
    if algorithm not in ASYMMETRIC:
        raise ValueError("HS256 keys are the JWT_SIGNING_KEY setting: rotate it there (every session ends).")
    with transaction.atomic():
        pending = SigningKey.objects.select_for_update().filter(state=State.NEXT, algorithm=algorithm).first()
        if pending is None:
            pending = new_key(algorithm, state=State.NEXT, now=now)
            pending.save(force_insert=True)
        if at_once:
            active = SigningKey.objects.select_for_update().filter(state=State.ACTIVE).first()
            if active is not None:
                _retire(active, now)
            _activate(pending, now)
    keyring.reset()
    return pending


def advance(*, now: datetime | None = None) -> dict[str, int]:
    """
    The hourly task's share of rotation: a ``next`` key published for
    ``JWT_KEY_PUBLISH_DELAY`` starts signing (the active one retiring), and a
    retiring key whose last token has expired is retired. A retiring key
    stopped signing at ``retiring_since``; nothing it signed lives past that
    plus the longest token lifetime and the clock-skew leeway — or a little
    later: a process that has not read the keys since signs with it for up
    to ``JWT_KEYRING_MAX_AGE`` more.
    """
    now = now or timezone.now()
    counts = {"signing_keys_activated": 0, "signing_keys_retired": 0}
    with transaction.atomic():
        due = (SigningKey.objects.select_for_update()
               .filter(state=State.NEXT, algorithm=conf.jwt_algorithm, created_at__lte=now - conf.key_publish_delay)
               .order_by("created_at").first())
        if due is not None:
            active = SigningKey.objects.select_for_update().filter(state=State.ACTIVE).first()
            if active is not None:
                _retire(active, now)
            _activate(due, now)
            counts["signing_keys_activated"] = 1
        longest = max(conf.refresh_ttl, conf.access_ttl) + _seconds(conf.leeway + conf.keyring_max_age)
        counts["signing_keys_retired"] = SigningKey.objects.filter(
            state=State.RETIRING, retiring_since__lte=now - longest,
        ).update(state=State.RETIRED, retired_at=now)
    if any(counts.values()):
        keyring.reset()
        logger.info("signing keys advanced", extra={"counts": counts})
    return counts


def _activate(key: SigningKey, now: datetime) -> None:
    SigningKey.objects.filter(pk=key.pk).update(state=State.ACTIVE, activated_at=now)


def _retire(key: SigningKey, now: datetime) -> None:
    SigningKey.objects.filter(pk=key.pk).update(state=State.RETIRING, retiring_since=now)


def _seconds(value: int) -> timedelta:
    return timedelta(seconds=value)


# --- every process's copy -------------------------------------------------------------------------


class KeyRing:
    """The published keys of this process, read from the database now and then (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget what was read: the next use reads the keys again."""
        self._keys: dict[str, Key] = {}
        self._active: Key | None = None
        self._legacy_until: datetime | None = None
        #: Tokens with no ``kid`` were all issued before this moment: when this version made its first key.
        self.legacy_issued_before: datetime | None = None
        self._loaded_at = float("-inf")

    def active(self) -> Key:
        """The key that signs now (made, the first time, if there is none of ``JWT_ALGORITHM``)."""
        self._fresh()
        if self._active is not None and self._active.signing_key is None:
            try:
                rotate(at_once=True)  # its private part no longer decrypts (see ``_key``)
            except IntegrityError:
                logger.info("another process replaced the undecryptable signing key first")
            self._load()
        if self._active is None or self._active.algorithm != conf.jwt_algorithm:
            ensure_active_key()
            self._load()
        return self._active

    def verifying(self, kid: str) -> Key | None:
        """The published key ``kid`` names; None if there is none (unknown, or retired)."""
        self._fresh()
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._loaded_at > UNKNOWN_KID_RELOAD_INTERVAL:
            # A key published since the last read (another host rotated): read again, at most once a second.
            self._load()
            key = self._keys.get(kid)
        return key

    def legacy(self) -> Key | None:
        """
        The key of the tokens issued before keys had ids (HS256, no ``kid``):
        good until the last of them has expired — the first key row was made
        when this version first signed, so none was issued after it — then
        None.
        """
        self._fresh()
        if self.legacy_issued_before is None:
            self.active()  # none read yet: the first key is made (or read) now, after every such token
        if self._legacy_until is None or timezone.now() > self._legacy_until:
            return None
        return Key(kid=None, algorithm="HS256", state=State.RETIRING, verifying_key=conf.shared_secret,
                   signing_key=None, public_jwk=None)

    def published(self) -> list[dict]:
        """The public JWKs of the next, active and retiring keys: the JWKS."""
        self._fresh()
        return [key.public_jwk for key in self._keys.values() if key.public_jwk]

    def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at > conf.keyring_max_age:
            self._load()

    def _load(self) -> None:
        with self._lock:
            rows = list(SigningKey.objects.filter(state__in=PUBLISHED))
            first = SigningKey.objects.aggregate(first=Min("created_at"))["first"]
            keys = {row.kid: _key(row) for row in rows}
            self._keys = keys
            self._active = next((key for key in keys.values() if key.state == State.ACTIVE), None)
            self._legacy_until = (
                first + max(conf.refresh_ttl, conf.access_ttl) + _seconds(conf.leeway) if first else None
            )
            self.legacy_issued_before = first
            self._loaded_at = time.monotonic()


def _key(row: SigningKey) -> Key:
    if row.algorithm == "HS256":
        secret = conf.shared_secret
        return Key(kid=row.kid, algorithm="HS256", state=row.state, verifying_key=secret,
                   signing_key=secret if row.state == State.ACTIVE else None, public_jwk=None)
    # Verifying needs the public part alone: SECRET_KEY rotated with no fallback signs nobody out.
    signing_key = None
    if row.state == State.ACTIVE:
        try:
            signing_key = serialization.load_pem_private_key(secretbox.decrypt(row.private_key).encode(), None)
        except secretbox.UndecryptableSecret:
            logger.error("the active signing key %s cannot be decrypted (SECRET_KEY changed with no fallback?): "
                         "a new key signs from now on", row.kid)
    return Key(kid=row.kid, algorithm=row.algorithm, state=row.state, verifying_key=jwt.PyJWK(row.public_jwk).key,
               signing_key=signing_key, public_jwk=row.public_jwk)


keyring = KeyRing()
