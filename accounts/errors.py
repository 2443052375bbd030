from authsvc.errors import Forbidden, ServiceError, TooManyRequests, Unauthorized, Unavailable


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    detail = "Email or password is incorrect."

    def __init__(self, *, user_id: int | None = None) -> None:
        super().__init__()
        #: The account the email belongs to, if any: for the audit trail, never sent to the client.
        self.user_id = user_id


class EmailTaken(ServiceError):
    status = 400
    code = "email_taken"
    detail = "An account with this email already exists."


class InvalidPassword(ServiceError):
    status = 400
    code = "invalid_password"
    detail = "The password is incorrect."


class ChallengeMissing(Unauthorized):
    code = "challenge_missing"
    detail = "No pending login challenge; log in again."


class ChallengeInvalid(Unauthorized):
    code = "challenge_invalid"
    detail = "This login challenge is not valid; log in again."


class ChallengeExpired(Unauthorized):
    code = "challenge_expired"
    detail = "This login challenge has expired; log in again."


class ChallengeLocked(Unauthorized):
    code = "challenge_locked"
    detail = "Too many wrong codes; log in again."


class ChallengeUsed(Unauthorized):
    code = "challenge_used"
    detail = "This login challenge was already used; log in again."


class InvalidCode(Unauthorized):
    code = "invalid_code"
    detail = "The code is incorrect."

    def __init__(self, *, method: str = "") -> None:
        super().__init__()
        #: The method whose answer was wrong: for the audit trail, never sent to the client.
        self.method = method


class TwoFactorCooldown(TooManyRequests):
    """The account's budget of wrong codes is spent: no code is checked, no challenge opened, until Retry-After."""

    code = "two_factor_cooldown"
    detail = "Too many wrong sign-in codes for this account; sign in again later."


class ResetTokenInvalid(ServiceError):
    status = 400
    code = "reset_token_invalid"
    detail = "The password reset link is invalid or has expired."


class TwoFactorEnforced(Forbidden):
    code = "two_factor_enforced"
    detail = "Two-factor authentication is required for every account here."


class ReauthenticationRequired(Forbidden):
    code = "reauthentication_required"
    detail = "This action needs a recent sign-in: sign in again, then retry."


class TwoFactorUnavailable(Forbidden):
    code = "two_factor_unavailable"
    detail = "Two-factor authentication is switched off on this service."


class EmailUnavailable(Unavailable):
    detail = "The email could not be queued; try again shortly."


class MethodUnavailable(ServiceError):
    """A second-factor method this user cannot finish with (not enrolled, or the emailed code for an app-factor user)."""

    status = 400
    code = "method_unavailable"
    detail = "This second-factor method is not available for this account."


class FactorExists(ServiceError):
    status = 400
    code = "factor_exists"
    detail = "An authenticator app is already set up; disable it first."


class FactorMissing(ServiceError):
    status = 400
    code = "factor_missing"
    detail = "No authenticator app is being set up or in use; start with setup."


class EmailUnverified(Forbidden):
    code = "email_unverified"
    detail = "Confirm your email address first: a new link was mailed to it."


class VerificationKeyInvalid(ServiceError):
    status = 400
    code = "verification_key_invalid"
    detail = "This link is invalid, used or expired; ask for a new one."


class PasskeyRefused(ServiceError):
    status = 400
    code = "passkey_refused"
    detail = "The passkey's answer could not be verified; start again."


class PasskeyNotFound(ServiceError):
    status = 404
    code = "not_found"
    detail = "No such passkey."
