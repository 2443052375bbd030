"""
What the OpenAPI schema (/api/schema/) says beyond what drf-spectacular
finds by itself, so that it tells the truth (issue 12, point 7; checked by
tests/test_schema_fuzz.py):

- the ``Retry-After`` header of every 429 and 503 (the views list those
  answers: ``ERRORS_503`` and the others in authsvc/api.py);
- what DRF's ``CharField`` refuses with a 400 before a view sees it: a NUL
  character anywhere, and (where it trims) nothing but whitespace;
- the rules a new password must pass (``AUTH_PASSWORD_VALIDATORS``, read when
  the schema is built): the minimum length as ``minLength``, an all-digit
  password as a ``not``, every rule in the field's description. Common and
  too-similar passwords cannot be said in JSON Schema; they are the
  documented 400 ``invalid`` with ``errors``.

The views import this module (for ``RETRY_AFTER``), which registers the
field extensions.
"""

from django.contrib.auth import password_validation
from django.core.validators import RegexValidator
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

# The header of every 429 and 503 (authsvc.errors: TooManyRequests, Unavailable).
RETRY_AFTER = OpenApiParameter(
    "Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[429, 503], required=True,
    description="Seconds to wait before trying again.",
)


# Python's str.isspace() is what DRF trims, and what \s means to Python's re
# (the fuzzer's); ECMA's \s lacks U+001C-U+001F and U+0085, so they are named.
_NO_NUL = r"^[^\u0000]*$"
_NOT_BLANK_NO_NUL = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\u0085][^\u0000]*$"


def _string_input_rules(field, schema: dict) -> dict:
    """``schema`` of a request string ``field`` with DRF's own refusals as a ``pattern``."""
    if schema.get("type") != "string" or {"format", "pattern", "enum"} & set(schema):
        return schema
    if any(isinstance(validator, RegexValidator) for validator in field.validators):
        return schema  # its own pattern (RegexField, SlugField): drf-spectacular states that one
    blank_refused = field.trim_whitespace and not field.allow_blank
    return {**schema, "pattern": _NOT_BLANK_NO_NUL if blank_refused else _NO_NUL}


class CharFieldExtension(OpenApiSerializerFieldExtension):
    """Every request ``CharField`` (and subclass without a format of its own): no NUL, not blank once trimmed."""

    target_class = "rest_framework.fields.CharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction != "request" or schema is None:
            return schema
        return _string_input_rules(self.target, schema)


class NewPasswordFieldExtension(OpenApiSerializerFieldExtension):
    """
    ``accounts.serializers.NewPasswordField``: the ``NewPassword`` component,
    a string with the password validators' rules. A component of its own
    because drf-spectacular sets a field's ``minLength`` (1: not blank) after
    any extension has spoken; as a component it stays beside the reference
    (``allOf``), both hold, and the validators' minimum is the one that bites.
    """

    target_class = "accounts.serializers.NewPasswordField"
    priority = 1  # over CharFieldExtension

    def get_name(self):
        return "NewPassword"

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        validators = password_validation.get_default_password_validators()
        minimums = [v.min_length for v in validators if isinstance(v, password_validation.MinimumLengthValidator)]
        schema["minLength"] = max([1, *minimums])
        schema["maxLength"] = self.target.max_length
        if any(isinstance(v, password_validation.NumericPasswordValidator) for v in validators):
            # str.isdigit() refuses more (other scripts' digits); every ASCII-digit password is refused.
            schema["not"] = {"pattern": "^[0-9]+$"}
        rules = " ".join(str(text) for text in password_validation.password_validators_help_texts())
        schema["description"] = (
            f"{rules} A password these rules refuse is a 400 invalid, the reasons in errors.<field>."
        ).strip()
        return _string_input_rules(self.target, schema) if direction == "request" else schema
