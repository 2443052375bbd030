from django.urls import path

from accounts import factor_views, lifecycle_views, views

urlpatterns = [
    path("register/", views.RegisterView.as_view(), name="register"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("login/2fa/", views.TwoFactorLoginView.as_view(), name="login-2fa"),
    path("login/2fa/resend/", views.TwoFactorResendView.as_view(), name="login-2fa-resend"),
    path("me/", views.MeView.as_view(), name="me"),
    path("password/change/", views.PasswordChangeView.as_view(), name="password-change"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password-reset"),
    path("password/reset/confirm/", views.PasswordResetConfirmView.as_view(), name="password-reset-confirm"),
    path("email/verify/", lifecycle_views.EmailVerifyView.as_view(), name="email-verify"),
    path("email/verify/resend/", lifecycle_views.EmailVerifyResendView.as_view(), name="email-verify-resend"),
    path("email/change/", lifecycle_views.EmailChangeView.as_view(), name="email-change"),
    path("email/change/confirm/", lifecycle_views.EmailChangeConfirmView.as_view(), name="email-change-confirm"),
    path("account/delete/", lifecycle_views.AccountDeleteView.as_view(), name="account-delete"),
    path("account/export/", lifecycle_views.AccountExportView.as_view(), name="account-export"),
    path("2fa/", factor_views.TwoFactorStatusView.as_view(), name="2fa"),
    path("2fa/enable/", factor_views.TwoFactorEnableView.as_view(), name="2fa-enable"),
    path("2fa/disable/", factor_views.TwoFactorDisableView.as_view(), name="2fa-disable"),
    path("2fa/totp/setup/", factor_views.TotpSetupView.as_view(), name="2fa-totp-setup"),
    path("2fa/totp/confirm/", factor_views.TotpConfirmView.as_view(), name="2fa-totp-confirm"),
    path("2fa/totp/disable/", factor_views.TotpDisableView.as_view(), name="2fa-totp-disable"),
    path("2fa/recovery-codes/", factor_views.RecoveryCodesView.as_view(), name="2fa-recovery-codes"),
]
