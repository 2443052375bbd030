from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string


@register(Tags.security, deploy=False)
def check_token_settings(app_configs, **kwargs):
    errors = []
    for name in ("ACCESS_TOKEN_TTL", "REFRESH_TOKEN_TTL", "SESSION_MAX_AGE"):
        value = getattr(settings, name)
        if not isinstance(value, int) or value <= 0:
            errors.append(Error(f"{name} must be a positive number of seconds.", id="tokens.E001"))
    for name in ("REFRESH_REUSE_GRACE", "REVOKED_RETENTION"):
        value = getattr(settings, name)
        if not isinstance(value, int) or value < 0:
            errors.append(Error(f"{name} must be zero or a positive number of seconds.", id="tokens.E002"))
    if settings.COOKIE_SAMESITE not in ("Lax", "Strict", "None"):
        errors.append(Error("COOKIE_SAMESITE must be 'Lax', 'Strict' or 'None'.", id="tokens.E003"))
    if settings.COOKIE_SAMESITE == "None" and settings.COOKIE_SECURE is False:
        errors.append(
            Error("COOKIE_SAMESITE='None' needs Secure cookies; browsers drop them otherwise.", id="tokens.E004")
        )
    if settings.REFRESH_REUSE_GRACE > 60:
        errors.append(
            Warning(
                "REFRESH_REUSE_GRACE above 60 s gives a thief a long window to use a stolen refresh token.",
                id="tokens.W001",
            )
        )
    return errors


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
