"""
Staff in the admin, signed in through its door (accounts/admin_site.py) as a
browser does: the password, then the emailed code when a second factor
applies. ``force_login`` is no longer enough: the admin serves only Django
sessions bound to a live session of ours.
"""

from django.test import Client, TestCase

from accounts.admin_session import SESSION_ID_KEY
from tests.accounts.conftest import code_from_outbox
from tests.conftest import PASSWORD

ADMIN_LOGIN = "/admin/login/"
ADMIN_CODE = "/admin/login/code/"


def admin_client(staff, *, client: Client | None = None, password: str = PASSWORD, **headers) -> Client:
    """A client signed in to the admin as ``staff``."""
    client = client or Client()
    # The code email is sent once the login's transaction commits.
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(ADMIN_LOGIN, {"username": staff.email, "password": password}, **headers)
    assert response.status_code == 302, response.content.decode()
    if response["Location"].startswith(ADMIN_CODE):
        response = client.post(response["Location"], {"code": code_from_outbox()}, **headers)
        assert response.status_code == 302, response.content.decode()
    assert SESSION_ID_KEY in client.session
    return client


def bound_session_id(client: Client) -> str:
    """The id of the tokens.Session the client's admin sign-in is bound to."""
    return client.session[SESSION_ID_KEY]
