from django.apps import AppConfig


class TokensConfig(AppConfig):
    name = "tokens"
    verbose_name = "Sessions and tokens"

    def ready(self) -> None:
        from tokens import checks, schema  # noqa: F401  (registers checks and the OpenAPI extension)
