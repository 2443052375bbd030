from django.conf import settings
from django.core.checks import Error, register


@register()
def check_two_factor_mode(app_configs, **kwargs):
    if settings.AUTH_2FA not in ("required", "optional", "off"):
        return [Error("AUTH_2FA must be 'required', 'optional' or 'off'.", id="accounts.E001")]
    return []


@register()
def check_password_hasher(app_configs, **kwargs):
    if not settings.PASSWORD_HASHERS or "Argon2" not in settings.PASSWORD_HASHERS[0]:
        return [Error("The first PASSWORD_HASHERS entry should be an Argon2 hasher.", id="accounts.E002")]
    return []


@register()
def check_rate_limits(app_configs, **kwargs):
    """Rates, network prefixes and the open-challenge cap, checked at start-up rather than on a request's path."""
    from authsvc.ratelimits import parse_rate

    errors = []
    for scope, rate in settings.RATE_LIMITS.items():
        try:
            count, _ = parse_rate(rate)
        except (TypeError, ValueError):
            count = 0
        if count < 1:
            errors.append(Error(f"RATE_LIMITS[{scope!r}] = {rate!r} is not a rate such as 10/m or 5/15m.",
                                id="accounts.E003"))
    for name, bits in (("RATELIMIT_IPV4_PREFIX", 32), ("RATELIMIT_IPV6_PREFIX", 128)):
        if not 1 <= getattr(settings, name) <= bits:
            errors.append(Error(f"{name} must be between 1 and {bits}.", id="accounts.E004"))
    if settings.TWO_FACTOR_MAX_OPEN_CHALLENGES < 1:
        errors.append(Error("TWO_FACTOR_MAX_OPEN_CHALLENGES must be at least 1.", id="accounts.E005"))
    return errors
