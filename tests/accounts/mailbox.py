"""Reading the links authsvc mails, as their recipient would."""

import re


def key_in(message, template: str) -> str:
    """The key where ``template``'s ``{key}`` (VERIFY_EMAIL_URL, EMAIL_CHANGE_URL) put it in the plain-text body."""
    before, after = template.split("{key}")
    match = re.search(re.escape(before) + r"([^\s/?&]+)" + re.escape(after), message.body)
    assert match, message.body
    return match.group(1)
