"""
Rate limits (django-ratelimit syntax: count/period), counted in the cache.
Read when used by ``authsvc/ratelimits.py``. Part of the settings:
``authsvc/settings.py`` star-imports this module.
"""

import environ

env = environ.Env()

RATE_LIMITS = {
    # Password guesses for one email: tight per (email, client network), so
    # guesses from elsewhere cannot lock the owner out at hers; and a higher
    # cap per email whatever the network, which bounds a botnet's guesses at
    # one account (1,200 a day) and mails the owner when it trips.
    "login_email_ip": env.str("RATELIMIT_LOGIN_EMAIL_IP", default="10/m"),
    "login_email": env.str("RATELIMIT_LOGIN_EMAIL", default="50/h"),
    "login_ip": env.str("RATELIMIT_LOGIN_IP", default="30/m"),
    "two_factor_ip": env.str("RATELIMIT_2FA_IP", default="30/m"),
    "two_factor_challenge": env.str("RATELIMIT_2FA_CHALLENGE", default="10/m"),
    "resend_ip": env.str("RATELIMIT_RESEND_IP", default="10/m"),
    "reset_email": env.str("RATELIMIT_RESET_EMAIL", default="5/h"),
    "reset_ip": env.str("RATELIMIT_RESET_IP", default="20/h"),
    "register_ip": env.str("RATELIMIT_REGISTER_IP", default="20/h"),
    # Old-password checks behind an access token (password/change, 2fa/enable,
    # 2fa/disable together), per user: a stolen token buys no guessing.
    "password_check_user": env.str("RATELIMIT_PASSWORD_CHECK_USER", default="10/h"),
    # The account's life: links asked for without a session (every address
    # gets one answer: per client network), confirmations of a link's key
    # (256-bit keys: this is about load, not guessing), exports per user.
    "verify_resend_ip": env.str("RATELIMIT_VERIFY_RESEND_IP", default="10/h"),
    "email_link_ip": env.str("RATELIMIT_EMAIL_LINK_IP", default="30/m"),
    "export_user": env.str("RATELIMIT_EXPORT_USER", default="10/h"),
    # Passwordless sign-in (login/passkey/begin and login/passkey), per client network.
    "passkey_ip": env.str("RATELIMIT_PASSKEY_IP", default="30/m"),
    # Per-account budgets of the emailed second factor: wrong answers across
    # all challenges (spent: every open challenge ends, no new one until the
    # window is over, the owner is mailed), and code emails, logins and
    # resends together.
    "two_factor_account_failures": env.str("RATELIMIT_2FA_ACCOUNT_FAILURES", default="10/h"),
    "two_factor_account_emails": env.str("RATELIMIT_2FA_ACCOUNT_EMAILS", default="10/h"),
    # Wrong service credentials per client network, every door together:
    # introspection's and the revocation feed's Basic auth, the /metrics
    # bearer token. Past it every request from there is refused, the right
    # credentials too, until the window passes (DESIGN.md, "Observability").
    "service_credentials_ip": env.str("RATELIMIT_SERVICE_CREDENTIALS_IP", default="10/m"),
}
# Per-IP limits count networks: an IPv6 client's /64, an IPv4 address.
RATELIMIT_IPV4_PREFIX = env.int("RATELIMIT_IPV4_PREFIX", default=32)
RATELIMIT_IPV6_PREFIX = env.int("RATELIMIT_IPV6_PREFIX", default=64)
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
RATELIMIT_FAIL_OPEN = env.bool("RATELIMIT_FAIL_OPEN", default=False)
