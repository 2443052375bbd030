"""The emails authsvc sends: plain text and HTML, rendered from templates."""

import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from authsvc.metrics import EMAILS_FAILED


def send(*, to: str, subject: str, template: str, context: dict) -> None:
    """
    Render and send one email. A send that raises counts in
    ``authsvc_emails_failed_total`` (each try, under its template); logging
    what failed is the caller's job, never the message itself, whose body
    holds a code or a link.
    """
    text = render_to_string(f"accounts/email/{template}.txt", context)
    html = render_to_string(f"accounts/email/{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except Exception:
        EMAILS_FAILED.labels(template=template).inc()
        raise


def is_transient_failure(exc: BaseException) -> bool:
    """
    Whether the same email may go through if sent again later.

    RFC 5321 §4.2.1: a 4yz reply is a transient refusal ("try again later",
    greylisting, a full queue) after which the client should retry, and so
    is a refused, reset or timed-out connection (every ``OSError``, which
    ``smtplib.SMTPException`` is too). A 5yz reply is permanent — the client
    "SHOULD NOT repeat the exact request": an unknown recipient, a sender
    or credentials the relay rejects. Retrying it would only be refused
    again and delay the failure an operator has to see.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(not _is_permanent(code) for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return not _is_permanent(exc.smtp_code)
    return isinstance(exc, OSError)


def _is_permanent(smtp_code: int) -> bool:
    return 500 <= smtp_code < 600


def describe_failure(exc: BaseException) -> str:
    """
    What failed, for a log line: the exception and the SMTP reply codes, not
    the server's text, which may quote the recipient's address.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"{type(exc).__name__} {sorted(code for code, _ in exc.recipients.values())}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__} {exc.smtp_code}"
    return repr(exc)
