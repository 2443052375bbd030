"""Rendering freshly issued tokens in the transport the client asked for."""

from rest_framework import status as http_status
from rest_framework.response import Response

from authsvc.api import no_store
from tokens.cookies import set_auth_cookies
from tokens.serializers import BodyTokensSerializer, CookieTokensSerializer, Transport
from tokens.jwt import IssuedTokens


def token_response(issued: IssuedTokens, transport: str, status: int = http_status.HTTP_200_OK) -> Response:
    if transport == Transport.BODY:
        return no_store(Response(BodyTokensSerializer(issued).data, status=status))
    response = Response(CookieTokensSerializer(issued).data, status=status)
    set_auth_cookies(response, issued)
    return no_store(response)
