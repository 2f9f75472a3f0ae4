"""Django's database sessions, refusing malformed session keys before they reach PostgreSQL.

Django only checks a cookie's session key for length; one with a NUL byte (a fuzzer sends such
things) made PostgreSQL raise and the request fail with a 500. Real keys are 32 lowercase
letters and digits, so anything else is treated as no session at all."""

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore


class SessionStore(DatabaseSessionStore):
    def _validate_session_key(self, key):
        return bool(key) and 8 <= len(key) <= 40 and key.isascii() and key.isalnum()
