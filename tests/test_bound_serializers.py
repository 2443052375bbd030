"""
authsvc.api.represent and validated: one bound serializer instance per class
serves every call (no ``deepcopy`` of the fields per request). They must
answer exactly as a fresh serializer does, for good input and bad, however
many times they are called.
"""

import pytest
from rest_framework.exceptions import ValidationError

from accounts.serializers import UserSerializer
from authsvc.api import represent, validated
from tokens.serializers import RefreshRequestSerializer

pytestmark = pytest.mark.django_db


def test_represent_renders_what_a_fresh_serializer_renders(make_user):
    for email in ("a@example.com", "b@example.com"):
        user = make_user(email=email)
        assert represent(UserSerializer, user) == UserSerializer(user).data


@pytest.mark.parametrize("data", [
    {"refresh": "  a.b.c  "}, {}, {"refresh": ""}, {"refresh": None}, {"refresh": "x" * 5000}, {"refresh": 42},
    {"refresh": ["a"]}, [], "a string", None,
])
def test_validated_gives_what_is_valid_gives(data):
    fresh = RefreshRequestSerializer(data=data)
    if fresh.is_valid():
        assert validated(RefreshRequestSerializer, data) == fresh.validated_data
        return
    with pytest.raises(ValidationError) as refused:
        validated(RefreshRequestSerializer, data)
    assert refused.value.detail == fresh.errors
