from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register()
def check_two_factor_mode(app_configs, **kwargs):
    if settings.AUTH_2FA not in ("required", "optional", "off"):
        return [Error("AUTH_2FA must be 'required', 'optional' or 'off'.", id="accounts.E001")]
    return []


@register()
def check_email_verification(app_configs, **kwargs):
    errors = []
    if settings.ACCOUNT_EMAIL_VERIFICATION not in ("mandatory", "optional", "none"):
        errors.append(Error("ACCOUNT_EMAIL_VERIFICATION must be 'mandatory', 'optional' or 'none'.",
                            id="accounts.E006"))
    for name in ("VERIFY_EMAIL_URL", "EMAIL_CHANGE_URL"):
        if "{key}" not in getattr(settings, name):
            errors.append(Error(f"{name} must hold {{key}}, where the link's key goes.", id="accounts.E007"))
    return errors


@register(Tags.database)
def check_email_skeletons(app_configs, databases=None, **kwargs):
    """
    Accounts whose address collided with a look-alike when the skeleton
    column came (migration 0008 reports them too): run by ``migrate`` and
    ``check --database default``.
    """
    from django.db import DatabaseError

    from accounts.models import User

    if not databases:
        return []
    try:
        collided = list(User.objects.using(next(iter(databases))).filter(email_skeleton__isnull=True)
                        .values_list("pk", flat=True)[:20])
    except DatabaseError:
        return []  # not migrated yet
    if not collided:
        return []
    return [Warning(f"Users {collided} have an address that looks like another account's: their look-alike "
                    "check is off until the address changes. Review them (admin) and change or delete one.",
                    id="accounts.W001")]


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
