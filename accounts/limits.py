"""
The password step's per-email limits, for every door that takes a password
(the API's login view, the admin's login page): the same scopes, keys and
order wherever the guesses come in.

Keyed by email alone, a tight limit is a lockout anyone can aim: ten wrong
passwords from rotating addresses kept the real owner out too (OWASP
Authentication Cheat Sheet, "Account Lockout"). So the tight limit counts
(email, client network), and what every address shares is a higher cap per
email, which bounds a botnet's guesses at one account; the request that
first trips that cap has the owner told, by a notice queued for any email,
known or not, so the answer does not say which emails have accounts.
"""

from accounts.flows.passwords import warn_of_sign_in_attempts
from accounts.addresses import normalize_email
from authsvc.net import client_ip
from authsvc.ratelimits import enforce_rate_limit, ip_key


def enforce_login_email_limits(request, email: str) -> None:
    """After the per-IP limit and the form: ``login_email_ip``, then ``login_email``."""
    email = normalize_email(email)
    # The network, not the address, as for every per-IP limit (ratelimits.ip_key).
    enforce_rate_limit(request, "login_email_ip", f"{email}|{ip_key(client_ip(request))}")
    enforce_rate_limit(request, "login_email", email,
                       on_first_refusal=lambda: warn_of_sign_in_attempts(email=email))
