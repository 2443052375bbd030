"""
The OpenAPI schema tells the truth (issue 12, point 7): schemathesis, every
check on, fuzzes a production host through its own /api/schema/ and finds
no answer the schema does not describe: no undocumented status, body or
header, no 500, no request the schema calls invalid that the API takes,
none it calls valid that the API refuses without saying so.

Seeded and bounded (``--seed``, ``--max-examples``), so a run is repeatable;
about 45 s. The failure message is schemathesis' own report, each finding
with a curl line that reproduces it.
"""

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests import hosts
from tests.celery_worker import database_url

pytestmark = hosts.PRODUCTION_SHAPE

# The schemathesis command, its ast.parse serialised (tests/schemathesis_cli.py says why).
SCHEMATHESIS_CLI = Path(__file__).with_name("schemathesis_cli.py")
PASSWORD = "a long and unusual passphrase 42"
SEED = "20260412"
# The one service the fuzzer introspects and reads the revocation feed as.
SERVICE, SERVICE_SECRET = "fuzz-service", "fuzz-service-secret-0b7d41"

# Every rate limit out of the fuzzer's way, so that its requests reach the
# code behind the limits; the 429s stay documented (and are tested in
# tests/accounts/test_ratelimits.py and tests/test_hosts.py).
UNLIMITED = {
    f"RATELIMIT_{name}": "1000000/m"
    for name in ("LOGIN_EMAIL_IP", "LOGIN_EMAIL", "LOGIN_IP", "2FA_IP", "2FA_CHALLENGE", "RESEND_IP",
                 "RESET_EMAIL", "RESET_IP", "REGISTER_IP", "PASSWORD_CHECK_USER", "2FA_ACCOUNT_FAILURES",
                 "2FA_ACCOUNT_EMAILS", "SERVICE_CREDENTIALS_IP", "VERIFY_RESEND_IP", "EMAIL_LINK_IP", "EXPORT_USER",
                 "PASSKEY_IP")
}

# schemathesis.toml for the run. What it relaxes, it relaxes for a reason
# the schema already states.
CONFIG = """
# The authenticated operations get a fresh access token from a body-transport
# login, and another one whenever the fuzzer has revoked the session it was
# using (logout, logout/all, DELETE sessions/{{id}} answer 401 afterwards).
[auth.dynamic.openapi.bearerAuth]
path = "/api/auth/login/"
payload = {{ email = "{email}", password = "{password}", transport = "body" }}
extract_selector = "/access"

# The service endpoints (introspect/, revocations/) take the Basic
# credentials of a service in INTROSPECTION_CLIENTS, not a user's token.
[auth.openapi.serviceBasicAuth]
username = "{service}"
password = "{service_secret}"

# A run whose token never worked would pass on nothing but 401s: fail it.
[warnings]
fail-on = ["missing_auth"]

# refresh/ takes a refresh token (cookie, body or bearer), which the fuzzer
# cannot have: its every answer is the documented 401, by design.
[[operations]]
include-path = "/api/auth/refresh/"
warnings = false

# login/ with the emails and passwords the fuzzer invents: every answer is
# the documented 401 invalid_credentials (the fixed seed's examples shifted
# when the service endpoints joined the schema, and none is now a 400).
# The token fetch above logs in for real on every run.
[[operations]]
include-path = "/api/auth/login/"
warnings = false

# A well-formed body these refuse with the documented 400: a new password
# that a validator JSON Schema cannot state refuses (too common, too like the
# email), an email already taken (email_taken), a wrong current password
# (invalid_password), a reset link that is not one (reset_token_invalid), an
# authenticator app already set up or not set up at all (factor_exists,
# factor_missing), an email link's key that is not one (verification_key_invalid),
# a passkey's answer that does not verify (passkey_refused), no passkey to ask for
# (method_unavailable), a second step with neither of its two answer fields (a code,
# or a passkey's credential: "one of" is more than the schema states).
[[operations]]
include-path-regex = "^/api/auth/(register|password/change|password/reset/confirm|2fa/enable|2fa/disable|2fa/totp/(setup|confirm|disable)|2fa/recovery-codes|email/(verify|change|change/confirm)|account/delete|2fa/webauthn/(register/begin|register/finish|step-up/begin|[^/]+/remove)|login/2fa)/$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]

# revocations/ takes an opaque cursor: which strings of its documented form
# the feed handed out cannot be said in JSON Schema; any other is the
# documented 400 invalid_cursor.
[[operations]]
include-path = "/api/auth/revocations/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "429", "5xx"]

# logout/ is idempotent: a token it cannot use is no error (204), and DRF's
# CharField reads a JSON number as a string, so {{"refresh": 0}} is a 204 too.
[[operations]]
include-path = "/api/auth/logout/"
checks.negative_data_rejection.expected-statuses = [
    "204", "400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx",
]
"""


@pytest.fixture
def host(tmp_path, settings):
    """One gunicorn host, production settings, limits lifted, optional 2FA (so that 2fa/enable has work to do)."""
    # Plain HTTP served, not redirected: schemathesis' token fetch cannot
    # carry the X-Forwarded-Proto header of the TLS-ending proxy.
    env = hosts.production_env(database_url=database_url(settings), redis_url=settings.REDIS_URL,
                               workdir=tmp_path, AUTH_2FA="optional", SECURE_SSL_REDIRECT="0",
                               INTROSPECTION_CLIENTS=f"{SERVICE}:{SERVICE_SECRET}", **UNLIMITED)
    with hosts.Host("fuzz-host", env=env, workdir=tmp_path, workers=4) as started:
        yield started
    import redis

    # Registrations and reset requests queued their emails; no worker took them.
    queue = env["CELERY_QUEUE"]
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")


def test_the_schema_describes_every_answer_the_fuzzer_gets(host, tmp_path):
    email = f"fuzz-{uuid.uuid4().hex[:8]}@example.com"
    registered = host.post("/api/auth/register/", {"email": email, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(email=email, password=PASSWORD, service=SERVICE, service_secret=SERVICE_SECRET))

    command = [
        sys.executable, "-P", str(SCHEMATHESIS_CLI), "--config-file", str(config), "run", f"{host.url}/api/schema/",
        "--checks", "all",
        "--seed", SEED, "--max-examples", "10", "--workers", "2",
        "--generation-database", "none", "--no-color",
    ]
    # In tmp_path: schemathesis writes its reports and caches under the working directory.
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)

    report = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)}\n\n{report}\n{host.tail()}"
