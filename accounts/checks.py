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
