"""The admin login's two forms: the password step and the code step (``accounts.admin_site``)."""

from django import forms

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
    code = forms.CharField(
        label="Code", max_length=16,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
