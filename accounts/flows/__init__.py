"""
Account use cases, one module per flow (STYLE 15): plain arguments in,
dataclasses or domain errors out, nothing HTTP. The API's views, the admin
and the tasks call them; each rule is written in one of them.

- ``registration``: a new account;
- ``login``: the password step and the second step that ends in a session;
- ``challenges``: the emailed code's challenge — opened, resent, paused;
- ``passwords``: change, reset by email;
- ``credentials``: checking a password, and the one rule for "credentials changed";
- ``factors``: switching a user's second factor on or off.
"""
