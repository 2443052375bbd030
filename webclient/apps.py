from django.apps import AppConfig


class WebClientConfig(AppConfig):
    """The browser client ``authsvc.js`` (a static file) and the demo page at ``/`` that uses it."""

    name = "webclient"
    verbose_name = "Browser client"
