"""Django's PostgreSQL backend, with a bound on how long a process waits for the server.

A PostgreSQL that stops answering (a paused VM, a stalled disk, SIGSTOP in the tests) leaves the
socket open, so nothing on the client side ever times out: the kernel still acknowledges, TCP
keepalives still succeed, and the server's own statement_timeout cannot fire in a stopped process.
Every page and /healthz then waited as long as the stall lasted (10 s in the probe of issue 16),
and all of gunicorn's threads filled. Two bounds fix it:

- ``connect_timeout`` (libpq's, in OPTIONS) for opening a connection;
- ``wait_timeout`` (ours, in OPTIONS): every wait on an open connection (a query, a commit, the
  health check) gives up after that many seconds, closes the connection, and raises
  OperationalError, which the store answers as 503 with Retry-After (storefront.errors).

Both apply where the settings set them: the web processes (storefront.wsgi), not the workers and
commands whose long queries are legitimate. ``wait_bound`` tightens the bound for a block of code
(the health check's).
"""

import contextlib
import threading
import time

import psycopg
from django.db.backends.postgresql import base
from psycopg import waiting

# psycopg sends READY_NONE into a wait's generator each time this many seconds pass with nothing to
# read or write: the moments at which the deadline is checked.
_TICK_S = 0.1
_override = threading.local()
_python_wait = getattr(waiting, "wait_poll", waiting.wait_selector)


class _Stalled(Exception):
    pass


def _until(gen, deadline: float):
    """Pass psycopg's wait generator through, and give up at an idle tick past the deadline."""
    try:
        state = next(gen)
        while True:
            ready = yield state
            if not ready and time.monotonic() > deadline:
                gen.close()
                raise _Stalled
            state = gen.send(ready)
    except StopIteration as stop:
        return stop.value


class BoundedConnection(psycopg.Connection):
    """A psycopg connection whose waits on the server end after ``wait_timeout`` seconds (None: never)."""

    wait_timeout: float | None = None

    def wait(self, gen, interval: float | None = _TICK_S):
        timeout = getattr(_override, "timeout", None) or self.wait_timeout
        if not timeout:
            return super().wait(gen, interval)
        try:
            # psycopg's C wait never tells the generator about idle ticks, so a bounded wait uses its
            # Python poll loop, which does (a few microseconds more per statement).
            return _python_wait(_until(gen, time.monotonic() + timeout), self.pgconn.socket, interval=_TICK_S)
        except _Stalled:
            # The exchange stopped mid-message: this connection can never be used again. Closing
            # it only drops the socket (no round trip), and Django opens a new one when asked.
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"PostgreSQL did not answer within {timeout:g} s; the connection was closed."
            ) from None


@contextlib.contextmanager
def wait_bound(seconds: float):
    """Within the block, this thread's waits on PostgreSQL end after ``seconds``, whatever the settings say."""
    previous = getattr(_override, "timeout", None)
    _override.timeout = seconds
    try:
        yield
    finally:
        _override.timeout = previous


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self):
        params = super().get_connection_params()
        params.pop("wait_timeout", None)  # ours, not a libpq parameter
        return params

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        # Django opens a plain psycopg.Connection; ours adds only the bounded wait, so the swap is safe.
        if type(connection) is psycopg.Connection:
            connection.__class__ = BoundedConnection
            connection.wait_timeout = self.settings_dict["OPTIONS"].get("wait_timeout")
        return connection

    def _cursor(self, name=None):
        if self.connection is not None and self.connection.closed and not self.in_atomic_block:
            self.close()  # a wait gave up and closed it: open a new one rather than fail again
        return super()._cursor(name)
