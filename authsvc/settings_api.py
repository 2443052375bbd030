"""
The API: Django REST framework and its OpenAPI schema and docs
(drf-spectacular). Part of the settings: ``authsvc/settings.py`` star-imports
this module.
"""

import environ

env = environ.Env()

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tokens.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["authsvc.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "authsvc.negotiation.JSONNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "authsvc.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "authsvc",
    "DESCRIPTION": (
        "Email + password login with a second factor (authenticator app, recovery codes, emailed code), rotating refresh "
        "tokens with reuse detection, and revocable sessions."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # The schema and its page read no credentials: a stale access_token
    # cookie left by the app must not turn them into a 401.
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # One name for the second-factor methods wherever a field lists them.
    "ENUM_NAME_OVERRIDES": {"SecondFactorMethod": "accounts.serializers.METHODS"},
    # The services of INTROSPECTION_CLIENTS (introspection, the revocation
    # feed): HTTP Basic, read by those views themselves (tokens.clients).
    "APPEND_COMPONENTS": {"securitySchemes": {"serviceBasicAuth": {"type": "http", "scheme": "basic"}}},
}
# Whether /api/schema/ and /api/docs/ are served; off, they are the JSON 404
# of an unknown path (an install that would rather not publish its API map).
# Read per request (authsvc/views.py).
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=True)
