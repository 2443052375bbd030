"""The admin login's two forms: the password step and the second step (``accounts.admin_site``)."""

import json
from collections.abc import Sequence

from django import forms

from accounts.methods import RECOVERY
from accounts.passkeys import MAX_CREDENTIAL_JSON
from accounts.serializers import PASSWORD_MAX_LENGTH


class PasswordForm(forms.Form):
    # ``username`` as in Django's admin login form (and password managers' saved admin logins); it holds the email.
    username = forms.EmailField(
        label="Email", max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )
    password = forms.CharField(
        label="Password", strip=False, max_length=PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class CodeForm(forms.Form):
    """
    One field for every method that answers with a code
    (``methods.method_for_answer`` reads it), and a hidden one that the
    page's passkey button fills with the browser's ``PublicKeyCredential``
    as JSON: an answer is one or the other.
    """

    code = forms.CharField(
        label="Code", max_length=16, required=False,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "one-time-code", "inputmode": "numeric",
                                      # The typed answer is asked for by the browser; the passkey button posts
                                      # the form without one.
                                      "required": True}),
    )
    credential = forms.CharField(required=False, max_length=MAX_CREDENTIAL_JSON, widget=forms.HiddenInput)
    remember_device = forms.BooleanField(label="Remember this browser", required=False)

    def __init__(self, *args, methods: Sequence[str] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if RECOVERY in methods:
            # A recovery code has letters: no digits-only keyboard.
            self.fields["code"].widget.attrs["inputmode"] = "text"

    def clean(self):
        """
        An answer: a typed code, or the passkey's — as the login frame takes
        it, a JSON object (``cleaned_data["credential"]``, else None).
        """
        data = super().clean()
        text = data.get("credential")
        data["credential"] = None
        if text:
            try:
                credential = json.loads(text)
            except ValueError:
                credential = None
            if not isinstance(credential, dict):
                # Not what a browser sends: a broken page, not a wrong answer to count.
                self.add_error(None, "The passkey's answer could not be read; try again.")
                return data
            data["credential"] = credential
        elif not data.get("code") and "code" not in self.errors:
            self.add_error("code", forms.Field.default_error_messages["required"])
        return data
