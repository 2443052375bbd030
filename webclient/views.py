from django.shortcuts import render
from django.views.decorators.http import require_GET

# The demo page runs no inline script or style and talks to its own origin
# only, so it can carry a strict policy: an injected <script> or a style
# attribute in the page would not run (OWASP XSS Prevention Cheat Sheet, CSP).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


@require_GET
def demo(request):
    """The demo page: sign in with the emailed code, see and revoke sessions — all through authsvc.js."""
    response = render(request, "webclient/demo.html")
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
