"""The embedded PostgreSQL and Redis: shared by concurrent processes, stopped by the last, reused."""

import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import redis
from django.conf import settings

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from storefront import embedded
    data = Path(sys.argv[1])
    print(embedded.postgres_url(data), embedded.redis_url(data), flush=True)
    time.sleep(float(sys.argv[2]))
    """
)


def start(data_dir: Path, hold: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(data_dir), str(hold)],
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
