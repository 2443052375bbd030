from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string

from tokens.conf import conf, parse_client
from tokens.keys import ALGORITHMS


@register(Tags.security, deploy=False)
def check_token_settings(app_configs, **kwargs):
    errors = []
    for name in ("ACCESS_TOKEN_TTL", "REFRESH_TOKEN_TTL", "SESSION_MAX_AGE"):
        value = getattr(settings, name)
        if not isinstance(value, int) or value <= 0:
            errors.append(Error(f"{name} must be a positive number of seconds.", id="tokens.E001"))
    for name in ("REFRESH_REUSE_GRACE", "REVOKED_RETENTION", "AUTH_EVENT_RETENTION"):
        value = getattr(settings, name)
        if not isinstance(value, int) or value < 0:
            errors.append(Error(f"{name} must be zero or a positive number of seconds.", id="tokens.E002"))
    if settings.COOKIE_SAMESITE not in ("Lax", "Strict", "None"):
        errors.append(Error("COOKIE_SAMESITE must be 'Lax', 'Strict' or 'None'.", id="tokens.E003"))
    if settings.COOKIE_SECURE not in (None, True, False):
        errors.append(Error("COOKIE_SECURE must be True, False or None (Secure unless DEBUG).", id="tokens.E008"))
    elif settings.COOKIE_SAMESITE == "None" and not conf.cookie_secure:
        errors.append(
            Error("COOKIE_SAMESITE='None' needs Secure cookies; browsers drop them otherwise.", id="tokens.E004")
        )
    if settings.JWT_ALGORITHM not in ALGORITHMS:
        errors.append(Error(f"JWT_ALGORITHM must be one of {', '.join(ALGORITHMS)}.", id="tokens.E009"))
    if not settings.JWT_ISSUER or not settings.JWT_AUDIENCE:
        errors.append(Error("JWT_ISSUER and JWT_AUDIENCE must not be empty.", id="tokens.E010"))
    for name in ("JWT_KEY_PUBLISH_DELAY", "JWT_KEYRING_MAX_AGE"):
        value = getattr(settings, name)
        if not isinstance(value, int) or value < 0:
            errors.append(Error(f"{name} must be zero or a positive number of seconds.", id="tokens.E002"))
    if settings.REFRESH_REUSE_GRACE > 60:
        errors.append(
            Warning(
                "REFRESH_REUSE_GRACE above 60 s gives a thief a long window to use a stolen refresh token.",
                id="tokens.W001",
            )
        )
    return errors


@register(Tags.security)
def check_introspection_clients(app_configs, **kwargs):
    """Each ``INTROSPECTION_CLIENTS`` entry is ``name:secret``, each name once: a typo must not lock a service out silently."""
    raw = settings.INTROSPECTION_CLIENTS
    entries = [entry for entry in raw.split(",") if entry.strip()] if isinstance(raw, str) else None
    if entries is None or not all(parse_client(entry) for entry in entries):
        # The message never repeats the value: it holds secrets.
        return [Error("INTROSPECTION_CLIENTS must be comma-separated name:secret pairs.", id="tokens.E011")]
    names = [parse_client(entry)[0] for entry in entries]
    if len(set(names)) != len(names):
        return [Error("INTROSPECTION_CLIENTS names each service once.", id="tokens.E011")]
    return []


@register()
def check_purge_settings(app_configs, **kwargs):
    """The hourly purge imports its functions when it runs: a typo must show up at deploy, not an hour later."""
    errors = []
    for path in getattr(settings, "PURGE_FUNCTIONS", []):
        try:
            function = import_string(path)
        except ImportError as exc:
            errors.append(Error(f"PURGE_FUNCTIONS: cannot import {path!r} ({exc}).", id="tokens.E005"))
            continue
        if not callable(function):
            errors.append(Error(f"PURGE_FUNCTIONS: {path!r} is not callable.", id="tokens.E005"))
    batch_size = getattr(settings, "PURGE_BATCH_SIZE", 1)
    if not isinstance(batch_size, int) or batch_size < 1:
        errors.append(Error("PURGE_BATCH_SIZE must be a positive number of rows.", id="tokens.E006"))
    return errors


@register()
def check_user_model(app_configs, **kwargs):
    """Sessions end when the user's credentials epoch moves on: the user model must have that field."""
    from django.contrib.auth import get_user_model
    from django.core.exceptions import FieldDoesNotExist

    from tokens.models import AUTH_EPOCH_FIELD

    user_model = get_user_model()
    try:
        field = user_model._meta.get_field(AUTH_EPOCH_FIELD)
    except FieldDoesNotExist:
        field = None
    if field is None or field.get_internal_type() not in ("PositiveIntegerField", "IntegerField", "BigIntegerField"):
        return [Error(
            f"{user_model._meta.label} needs an integer field {AUTH_EPOCH_FIELD!r} that moves on when the "
            "password is set or the account is deactivated (see accounts.User).", id="tokens.E007",
        )]
    return []
