"""
Second factors on several hosts (DESIGN.md, "Production shape, hosts and
faults"; Part 2, "Second factors": a code is accepted at most once): two
gunicorn hosts from the shipped venv on one PostgreSQL and one Redis. A TOTP
code's single use lives in the shared database, not in a host's memory, so
the host that did not see it taken refuses it all the same.
"""

import time
import uuid

import pyotp

from tests import hosts
from tests.test_hosts import PASSWORD, two_hosts  # noqa: F401 (two_hosts: the fixture)

pytestmark = hosts.PRODUCTION_SHAPE

STEP = 30


def wait_for_a_fresh_step(margin: float = 6) -> None:
    """Sleep past the next step boundary if fewer than ``margin`` seconds are left in this step."""
    left = STEP - time.time() % STEP
    if left < margin:
        time.sleep(left + 0.5)


def test_a_totp_code_taken_on_one_host_is_refused_on_the_other(two_hosts):  # noqa: F811
    """Two logins, two challenges, one code: host A logs in with it, host B then refuses it."""
    # optional: the password alone signs in until the app is set up, so no emailed code is needed to begin.
    a, b = two_hosts(AUTH_2FA="optional")
    email = f"hosts-{uuid.uuid4().hex[:8]}@example.com"
    assert a.post("/api/auth/register/", {"email": email, "password": PASSWORD}).status_code == 201
    signed_in = a.post("/api/auth/login/", {"email": email, "password": PASSWORD, "transport": "body"})
    assert signed_in.status_code == 200, signed_in.text
    auth = {"Authorization": f"Bearer {signed_in.json()['access']}"}
    setup = a.post("/api/auth/2fa/totp/setup/", {"password": PASSWORD}, headers=auth)
    assert setup.status_code == 200, setup.text
    app = pyotp.TOTP(setup.json()["secret"])
    # Confirmed with the previous step's code (one step of drift), so the current step's is still unused.
    wait_for_a_fresh_step()
    confirmed = a.post("/api/auth/2fa/totp/confirm/", {"code": app.at(time.time() - STEP)}, headers=auth)
    assert confirmed.status_code == 200, confirmed.text

    login = {"email": email, "password": PASSWORD, "transport": "body"}
    on_a, on_b = a.post("/api/auth/login/", login).json(), b.post("/api/auth/login/", login).json()
    assert on_a["methods"] == on_b["methods"] == ["totp", "recovery"]
    code = app.now()

    taken = a.post("/api/auth/login/2fa/", {"challenge": on_a["challenge"], "code": code, "method": "totp",
                                            "transport": "body"})
    assert taken.status_code == 200, taken.text

    replayed = b.post("/api/auth/login/2fa/", {"challenge": on_b["challenge"], "code": code, "method": "totp",
                                               "transport": "body"})
    assert replayed.status_code == 401, replayed.text
    assert replayed.json() == {"detail": "The code is incorrect.", "code": "invalid_code"}
