from authsvc.errors import ServiceError, Unauthorized


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    detail = "Email or password is incorrect."


class EmailTaken(ServiceError):
    status = 400
    code = "email_taken"
    detail = "An account with this email already exists."
