"""Rendering freshly issued tokens in the transport the client asked for."""

from rest_framework import status as http_status
from rest_framework.response import Response

from authsvc.api import no_store, represent
from tokens.conf import conf
from tokens.cookies import seconds_until, set_auth_cookies, set_private_cookie
from tokens.serializers import BodyTokensSerializer, CookieTokensSerializer, DeviceTokenSerializer, Transport
from tokens.jwt import IssuedTokens


def token_response(issued: IssuedTokens, transport: str, status: int = http_status.HTTP_200_OK) -> Response:
    """
    The tokens in the client's transport, and a remembered device's token
    when the login asked for one: the ``device`` cookie, or ``device_token``
    in the body.
    """
    if transport == Transport.BODY:
        body = represent(BodyTokensSerializer, issued)
        if issued.device_token:
            body.update(represent(DeviceTokenSerializer, issued))
        return no_store(Response(body, status=status))
    response = Response(represent(CookieTokensSerializer, issued), status=status)
    set_auth_cookies(response, issued)
    if issued.device_token:
        set_private_cookie(response, conf.device_cookie, issued.device_token, path=conf.device_cookie_path,
                           max_age=seconds_until(issued.device_expires_at))
    return no_store(response)
