"""The admin login's two forms: the password step and the code step (``accounts.admin_site``)."""

from collections.abc import Sequence

from django import forms

from accounts.methods import RECOVERY
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
    """One field for every method the sign-in can finish with (``methods.method_for_answer`` reads it)."""

    code = forms.CharField(
        label="Code", max_length=16,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    remember_device = forms.BooleanField(label="Remember this browser", required=False)

    def __init__(self, *args, methods: Sequence[str] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if RECOVERY in methods:
            # A recovery code has letters: no digits-only keyboard.
            self.fields["code"].widget.attrs["inputmode"] = "text"
