import re

import pytest
from django.core import mail

from tests.conftest import PASSWORD


@pytest.fixture
def two_factor(settings):
    settings.AUTH_2FA = "required"


def code_from_outbox(index: int = -1) -> str:
    message = mail.outbox[index]
    match = re.search(r"\b(\d{6})\b", message.body)
    assert match, message.body
    return match.group(1)


@pytest.fixture
def start_login(api, django_capture_on_commit_callbacks):
    """Login step one with the emails actually sent (on-commit callbacks run); returns (response, code)."""

    def start(user, transport="body", client=None, password=PASSWORD, **headers):
        client = client or api
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/api/auth/login/",
                {"email": user.email, "password": password, "transport": transport},
                format="json",
                **headers,
            )
        assert response.status_code == 200, response.content
        return response, code_from_outbox()

    return start
