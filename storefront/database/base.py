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

A bound alone still lets every request wait it out: with 8 threads and pages arriving faster than
one per bound, requests (and the load balancer's health checks) queued behind each other for 9 s in
a 10 s stall. So a process that saw PostgreSQL time out stops asking for ``FAIL_FAST_S``: requests
fail at once with the same OperationalError (503), then one request at a time tries again until
one gets an answer.
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


FAIL_FAST_S = 2.0


class _Stalled(Exception):
    pass


class _Breaker:
    """This process's memory of a PostgreSQL that timed out: closed (ask), open (fail at once for
    FAIL_FAST_S), then half-open (one caller asks, the others fail at once until it knows)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._open_until = 0.0  # 0: closed
        self._probing = False

    def enter(self) -> None:
        """Call before asking PostgreSQL; raises OperationalError instead while it is known to stall."""
        if not self._open_until:  # the common case: one attribute read, no lock
            return
        with self._lock:
            if self._open_until and (time.monotonic() < self._open_until or self._probing):
                raise psycopg.OperationalError(
                    "PostgreSQL did not answer moments ago; not asking again yet (fails fast while it stalls)."
                )
            if self._open_until:
                self._probing = True  # this caller tries; the others keep failing fast meanwhile

    def answered(self) -> None:
        if self._open_until:
            with self._lock:
                self._open_until, self._probing = 0.0, False

    def timed_out(self) -> None:
        with self._lock:
            self._open_until, self._probing = time.monotonic() + FAIL_FAST_S, False


breaker = _Breaker()


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
            breaker.enter()
        except psycopg.OperationalError:
            gen.close()
            raise
        try:
            # psycopg's C wait never tells the generator about idle ticks, so a bounded wait uses its
            # Python poll loop, which does (a few microseconds more per statement).
            result = _python_wait(_until(gen, time.monotonic() + timeout), self.pgconn.socket, interval=_TICK_S)
        except _Stalled:
            breaker.timed_out()
            # The exchange stopped mid-message: this connection can never be used again. Closing
            # it only drops the socket (no round trip), and Django opens a new one when asked.
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"PostgreSQL did not answer within {timeout:g} s; the connection was closed."
            ) from None
        except BaseException:
            breaker.answered()  # an error from the server is an answer (and a probe must not stay taken)
            raise
        breaker.answered()
        return result


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
        bounded = bool(self.settings_dict["OPTIONS"].get("wait_timeout"))
        if bounded:
            breaker.enter()
        try:
            connection = super().get_new_connection(conn_params)
        except psycopg.OperationalError as error:
            if bounded and "timeout" in str(error):  # connect_timeout: the server is there but silent
                breaker.timed_out()
            elif bounded:
                breaker.answered()  # refused or down: an answer, and the 503 path handles it
            raise
        except BaseException:
            if bounded:
                breaker.answered()  # never leave a probe taken
            raise
        if bounded:
            breaker.answered()
        # Django opens a plain psycopg.Connection; ours adds only the bounded wait, so the swap is safe.
        if type(connection) is psycopg.Connection:
            connection.__class__ = BoundedConnection
            connection.wait_timeout = self.settings_dict["OPTIONS"].get("wait_timeout")
        return connection

    def _cursor(self, name=None):
        self._reopen_if_given_up()
        return super()._cursor(name)

    def _reopen_if_given_up(self):
        if self.connection is not None and self.connection.closed and not self.in_atomic_block:
            self.close()  # a wait gave up and closed it: open a new one rather than fail again
