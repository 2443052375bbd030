"""
The account's whole life (DESIGN.md, Part 2, "Account lifecycle"): address
verification and change links. Read when used, through ``accounts.conf``.
Part of the settings: ``authsvc/settings.py`` star-imports this module.
"""

import environ

env = environ.Env()

# mandatory: a login needs a verified address (an emailed sign-in code proves
# it), and registration answers alike for a new and a taken address;
# optional: a link is mailed, nothing waits for it; none: no link is mailed.
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="optional")
# Seconds a verification or email-change link works.
EMAIL_VERIFICATION_TTL = env.int("EMAIL_VERIFICATION_TTL", default=3 * 24 * 3600)
# Seconds between two verification emails of one account (within them, the last link still works).
EMAIL_VERIFICATION_COOLDOWN = env.int("EMAIL_VERIFICATION_COOLDOWN", default=60)
# Where the links point: pages of the front end that post the key to
# /api/auth/email/verify/ and /api/auth/email/change/confirm/.
VERIFY_EMAIL_URL = env.str("VERIFY_EMAIL_URL", default="http://127.0.0.1:8000/#/verify-email?key={key}")
EMAIL_CHANGE_URL = env.str("EMAIL_CHANGE_URL", default="http://127.0.0.1:8000/#/confirm-email-change?key={key}")
