"""
Sessions, refresh-token records and the JWTs that go with them.

What other apps use (checked by ``.importlinter``): ``tokens.services``, the
use cases (issue_session, revoke_*, active_sessions); ``tokens.audit``, the
audit trail; ``tokens.models`` for the admin; ``tokens.admin``'s inline; and
how issued tokens are rendered (``responses``, ``cookies``, ``serializers``).
The rest — the hot paths' store, the JWT classes, the purge — is internal.
"""
