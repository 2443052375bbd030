"""
Accounts: the custom user (email login) and its flows (``accounts.flows``:
registration, login and its second factor, passwords), the emails a worker
sends (``notifications``, queued through ``tasks``), and the admin's door.
``tokens`` never imports this app.
"""
